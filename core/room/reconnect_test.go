package room

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/joinreq"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

// --- unit tests: backoff and the decision machine -------------------------

// The JS 2.23.0 DefaultReconnectPolicy schedule
// (docs/protocol.md, Reconnection).
func TestReconnectDelaySchedule(t *testing.T) {
	cases := []struct {
		n    int
		rnd  float64
		want time.Duration
	}{
		{0, 0, 0},
		{0, 0.5, 250 * time.Millisecond},
		{0, 0.75, 375 * time.Millisecond},
		{1, 0, 150 * time.Millisecond},
		{1, 0.5, 300 * time.Millisecond},
		{1, 0.999, 450 * time.Millisecond}, // 300 ms × 1.499 = 449.7 ms, rounded
		{2, 0.5, 1200 * time.Millisecond},
		{3, 0, 1350 * time.Millisecond},
		{4, 0.25, 3600 * time.Millisecond},
		{5, 0.5, 7 * time.Second},
		{9, 0.999, 10493 * time.Millisecond},
	}
	for _, c := range cases {
		got, ok := reconnectDelay(c.n, DefaultMaxReconnectAttempts, c.rnd)
		if !ok || got != c.want {
			t.Errorf("reconnectDelay(%d, %v) = %v, %v; want %v", c.n, c.rnd, got, ok, c.want)
		}
	}
	if _, ok := reconnectDelay(DefaultMaxReconnectAttempts, DefaultMaxReconnectAttempts, 0.5); ok {
		t.Error("attempt 10 allowed")
	}
}

func fixedRnd(v float64) func() float64 { return func() float64 { return v } }

// Escalation rules (JS attemptReconnect;
// docs/protocol.md, Reconnection): a resume whose signalling step
// failed is retried as a resume; any other failure escalates; a full
// reconnect stays full; RECONNECT forces full; ten failures give up; a
// refused token gives up at once.
func TestReconnectMachine(t *testing.T) {
	m := reconnectMachine{rnd: fixedRnd(0.5)}
	begin, d, kind := m.trigger(trigSignalLost)
	if !begin || d != 250*time.Millisecond || kind != ReconnectResume || m.reason != lkpb.ReconnectReason_RR_SIGNAL_DISCONNECTED {
		t.Fatalf("trigger: %v %v %v %v", begin, d, kind, m.reason)
	}
	if again, _, _ := m.trigger(trigTransportFailed); again {
		t.Fatal("a second trigger started a second episode")
	}
	if k, announce := m.next(); k != ReconnectResume || announce {
		t.Fatalf("first attempt %v announce %v", k, announce)
	}
	d, giveUp := m.failed(failSignal)
	if giveUp || d != 300*time.Millisecond {
		t.Fatalf("after a signalling failure: %v %v", d, giveUp)
	}
	if k, announce := m.next(); k != ReconnectResume || announce {
		t.Fatalf("signalling failure escalated: %v %v", k, announce)
	}
	m.failed(failOther)
	if k, announce := m.next(); k != ReconnectFull || !announce {
		t.Fatalf("non-signalling failure did not escalate: %v %v", k, announce)
	}
	m.failed(failSignal)
	if k, announce := m.next(); k != ReconnectFull || announce {
		t.Fatalf("a failed full reconnect must stay full: %v %v", k, announce)
	}
	m.succeeded()
	if m.active || m.attempts != 0 {
		t.Fatal("success did not end the episode")
	}

	// leave{RECONNECT}: full from the start, announced as such; a
	// RECONNECT during an episode makes the next attempt full.
	m = reconnectMachine{rnd: fixedRnd(0)}
	if _, _, kind := m.trigger(trigLeaveReconnect); kind != ReconnectFull || m.reason != lkpb.ReconnectReason_RR_UNKNOWN {
		t.Fatalf("leave RECONNECT announced %v (reason %v)", kind, m.reason)
	}
	m = reconnectMachine{rnd: fixedRnd(0)}
	m.trigger(trigLeaveResume)
	m.trigger(trigLeaveReconnect)
	if k, announce := m.next(); k != ReconnectFull || !announce {
		t.Fatalf("RECONNECT during an episode: %v %v", k, announce)
	}

	// resume_connection DISABLED: always full.
	m = reconnectMachine{rnd: fixedRnd(0), resumeDisabled: true}
	m.trigger(trigTransportFailed)
	if k, _ := m.next(); k != ReconnectFull || m.reason != lkpb.ReconnectReason_RR_PUBLISHER_FAILED {
		t.Fatalf("resume disabled: %v", k)
	}

	// Give up after 10 failed attempts; a refused token at once.
	m = reconnectMachine{rnd: fixedRnd(0)}
	m.trigger(trigSignalLost)
	for i := 1; i <= DefaultMaxReconnectAttempts; i++ {
		m.next()
		if _, giveUp := m.failed(failSignal); giveUp != (i == DefaultMaxReconnectAttempts) {
			t.Fatalf("failure %d: giveUp %v", i, giveUp)
		}
	}
	m = reconnectMachine{rnd: fixedRnd(0)}
	m.trigger(trigSignalLost)
	m.next()
	if _, giveUp := m.failed(failFatal); !giveUp {
		t.Fatal("a refused token did not give up")
	}
}

