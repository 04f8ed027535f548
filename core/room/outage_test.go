package room_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Outages while work is in flight (resilience): an RPC call whose caller or
// callee loses its connection, and a whole-server restart under a data
// track and plain data packets. Every wait is bounded by the test context
// (hang guard, never a timing assertion).

// outageRPCResult is the outcome of one PerformRPC.
type outageRPCResult struct {
	out string
	err error
}

// outageCall starts alice → dest.method on its own goroutine.
func outageCall(ctx context.Context, caller *room.Room, dest, method string) <-chan outageRPCResult {
	res := make(chan outageRPCResult, 1)
	go func() {
		out, err := caller.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{
			Destination: dest, Method: method, Payload: "in flight", ResponseTimeout: 20 * time.Second,
		})
		res <- outageRPCResult{out, err}
	}()
	return res
}

func outageResult(t *testing.T, ctx context.Context, res <-chan outageRPCResult) outageRPCResult {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-ctx.Done():
		t.Fatal("RPC call hung")
		return outageRPCResult{}
	}
}

func outageStarted(t *testing.T, ctx context.Context, h *blockingHandler) rpc.Invocation {
	t.Helper()
	select {
	case inv := <-h.started:
		return inv
	case <-ctx.Done():
		t.Fatal("handler never ran")
		return rpc.Invocation{}
	}
}

// outageRPCRoom joins caller "alice" and callee "bob" (bob's "hang" method
// blocks on h) in roomName and waits until they see each other.
func outageRPCRoom(t *testing.T, ctx context.Context, s *sfu.Server, roomName string) (alice, bob *peer, h *blockingHandler) {
	t.Helper()
	alice = joinPeer(t, ctx, s, roomName, "alice", room.Options{})
	bob = joinPeer(t, ctx, s, roomName, "bob", room.Options{})
	waitPeer(t, ctx, alice.r, "bob")
	waitPeer(t, ctx, bob.r, "alice")
	h = newBlockingHandler()
	t.Cleanup(h.unblock)
	if err := bob.r.RegisterRPCMethod("hang", h.handle); err != nil {
		t.Fatal(err)
	}
	if err := bob.r.RegisterRPCMethod("echo", echo); err != nil {
		t.Fatal(err)
	}
	return alice, bob, h
}

// outageEcho checks that a fresh call from caller to dest works.
func outageEcho(t *testing.T, ctx context.Context, caller *room.Room, dest, payload string) {
	t.Helper()
	got, err := caller.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: dest, Method: "echo", Payload: payload})
	if err != nil || got != payload {
		t.Fatalf("echo after the outage: %q, %v", got, err)
	}
}

