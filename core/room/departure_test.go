package room_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Sessions that end without the room being told they ended: the server announces a
// participant that publishes nothing with its next batch of updates, so one that joins and
// leaves within a batch is only reported DISCONNECTED, to rooms that never knew it; and a
// session replaced by a new one of the same identity is never reported gone. devsfu batches for
// an hour in these tests and each flushes the batch itself, so the order is deterministic.

// pendingRPC registers on callee a method that answers only when its room closes (after its
// connection: no answer goes out), has caller call it, and returns once the callee's handler
// runs (so the call is acknowledged); the call's error arrives on the channel.
func pendingRPC(t *testing.T, ctx context.Context, caller, callee *peer) <-chan error {
	t.Helper()
	called := make(chan struct{})
	if err := callee.r.RegisterRPCMethod("slow", func(hctx context.Context, _ rpc.Invocation) (string, error) {
		close(called)
		<-hctx.Done()
		return "", hctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := caller.r.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{
			Destination: callee.r.LocalParticipant().Identity(), Method: "slow", Payload: "p", ResponseTimeout: testTimeout,
		})
		res <- err
	}()
	select {
	case <-called:
	case <-ctx.Done():
		t.Fatal("the callee's handler was not called")
	}
	// The callee sent its acknowledgement before calling the handler; a reliable packet sent
	// now arrives after it (one ordered channel each way), so once the caller has the packet it
	// has the acknowledgement too — before, a session replaced at once could take an ack still
	// in flight with it, and the RPC then ended by the ack timeout (1501) instead.
	if err := callee.r.LocalParticipant().PublishData(ctx, []byte("after-ack"), room.DataPublishOptions{
		Reliable: true, DestinationIdentities: []string{caller.r.LocalParticipant().Identity()},
	}); err != nil {
		t.Fatal(err)
	}
	caller.wait(ctx, "the packet after the ack", func(ev room.Event) bool {
		d, ok := ev.(room.DataReceived)
		return ok && string(d.Payload) == "after-ack"
	})
	return res
}

