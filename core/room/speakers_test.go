package room_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// speakersAre matches the n-th (from 1) ActiveSpeakersChanged whose list is want.
func speakersAre(n int, want ...string) func(room.Event) bool {
	seen := 0
	return func(ev room.Event) bool {
		e, ok := ev.(room.ActiveSpeakersChanged)
		if ok && slices.Equal(identities(e.Speakers), want) {
			seen++
			return seen == n
		}
		return false
	}
}

// speaking matches the n-th (from 1) SpeakingChanged of identity with that state and level.
func speaking(n int, identity string, on bool, level float32) func(room.Event) bool {
	seen := 0
	return func(ev room.Event) bool {
		e, ok := ev.(room.SpeakingChanged)
		if ok && e.Participant.Identity() == identity && e.Speaking == on && e.AudioLevel == level &&
			e.Info.Identity == identity && e.Info.Speaking == on && e.Info.AudioLevel == level {
			seen++
			return seen == n
		}
		return false
	}
}

// TestActiveSpeakers: the server's speaker updates (devsfu's, which sends them as
// livekit-server does, with the levels set through its control API) reach the participants
// they are about as SpeakingChanged, with ActiveSpeakersChanged when the list (loudest first)
// changes; Room.ActiveSpeakers, the participants' getters, their Info and a snapshot follow.
// A participant learns another's speaking only while it subscribes to one of its data tracks:
// unsubscribing tells it the speaker stopped, subscribing again tells it the current level.
func TestActiveSpeakers(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{SpeakerUpdateInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "spk", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "spk", "bob", room.Options{})
	carol := joinPeer(t, ctx, s, "spk", "carol", room.Options{})
	if _, err := bob.r.LocalParticipant().PublishDataTrack(ctx, "voice", room.DataTrackOptions{}); err != nil {
		t.Fatal(err)
	}
	sub, err := alice.track(ctx, "bob", "voice").Subscribe(ctx, room.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bob", "carol"} {
		alice.wait(ctx, id+" joined", func(ev room.Event) bool {
			e, ok := ev.(room.ParticipantConnected)
			return ok && e.Info.Identity == id
		})
	}
	rb := alice.r.RemoteParticipant("bob")

	// carol speaks: she hears of it herself (0.9 is sent as 1, the server's eighths), alice,
	// who subscribes to nothing of hers, does not.
	s.SetAudioLevel("spk", "carol", 0.9)
	carol.wait(ctx, "carol's own speaking", speaking(1, "carol", true, 1))
	carol.wait(ctx, "carol's own list", speakersAre(1, "carol"))
	if !carol.r.LocalParticipant().IsSpeaking() || carol.r.LocalParticipant().AudioLevel() != 1 {
		t.Fatal("carol's own state")
	}

	s.SetAudioLevel("spk", "bob", 0.3)
	alice.wait(ctx, "bob speaking", speaking(1, "bob", true, 0.375))
	alice.wait(ctx, "[bob]", speakersAre(1, "bob"))
	if !rb.IsSpeaking() || rb.AudioLevel() != 0.375 || !rb.Info().Speaking || rb.Info().AudioLevel != 0.375 {
		t.Fatalf("bob to alice: %v %v %+v", rb.IsSpeaking(), rb.AudioLevel(), rb.Info())
	}
	s.SetAudioLevel("spk", "alice", 0.8)
	alice.wait(ctx, "[alice bob]", speakersAre(1, "alice", "bob"))
	if got := identities(alice.r.ActiveSpeakers()); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("ActiveSpeakers %v", got)
	}
	// A new level that keeps the order: SpeakingChanged only. Then bob overtakes alice.
	s.SetAudioLevel("spk", "bob", 0.5)
	alice.wait(ctx, "bob at 0.5", speaking(1, "bob", true, 0.5))
	s.SetAudioLevel("spk", "bob", 1)
	alice.wait(ctx, "[bob alice]", speakersAre(1, "bob", "alice"))
	if n := alice.count(func(ev room.Event) bool { _, ok := ev.(room.ActiveSpeakersChanged); return ok }); n != 3 {
		t.Fatalf("%d ActiveSpeakersChanged, want 3 ([bob], [alice bob], [bob alice])", n)
	}
	if err := alice.r.RequestSnapshot(); err != nil {
		t.Fatal(err)
	}
	snap := alice.wait(ctx, "snapshot", func(ev room.Event) bool { _, ok := ev.(room.SnapshotTaken); return ok }).(room.SnapshotTaken).Snapshot
	if !slices.Equal(snap.ActiveSpeakers, []string{"bob", "alice"}) || !snap.LocalParticipant.Speaking ||
		snap.LocalParticipant.AudioLevel != 0.875 {
		t.Fatalf("snapshot %v / %+v", snap.ActiveSpeakers, snap.LocalParticipant)
	}
	for _, p := range snap.RemoteParticipants {
		if want := p.Identity == "bob"; p.Speaking != want || (want && p.AudioLevel != 1) || (!want && p.AudioLevel != 0) {
			t.Fatalf("snapshot's %s: %+v", p.Identity, p)
		}
	}
	if n := alice.count(func(ev room.Event) bool {
		e, ok := ev.(room.SpeakingChanged)
		return ok && e.Participant.Identity() == "carol"
	}); n != 0 || alice.r.RemoteParticipant("carol").IsSpeaking() {
		t.Fatalf("alice heard of carol speaking (%d events) without subscribing to her", n)
	}

	// alice stops; then she unsubscribes from bob's track: the server tells her bob stopped.
	s.SetAudioLevel("spk", "alice", 0)
	alice.wait(ctx, "alice silent", speaking(1, "alice", false, 0))
	alice.wait(ctx, "[bob] again", speakersAre(2, "bob"))
	sub.Close()
	alice.wait(ctx, "bob gone silent", speaking(1, "bob", false, 0))
	alice.wait(ctx, "[]", speakersAre(1))
	if rb.IsSpeaking() || rb.AudioLevel() != 0 || len(alice.r.ActiveSpeakers()) != 0 {
		t.Fatalf("after unsubscribing: %v %v %v", rb.IsSpeaking(), rb.AudioLevel(), alice.r.ActiveSpeakers())
	}
	sub, err = alice.track(ctx, "bob", "voice").Subscribe(ctx, room.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	alice.wait(ctx, "bob speaking again", speaking(1, "bob", true, 1))
	alice.wait(ctx, "[bob] a third time", speakersAre(3, "bob"))

	// bob leaves while speaking: however the server's last speaker update and his departure
	// interleave, he ends up out of the list and not speaking.
	if err := bob.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	alice.wait(ctx, "bob left", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantDisconnected)
		return ok && e.Participant.Identity() == "bob"
	})
	alice.wait(ctx, "[] again", speakersAre(2))
	if rb.IsSpeaking() || len(alice.r.ActiveSpeakers()) != 0 {
		t.Fatalf("after bob left: %v %v", rb.IsSpeaking(), alice.r.ActiveSpeakers())
	}
}

