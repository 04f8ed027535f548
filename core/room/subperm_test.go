package room_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// permissionEvents waits until p has seen n DataTrackSubscriptionPermissionChanged events and
// returns them.
func permissionEvents(ctx context.Context, p *peer, n int) []room.DataTrackSubscriptionPermissionChanged {
	p.t.Helper()
	var out []room.DataTrackSubscriptionPermissionChanged
	p.wait(ctx, "permission change", func(ev room.Event) bool {
		if e, ok := ev.(room.DataTrackSubscriptionPermissionChanged); ok {
			out = append(out, e)
		}
		return len(out) == n
	})
	return out
}

// noFrameLike fails when st delivers a frame whose payload starts with prefix before the
// stream is quiet for a while (frames of other payloads are skipped).
func noFrameLike(t *testing.T, ctx context.Context, st *room.DataTrackSubscription, prefix string) {
	t.Helper()
	for {
		fctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		f, err := st.Next(fctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return
			}
			t.Fatalf("stream: %v", err)
		}
		if strings.HasPrefix(string(f.Payload), prefix) {
			t.Fatalf("received %q while not allowed", f.Payload)
		}
	}
}

// A publisher's subscription permissions (docs/protocol.md, Subscription permissions): a
// subscriber no longer allowed is told and receives nothing until allowed again, on the same
// subscription; a new subscription that is not allowed fails; after the publisher's full
// reconnect the permissions still hold, for the republished track under its new SID.
func TestSubscriptionPermissions(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "perm", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "perm", "bob", room.Options{})
	carol := joinPeer(t, ctx, s, "perm", "carol", room.Options{})
	lp := alice.r.LocalParticipant()
	lt := publish(t, ctx, alice, "t")
	other := publish(t, ctx, alice, "u")
	bt := bob.track(ctx, "alice", "t")
	bs := subscribe(t, ctx, bt, room.SubscribeOptions{})
	cs := subscribe(t, ctx, carol.track(ctx, "alice", "t"), room.SubscribeOptions{})
	pushUntil(t, ctx, lt, bs, "to both")
	pushUntil(t, ctx, lt, cs, "to both 2")

	for _, bad := range [][]room.TrackPermission{
		{{Identity: ""}},
		{{Identity: "\xff", AllTracks: true}},
		{{Identity: "bob", TrackSIDs: []string{"\xff"}}},
		{{Identity: strings.Repeat("x", 2<<20), AllTracks: true}}, // over the signal request limit
	} {
		if err := lp.SetTrackSubscriptionPermissions(ctx, false, bad); !errors.Is(err, room.ErrInvalidArgument) && !errors.Is(err, room.ErrSignalRequestTooLarge) {
			t.Fatalf("%.40v: %v", bad, err)
		}
	}

	// Only carol, only track t: bob's subscription is revoked, carol's goes on.
	if err := lp.SetTrackSubscriptionPermissions(ctx, false, []room.TrackPermission{{Identity: "carol", TrackSIDs: []string{lt.SID()}}}); err != nil {
		t.Fatal(err)
	}
	if ev := permissionEvents(ctx, bob, 1)[0]; ev.Allowed || ev.Track != bt {
		t.Fatalf("bob: %+v", ev)
	}
	pushUntil(t, ctx, lt, cs, "revoked for bob")
	if bs.Err() != nil {
		t.Fatalf("bob's revoked subscription ended: %v", bs.Err())
	}
	noFrameLike(t, ctx, bs, "revoked")
	if _, err := bob.track(ctx, "alice", "u").Subscribe(ctx, room.SubscribeOptions{}); !errors.Is(err, datatrack.ErrSubscribeNotAllowed) {
		t.Fatalf("bob subscribing to u: %v", err)
	}
	if _, err := carol.track(ctx, "alice", "u").Subscribe(ctx, room.SubscribeOptions{}); !errors.Is(err, datatrack.ErrSubscribeNotAllowed) {
		t.Fatalf("carol subscribing to u (only t allowed): %v", err)
	}

	// Everyone again: the same subscription of bob's receives.
	if err := lp.SetTrackSubscriptionPermissions(ctx, true, nil); err != nil {
		t.Fatal(err)
	}
	if ev := permissionEvents(ctx, bob, 2)[1]; !ev.Allowed || ev.Track != bt {
		t.Fatalf("bob: %+v", ev)
	}
	pushUntil(t, ctx, lt, bs, "granted again")
	subscribe(t, ctx, bob.track(ctx, "alice", "u"), room.SubscribeOptions{})
	_ = other

	// alice reconnects fully, twice: her tracks get new SIDs, the subscribers' streams end, and
	// her permissions hold for the republished tracks — sent again before the tracks (first
	// round: carol may have all tracks, bob none), and with the new SID of a track they name
	// (second round: carol may have t).
	for round := range 2 {
		perms := []room.TrackPermission{{Identity: "carol", AllTracks: true}}
		if round == 1 {
			perms = []room.TrackPermission{{Identity: "carol", TrackSIDs: []string{lt.SID()}}}
		}
		if err := lp.SetTrackSubscriptionPermissions(ctx, false, perms); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			permissionEvents(ctx, bob, 3) // bob's subscription of t is revoked
		}
		oldSID := lt.SID()
		s.SendLeave("alice", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
		alice.waitReconnected(ctx, room.ReconnectFull, round)
		republished := func(p *peer) *room.RemoteDataTrack {
			t.Helper()
			return p.wait(ctx, "republished t", func(ev room.Event) bool {
				e, ok := ev.(room.DataTrackPublished)
				return ok && e.Track.Name() == "t" && e.Track.SID() != oldSID && e.Track.SID() == lt.SID()
			}).(room.DataTrackPublished).Track
		}
		waitSIDChanged(t, ctx, lt, oldSID)
		cs, err := republished(carol).Subscribe(ctx, room.SubscribeOptions{})
		if err != nil {
			t.Fatalf("round %d: carol subscribing after alice's full reconnect: %v", round, err)
		}
		pushUntil(t, ctx, lt, cs, fmt.Sprintf("after alice's full reconnect %d", round))
		if _, err := republished(bob).Subscribe(ctx, room.SubscribeOptions{}); !errors.Is(err, datatrack.ErrSubscribeNotAllowed) {
			t.Fatalf("round %d: bob subscribing after alice's full reconnect: %v", round, err)
		}
	}
}