// waitServerHolds waits until the server's room holds exactly the participants want (sorted),
// e.g. until a participant that disconnected is gone there.
func waitServerHolds(t *testing.T, ctx context.Context, s *sfu.Server, roomName string, want ...string) {
	t.Helper()
	for !slices.Equal(s.Participants(roomName), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("the server holds %v, want %v", s.Participants(roomName), want)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// flushEndsRPC checks that the call is still pending (unless toldAtOnce: the server may have
// announced the change without waiting for its batch), flushes the room's batched updates and
// checks that the call then fails with 1503 RECIPIENT_DISCONNECTED.
func flushEndsRPC(t *testing.T, ctx context.Context, s *sfu.Server, roomName string, res <-chan error, toldAtOnce bool) {
	t.Helper()
	select {
	case err := <-res:
		if !toldAtOnce {
			t.Fatalf("the RPC ended before the room was told: %v", err)
		}
		wantRPCError(t, err, rpc.CodeRecipientDisconnected)
		return
	default:
	}
	// The server may queue the update after a flush (a participant's join is queued once its
	// connection is up, which the client can see first): flush until the RPC ends.
	for {
		s.FlushParticipantUpdates(roomName)
		select {
		case err := <-res:
			wantRPCError(t, err, rpc.CodeRecipientDisconnected)
			return
		case <-ctx.Done():
			t.Fatal("the RPC is still pending")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestUnannouncedPeerLeavingEndsWhatItLeftOpen: what a session the room never knew left open
// ends when its departure is reported: an RPC pending to it fails with 1503 (before, it waited
// for its response timeout), the stream it was sending fails with ErrAbnormalEnd (before, its
// reader waited for ever), and no participant event is made up for it.
func TestUnannouncedPeerLeavingEndsWhatItLeftOpen(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{UpdateBatchInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	bob := joinPeer(t, ctx, s, "unannounced", "bob", room.Options{})
	readers := make(chan *datastream.TextStreamReader, 1)
	if err := bob.r.RegisterTextStreamHandler("long", func(rd *datastream.TextStreamReader, _ string) { readers <- rd }); err != nil {
		t.Fatal(err)
	}
	alice := joinPeer(t, ctx, s, "unannounced", "alice", room.Options{})
	w, err := alice.r.LocalParticipant().StreamText(ctx, datastream.StreamTextOptions{Topic: "long", DestinationIdentities: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("never finished"); err != nil {
		t.Fatal(err)
	}
	var rd *datastream.TextStreamReader
	select {
	case rd = <-readers:
	case <-ctx.Done():
		t.Fatal("bob got no stream from alice")
	}
	res := pendingRPC(t, ctx, bob, alice)
	if p := bob.r.RemoteParticipant("alice"); p != nil {
		t.Fatal("precondition: alice was announced to bob")
	}
	if err := alice.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	waitServerHolds(t, ctx, s, "unannounced", "bob")
	flushEndsRPC(t, ctx, s, "unannounced", res, false)
	if _, err := rd.ReadAll(ctx); !errors.Is(err, datastream.ErrAbnormalEnd) {
		t.Fatalf("alice's stream: %v", err)
	}
	if n := bob.count(func(ev room.Event) bool {
		switch ev.(type) {
		case room.ParticipantConnected, room.ParticipantDisconnected:
			return true
		}
		return false
	}); n != 0 {
		t.Fatalf("%d participant events for a participant bob never knew", n)
	}
}

// TestReplacedSessionFailsTheRPCsItAcknowledged: a peer whose session is replaced (the same
// identity joins again: the server closes the old session without announcing its departure)
// cannot answer what the old session acknowledged, so those RPCs fail with 1503 as soon as the
// new session is announced — before, they waited for their response timeout.
func TestReplacedSessionFailsTheRPCsItAcknowledged(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{UpdateBatchInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	bob := joinPeer(t, ctx, s, "replaced", "bob", room.Options{})
	old := joinPeer(t, ctx, s, "replaced", "alice", room.Options{})
	// Flushed until bob knows alice: the server queues her join once her connection is up on
	// its side, which may be after her Connect returned.
	waitUntil(t, ctx, "alice announced to bob", func() bool {
		s.FlushParticipantUpdates("replaced")
		return bob.r.RemoteParticipant("alice") != nil
	})
	oldSID := bob.r.RemoteParticipant("alice").SID()
	res := pendingRPC(t, ctx, bob, old)
	joinPeer(t, ctx, s, "replaced", "alice", room.Options{})
	select {
	case <-old.r.Done():
	case <-ctx.Done():
		t.Fatal("the old session was not closed")
	}
	// A new session whose predecessor's update is still queued is announced at once (livekit's
	// pushAndDequeueUpdates), else with the next batch.
	flushEndsRPC(t, ctx, s, "replaced", res, true)
	if sid := bob.r.RemoteParticipant("alice").SID(); sid == oldSID {
		t.Fatalf("alice still has the old sid %s", sid)
	}
}

// TestLeaveBeforeConnectedFailsConnectWithTheReason: a session the server ends after answering
// the join but before the connection is up (leave{DISCONNECT, DUPLICATE_IDENTITY}, as when
// another client takes the identity) makes Connect fail with the server's reason (*LeaveError,
// ErrJoinRefused) — before, with a bare ErrDisconnected that did not say why. The client may
// only use a relay that never answers, so its connection cannot come up first.
func TestLeaveBeforeConnectedFailsConnectWithTheReason(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	blackHole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blackHole.Close()
	tok, err := s.Token("early", "same")
	if err != nil {
		t.Fatal(err)
	}
	r, err := room.New(room.Options{
		Logger:             s.Logger("same"),
		ICEServers:         []room.ICEServer{{URLs: []string{"turn:" + blackHole.LocalAddr().String() + "?transport=udp"}, Username: "u", Credential: "c"}},
		ICETransportPolicy: room.ICETransportPolicyRelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := r.Connect(ctx, s.URL(), tok)
		res <- err
	}()
	for !slices.Contains(s.Participants("early"), "same") {
		select {
		case err := <-res:
			t.Fatalf("connect ended before the leave: %v", err)
		case <-ctx.Done():
			t.Fatal("the join never reached the server")
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.SendLeave("same", lkpb.LeaveRequest_DISCONNECT, lkpb.DisconnectReason_DUPLICATE_IDENTITY)
	err = <-res
	var le *room.LeaveError
	if !errors.As(err, &le) || le.Reason != room.DisconnectDuplicateIdentity || !errors.Is(err, room.ErrJoinRefused) ||
		room.KindOf(err) != room.KindConnectionFailed {
		t.Fatalf("connect: %v", err)
	}
	if st := r.State(); st != room.StateDisconnected {
		t.Fatalf("state %v after the failed connect", st)
	}
}
