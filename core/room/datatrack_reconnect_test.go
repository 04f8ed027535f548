package room_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Data tracks across reconnections
// (docs/protocol.md, Reconnection of data tracks; the scenarios of
// rust-sdks test_subscriber_side_fault / test_publisher_side_fault).

func (p *peer) waitReconnected(ctx context.Context, kind room.ReconnectKind, after int) {
	p.t.Helper()
	seen := 0
	p.wait(ctx, "Reconnected "+kind.String(), func(ev room.Event) bool {
		e, ok := ev.(room.Reconnected)
		if ok && e.Kind == kind {
			seen++
			return seen > after
		}
		return false
	})
}

func (p *peer) reconnects(kind room.ReconnectKind) int {
	return p.count(func(ev room.Event) bool { e, ok := ev.(room.Reconnected); return ok && e.Kind == kind })
}

// waitSIDChanged waits until lt, republished by its publisher's full reconnect, has a SID
// other than old (it fails if the track is unpublished instead).
func waitSIDChanged(t *testing.T, ctx context.Context, lt *room.LocalDataTrack, old string) {
	t.Helper()
	for lt.SID() == old {
		select {
		case <-ctx.Done():
			t.Fatalf("SID never changed from %s", old)
		case <-lt.Unpublished():
			t.Fatalf("republish failed: %v", lt.UnpublishReason())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// pushUntil pushes small frames until one arrives on st (frames pushed while
// a side reconnects are lost).
func pushUntil(t *testing.T, ctx context.Context, lt *room.LocalDataTrack, st *room.DataTrackSubscription, payload string) {
	t.Helper()
	for {
		err := lt.TryPush(room.Frame{Payload: []byte(payload)})
		if err != nil && !errors.Is(err, datatrack.ErrRepublishing) && !errors.Is(err, room.ErrQueueFull) {
			t.Fatalf("push: %v", err)
		}
		fctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		f, err := st.Next(fctx)
		cancel()
		if err == nil && string(f.Payload) == payload {
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stream: %v (%v)", err, st.EndReason())
		}
		if ctx.Err() != nil {
			t.Fatalf("no frame %q", payload)
		}
	}
}

func TestDataTrackSubscriberReconnects(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "dt", "sub", room.Options{})
	lt := publish(t, ctx, pub, "t")
	rt := sub.track(ctx, "pub", "t")
	st := subscribe(t, ctx, rt, room.SubscribeOptions{})
	pushUntil(t, ctx, lt, st, "before")

	// Resume: the same stream keeps receiving.
	s.DropSignal("sub")
	sub.waitReconnected(ctx, room.ReconnectResume, 0)
	pushUntil(t, ctx, lt, st, "after resume")

	// Full reconnect: new session, new subscriber handle; the stream survives
	// (Rust behaviour) and the track object stays the same.
	s.SendLeave("sub", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
	sub.waitReconnected(ctx, room.ReconnectFull, 0)
	pushUntil(t, ctx, lt, st, "after full reconnect")
	if st.Err() != nil || !rt.IsPublished() {
		t.Fatalf("stream ended: %v", st.Err())
	}
	if got := sub.r.RemoteParticipant("pub").DataTrack("t"); got != rt {
		t.Fatalf("participant map after full reconnect: %v", got)
	}
}

// The subscriber's own full reconnect reconciles the room with the new
// session's join: a participant still there keeps its RemoteParticipant and
// its tracks (no ParticipantDisconnected/ParticipantConnected for it), one
// that left meanwhile is reported gone after each of its tracks is
// unpublished.
func TestDataTrackSubscriberFullReconnectKeepsWhoStayed(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	gone := joinPeer(t, ctx, s, "dt", "gone", room.Options{})
	sub := joinPeer(t, ctx, s, "dt", "sub", room.Options{})
	lt := publish(t, ctx, pub, "t")
	publish(t, ctx, gone, "g")
	rt := sub.track(ctx, "pub", "t")
	rg := sub.track(ctx, "gone", "g")
	rp, rgone := sub.r.RemoteParticipant("pub"), sub.r.RemoteParticipant("gone")
	st := subscribe(t, ctx, rt, room.SubscribeOptions{})
	sg := subscribe(t, ctx, rg, room.SubscribeOptions{})
	pushUntil(t, ctx, lt, st, "before")
	before := len(sub.events())

	// sub's signalling breaks and its resume is refused; "gone" leaves while
	// sub is away, so sub learns it from the new session's join (its full
	// attempt comes at least 150 ms after the refused resume; were the leave
	// slower, sub would learn it from an update after the join: the order
	// checked below is the same).
	s.ForceFullReconnect("sub", true)
	defer s.ForceFullReconnect("sub", false)
	s.DropSignal("sub")
	if err := gone.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	sub.waitReconnected(ctx, room.ReconnectFull, 0)
	sub.wait(ctx, "gone's ParticipantDisconnected", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantDisconnected)
		return ok && e.Participant == rgone
	})

	order := membershipOrder(sub.events()[before:])
	if want := []string{"unpublished gone/g", "disconnected gone"}; !slices.Equal(order, want) {
		t.Fatalf("events of the full reconnect %v, want %v", order, want)
	}
	if sub.r.RemoteParticipant("pub") != rp || sub.r.RemoteParticipant("gone") != nil || len(sub.r.RemoteParticipants()) != 1 {
		t.Fatalf("participants after the full reconnect: %v", sub.r.RemoteParticipants())
	}
	if got := rp.DataTracks(); len(got) != 1 || got[0] != rt || !rt.IsPublished() {
		t.Fatalf("pub's tracks after the full reconnect: %v", got)
	}
	if rg.IsPublished() || len(rgone.DataTracks()) != 0 {
		t.Fatal("the track of the participant that left is still published")
	}
	if _, err := sg.Next(ctx); !errors.Is(err, room.ErrStreamEnded) || sg.EndReason() != room.EndReasonPublisherLeft {
		t.Fatalf("subscription to the track of the participant that left: %v, %v", err, sg.EndReason())
	}
	pushUntil(t, ctx, lt, st, "after full reconnect")
}

func TestDataTrackPublisherReconnects(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "dt", "sub", room.Options{})
	lt := publish(t, ctx, pub, "t")
	sid, handle := lt.SID(), lt.Info().Handle
	st := subscribe(t, ctx, sub.track(ctx, "pub", "t"), room.SubscribeOptions{})
	pushUntil(t, ctx, lt, st, "before")

	// Resume: SyncState carries the track, the server keeps it (a stale
	// entry would force a full reconnect), same SID, same stream.
	s.DropSignal("pub")
	pub.waitReconnected(ctx, room.ReconnectResume, 0)
	pushUntil(t, ctx, lt, st, "after resume")
	if lt.SID() != sid || pub.reconnects(room.ReconnectFull) != 0 {
		t.Fatalf("resume: sid %q (was %q), full reconnects %d", lt.SID(), sid, pub.reconnects(room.ReconnectFull))
	}

	// Full reconnect: republished with the same handle and name; the SID
	// changes in place and the track stays published throughout.
	s.SendLeave("pub", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
	pub.waitReconnected(ctx, room.ReconnectFull, 0)
	if !lt.IsPublished() {
		t.Fatal("track unpublished by the full reconnect")
	}
	waitSIDChanged(t, ctx, lt, sid)
	if lt.Info().Handle != handle || lt.Name() != "t" {
		t.Fatalf("republished as handle %d name %q", lt.Info().Handle, lt.Name())
	}
	// An event says so (once), with the old and the new SID.
	changed := pub.wait(ctx, "LocalDataTrackSidChanged", func(ev room.Event) bool {
		_, ok := ev.(room.LocalDataTrackSidChanged)
		return ok
	}).(room.LocalDataTrackSidChanged)
	if changed.Track != lt || changed.OldSID != sid || changed.Info.SID != lt.SID() || changed.Info.Name != "t" {
		t.Fatalf("sid change event %+v (track sid %q, was %q)", changed, lt.SID(), sid)
	}
	if n := pub.count(func(ev room.Event) bool { _, ok := ev.(room.LocalDataTrackSidChanged); return ok }); n != 1 {
		t.Fatalf("%d sid change events", n)
	}
	// Subscribers saw the publisher leave and come back: the old stream
	// ended, a new subscription to the republished track receives.
	if _, err := st.Next(ctx); !errors.Is(err, room.ErrStreamEnded) {
		t.Fatalf("old stream: %v", err)
	}
	rt := sub.wait(ctx, "republished track", func(ev room.Event) bool {
		e, ok := ev.(room.DataTrackPublished)
		return ok && e.Track.SID() == lt.SID()
	}).(room.DataTrackPublished).Track
	if rt.Name() != "t" || sub.r.RemoteParticipant("pub").DataTrack("t") != rt {
		t.Fatalf("subscriber's view after republish: %v", rt.Info())
	}
	pushUntil(t, ctx, lt, subscribe(t, ctx, rt, room.SubscribeOptions{}), "after full reconnect")
	if pub.count(func(ev room.Event) bool { _, ok := ev.(room.LocalDataTrackUnpublished); return ok }) != 0 {
		t.Fatal("LocalDataTrackUnpublished during republish")
	}
}

// A publisher whose new session (same identity: a restarted process, or a
// full reconnect the server did not see coming) republishes before the
// server announces the old session gone: subscribers see the track's SID
// change in place (same identity, handle and name), with no unpublished or
// published event, and a subscription keeps receiving from the new session
// (docs/protocol.md, Reconnection of data tracks). The server holds a new
// session's non-publisher updates for its batch interval and sends a
// publisher's at once, so a long interval makes the order deterministic.
func TestDataTrackSidChangesWhenPublisherRejoins(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{UpdateBatchInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	old := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "dt", "sub", room.Options{})
	lt := publish(t, ctx, old, "t")
	rt := sub.track(ctx, "pub", "t")
	oldSID := rt.SID()
	st := subscribe(t, ctx, rt, room.SubscribeOptions{})
	pushUntil(t, ctx, lt, st, "from the old session")

	// The same identity joins again: the server replaces the old session
	// (leave DUPLICATE_IDENTITY to it) and the new one publishes the same
	// track, first of its session as the old one was: the same handle.
	nw := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	lt2 := publish(t, ctx, nw, "t")
	if lt2.Info().Handle != lt.Info().Handle || lt2.SID() == oldSID {
		t.Fatalf("republished as handle %d sid %s (was %d, %s)", lt2.Info().Handle, lt2.SID(), lt.Info().Handle, oldSID)
	}
	ev := sub.wait(ctx, "sid change", func(ev room.Event) bool {
		_, ok := ev.(room.DataTrackSidChanged)
		return ok
	}).(room.DataTrackSidChanged)
	if ev.OldSID != oldSID || ev.Track != rt || rt.SID() != lt2.SID() {
		t.Fatalf("sid change %s -> %s on %p (want %s -> %s on %p)", ev.OldSID, ev.Track.SID(), ev.Track, oldSID, lt2.SID(), rt)
	}
	pushUntil(t, ctx, lt2, st, "from the new session")
	if n := sub.count(func(ev room.Event) bool {
		switch ev.(type) {
		case room.DataTrackUnpublished, room.DataTrackPublished:
			return true
		}
		return false
	}); n != 1 {
		t.Fatalf("%d published/unpublished events, want only the first publication", n)
	}
	if st.Err() != nil || !rt.IsPublished() || sub.r.RemoteParticipant("pub").DataTrack("t") != rt {
		t.Fatalf("after the change: subscription %v, published %v", st.Err(), rt.IsPublished())
	}
}

// TestPushWaitsForTheRepublication: while a full reconnect republishes a local track (the server
// holds the publish request until the test releases it), TryPush says so
// (datatrack.ErrRepublishing), TryPushPaced refuses as where Push waits (ErrQueueFull), and Push
// waits: it returns only once the track is published again, and its frame reaches the
// subscriber on the new session.
func TestPushWaitsForTheRepublication(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "repub", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "repub", "sub", room.Options{})
	lt := publish(t, ctx, pub, "t")
	oldSID := lt.SID()

	s.SetPublishFault("pub", &devsfu.PublishFault{Hold: true})
	s.SendLeave("pub", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
	pub.waitReconnected(ctx, room.ReconnectFull, 0)
	// Right after Reconnected the room republishes its tracks, and the server holds the
	// request: the track republishes until the test releases the answer (a frame pushed before
	// the republication began is queued and sent on the new session).
	waitUntil(t, ctx, "the track republishing", func() bool {
		err := lt.TryPush(room.Frame{Payload: []byte("x")})
		if err != nil && !errors.Is(err, datatrack.ErrRepublishing) {
			t.Fatalf("TryPush: %v", err)
		}
		return err != nil
	})
	if err := lt.TryPushPaced(room.Frame{Payload: []byte("x")}); !errors.Is(err, room.ErrQueueFull) {
		t.Fatalf("TryPushPaced while republishing: %v", err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- lt.Push(ctx, room.Frame{Payload: []byte("after the republication")}) }()
	for s.ReleaseHeldPublishes() == 0 { // the request may still be on its way
		select {
		case err := <-pushed:
			t.Fatalf("Push returned %v before the track was published again", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	s.SetPublishFault("pub", nil)
	if err := <-pushed; err != nil {
		t.Fatalf("Push: %v", err)
	}
	if lt.SID() == oldSID {
		t.Fatal("Push returned before the track was published again")
	}
	pub.wait(ctx, "LocalDataTrackSidChanged", func(ev room.Event) bool { _, ok := ev.(room.LocalDataTrackSidChanged); return ok })
	var rt *room.RemoteDataTrack
	waitUntil(t, ctx, "the subscriber knows the new sid", func() bool {
		if rp := sub.r.RemoteParticipant("pub"); rp != nil {
			rt = rp.DataTrack("t")
		}
		return rt != nil && rt.SID() == lt.SID()
	})
	st := subscribe(t, ctx, rt, room.SubscribeOptions{})
	pushUntil(t, ctx, lt, st, "through the new session")
}
