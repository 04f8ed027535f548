package room_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/pion/webrtc/v4"
)

// TURN relay and force_relay end to end on devsfu's embedded TURN server.
// The assertions are on the client's selected ICE candidate pair (pion's
// statistics): under a relay-only policy its local candidate must be a relay
// candidate, otherwise a host candidate (everything is on loopback, where a
// host pair always works, so "relay" can only come from the policy).

// pairType returns the local and remote candidate types of p's selected pair.
func pairType(t *testing.T, p *peer) (local, remote webrtc.ICECandidateType) {
	t.Helper()
	pair, ok := p.r.SelectedCandidatePair()
	if !ok {
		t.Fatalf("%s: no selected candidate pair", p.r.LocalParticipant().Identity())
	}
	return pair.Local.Type, pair.Remote.Type
}

func wantRelay(t *testing.T, p *peer) {
	t.Helper()
	pair, ok := p.r.SelectedCandidatePair()
	if !ok {
		t.Fatalf("%s: no selected candidate pair", p.r.LocalParticipant().Identity())
	}
	if pair.Local.Type != webrtc.ICECandidateTypeRelay || pair.Local.RelayProtocol == "" {
		t.Fatalf("%s: selected pair %+v, want a local relay candidate", p.r.LocalParticipant().Identity(), pair)
	}
}

func wantHost(t *testing.T, p *peer) {
	t.Helper()
	if l, _ := pairType(t, p); l != webrtc.ICECandidateTypeHost {
		t.Fatalf("%s: selected local candidate %v, want host", p.r.LocalParticipant().Identity(), l)
	}
}

// The server forces relay: both participants connect through TURN, and data
// packets, RPC, text streams and data tracks all flow over the relay.
func TestRelayForcedByServer(t *testing.T) {
	s := startDTServer(t, devsfu.Options{TURN: &devsfu.TURNOptions{}, ForceRelay: true})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "relay", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "relay", "bob", room.Options{})
	wantRelay(t, alice)
	wantRelay(t, bob)
	if st := s.TURNStats(); st.Allocations < 2 || st.AuthRefusals != 0 {
		t.Fatalf("TURN stats %+v, want ≥ 2 allocations and no refusal", st)
	}
	if bob.r.RemoteParticipant("alice") == nil {
		t.Fatal("bob does not know alice")
	}
	alice.wait(ctx, "bob", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantConnected)
		return ok && e.Participant.Identity() == "bob"
	})

	// Data packets, both reliabilities.
	for _, reliable := range []bool{true, false} {
		payload := []byte("over the relay")
		topic := "relay-" + map[bool]string{true: "reliable", false: "lossy"}[reliable]
		// Lossy packets may be lost (SCTP unreliable): resend until one arrives.
		got := make(chan struct{})
		go func() {
			bob.wait(ctx, topic, func(ev room.Event) bool {
				e, ok := ev.(room.DataReceived)
				return ok && e.Topic == topic && bytes.Equal(e.Payload, payload) && e.SenderIdentity == "alice"
			})
			close(got)
		}()
		for sent := false; !sent; {
			if err := alice.r.LocalParticipant().PublishData(ctx, payload, room.DataPublishOptions{Reliable: reliable, Topic: topic}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-got:
				sent = true
			case <-ctx.Done():
				t.Fatalf("%s packet never arrived", topic)
			case <-time.After(200 * time.Millisecond): // lossy: send again
			}
		}
	}

	// RPC.
	if err := bob.r.RegisterRPCMethod("echo", func(_ context.Context, inv rpc.Invocation) (string, error) {
		return "echo:" + inv.Payload, nil
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := alice.r.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "echo", Payload: strings.Repeat("r", 20000)})
	if err != nil || resp != "echo:"+strings.Repeat("r", 20000) {
		t.Fatalf("RPC over the relay: %d bytes, %v", len(resp), err)
	}

	// A text stream of several chunks.
	sink := textSink(t, bob.r, "relay-text")
	text := strings.Repeat("relayed stream ✓ ", 10000)
	if _, err := alice.r.LocalParticipant().SendText(ctx, text, datastream.SendTextOptions{Topic: "relay-text", DestinationIdentities: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	if rc := recv(t, ctx, sink); rc.err != nil || rc.sum != sha256.Sum256([]byte(text)) || rc.sender != "alice" {
		t.Fatalf("text stream over the relay: %d bytes, err %v, sender %q", rc.n, rc.err, rc.sender)
	}

	// A data track with multi-packet frames.
	lt := publish(t, ctx, alice, "relayed")
	st := subscribe(t, ctx, bob.track(ctx, "alice", "relayed"), room.SubscribeOptions{})
	const n, size = 5, 50000
	for i := range n {
		pushRetry(t, ctx, lt, room.Frame{Payload: numbered(i, size)})
	}
	seen := map[int]bool{}
	for len(seen) < n {
		f, err := st.Next(ctx)
		if err != nil {
			t.Fatalf("after %d frames: %v", len(seen), err)
		}
		seen[checkNumbered(t, f.Payload, size)] = true
	}
	// Still relayed after all that.
	wantRelay(t, alice)
	wantRelay(t, bob)
}