// Options.MaxReconnectAttempts: 1 allows exactly one attempt (with the
// first-retry delay) and gives up after its failure, also when the server
// asked for the reconnect; a negative value disables reconnection, so no
// trigger begins an episode (the room ends instead, see mayReconnect).
func TestReconnectMachineMaxAttempts(t *testing.T) {
	for _, tr := range []trigger{trigSignalLost, trigLeaveReconnect} {
		m := reconnectMachine{rnd: fixedRnd(0.5), maxAttempts: 1}
		if !m.enabled() {
			t.Fatal("1 attempt: disabled")
		}
		begin, d, _ := m.trigger(tr)
		if !begin || d != 250*time.Millisecond {
			t.Fatalf("1 attempt, trigger %v: %v %v", tr, begin, d)
		}
		m.next()
		if _, giveUp := m.failed(failSignal); !giveUp || m.attempts != 1 {
			t.Fatalf("1 attempt, trigger %v: giveUp %v after %d", tr, giveUp, m.attempts)
		}
	}
	// Two attempts: the first failure is retried, the second gives up.
	m := reconnectMachine{rnd: fixedRnd(0.5), maxAttempts: 2}
	m.trigger(trigSignalLost)
	m.next()
	if d, giveUp := m.failed(failSignal); giveUp || d != 300*time.Millisecond {
		t.Fatalf("2 attempts, first failure: %v %v", d, giveUp)
	}
	m.next()
	if _, giveUp := m.failed(failSignal); !giveUp {
		t.Fatal("2 attempts: no give-up after the second failure")
	}
	// 0 is the default of 10.
	if m := (reconnectMachine{}); m.limit() != DefaultMaxReconnectAttempts || !m.enabled() {
		t.Fatalf("default limit %d", m.limit())
	}
	for _, n := range []int{-1, -10} {
		m := reconnectMachine{rnd: fixedRnd(0.5), maxAttempts: n}
		if m.enabled() {
			t.Fatalf("%d: enabled", n)
		}
		for _, tr := range []trigger{trigSignalLost, trigTransportFailed, trigLeaveResume, trigLeaveReconnect, trigNegotiationFailed} {
			if begin, _, _ := m.trigger(tr); begin || m.active {
				t.Fatalf("%d: trigger %v began an episode", n, tr)
			}
		}
	}
}

// While reconnecting only the pass-through set goes out (docs/protocol.md,
// Signalling); the
// rest is held, in order, for the flush after success.
func TestReconnectHoldsSignalRequests(t *testing.T) {
	r := &Room{}
	r.rc.m.active = true
	meta := &lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateMetadata{UpdateMetadata: &lkpb.UpdateParticipantMetadata{Metadata: "m"}}}
	sub := &lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateDataSubscription{UpdateDataSubscription: &lkpb.UpdateDataSubscription{}}}
	for _, req := range []*lkpb.SignalRequest{meta, sub} {
		if err := r.sendSignalLoop(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.rc.held) != 2 || r.rc.held[0] != meta || r.rc.held[1] != sub {
		t.Fatalf("held %v", r.rc.held)
	}
	for _, req := range []*lkpb.SignalRequest{
		{Message: &lkpb.SignalRequest_SyncState{SyncState: &lkpb.SyncState{}}},
		{Message: &lkpb.SignalRequest_Trickle{Trickle: &lkpb.TrickleRequest{}}},
		{Message: &lkpb.SignalRequest_Offer{Offer: &lkpb.SessionDescription{}}},
		{Message: &lkpb.SignalRequest_Leave{Leave: &lkpb.LeaveRequest{}}},
	} {
		if !passThrough(req) {
			t.Fatalf("%T is pass-through", req.GetMessage())
		}
		// No WebSocket is up: pass-through requests cannot be held.
		if err := r.sendSignalLoop(context.Background(), req); !errors.Is(err, ErrReconnecting) {
			t.Fatalf("%T without a WebSocket: %v", req.GetMessage(), err)
		}
	}
}

// The data path while reconnecting: lossy fails with ErrReconnecting,
// reliable waits (bounded by ctx) and never reports success.
func TestReconnectSendGate(t *testing.T) {
	r := &Room{closing: make(chan struct{})}
	r.send.set(false, true)
	pkt := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("x")}}}
	if err := r.sendData(context.Background(), pkt, false); !errors.Is(err, ErrReconnecting) {
		t.Fatalf("lossy while reconnecting: %v", err)
	}
	if err := r.dataTrackSendable(); !errors.Is(err, ErrReconnecting) {
		t.Fatalf("data track while reconnecting: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.sendData(ctx, pkt, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reliable while reconnecting: %v", err)
	}
	close(r.closing)
	if err := r.sendData(context.Background(), pkt, true); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("reliable after close: %v", err)
	}
}

// --- end-to-end on devsfu -----------------------------------------------

const rcTimeout = 45 * time.Second // hang guard only

// rcClient is a connected room whose events are read by one goroutine:
// DataReceived go to data, everything else to evs.
type rcClient struct {
	t    *testing.T
	r    *Room
	evs  chan Event
	data chan DataReceived
	done chan struct{}
	// checks gets, at each SnapshotTaken, how the model built from the events (from the
	// connect snapshot on) differs from it (nil: it does not); see assertModel.
	checks chan error
}