func TestOutageRPCInFlight(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})

	// (a) The caller's WebSocket drops while the callee's handler runs: the
	// caller resumes (same session, same SCTP association: the reliable
	// channel and its resend buffer survive), so the response the callee
	// sends meanwhile reaches the caller and the call completes normally.
	t.Run("caller-resumes", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		alice, _, h := outageRPCRoom(t, ctx, s, "rpc-resume")
		sid := alice.r.LocalParticipant().SID()
		res := outageCall(ctx, alice.r, "bob", "hang")
		if inv := outageStarted(t, ctx, h); inv.CallerIdentity != "alice" || inv.Payload != "in flight" {
			t.Fatalf("invocation %+v", inv)
		}
		s.DropSignal("alice")
		alice.wait(ctx, "Reconnecting resume", func(ev room.Event) bool {
			e, ok := ev.(room.Reconnecting)
			return ok && e.Kind == room.ReconnectResume
		})
		h.unblock() // bob answers while alice is reconnecting
		r := outageResult(t, ctx, res)
		if r.err != nil || r.out != "late" {
			t.Fatalf("call across the caller's resume: %q, %v", r.out, r.err)
		}
		alice.waitReconnected(ctx, room.ReconnectResume, 0)
		if alice.r.LocalParticipant().SID() != sid || alice.reconnects(room.ReconnectFull) != 0 {
			t.Fatal("the signal drop was not a plain resume")
		}
		outageEcho(t, ctx, alice.r, "bob", "after resume")
	})

	// (b) The callee leaves for good while its handler runs: the caller
	// learns it from the participant update and fails the call with 1503
	// RECIPIENT_DISCONNECTED (docs/protocol.md, RPC; JS
	// handleParticipantDisconnected), without waiting for the 20 s
	// response timeout; its own room is fine.
	t.Run("callee-leaves", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		alice, bob, h := outageRPCRoom(t, ctx, s, "rpc-leave")
		res := outageCall(ctx, alice.r, "bob", "hang")
		outageStarted(t, ctx, h)
		if err := bob.r.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
		r := outageResult(t, ctx, res)
		var re *rpc.RpcError
		if !errors.As(r.err, &re) || re.Code != 1503 {
			t.Fatalf("want RpcError 1503, got %q, %v", r.out, r.err)
		}
		if errors.Is(r.err, room.ErrDisconnected) || alice.r.State() != room.StateConnected {
			t.Fatalf("the caller is still connected: %v (state %v)", r.err, alice.r.State())
		}
	})

	// (c) The callee is forced into a full reconnect (leave{RECONNECT})
	// while its handler runs. Spec-allowed outcomes: the response is
	// delivered, or 1503 (the caller saw the callee's session leave), or
	// 1502 (response timeout); never a hang.
	//
	// What happens (observed on every run: 1503, and it arrives before the
	// handler is released): a full reconnect is a new session with a new
	// participant SID. The SFU announces the old session as DISCONNECTED,
	// so alice fails the call with 1503 as soon as that update arrives (JS
	// behaviour). Bob's handler is NOT cancelled by its own full
	// reconnect (handler contexts end only when the room closes, core/rpc
	// closeCtx); its late answer goes out on the new session and alice
	// ignores it (unknown request id; the echo below still works).
	// The outcome could in principle be a delivered response if the
	// callee's answer overtook the DISCONNECTED update; the handler is
	// released only after bob's Reconnected so the test does not depend on
	// that race, and the assertion still accepts every allowed outcome.
	t.Run("callee-full-reconnect", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		alice, bob, h := outageRPCRoom(t, ctx, s, "rpc-full")
		oldSID := bob.r.LocalParticipant().SID()
		res := outageCall(ctx, alice.r, "bob", "hang")
		outageStarted(t, ctx, h)
		s.SendLeave("bob", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
		bob.waitReconnected(ctx, room.ReconnectFull, 0)
		if bob.r.LocalParticipant().SID() == oldSID {
			t.Fatal("a full reconnect kept the participant sid")
		}
		h.unblock()
		r := outageResult(t, ctx, res)
		var re *rpc.RpcError
		switch {
		case r.err == nil && r.out == "late":
			t.Log("outcome: response delivered across the callee's full reconnect")
		case errors.As(r.err, &re) && (re.Code == rpc.CodeRecipientDisconnected || re.Code == rpc.CodeResponseTimeout):
			t.Logf("outcome: RpcError %d", re.Code)
		default:
			t.Fatalf("outcome outside the spec: %q, %v", r.out, r.err)
		}
		if errors.Is(r.err, room.ErrDisconnected) {
			t.Fatalf("the caller's room did not disconnect: %v", r.err)
		}
		// bob's new session is reachable again under the same identity.
		for rp := alice.r.RemoteParticipant("bob"); rp == nil || rp.SID() != bob.r.LocalParticipant().SID(); rp = alice.r.RemoteParticipant("bob") {
			select {
			case <-ctx.Done():
				t.Fatal("alice never saw bob's new session")
			case <-time.After(5 * time.Millisecond):
			}
		}
		outageEcho(t, ctx, alice.r, "bob", "after full reconnect")
	})
}

// gateDialer holds signalling connections while closed (bounded by the
// dial's context), to order two clients' reconnections.
type gateDialer struct {
	mu   sync.Mutex
	open chan struct{} // closed when open
}

func newGate() *gateDialer {
	g := &gateDialer{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gateDialer) hold() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gateDialer) release() {
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
}