// TestSimulateSpeakerUpdate: ScenarioSpeakerUpdate has the server report the local
// participant speaking at 0.9 for 3 s, then stopped, to itself and to its subscriber (as
// livekit-client JS's "speaker" scenario); no connection breaks.
func TestSimulateSpeakerUpdate(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "simspk", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "simspk", "bob", room.Options{})
	if _, err := alice.r.LocalParticipant().PublishDataTrack(ctx, "voice", room.DataTrackOptions{}); err != nil {
		t.Fatal(err)
	}
	sub, err := bob.track(ctx, "alice", "voice").Subscribe(ctx, room.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if room.ScenarioSpeakerUpdate.String() != "speaker" {
		t.Fatalf("name %q", room.ScenarioSpeakerUpdate.String())
	}
	start := time.Now()
	if err := alice.r.SimulateScenario(ctx, room.ScenarioSpeakerUpdate); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*peer{alice, bob} {
		p.wait(ctx, "alice speaking", speaking(1, "alice", true, 0.9))
		p.wait(ctx, "[alice]", speakersAre(1, "alice"))
	}
	for _, p := range []*peer{alice, bob} {
		p.wait(ctx, "alice stopped", speaking(1, "alice", false, 0))
		p.wait(ctx, "[]", speakersAre(1))
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("the speaking lasted %v, the scenario asks for 3 s", d)
	}
	if n := alice.reconnects(room.ReconnectResume) + alice.reconnects(room.ReconnectFull); n != 0 {
		t.Fatalf("%d reconnections", n)
	}
}