func rcJoin(ctx context.Context, t *testing.T, s *sfu.Server, roomName, identity string, opts Options) *rcClient {
	t.Helper()
	tok, err := s.Token(roomName, identity, auth.WithGrant(func(g *auth.VideoGrant) { g.CanUpdateOwnMetadata = auth.Bool(true) }))
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = s.Logger(identity)
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.Connect(ctx, s.URL(), tok)
	if err != nil {
		t.Fatalf("%s: connect: %v", identity, err)
	}
	c := &rcClient{t: t, r: r, evs: make(chan Event, 4096), data: make(chan DataReceived, 8192), done: make(chan struct{}),
		checks: make(chan error, 16)}
	model := newEventModel(stateFrom(snap))
	go func() {
		defer close(c.done)
		var broken error // the first event the model refused
		for ev := range r.Events() {
			if d, ok := ev.(DataReceived); ok {
				c.data <- d
				continue
			}
			if broken == nil {
				broken = model.apply(ev)
			}
			if st, ok := ev.(SnapshotTaken); ok {
				err := broken
				if err == nil {
					err = model.matches(stateFrom(st.Snapshot))
				}
				c.checks <- err
				continue
			}
			select {
			case c.evs <- ev:
			default:
				t.Errorf("%s: event buffer full", identity)
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

// assertModel checks that a model of the room built from its events alone (what a binding
// keeps) equals the room's state at the same point of the events (RequestSnapshot).
func (c *rcClient) assertModel(ctx context.Context) {
	c.t.Helper()
	if err := c.r.RequestSnapshot(); err != nil {
		c.t.Fatal(err)
	}
	select {
	case err := <-c.checks:
		if err != nil {
			c.t.Fatalf("%s's model built from the events: %v", c.r.LocalParticipant().Identity(), err)
		}
	case <-ctx.Done():
		c.t.Fatal("no SnapshotTaken")
	}
}

// rcPair starts a devsfu for t and joins "a" and "b" to roomName, each having seen the other;
// ctx (rcTimeout) ends with the test.
func rcPair(t *testing.T, roomName string) (s *sfu.Server, ctx context.Context, a, b *rcClient) {
	t.Helper()
	s = sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), rcTimeout)
	t.Cleanup(cancel)
	a = rcJoin(ctx, t, s, roomName, "a", Options{})
	b = rcJoin(ctx, t, s, roomName, "b", Options{})
	a.waitParticipant(ctx, "b")
	b.waitParticipant(ctx, "a")
	return s, ctx, a, b
}

func (c *rcClient) close() {
	_ = c.r.Disconnect(context.Background())
	<-c.done
}

// waitFor returns the first event matching match, failing on a Disconnected
// that does not match.
func (c *rcClient) waitFor(ctx context.Context, what string, match func(Event) bool) Event {
	c.t.Helper()
	for {
		select {
		case ev := <-c.evs:
			if match(ev) {
				return ev
			}
			if d, ok := ev.(Disconnected); ok {
				c.t.Fatalf("%s: disconnected while waiting for %s: %+v", c.r.LocalParticipant().Identity(), what, d)
			}
		case <-ctx.Done():
			c.t.Fatalf("%s: timed out waiting for %s", c.r.LocalParticipant().Identity(), what)
		}
	}
}

func (c *rcClient) waitReconnecting(ctx context.Context, kind ReconnectKind) Reconnecting {
	c.t.Helper()
	return c.waitFor(ctx, "Reconnecting "+kind.String(), func(ev Event) bool { e, ok := ev.(Reconnecting); return ok && e.Kind == kind }).(Reconnecting)
}

func (c *rcClient) waitReconnected(ctx context.Context, kind ReconnectKind) Reconnected {
	c.t.Helper()
	ev := c.waitFor(ctx, "Reconnected", func(ev Event) bool { _, ok := ev.(Reconnected); return ok }).(Reconnected)
	if ev.Kind != kind {
		c.t.Fatalf("reconnected with %v, want %v", ev.Kind, kind)
	}
	if c.r.State() != StateConnected {
		c.t.Fatalf("state after Reconnected: %v", c.r.State())
	}
	return ev
}

func (c *rcClient) waitParticipant(ctx context.Context, identity string) *RemoteParticipant {
	c.t.Helper()
	for {
		if p := c.r.RemoteParticipant(identity); p != nil {
			return p
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("%s never saw %s", c.r.LocalParticipant().Identity(), identity)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func seqPayload(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }

// publishSeq publishes sequence numbers [from, to) reliably on topic "seq".
func publishSeq(ctx context.Context, c *rcClient, from, to int) error {
	for i := from; i < to; i++ {
		if err := c.r.LocalParticipant().PublishData(ctx, seqPayload(i), DataPublishOptions{Reliable: true, Topic: "seq"}); err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
	}
	return nil
}

// expectSeq reads n reliable "seq" packets and checks they are 0..n-1 in
// order, then sends a sentinel and checks it is the very next packet: no
// duplicate and nothing out of order.
func expectSeq(ctx context.Context, t *testing.T, from, to *rcClient, n int) {
	t.Helper()
	for want := 0; want < n; want++ {
		select {
		case d := <-to.data:
			if d.Topic != "seq" || len(d.Payload) != 4 || !d.Reliable {
				t.Fatalf("unexpected packet %+v", d)
			}
			if got := int(binary.BigEndian.Uint32(d.Payload)); got != want {
				t.Fatalf("packet %d arrived as number %d (duplicate or reordered)", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("only %d of %d reliable packets arrived", want, n)
		}
	}
	if err := from.r.LocalParticipant().PublishData(ctx, []byte("end"), DataPublishOptions{Reliable: true, Topic: "end"}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-to.data:
		if d.Topic != "end" {
			t.Fatalf("extra packet after the last one: %+v", d)
		}
	case <-ctx.Done():
		t.Fatal("sentinel lost")
	}
}

// roundTrip checks that a reliable packet from a reaches b.
func roundTrip(ctx context.Context, t *testing.T, a, b *rcClient, topic string) {
	t.Helper()
	if err := a.r.LocalParticipant().PublishData(ctx, []byte(topic), DataPublishOptions{Reliable: true, Topic: topic}); err != nil {
		t.Fatalf("%s → %s: %v", a.r.LocalParticipant().Identity(), b.r.LocalParticipant().Identity(), err)
	}
	for {
		select {
		case d := <-b.data:
			if d.Topic == topic {
				if d.SenderIdentity != a.r.LocalParticipant().Identity() {
					t.Fatalf("sender %q", d.SenderIdentity)
				}
				return
			}
		case <-ctx.Done():
			t.Fatalf("%s → %s: %q not received", a.r.LocalParticipant().Identity(), b.r.LocalParticipant().Identity(), topic)
		}
	}
}

// The signalling WebSocket of the sender, then of the receiver, is cut
// while reliable packets stream (trace 1d-resume-js): both resume (same
// sid, ICE restart), packets published while reconnecting wait and go out
// after the resume, and the receiver gets every packet exactly once, in
// order.
func TestReconnectResumeSignalDropped(t *testing.T) {
	s, ctx, a, b := rcPair(t, "resume")
	sidA, sidB := a.r.LocalParticipant().SID(), b.r.LocalParticipant().SID()

	const per = 100
	if err := publishSeq(ctx, a, 0, per); err != nil {
		t.Fatal(err)
	}
	s.DropSignal("a")
	a.waitFor(ctx, "state Reconnecting", func(ev Event) bool {
		e, ok := ev.(ConnectionStateChanged)
		return ok && e.State == StateReconnecting
	})
	a.waitReconnecting(ctx, ReconnectResume)
	// Published while reconnecting: held, sent after the resume.
	during := make(chan error, 1)
	go func() { during <- publishSeq(ctx, a, per, 2*per) }()
	a.waitFor(ctx, "state Connected", func(ev Event) bool {
		e, ok := ev.(ConnectionStateChanged)
		return ok && e.State == StateConnected
	})
	a.waitReconnected(ctx, ReconnectResume)
	if err := <-during; err != nil {
		t.Fatal(err)
	}
	if err := publishSeq(ctx, a, 2*per, 3*per); err != nil {
		t.Fatal(err)
	}
	// The receiver's WebSocket drops mid-stream.
	s.DropSignal("b")
	if err := publishSeq(ctx, a, 3*per, 4*per); err != nil {
		t.Fatal(err)
	}
	b.waitReconnected(ctx, ReconnectResume)
	if err := publishSeq(ctx, a, 4*per, 5*per); err != nil {
		t.Fatal(err)
	}
	expectSeq(ctx, t, a, b, 5*per)

	if a.r.LocalParticipant().SID() != sidA || b.r.LocalParticipant().SID() != sidB {
		t.Fatal("a resume changed a participant sid")
	}
	if got := a.r.eng.Load().LastOfferID(); got != 2 {
		t.Fatalf("offer id after one resume %d, want 2 (ICE restart)", got)
	}
	roundTrip(ctx, t, b, a, "back")
}

// cutConn is a UDP socket whose traffic can be cut in both directions, as
// a dead network path would.
type cutConn struct {
	net.PacketConn
	cut atomic.Bool
}

func (c *cutConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.cut.Load() {
			return n, addr, err
		}
	}
}

func (c *cutConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.cut.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// ICE of one client dies (its UDP path is cut) while the WebSocket stays
// up: the PeerConnection fails (ICE timeouts shortened for the test),
// the client resumes with an ICE restart on the same PeerConnection, keeps
// its sid, and data flows again both ways.
func TestReconnectResumeICEKilled(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), rcTimeout)
	defer cancel()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := &cutConn{PacketConn: udp}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: cc})
	t.Cleanup(func() { _ = mux.Close() })
	hook := func(se *webrtc.SettingEngine) {
		se.SetICEUDPMux(mux)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetICETimeouts(time.Second, time.Second, 200*time.Millisecond)
	}
	a := rcJoin(ctx, t, s, "ice", "a", Options{settingEngineHook: hook})
	b := rcJoin(ctx, t, s, "ice", "b", Options{})
	a.waitParticipant(ctx, "b")
	sidA := a.r.LocalParticipant().SID()
	roundTrip(ctx, t, a, b, "before")

	cc.cut.Store(true)
	// Sent into the dead path before the failure is detected: they wait in
	// SCTP and in the resend buffer.
	if err := publishSeq(ctx, a, 0, 50); err != nil {
		t.Fatal(err)
	}
	ev := a.waitFor(ctx, "Reconnecting", func(ev Event) bool { _, ok := ev.(Reconnecting); return ok }).(Reconnecting)
	if ev.Kind != ReconnectResume || !errors.Is(ev.Err, ErrPeerConnectionFailed) {
		t.Fatalf("reconnecting %+v", ev)
	}
	during := make(chan error, 1)
	go func() { during <- publishSeq(ctx, a, 50, 100) }() // held until the resume
	cc.cut.Store(false)
	rec := a.waitReconnected(ctx, ReconnectResume)
	if err := <-during; err != nil {
		t.Fatal(err)
	}
	if rec.ReplayedPackets == 0 {
		t.Fatal("nothing replayed although the SFU had not acknowledged the packets sent into the dead path")
	}
	if err := publishSeq(ctx, a, 100, 150); err != nil {
		t.Fatal(err)
	}
	// SCTP retransmissions + the replay: still exactly once, in order.
	expectSeq(ctx, t, a, b, 150)
	if a.r.LocalParticipant().SID() != sidA {
		t.Fatal("sid changed")
	}
	if got := a.r.eng.Load().LastOfferID(); got != 2 {
		t.Fatalf("offer id %d, want 2 (ICE restart)", got)
	}
	roundTrip(ctx, t, a, b, "after-a")
	roundTrip(ctx, t, b, a, "after-b")
}

// A server leave{RECONNECT} makes a full reconnect: new sid, new
// PeerConnection, a metadata update issued while reconnecting is held and
// sent on the new session, and data flows again on the same Room objects.
// b, in the room all along, is neither reported gone nor announced again:
// a's RemoteParticipant for it stays the same object.
func TestReconnectFullOnServerLeave(t *testing.T) {
	s, ctx, a, b := rcPair(t, "full")
	oldSid := a.r.LocalParticipant().SID()
	oldB := a.r.RemoteParticipant("b")
	lp := a.r.LocalParticipant()

	s.SendLeave("a", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
	a.waitReconnecting(ctx, ReconnectFull)
	meta := make(chan error, 1)
	go func() { meta <- lp.SetMetadata(ctx, "after-reconnect") }()
	a.waitFor(ctx, "Reconnected", func(ev Event) bool {
		switch e := ev.(type) {
		case ParticipantDisconnected:
			t.Fatalf("%s reported gone by a full reconnect", e.Participant.Identity())
		case ParticipantConnected:
			t.Fatalf("%s announced again by a full reconnect", e.Participant.Identity())
		case Reconnected:
			if e.Kind != ReconnectFull {
				t.Fatalf("reconnected with %v", e.Kind)
			}
			return true
		}
		return false
	})
	if a.r.RemoteParticipant("b") != oldB || len(a.r.RemoteParticipants()) != 1 {
		t.Fatalf("b's participant after the full reconnect: %p (was %p), %d remote participants", a.r.RemoteParticipant("b"), oldB, len(a.r.RemoteParticipants()))
	}
	if err := <-meta; err != nil {
		t.Fatalf("metadata update held during the reconnect: %v", err)
	}
	if a.r.LocalParticipant() != lp || lp.SID() == oldSid || lp.SID() == "" || lp.Metadata() != "after-reconnect" {
		t.Fatalf("local participant after full reconnect: sid %q (was %q), metadata %q", lp.SID(), oldSid, lp.Metadata())
	}
	// b sees a's new session (with devsfu's batching, as with livekit-server,
	// the old session's DISCONNECTED may be superseded by the new sid's info
	// for the same identity: then b just updates the participant).
	for b.waitParticipant(ctx, "a").SID() != lp.SID() {
		select {
		case <-ctx.Done():
			t.Fatal("b never saw a's new session")
		case <-time.After(10 * time.Millisecond):
		}
	}
	roundTrip(ctx, t, a, b, "a-to-b")
	roundTrip(ctx, t, b, a, "b-to-a")
	// Reliable sequences restarted at 1 on the new session (the receiver's
	// dedup is keyed by the new sid, so nothing is dropped).
	if err := publishSeq(ctx, a, 0, 50); err != nil {
		t.Fatal(err)
	}
	expectSeq(ctx, t, a, b, 50)
	// However b learned of a's new session, its model built from the events has it.
	b.assertModel(ctx)
	a.assertModel(ctx)
}

// A server crash and restart: every resume is refused (leave{RECONNECT}),
// both clients escalate to a full reconnect, see each other again and
// exchange data on the same Room objects.
func TestReconnectServerRestart(t *testing.T) {
	s, ctx, a, b := rcPair(t, "restart")

	s.Restart()
	for _, c := range []*rcClient{a, b} {
		// The episode's events are numbered: the start, then the escalation.
		if ev := c.waitReconnecting(ctx, ReconnectResume); ev.Attempt != 1 {
			t.Fatalf("first Reconnecting: attempt %d", ev.Attempt)
		}
		if ev := c.waitReconnecting(ctx, ReconnectFull); ev.Attempt != 2 {
			t.Fatalf("escalation: attempt %d", ev.Attempt)
		}
		c.waitReconnected(ctx, ReconnectFull)
	}
	a.waitParticipant(ctx, "b")
	b.waitParticipant(ctx, "a")
	roundTrip(ctx, t, a, b, "a-to-b")
	roundTrip(ctx, t, b, a, "b-to-a")
	// Whoever rejoined first found the other with a new sid (in the join, or in an update before
	// the old session's departure): its model, built from events, has the new one too.
	for _, c := range []*rcClient{a, b} {
		c.assertModel(ctx)
	}
}

// leave{RESUME} resumes; a transport closed by the server ends in a working
// connection again (its session cannot be resumed: full reconnect).
func TestReconnectLeaveResumeAndTransportClosed(t *testing.T) {
	s, ctx, a, b := rcPair(t, "misc")
	sid := a.r.LocalParticipant().SID()

	s.SendLeave("a", lkpb.LeaveRequest_RESUME, lkpb.DisconnectReason_MIGRATION)
	ev := a.waitFor(ctx, "Reconnecting", func(ev Event) bool { _, ok := ev.(Reconnecting); return ok }).(Reconnecting)
	if ev.Kind != ReconnectResume || ev.Err != nil {
		t.Fatalf("leave RESUME: %+v", ev)
	}
	a.waitReconnected(ctx, ReconnectResume)
	if a.r.LocalParticipant().SID() != sid {
		t.Fatal("sid changed by a resume")
	}
	roundTrip(ctx, t, a, b, "after-resume")

	s.CloseTransport("a")
	a.waitFor(ctx, "Reconnecting", func(ev Event) bool { _, ok := ev.(Reconnecting); return ok })
	a.waitFor(ctx, "Reconnected", func(ev Event) bool { _, ok := ev.(Reconnected); return ok })
	a.waitParticipant(ctx, "b")
	roundTrip(ctx, t, a, b, "after-close")
	roundTrip(ctx, t, b, a, "back")
}

// Disconnect while a reconnect is in progress ends the room cleanly.
func TestReconnectDisconnectWhileReconnecting(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), rcTimeout)
	defer cancel()
	a := rcJoin(ctx, t, s, "abort", "a", Options{})
	s.ForceFullReconnect("a", true)
	s.DropSignal("a")
	a.waitReconnecting(ctx, ReconnectResume)
	if err := a.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	ev := a.waitFor(ctx, "Disconnected", func(ev Event) bool { _, ok := ev.(Disconnected); return ok }).(Disconnected)
	if ev.Reason != DisconnectClientInitiated {
		t.Fatalf("disconnected %+v", ev)
	}
	pkt := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{}}}
	if err := a.r.sendPacket(ctx, pkt, true); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("send after disconnect: %v", err)
	}
}

