package room_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Room.SimulateScenario on devsfu, which handles the server's part as
// livekit-server 1.13.5 does. Every wait is bounded by the test context.

// countingDial is a room.Options.Dial that counts the signalling connections opened.
func countingDial(n *atomic.Int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

// waitReconnecting returns the (after+1)-th Reconnecting event.
func (p *peer) waitReconnecting(ctx context.Context, after int) room.Reconnecting {
	p.t.Helper()
	seen := 0
	return p.wait(ctx, "Reconnecting", func(ev room.Event) bool {
		if _, ok := ev.(room.Reconnecting); ok {
			seen++
			return seen > after
		}
		return false
	}).(room.Reconnecting)
}

// republished waits for lt's republication under a new SID after its
// publisher's full reconnect and subscribes sub to it (the subscription to
// the old SID has ended).
func republished(t *testing.T, ctx context.Context, sub *peer, lt *room.LocalDataTrack, oldSID string) *room.DataTrackSubscription {
	t.Helper()
	waitSIDChanged(t, ctx, lt, oldSID)
	rt := sub.wait(ctx, "republished track", func(ev room.Event) bool {
		e, ok := ev.(room.DataTrackPublished)
		return ok && e.Track.SID() == lt.SID()
	}).(room.DataTrackPublished).Track
	return subscribe(t, ctx, rt, room.SubscribeOptions{})
}

// The local scenarios: a resume (same session), a full reconnect (a new one,
// the data track published again); each is announced as simulated, and a
// data track keeps flowing after it.
func TestSimulateLocalScenarios(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "sim", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "sim", "sub", room.Options{})
	lt := publish(t, ctx, pub, "t")
	st := subscribe(t, ctx, sub.track(ctx, "pub", "t"), room.SubscribeOptions{})
	pushUntil(t, ctx, lt, st, "before")

	sid := sub.r.LocalParticipant().SID()
	if err := sub.r.SimulateScenario(ctx, room.ScenarioSignalReconnect); err != nil {
		t.Fatal(err)
	}
	rc := sub.waitReconnecting(ctx, 0)
	if rc.Kind != room.ReconnectResume || !errors.Is(rc.Err, room.ErrSignalLost) || !strings.Contains(rc.Err.Error(), "simulated (signal-reconnect)") {
		t.Fatalf("Reconnecting = %+v", rc)
	}
	sub.waitReconnected(ctx, room.ReconnectResume, 0)
	if got := sub.r.LocalParticipant().SID(); got != sid {
		t.Fatalf("a resume changed the sid: %s -> %s", sid, got)
	}
	pushUntil(t, ctx, lt, st, "after the resume")

	sid, trackSID := pub.r.LocalParticipant().SID(), lt.SID()
	if err := pub.r.SimulateScenario(ctx, room.ScenarioFullReconnect); err != nil {
		t.Fatal(err)
	}
	if rc := pub.waitReconnecting(ctx, 0); rc.Kind != room.ReconnectFull || !strings.Contains(rc.Err.Error(), "simulated (full-reconnect)") {
		t.Fatalf("Reconnecting = %+v", rc)
	}
	pub.waitReconnected(ctx, room.ReconnectFull, 0)
	if got := pub.r.LocalParticipant().SID(); got == sid {
		t.Fatal("a full reconnect kept the sid")
	}
	pushUntil(t, ctx, lt, republished(t, ctx, sub, lt, trackSID), "after the full reconnect")
	if n := pub.reconnects(room.ReconnectResume); n != 0 {
		t.Fatalf("%d resumes for a simulated full reconnect", n)
	}
}