// Dial is a room.Options.Dial that waits while the gate is held.
func (g *gateDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// outageData sends a reliable packet from a and waits for it at b.
func outageData(t *testing.T, ctx context.Context, a, b *peer, topic string) {
	t.Helper()
	if err := a.r.LocalParticipant().PublishData(ctx, []byte(topic), room.DataPublishOptions{Reliable: true, Topic: topic}); err != nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
	ev := b.wait(ctx, "data "+topic, func(ev room.Event) bool {
		d, ok := ev.(room.DataReceived)
		return ok && d.Topic == topic
	}).(room.DataReceived)
	if string(ev.Payload) != topic || ev.SenderIdentity != a.r.LocalParticipant().Identity() {
		t.Fatalf("data %q from %q", ev.Payload, ev.SenderIdentity)
	}
}

// The SFU restarts: every session is gone and both clients must do a full
// reconnect. The publisher keeps its LocalDataTrack object (republished
// with the same handle, new SID:
// docs/protocol.md, Reconnection of data tracks; no
// LocalDataTrackUnpublished) and frames flow again on it; plain data
// packets flow again both ways on the same Room objects.
//
// The subscriber's reconnection is held until the publisher has
// republished, so that the subscriber's new join already lists the track
// under its new SID with the same publisher identity and handle: this is
// the SID reassignment (docs/protocol.md, Remote tracks and subscriptions),
// and the implementation follows Rust ("streams survive"): the same RemoteDataTrack object is re-keyed in place,
// no DataTrackUnpublished/DataTrackPublished, and the existing
// subscription keeps receiving (renewed with update_data_subscription on
// the new session). Unheld, the order of the two rejoins would be a race
// (a subscriber rejoining first sees the publisher without the track and
// ends the stream).
func TestOutageServerRestartDataTrack(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	gate := newGate()
	pub := joinPeer(t, ctx, s, "restart", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "restart", "sub", room.Options{Dial: gate.Dial})
	lt := publish(t, ctx, pub, "t")
	sid, handle := lt.SID(), lt.Info().Handle
	rt := sub.track(ctx, "pub", "t")
	st := subscribe(t, ctx, rt, room.SubscribeOptions{})
	pushUntil(t, ctx, lt, st, "before")
	outageData(t, ctx, pub, sub, "before-pub")
	outageData(t, ctx, sub, pub, "before-sub")
	pubSID, subSID := pub.r.LocalParticipant().SID(), sub.r.LocalParticipant().SID()

	gate.hold() // hold sub's reconnection (no dial is in flight now)
	s.Restart()
	pub.waitReconnected(ctx, room.ReconnectFull, 0)
	if !lt.IsPublished() {
		t.Fatal("track unpublished by the restart")
	}
	waitSIDChanged(t, ctx, lt, sid)
	if lt.Info().Handle != handle || lt.Name() != "t" || pub.r.LocalParticipant().SID() == pubSID {
		t.Fatalf("republished as handle %d name %q (publisher sid changed: %v)", lt.Info().Handle, lt.Name(), pub.r.LocalParticipant().SID() != pubSID)
	}
	if dts := pub.r.LocalParticipant().DataTracks(); len(dts) != 1 || dts[0] != lt {
		t.Fatalf("the publisher's tracks after the restart: %v", dts)
	}

	gate.release()
	sub.waitReconnected(ctx, room.ReconnectFull, 0)
	if sub.r.LocalParticipant().SID() == subSID {
		t.Fatal("the subscriber kept its sid across a server restart")
	}
	// SID reassignment on the subscriber: same object, new SID, the old
	// subscription keeps receiving.
	for rt.SID() != lt.SID() {
		select {
		case <-ctx.Done():
			t.Fatalf("remote track SID %q, want %q", rt.SID(), lt.SID())
		case <-time.After(5 * time.Millisecond):
		}
	}
	pushUntil(t, ctx, lt, st, "after restart")
	if st.Err() != nil || !rt.IsPublished() {
		t.Fatalf("stream ended: %v (%v)", st.Err(), st.EndReason())
	}
	if got := waitPeer(t, ctx, sub.r, "pub").DataTrack("t"); got != rt {
		t.Fatalf("subscriber's participant map after the restart: %v", got)
	}
	if n := sub.count(func(ev room.Event) bool {
		_, un := ev.(room.DataTrackUnpublished)
		e, pubd := ev.(room.DataTrackPublished)
		return un || (pubd && e.Track != rt)
	}); n != 0 {
		t.Fatalf("%d track unpublished/published events on the subscriber", n)
	}
	if pub.count(func(ev room.Event) bool { _, ok := ev.(room.LocalDataTrackUnpublished); return ok }) != 0 {
		t.Fatal("LocalDataTrackUnpublished during the republish")
	}
	// Plain data packets on the same Room objects, both ways.
	waitPeer(t, ctx, pub.r, "sub")
	outageData(t, ctx, pub, sub, "after-pub")
	outageData(t, ctx, sub, pub, "after-sub")
}