// A dozen reconnect cycles of every kind on the same rooms, data checked
// after each, and no goroutine left behind once everything is closed.
func TestReconnectCyclesNoLeak(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs after the server and rooms are closed
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*rcTimeout)
	defer cancel()
	a := rcJoin(ctx, t, s, "cycles", "a", Options{})
	b := rcJoin(ctx, t, s, "cycles", "b", Options{})
	a.waitParticipant(ctx, "b")

	for i := range 12 {
		var want ReconnectKind
		switch i % 3 {
		case 0:
			s.DropSignal("a")
			want = ReconnectResume
		case 1:
			s.SendLeave("a", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
			want = ReconnectFull
		case 2:
			s.SendLeave("a", lkpb.LeaveRequest_RESUME, lkpb.DisconnectReason_MIGRATION)
			want = ReconnectResume
		}
		a.waitReconnected(ctx, want)
		if want == ReconnectFull {
			// The new session's SID reaches the event consumer without a lookup.
			ev := a.waitFor(ctx, "LocalParticipantRejoined", func(ev Event) bool { _, ok := ev.(LocalParticipantRejoined); return ok }).(LocalParticipantRejoined)
			if ev.Info.SID != a.r.LocalParticipant().SID() || ev.OldSID == ev.Info.SID || ev.OldSID == "" || ev.Info.Identity != "a" {
				t.Fatalf("cycle %d: %+v (local sid %s)", i, ev, a.r.LocalParticipant().SID())
			}
		}
		a.waitParticipant(ctx, "b")
		b.waitParticipant(ctx, "a")
		roundTrip(ctx, t, a, b, fmt.Sprintf("cycle-%d", i))
		roundTrip(ctx, t, b, a, fmt.Sprintf("cycle-back-%d", i))
	}
	a.close()
	b.close()
	_ = s.Close()
}

