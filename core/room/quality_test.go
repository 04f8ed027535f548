package room_test

import (
	"context"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// qualityOf matches the ConnectionQualityChanged of identity to q.
func qualityOf(identity string, q room.ConnectionQuality) func(room.Event) bool {
	return func(ev room.Event) bool {
		e, ok := ev.(room.ConnectionQualityChanged)
		return ok && e.Participant.Identity() == identity && e.Quality == q
	}
}

// TestConnectionQuality: the server's ratings reach the participant they are about as
// ConnectionQualityChanged, once per change (the server repeats a participant's unchanged
// rating whenever another one changes), with the quality before; the participant's getter,
// its Info, the next event's Info and a snapshot carry the latest. A participant is rated to
// the others only once they subscribe to one of its tracks, and only when a rating changes
// (as livekit-server does).
func TestConnectionQuality(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{ConnectionQualityInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "cq", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "cq", "bob", room.Options{}, auth.WithGrant(func(g *auth.VideoGrant) { g.CanUpdateOwnMetadata = auth.Bool(true) }))
	// Each is rated at once as a new participant. A rating that arrives before Connect returned
	// is in its snapshot, not an event (the state events before it are dropped): wait for the
	// state, then check the event if there is one.
	for _, p := range []*peer{alice, bob} {
		me := p.r.LocalParticipant()
		waitUntil(t, ctx, me.Identity()+"'s own rating", func() bool { return me.ConnectionQuality() == room.ConnectionExcellent })
		if me.Info().ConnectionQuality != room.ConnectionExcellent {
			t.Fatalf("%s's own quality in Info %v", me.Identity(), me.Info().ConnectionQuality)
		}
		for _, ev := range p.events() {
			if e, ok := ev.(room.ConnectionQualityChanged); ok && (e.OldQuality != room.ConnectionQualityUnknown || e.Participant != room.Participant(me) ||
				e.Quality != room.ConnectionExcellent || e.Info.ConnectionQuality != room.ConnectionExcellent) {
				t.Fatalf("%+v", e)
			}
		}
	}
	alice.wait(ctx, "bob", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantConnected)
		return ok && e.Info.Identity == "bob"
	})
	rb := alice.r.RemoteParticipant("bob")
	if rb.ConnectionQuality() != room.ConnectionQualityUnknown {
		t.Fatalf("bob rated to alice before she subscribes: %v", rb.ConnectionQuality())
	}

	if _, err := bob.r.LocalParticipant().PublishDataTrack(ctx, "sensor", room.DataTrackOptions{}); err != nil {
		t.Fatal(err)
	}
	sub, err := alice.track(ctx, "bob", "sensor").Subscribe(ctx, room.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// The server sends ratings when one changes (or someone joins): alice learns bob's with
	// the next change.
	s.SetConnectionQuality("cq", "bob", lkpb.ConnectionQuality_POOR.Enum())
	ev := alice.wait(ctx, "bob poor", qualityOf("bob", room.ConnectionPoor)).(room.ConnectionQualityChanged)
	if ev.OldQuality != room.ConnectionQualityUnknown || ev.Participant != room.Participant(rb) || ev.Info.Identity != "bob" ||
		ev.Info.ConnectionQuality != room.ConnectionPoor {
		t.Fatalf("%+v", ev)
	}
	own := bob.wait(ctx, "own poor rating", qualityOf("bob", room.ConnectionPoor)).(room.ConnectionQualityChanged)
	if own.OldQuality != room.ConnectionExcellent || bob.r.LocalParticipant().ConnectionQuality() != room.ConnectionPoor {
		t.Fatalf("%+v", own)
	}
	s.SetConnectionQuality("cq", "bob", lkpb.ConnectionQuality_LOST.Enum())
	alice.wait(ctx, "bob lost", qualityOf("bob", room.ConnectionLost))
	if rb.ConnectionQuality() != room.ConnectionLost || rb.Info().ConnectionQuality != room.ConnectionLost {
		t.Fatalf("bob to alice: %v / %v", rb.ConnectionQuality(), rb.Info().ConnectionQuality)
	}

	// Another change of bob's carries the quality in its Info, and so does a snapshot.
	if err := bob.r.LocalParticipant().SetMetadata(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	md := alice.wait(ctx, "bob's metadata", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantMetadataChanged)
		return ok && e.Info.Identity == "bob"
	}).(room.ParticipantMetadataChanged)
	if md.Info.ConnectionQuality != room.ConnectionLost {
		t.Fatalf("metadata event's quality %v", md.Info.ConnectionQuality)
	}
	if err := alice.r.RequestSnapshot(); err != nil {
		t.Fatal(err)
	}
	snap := alice.wait(ctx, "snapshot", func(ev room.Event) bool { _, ok := ev.(room.SnapshotTaken); return ok }).(room.SnapshotTaken).Snapshot
	if len(snap.RemoteParticipants) != 1 || snap.RemoteParticipants[0].ConnectionQuality != room.ConnectionLost ||
		snap.LocalParticipant.ConnectionQuality != room.ConnectionExcellent {
		t.Fatalf("snapshot %+v", snap)
	}

	// Every rating of alice's own repeated the same EXCELLENT: at most one event (none when the
	// first came before Connect returned); bob's two changes: two.
	if n := alice.count(func(ev room.Event) bool {
		e, ok := ev.(room.ConnectionQualityChanged)
		return ok && e.Participant.Identity() == "alice"
	}); n > 1 {
		t.Fatalf("alice's own quality reported %d times", n)
	}
	if n := alice.count(func(ev room.Event) bool {
		e, ok := ev.(room.ConnectionQualityChanged)
		return ok && e.Participant.Identity() == "bob"
	}); n != 2 {
		t.Fatalf("bob's quality reported %d times to alice", n)
	}
}
