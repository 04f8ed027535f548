package room_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// A session moved to another room by the server (room_moved, LiveKit Cloud's MoveParticipant,
// which devsfu plays): the old room's participants leave (tracks first), RoomMoved, the new
// room's participants arrive with their tracks, in that order; what was open with the old room
// ends (an RPC, a subscription); data, RPC and data tracks work in the new room; and the token
// of the move is the room's, so a full reconnect afterwards joins the new room.
func TestRoomMoved(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "a", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "b", "bob", room.Options{})
	m := joinPeer(t, ctx, s, "a", "m", room.Options{AutoSubscribe: true})
	ta := publish(t, ctx, alice, "ta")
	tb := publish(t, ctx, bob, "tb")
	pa := m.published(ctx, "alice", "ta")
	if pa.Subscription == nil {
		t.Fatal("no auto-subscription to alice's track")
	}
	pushUntil(t, ctx, ta, pa.Subscription, "before")
	alice.wait(ctx, "m's arrival", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantConnected)
		return ok && e.Participant.Identity() == "m"
	})
	pending := pendingRPC(t, ctx, m, alice)
	oldSID := m.r.LocalParticipant().SID()
	before := len(m.events())

	if err := s.MoveParticipant("a", "m", "a"); !errors.Is(err, devsfu.ErrMoveRefused) {
		t.Fatalf("move into the same room: %v", err)
	}
	if err := s.MoveParticipant("a", "m", "b"); err != nil {
		t.Fatal(err)
	}
	mv := m.wait(ctx, "RoomMoved", func(ev room.Event) bool { _, ok := ev.(room.RoomMoved); return ok }).(room.RoomMoved)
	if mv.OldName != "a" || mv.Info.Name != "b" || mv.Info.SID == "" || m.r.Info().Name != "b" {
		t.Fatalf("RoomMoved %+v, room %+v", mv, m.r.Info())
	}
	pb := m.published(ctx, "bob", "tb")

	order := membershipOrder(m.events()[before:])
	want := []string{"unpublished alice/ta", "disconnected alice", "moved b", "connected bob", "published bob/tb"}
	if !slices.Equal(order, want) {
		t.Fatalf("events of the move %v, want %v", order, want)
	}
	if ids := identities(m.r.RemoteParticipants()); !slices.Equal(ids, []string{"bob"}) {
		t.Fatalf("remote participants after the move: %v", ids)
	}
	if sid := m.r.LocalParticipant().SID(); sid != oldSID {
		t.Fatalf("devsfu keeps the session's sid: %s, was %s", sid, oldSID)
	}

	// What was open with the old room ended: the RPC to alice, the subscription to her track.
	select {
	case err := <-pending:
		wantRPCError(t, err, rpc.CodeRecipientDisconnected)
	case <-ctx.Done():
		t.Fatal("the RPC to alice did not end")
	}
	if _, err := pa.Subscription.Next(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("subscription to alice's track: %v", err)
	}

	// The old room saw m leave, the new one saw it arrive.
	alice.wait(ctx, "m leaving", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantDisconnected)
		return ok && e.Participant.Identity() == "m"
	})
	bob.wait(ctx, "m arriving", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantConnected)
		return ok && e.Participant.Identity() == "m"
	})

	// The new room works: data both ways, RPC, the auto-subscription to bob's track.
	roundTripData(t, ctx, m, bob, "m-to-bob")
	roundTripData(t, ctx, bob, m, "bob-to-m")
	if err := bob.r.RegisterRPCMethod("echo", func(_ context.Context, inv rpc.Invocation) (string, error) { return inv.Payload, nil }); err != nil {
		t.Fatal(err)
	}
	if out, err := m.r.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "echo", Payload: "hi", ResponseTimeout: testTimeout}); err != nil || out != "hi" {
		t.Fatalf("rpc to bob: %q, %v", out, err)
	}
	if pb.Subscription == nil {
		t.Fatal("no auto-subscription to bob's track")
	}
	pushUntil(t, ctx, tb, pb.Subscription, "after")

	// A full reconnect joins with the token of the move: room b.
	s.ForceFullReconnect("m", true)
	s.DropSignal("m")
	m.waitReconnected(ctx, room.ReconnectFull, 0)
	s.ForceFullReconnect("m", false)
	if m.r.Info().Name != "b" || !slices.Contains(s.Participants("b"), "m") || slices.Contains(s.Participants("a"), "m") {
		t.Fatalf("after the full reconnect: room %q, server: a %v, b %v", m.r.Info().Name, s.Participants("a"), s.Participants("b"))
	}
	roundTripData(t, ctx, bob, m, "after-reconnect")
}

// membershipOrder describes the membership events among evs in order: who connected and
// disconnected, which tracks were published and unpublished (publisher/name), RoomMoved.
func membershipOrder(evs []room.Event) []string {
	var order []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case room.ParticipantConnected:
			order = append(order, "connected "+e.Participant.Identity())
		case room.ParticipantDisconnected:
			order = append(order, "disconnected "+e.Participant.Identity())
		case room.DataTrackUnpublished:
			order = append(order, "unpublished "+e.Track.PublisherIdentity()+"/"+e.Track.Name())
		case room.DataTrackPublished:
			order = append(order, "published "+e.Track.PublisherIdentity()+"/"+e.Track.Name())
		case room.RoomMoved:
			order = append(order, "moved "+e.Info.Name)
		}
	}
	return order
}

// identities lists the identities of ps in order.
func identities[P room.Participant](ps []P) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Identity())
	}
	return out
}