// recordingDialer records the request target of every signalling upgrade
// request (read from the bytes the client writes on the connection).
type recordingDialer struct {
	mu   sync.Mutex
	urls []*url.URL
}

// Dial is a room.Options.Dial whose connections report the upgrade request.
func (rt *recordingDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, rt: rt}, nil
}

func (rt *recordingDialer) record(target string) {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		u = &url.URL{Path: "unparsable request target"}
	}
	rt.mu.Lock()
	rt.urls = append(rt.urls, u)
	rt.mu.Unlock()
}

// recordingConn collects the written bytes until the end of the request
// head, then reports its target.
type recordingConn struct {
	net.Conn
	rt   *recordingDialer
	head []byte
	done bool
}

func (c *recordingConn) Write(p []byte) (int, error) {
	if !c.done {
		c.head = append(c.head, p...)
		if i := bytes.Index(c.head, []byte("\r\n\r\n")); i >= 0 {
			c.done = true
			line, _, _ := strings.Cut(string(c.head[:i]), "\r\n")
			if f := strings.Fields(line); len(f) == 3 {
				c.rt.record(f[1])
			} else {
				c.rt.record("")
			}
		}
	}
	return c.Conn.Write(p)
}

func (rt *recordingDialer) joinRequest(t *testing.T, i int) (*lkpb.JoinRequest, lkpb.WrappedJoinRequest_Compression, url.Values) {
	t.Helper()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if i >= len(rt.urls) {
		t.Fatalf("only %d upgrade requests", len(rt.urls))
	}
	u := rt.urls[i]
	if u.Path != "/rtc/v1" {
		t.Fatalf("path %q", u.Path)
	}
	jr, comp, err := joinreq.Decode(u.Query().Get("join_request"))
	if err != nil {
		t.Fatal(err)
	}
	return jr, comp, u.Query()
}

