package room_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/e2ee"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// A remote participant's EncryptionState: what the room last saw of its encrypted data, kept by
// the room (Room.EncryptionStates) so that no binding keeps its own copy.

// nth matches the n-th event (from the start) that match matches.
func nth(n int, match func(room.Event) bool) func(room.Event) bool {
	seen := 0
	return func(ev room.Event) bool {
		if match(ev) {
			seen++
			return seen == n
		}
		return false
	}
}

func wantStates(t *testing.T, r *room.Room, want map[string]room.EncryptionState) {
	t.Helper()
	if got := r.EncryptionStates(); !maps.Equal(got, want) {
		t.Fatalf("%s: EncryptionStates %v, want %v", r.LocalParticipant().Identity(), got, want)
	}
}

// TestEncryptionStateFollowsFailuresAndRecovery: a failure sets the sender's state (a key that
// does not decrypt, a key index the receiver lacks, an encrypted packet in a room without
// E2EE), data that decrypts again sets it to EncryptionOK with an EncryptionRecovered event
// (packets and data-track frames), and the state goes when the participant leaves.
func TestEncryptionStateFollowsFailuresAndRecovery(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	aKeys, err := e2ee.NewSharedKeyProvider([]byte(e2eeKey), e2ee.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wKeys, err := e2ee.NewSharedKeyProvider([]byte("not-the-key"), e2ee.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := joinPeer(t, ctx, s, "encstate", "a", room.Options{E2EE: &room.E2EEOptions{KeyProvider: aKeys}})
	w := joinPeer(t, ctx, s, "encstate", "w", room.Options{E2EE: &room.E2EEOptions{KeyProvider: wKeys}})
	p := joinPeer(t, ctx, s, "encstate", "p", room.Options{})
	for _, c := range []*peer{w, p} {
		waitRemote(t, ctx, c.r, "a")
		waitRemote(t, ctx, a.r, c.r.LocalParticipant().Identity())
	}
	wantStates(t, w.r, map[string]room.EncryptionState{})
	send := func(payload string) {
		t.Helper()
		if err := a.r.LocalParticipant().PublishData(ctx, []byte(payload), room.DataPublishOptions{Reliable: true}); err != nil {
			t.Fatal(err)
		}
	}
	failed := func(kind room.DecryptionKind) func(room.Event) bool {
		return func(ev room.Event) bool {
			e, ok := ev.(room.DecryptionFailed)
			return ok && e.Kind == kind
		}
	}
	recovered := func(ev room.Event) bool { _, ok := ev.(room.EncryptionRecovered); return ok }

	// A key that does not decrypt; no key at all in the plain room.
	send("one")
	if e := w.wait(ctx, "packet failure", failed(room.DecryptionKindPacket)).(room.DecryptionFailed); e.State != room.EncryptionDecryptionFailed {
		t.Fatalf("w: DecryptionFailed %+v", e)
	}
	wantStates(t, w.r, map[string]room.EncryptionState{"a": room.EncryptionDecryptionFailed})
	if e := p.wait(ctx, "packet failure", failed(room.DecryptionKindPacket)).(room.DecryptionFailed); e.State != room.EncryptionMissingKey {
		t.Fatalf("p: DecryptionFailed %+v", e)
	}
	wantStates(t, p.r, map[string]room.EncryptionState{"a": room.EncryptionMissingKey})

	// The right key: the next packet decrypts, a's state is OK.
	if err := wKeys.SetKey(0, []byte(e2eeKey)); err != nil {
		t.Fatal(err)
	}
	send("two")
	e := w.wait(ctx, "recovery", recovered).(room.EncryptionRecovered)
	if e.ParticipantIdentity != "a" || e.Participant == nil || e.Kind != room.DecryptionKindPacket {
		t.Fatalf("EncryptionRecovered %+v", e)
	}
	w.wait(ctx, "the packet", func(ev room.Event) bool { d, ok := ev.(room.DataReceived); return ok && string(d.Payload) == "two" })
	wantStates(t, w.r, map[string]room.EncryptionState{"a": room.EncryptionOK})

	// Frames: a moves to a key index w lacks, then w gets that key too.
	lt := publish(t, ctx, a, "enc")
	sub := subscribe(t, ctx, w.track(ctx, "a", "enc"), room.SubscribeOptions{})
	if err := aKeys.SetKey(1, []byte("second-key")); err != nil {
		t.Fatal(err)
	}
	if err := lt.TryPush(room.Frame{Payload: []byte("f1")}); err != nil {
		t.Fatal(err)
	}
	if e := w.wait(ctx, "frame failure", failed(room.DecryptionKindFrame)).(room.DecryptionFailed); e.State != room.EncryptionMissingKey || !errors.Is(e.Err, e2ee.ErrNoKey) {
		t.Fatalf("w: DecryptionFailed(frame) %+v", e)
	}
	wantStates(t, w.r, map[string]room.EncryptionState{"a": room.EncryptionMissingKey})
	if err := wKeys.SetKey(1, []byte("second-key")); err != nil {
		t.Fatal(err)
	}
	if err := lt.TryPush(room.Frame{Payload: []byte("f2")}); err != nil {
		t.Fatal(err)
	}
	if f, err := sub.Next(ctx); err != nil || string(f.Payload) != "f2" {
		t.Fatalf("frame after the key: %q %v", f.Payload, err)
	}
	e = w.wait(ctx, "frame recovery", nth(2, recovered)).(room.EncryptionRecovered)
	if e.ParticipantIdentity != "a" || e.Kind != room.DecryptionKindFrame || e.TrackSid != lt.SID() {
		t.Fatalf("EncryptionRecovered(frame) %+v", e)
	}
	wantStates(t, w.r, map[string]room.EncryptionState{"a": room.EncryptionOK})
	if n := p.count(recovered); n != 0 {
		t.Fatalf("p: %d recoveries without E2EE", n)
	}

	// a leaves: its state goes with it.
	if err := a.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*peer{w, p} {
		c.wait(ctx, "a gone", func(ev room.Event) bool {
			d, ok := ev.(room.ParticipantDisconnected)
			return ok && d.Participant.Identity() == "a"
		})
		wantStates(t, c.r, map[string]room.EncryptionState{})
	}
}

// TestEncryptionStateOfAnUnannouncedPeerGoesWhenItLeaves: a participant the room was never told
// about (it joined and left within the server's batch of updates) has a state once its data
// fails to decrypt, and loses it when its departure arrives — before, a binding that kept the
// states from the events held such an entry until the room was released.
func TestEncryptionStateOfAnUnannouncedPeerGoesWhenItLeaves(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{UpdateBatchInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	wrong, err := room.SharedKeyE2EE([]byte("not-the-key"))
	if err != nil {
		t.Fatal(err)
	}
	right, err := room.SharedKeyE2EE([]byte(e2eeKey))
	if err != nil {
		t.Fatal(err)
	}
	w := joinPeer(t, ctx, s, "encgone", "w", room.Options{E2EE: wrong})
	x := joinPeer(t, ctx, s, "encgone", "x", room.Options{E2EE: right})
	if err := x.r.LocalParticipant().PublishData(ctx, []byte("hello"), room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"w"}}); err != nil {
		t.Fatal(err)
	}
	if e := w.wait(ctx, "failure", func(ev room.Event) bool { _, ok := ev.(room.DecryptionFailed); return ok }).(room.DecryptionFailed); e.ParticipantIdentity != "x" || e.Participant != nil {
		t.Fatalf("DecryptionFailed %+v (x must be unannounced)", e)
	}
	wantStates(t, w.r, map[string]room.EncryptionState{"x": room.EncryptionDecryptionFailed})
	if err := x.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	waitServerHolds(t, ctx, s, "encgone", "w")
	wantStates(t, w.r, map[string]room.EncryptionState{"x": room.EncryptionDecryptionFailed})
	s.FlushParticipantUpdates("encgone")
	for len(w.r.EncryptionStates()) != 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("x's state stayed after its departure: %v", w.r.EncryptionStates())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