// receivingSubscription starts a server, joins alice and bob, publishes alice's track "t" and
// subscribes bob to it until a frame arrives; ctx ends with the test.
func receivingSubscription(t *testing.T) (*sfu.Server, context.Context, *peer, *peer, *room.LocalDataTrack, *room.RemoteDataTrack, *room.DataTrackSubscription) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	alice := joinPeer(t, ctx, s, "perm", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "perm", "bob", room.Options{})
	lt := publish(t, ctx, alice, "t")
	rt := bob.track(ctx, "alice", "t")
	bs := subscribe(t, ctx, rt, room.SubscribeOptions{})
	pushUntil(t, ctx, lt, bs, "before")
	return s, ctx, alice, bob, lt, rt, bs
}

// A revoked subscription across the subscriber's own reconnections: after a resume and a full
// reconnect (whose renewed subscription the server refuses again) it is still open, still
// revoked (no event, no frame); granted, the same subscription receives; revoked again and
// then unpublished, it ends normally.
func TestRevokedSubscriptionAcrossSubscriberReconnects(t *testing.T) {
	s, ctx, alice, bob, lt, rt, bs := receivingSubscription(t)
	// The state is the library's: the track says whether its subscription is revoked, and a
	// snapshot taken after the event says the same.
	revoked := func(when string, want bool) {
		t.Helper()
		if rt.SubscriptionRevoked() != want {
			t.Fatalf("%s: SubscriptionRevoked %v", when, !want)
		}
		isSnap := func(ev room.Event) bool { _, ok := ev.(room.SnapshotTaken); return ok }
		n := bob.count(isSnap)
		if err := bob.r.RequestSnapshot(); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, ctx, "a new snapshot", func() bool { return bob.count(isSnap) > n })
		var last room.SnapshotTaken
		for _, ev := range bob.events() {
			if e, ok := ev.(room.SnapshotTaken); ok {
				last = e
			}
		}
		if ts := last.Snapshot.RemoteDataTracks; len(ts) != 1 || ts[0].SubscriptionRevoked != want {
			t.Fatalf("%s: snapshot %+v", when, ts)
		}
	}
	revoked("subscribed", false)
	lp := alice.r.LocalParticipant()
	if err := lp.SetTrackSubscriptionPermissions(ctx, false, nil); err != nil { // nobody
		t.Fatal(err)
	}
	permissionEvents(ctx, bob, 1)
	revoked("revoked", true)

	s.DropSignal("bob")
	bob.waitReconnected(ctx, room.ReconnectResume, 0)
	s.SendLeave("bob", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
	bob.waitReconnected(ctx, room.ReconnectFull, 0)
	for i := range 5 {
		if err := lt.TryPush(room.Frame{Payload: []byte(fmt.Sprintf("revoked %d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	noFrameLike(t, ctx, bs, "revoked")
	if n := bob.count(func(ev room.Event) bool { _, ok := ev.(room.DataTrackSubscriptionPermissionChanged); return ok }); n != 1 || bs.Err() != nil {
		t.Fatalf("after bob's reconnects: %d permission events, subscription %v", n, bs.Err())
	}
	revoked("after bob's reconnects", true)

	if err := lp.SetTrackSubscriptionPermissions(ctx, true, nil); err != nil {
		t.Fatal(err)
	}
	if ev := permissionEvents(ctx, bob, 2)[1]; !ev.Allowed {
		t.Fatalf("granted: %+v", ev)
	}
	revoked("granted", false)
	pushUntil(t, ctx, lt, bs, "granted")

	if err := lp.SetTrackSubscriptionPermissions(ctx, false, nil); err != nil {
		t.Fatal(err)
	}
	permissionEvents(ctx, bob, 3)
	if err := lt.Unpublish(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := bs.Next(ctx); err != nil {
			if !errors.Is(err, room.ErrStreamEnded) || bs.EndReason() != room.EndReasonUnpublished {
				t.Fatalf("end: %v (%v)", err, bs.EndReason())
			}
			break
		}
	}
}

// Whether a track's subscription is revoked is the last word of the permission events: it
// stays revoked when the revoked subscription is closed (no event), also after the publisher
// allows everyone again (the server tells a participant only about its subscriptions), and a
// new subscription the server allows is reported allowed before it is established.
func TestRevokedStateOutlivesTheSubscription(t *testing.T) {
	_, ctx, alice, bob, lt, rt, bs := receivingSubscription(t)
	lp := alice.r.LocalParticipant()
	if err := lp.SetTrackSubscriptionPermissions(ctx, false, nil); err != nil { // nobody
		t.Fatal(err)
	}
	permissionEvents(ctx, bob, 1)
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	if !rt.SubscriptionRevoked() {
		t.Fatal("closing the revoked subscription cleared the state without an event")
	}
	if err := lp.SetTrackSubscriptionPermissions(ctx, true, nil); err != nil {
		t.Fatal(err)
	}
	bs2, err := rt.Subscribe(ctx, room.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev := permissionEvents(ctx, bob, 2)[1]; !ev.Allowed || ev.Track != rt {
		t.Fatalf("the new subscription allowed: %+v", ev)
	}
	if rt.SubscriptionRevoked() {
		t.Fatal("still revoked after the allowed event")
	}
	pushUntil(t, ctx, lt, bs2, "after")
}