// What a resume and a full reconnect put on the wire, against trace
// 1d-resume-js (WS#3): the resume dials the same path with the latest
// (refreshed) token and JoinRequest{same client_info and
// connection_settings, reconnect, reconnect_reason RR_SIGNAL_DISCONNECTED,
// participant_sid, no offer}, GZIP-wrapped; SyncState carries the last
// offer/answer, subscription, the SCTP ids of _lossy/_reliable and the
// receive dedup state; a full reconnect is a plain join with a new offer.
func TestReconnectOnTheWire(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), rcTimeout)
	defer cancel()
	rt := &recordingDialer{}
	a := rcJoin(ctx, t, s, "wire", "a", Options{Dial: rt.Dial})
	b := rcJoin(ctx, t, s, "wire", "b", Options{})
	a.waitParticipant(ctx, "b")
	sid := a.r.LocalParticipant().SID()
	if err := publishSeq(ctx, b, 0, 3); err != nil {
		t.Fatal(err)
	}
	expectSeq(ctx, t, b, a, 3) // 3 + the sentinel: last sequence from b is 4

	s.DropSignal("a")
	a.waitReconnected(ctx, ReconnectResume)
	join, _, q0 := rt.joinRequest(t, 0)
	res, comp, q1 := rt.joinRequest(t, 1)
	if comp != lkpb.WrappedJoinRequest_GZIP || !res.GetReconnect() || res.GetParticipantSid() != sid ||
		res.GetReconnectReason() != lkpb.ReconnectReason_RR_SIGNAL_DISCONNECTED || res.GetPublisherOffer() != nil {
		t.Fatalf("resume join request (compression %v): %v", comp, res)
	}
	if !proto.Equal(res.GetClientInfo(), join.GetClientInfo()) || !proto.Equal(res.GetConnectionSettings(), join.GetConnectionSettings()) {
		t.Fatalf("resume client info / settings differ: %v / %v", res.GetClientInfo(), res.GetConnectionSettings())
	}
	if tok := q1.Get("access_token"); tok == "" || tok == q0.Get("access_token") {
		t.Fatal("resume did not use the refreshed token")
	}

	var ss *lkpb.SyncState
	if err := a.r.runOnLoop(ctx, func() { ss = a.r.buildSyncState(a.r.eng.Load()) }); err != nil {
		t.Fatal(err)
	}
	if ss.GetOffer().GetType() != "offer" || ss.GetAnswer().GetType() != "answer" ||
		!strings.Contains(ss.GetOffer().GetSdp(), "m=application") || !strings.Contains(ss.GetAnswer().GetSdp(), "m=application") {
		t.Fatalf("sync state descriptions %v / %v", ss.GetOffer().GetType(), ss.GetAnswer().GetType())
	}
	if !ss.GetSubscription().GetSubscribe() || len(ss.GetSubscription().GetTrackSids()) != 0 {
		t.Fatalf("subscription %v", ss.GetSubscription())
	}
	dcs := ss.GetDataChannels()
	if len(dcs) != 2 || dcs[0].GetLabel() != "_lossy" || dcs[1].GetLabel() != "_reliable" ||
		dcs[0].GetTarget() != lkpb.SignalTarget_PUBLISHER || dcs[0].GetId() == dcs[1].GetId() {
		t.Fatalf("data channels %v", dcs)
	}
	bSid := b.r.LocalParticipant().SID()
	found := false
	for _, st := range ss.GetDatachannelReceiveStates() {
		if st.GetPublisherSid() == bSid {
			found = st.GetLastSeq() == 4
		}
	}
	if !found {
		t.Fatalf("receive states %v, want %s:4", ss.GetDatachannelReceiveStates(), bSid)
	}

	s.SendLeave("a", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
	a.waitReconnected(ctx, ReconnectFull)
	full, _, _ := rt.joinRequest(t, 2)
	if full.GetReconnect() || full.GetParticipantSid() != "" || full.GetPublisherOffer().GetId() != 1 ||
		!proto.Equal(full.GetClientInfo(), join.GetClientInfo()) {
		t.Fatalf("full reconnect join request %v", full)
	}
}