// The server's scenarios: node failure and migration drop the session
// without a leave (the resume is refused, a full reconnect follows); the
// resume after disconnect-signal-on-resume loses its WebSocket once, and the
// room resumes with a second one; a server leave ends the room.
func TestSimulateServerScenarios(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var dials atomic.Int32
	a := joinPeer(t, ctx, s, "sim", "a", room.Options{Dial: countingDial(&dials)})
	b := joinPeer(t, ctx, s, "sim", "b", room.Options{})
	lt := publish(t, ctx, a, "t")
	st := subscribe(t, ctx, b.track(ctx, "a", "t"), room.SubscribeOptions{})
	pushUntil(t, ctx, lt, st, "before")

	for i, sc := range []room.Scenario{room.ScenarioNodeFailure, room.ScenarioMigration} {
		sid, trackSID := a.r.LocalParticipant().SID(), lt.SID()
		if err := a.r.SimulateScenario(ctx, sc); err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		a.waitReconnected(ctx, room.ReconnectFull, i)
		if got := a.r.LocalParticipant().SID(); got == sid {
			t.Fatalf("%s: the session survived", sc)
		}
		st = republished(t, ctx, b, lt, trackSID)
		pushUntil(t, ctx, lt, st, "after "+sc.String())
	}
	if n := a.reconnects(room.ReconnectResume); n != 0 {
		t.Fatalf("%d resumes succeeded after the server dropped the session", n)
	}

	// One resume with the server's cut: two WebSockets until Reconnected.
	sid := a.r.LocalParticipant().SID()
	before := dials.Load()
	if err := a.r.SimulateScenario(ctx, room.ScenarioDisconnectSignalOnResume); err != nil {
		t.Fatal(err)
	}
	a.waitReconnected(ctx, room.ReconnectResume, 0)
	if got := dials.Load() - before; got != 2 {
		t.Fatalf("%d signalling connections for the resume the server cuts once, want 2", got)
	}
	if got := a.r.LocalParticipant().SID(); got != sid {
		t.Fatalf("the resume changed the sid: %s -> %s", sid, got)
	}
	pushUntil(t, ctx, lt, st, "after the cut resume")

	// And a plain simulated resume needs one.
	before = dials.Load()
	if err := a.r.SimulateScenario(ctx, room.ScenarioSignalReconnect); err != nil {
		t.Fatal(err)
	}
	a.waitReconnected(ctx, room.ReconnectResume, 1)
	if got := dials.Load() - before; got != 1 {
		t.Fatalf("%d signalling connections for a resume, want 1", got)
	}

	if err := b.r.SimulateScenario(ctx, room.ScenarioServerLeave); err != nil {
		t.Fatal(err)
	}
	d := b.wait(ctx, "Disconnected", func(ev room.Event) bool { _, ok := ev.(room.Disconnected); return ok }).(room.Disconnected)
	if d.Reason != room.DisconnectServerShutdown {
		t.Fatalf("server leave: %+v", d)
	}
	if err := b.r.SimulateScenario(ctx, room.ScenarioSignalReconnect); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("after the room ended: %v", err)
	}
}

// Refusals: an unknown scenario, a second simulated loss while the first is
// under way, a room that never connected.
func TestSimulateScenarioRefusals(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := joinPeer(t, ctx, s, "sim", "p", room.Options{})
	for _, sc := range []room.Scenario{0, room.ScenarioSpeakerUpdate + 1, -1} {
		if err := p.r.SimulateScenario(ctx, sc); !errors.Is(err, room.ErrInvalidArgument) {
			t.Fatalf("scenario %d: %v", int(sc), err)
		}
	}
	if err := p.r.SimulateScenario(ctx, room.ScenarioSignalReconnect); err != nil {
		t.Fatal(err)
	}
	if err := p.r.SimulateScenario(ctx, room.ScenarioFullReconnect); !errors.Is(err, room.ErrReconnecting) {
		t.Fatalf("during a simulated loss: %v", err)
	}
	p.waitReconnected(ctx, room.ReconnectResume, 0)
	if n := p.reconnects(room.ReconnectFull); n != 0 {
		t.Fatal("the refused full reconnect happened")
	}

	r, err := room.New(room.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SimulateScenario(ctx, room.ScenarioSignalReconnect); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("before connecting: %v", err)
	}
}