// stallConn is a TCP connection that can go silent in both directions
// without closing (a dead NAT binding, a frozen peer): reads deliver
// nothing, writes vanish.
type stallConn struct {
	net.Conn
	stalled atomic.Bool
}

func (c *stallConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if err != nil || !c.stalled.Load() {
			return n, err
		}
	}
}

func (c *stallConn) Write(p []byte) (int, error) {
	if c.stalled.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

type stallDialer struct {
	mu    sync.Mutex
	conns []*stallConn
}

func (d *stallDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	sc := &stallConn{Conn: c}
	d.mu.Lock()
	d.conns = append(d.conns, sc)
	d.mu.Unlock()
	return sc, nil
}

// The signalling connection goes silent without closing: nothing arrives
// for ping_timeout, the client declares it dead (ErrPingTimeout) and
// resumes on a new WebSocket.
func TestReconnectPingTimeout(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{PingInterval: time.Second, PingTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), rcTimeout)
	defer cancel()
	d := &stallDialer{}
	a := rcJoin(ctx, t, s, "ping", "a", Options{Dial: d.DialContext})
	b := rcJoin(ctx, t, s, "ping", "b", Options{})
	a.waitParticipant(ctx, "b")
	sid := a.r.LocalParticipant().SID()

	d.mu.Lock()
	d.conns[0].stalled.Store(true)
	d.mu.Unlock()
	ev := a.waitFor(ctx, "Reconnecting", func(ev Event) bool { _, ok := ev.(Reconnecting); return ok }).(Reconnecting)
	if ev.Kind != ReconnectResume || !errors.Is(ev.Err, signal.ErrPingTimeout) || !errors.Is(ev.Err, ErrSignalLost) {
		t.Fatalf("reconnecting %+v", ev)
	}
	a.waitReconnected(ctx, ReconnectResume)
	if a.r.LocalParticipant().SID() != sid {
		t.Fatal("sid changed")
	}
	roundTrip(ctx, t, a, b, "after")
	roundTrip(ctx, t, b, a, "back")
}

// switchDialer lets a test make later signalling connections fail: mode 1 =
// server unreachable, mode 2 = HTTP 401 (token refused, answered by a
// goroutine on the other end of a pipe).
type switchDialer struct{ mode atomic.Int32 }

func (st *switchDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	switch st.mode.Load() {
	case 1:
		return nil, errors.New("connection refused (test)")
	case 2:
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			br := bufio.NewReader(server)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" {
					break
				}
			}
			body := "invalid authorization token"
			_, _ = fmt.Fprintf(server, "HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}()
		return client, nil
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// A refused token ends reconnection at once; otherwise the room gives up
// after the tenth failed attempt. Both end the room with ErrReconnectFailed
// wrapping the last failure, Disconnected last.
func TestReconnectGivesUp(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), rcTimeout)
	defer cancel()

	st := &switchDialer{}
	a := rcJoin(ctx, t, s, "giveup", "a", Options{Dial: st.Dial})
	st.mode.Store(2)
	s.DropSignal("a")
	ev := a.waitFor(ctx, "Disconnected", func(ev Event) bool { _, ok := ev.(Disconnected); return ok }).(Disconnected)
	if !errors.Is(ev.Err, ErrReconnectFailed) || !errors.Is(ev.Err, ErrUnauthorized) || a.r.State() != StateDisconnected {
		t.Fatalf("token refused: %+v", ev)
	}

	st2 := &switchDialer{}
	b := rcJoin(ctx, t, s, "giveup", "b", Options{Dial: st2.Dial})
	st2.mode.Store(1)
	s.DropSignal("b")
	b.waitReconnecting(ctx, ReconnectResume)
	// White-box: skip the ~45 s of backoff by recording nine failures.
	if err := b.r.runOnLoop(ctx, func() { b.r.rc.m.attempts = DefaultMaxReconnectAttempts - 1 }); err != nil {
		t.Fatal(err)
	}
	ev = b.waitFor(ctx, "Disconnected", func(ev Event) bool { _, ok := ev.(Disconnected); return ok }).(Disconnected)
	if !errors.Is(ev.Err, ErrReconnectFailed) || !errors.Is(ev.Err, ErrServerUnreachable) || ev.Reason != DisconnectUnknown {
		t.Fatalf("unreachable: %+v", ev)
	}
	<-b.r.Done()
}

// Options.MaxReconnectAttempts < 0: a lost WebSocket ends the room at once
// with the loss as its cause (no Reconnecting, not ErrReconnectFailed).
func TestReconnectDisabled(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), rcTimeout)
	defer cancel()
	a := rcJoin(ctx, t, s, "norc", "a", Options{MaxReconnectAttempts: -1})
	s.DropSignal("a")
	for {
		var ev Event
		select {
		case ev = <-a.evs:
		case <-ctx.Done():
			t.Fatal("timed out waiting for Disconnected")
		}
		if _, ok := ev.(Reconnecting); ok {
			t.Fatalf("reconnecting although disabled: %+v", ev)
		}
		if d, ok := ev.(Disconnected); ok {
			if !errors.Is(d.Err, ErrSignalLost) || errors.Is(d.Err, ErrReconnectFailed) || d.Reason != DisconnectSignalClose {
				t.Fatalf("disconnected: %+v", d)
			}
			break
		}
	}
	<-a.r.Done()
	if a.r.State() != StateDisconnected {
		t.Fatalf("state %v", a.r.State())
	}
}

// While a simulated loss closes the WebSocket (until the server's answer ends
// it), requests are held as during a reconnection, and the pass-through ones
// find no live WebSocket.
func TestSimulatedLossHoldsSignalRequests(t *testing.T) {
	r := &Room{sigMsgs: make(chan *lkpb.SignalResponse)}
	r.rc.simulated = ScenarioSignalReconnect
	meta := &lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateMetadata{UpdateMetadata: &lkpb.UpdateParticipantMetadata{Metadata: "m"}}}
	if err := r.sendSignalLoop(context.Background(), meta); err != nil {
		t.Fatal(err)
	}
	if len(r.rc.held) != 1 || r.rc.held[0] != meta {
		t.Fatalf("held %v", r.rc.held)
	}
	trickle := &lkpb.SignalRequest{Message: &lkpb.SignalRequest_Trickle{Trickle: &lkpb.TrickleRequest{}}}
	if err := r.sendSignalLoop(context.Background(), trickle); !errors.Is(err, ErrReconnecting) {
		t.Fatalf("pass-through while the WebSocket closes: %v", err)
	}
	r.sendTrickle(trickle)
	if len(r.rc.trickles) != 1 {
		t.Fatalf("trickle not kept for the next WebSocket: %d", len(r.rc.trickles))
	}
}
