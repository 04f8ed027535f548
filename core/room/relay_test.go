package room_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
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
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{}, ForceRelay: true})
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

	// A data track with multi-packet frames. The channel never retransmits, and a burst of
	// them through the TURN server can lose a datagram (hence a frame) on a loaded machine:
	// frames that do not arrive are pushed again (nextOrRepush), every delivered one is intact.
	lt := publish(t, ctx, alice, "relayed")
	st := subscribe(t, ctx, bob.track(ctx, "alice", "relayed"), room.SubscribeOptions{})
	repushes := 0
	receiveNumbered(t, ctx, lt, st, 5, 50000, &repushes, nil)
	if repushes > 0 {
		t.Logf("%d repushes (frames lost on the way: %+v)", repushes, bob.r.DataTrackStats())
	}
	// Still relayed after all that.
	wantRelay(t, alice)
	wantRelay(t, bob)
}

// The same server without force_relay: the client uses a host pair even
// though the TURN server is handed out (the control for the tests above).
func TestRelayNotForcedUsesHost(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "norelay", "alice", room.Options{})
	wantHost(t, alice)
	// Gathering goes on after the host pair has connected: the relay allocation may come later.
	for s.TURNStats().Allocations == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the handed-out TURN server was not used for gathering")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// The user's policy: relay only, with the TURN server given in Options
// (the server hands out nothing and does not force relay).
func TestRelayUserPolicy(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{Withhold: true}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ts, _ := s.TURNICEServer("alice")
	alice := joinPeer(t, ctx, s, "userrelay", "alice", room.Options{
		ICETransportPolicy: room.ICETransportPolicyRelay,
		ICEServers:         []room.ICEServer{{URLs: ts.GetUrls(), Username: ts.GetUsername(), Credential: ts.GetCredential()}},
	})
	wantRelay(t, alice)
	bob := joinPeer(t, ctx, s, "userrelay", "bob", room.Options{})
	wantHost(t, bob)
	roundTripData(t, ctx, alice, bob, "user-relay")

	// Relay-only without any TURN server: a typed error, not a timeout.
	tok, err := s.Token("userrelay", "carol")
	if err != nil {
		t.Fatal(err)
	}
	_, err = room.Connect(ctx, s.URL(), tok, room.Options{ICETransportPolicy: room.ICETransportPolicyRelay, Logger: s.Logger("relay-refused")})
	if !errors.Is(err, room.ErrRelayUnavailable) || !errors.Is(err, room.ErrPeerConnectionFailed) {
		t.Fatalf("relay-only without TURN: %v", err)
	}
	if _, err := room.Connect(ctx, s.URL(), tok, room.Options{ICETransportPolicy: 7}); !errors.Is(err, room.ErrInvalidArgument) {
		t.Fatalf("unknown policy: %v", err)
	}
}

// TURN credentials refused under force_relay: Connect fails with
// ErrRelayUnavailable (long before the peer-connection timeout, which is
// beyond the test's context here), and the TURN server did refuse them.
func TestRelayCredentialsRefused(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{WrongCredentials: true}, ForceRelay: true})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	tok, err := s.Token("refused", "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = room.Connect(ctx, s.URL(), tok, room.Options{PeerConnectionTimeout: 10 * testTimeout, Logger: s.Logger("relay-withheld")})
	if !errors.Is(err, room.ErrRelayUnavailable) || !errors.Is(err, room.ErrPeerConnectionFailed) {
		t.Fatalf("connect with refused TURN credentials: %v", err)
	}
	if st := s.TURNStats(); st.AuthRefusals == 0 || st.Allocations != 0 {
		t.Fatalf("TURN stats %+v, want refusals and no allocation", st)
	}
	// Without force_relay the same wrong credentials do not matter.
	s.SetForceRelay(false)
	alice := joinPeer(t, ctx, s, "refused", "alice", room.Options{})
	wantHost(t, alice)
	// With the right credentials again, relay works.
	s.SetForceRelay(true)
	s.SetTURNWrongCredentials(false)
	bob := joinPeer(t, ctx, s, "refused", "bob", room.Options{})
	wantRelay(t, bob)
}

// roundTripData sends one reliable packet from a to b and waits for it.
func roundTripData(t *testing.T, ctx context.Context, a, b *peer, topic string) {
	t.Helper()
	if err := a.r.LocalParticipant().PublishData(ctx, []byte(topic), room.DataPublishOptions{Reliable: true, Topic: topic}); err != nil {
		t.Fatal(err)
	}
	b.wait(ctx, topic, func(ev room.Event) bool {
		e, ok := ev.(room.DataReceived)
		return ok && e.Topic == topic && string(e.Payload) == topic
	})
}

// waitReconnects waits until p has seen n Reconnected events of kind.
func waitReconnects(t *testing.T, ctx context.Context, p *peer, kind room.ReconnectKind, n int) {
	t.Helper()
	for p.count(func(ev room.Event) bool { e, ok := ev.(room.Reconnected); return ok && e.Kind == kind }) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: no %d× Reconnected{%v}", p.r.LocalParticipant().Identity(), n, kind)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// force_relay arriving with a ReconnectResponse governs the resumed
// connection (the ICE restart gathers relay only), and clearing it brings
// host candidates back on the next resume; force_relay in the JoinResponse
// of a full reconnect governs the new connection.
func TestRelayOnResumeAndFullReconnect(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "relay-rc", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "relay-rc", "bob", room.Options{})
	wantHost(t, alice)
	sid := alice.r.LocalParticipant().SID()

	// Resume with force_relay.
	s.SetForceRelay(true)
	s.DropSignal("alice")
	waitReconnects(t, ctx, alice, room.ReconnectResume, 1)
	wantRelay(t, alice)
	if alice.r.LocalParticipant().SID() != sid {
		t.Fatal("the resume changed the session")
	}
	roundTripData(t, ctx, alice, bob, "after-relay-resume")
	roundTripData(t, ctx, bob, alice, "to-relayed-alice")

	// Resume without it: host again.
	s.SetForceRelay(false)
	s.DropSignal("alice")
	waitReconnects(t, ctx, alice, room.ReconnectResume, 2)
	wantHost(t, alice)
	roundTripData(t, ctx, alice, bob, "after-host-resume")

	// Full reconnect with force_relay: the new PeerConnection is relayed.
	s.SetForceRelay(true)
	s.SendLeave("alice", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
	waitReconnects(t, ctx, alice, room.ReconnectFull, 1)
	wantRelay(t, alice)
	if alice.r.LocalParticipant().SID() == sid {
		t.Fatal("the full reconnect kept the session")
	}
	if err := s.WaitParticipantReady(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	roundTripData(t, ctx, alice, bob, "after-relay-full")
	roundTripData(t, ctx, bob, alice, "to-fully-relayed-alice")
	if st := s.TURNStats(); st.AuthRefusals != 0 {
		t.Fatalf("TURN stats %+v", st)
	}
}

// A resume whose relay-only gathering gets no relay (credentials refused)
// fails that attempt with ErrRelayUnavailable: with one attempt allowed the
// room ends with that error; with more, a later attempt (credentials good
// again) succeeds over the relay.
func TestRelayResumeCredentialsRefused(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{}, ForceRelay: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "relay-refused", "alice", room.Options{MaxReconnectAttempts: 1})
	bob := joinPeer(t, ctx, s, "relay-refused", "bob", room.Options{})
	wantRelay(t, alice)
	wantRelay(t, bob)
	s.SetTURNWrongCredentials(true)

	s.DropSignal("alice")
	ev := alice.wait(ctx, "disconnected", func(ev room.Event) bool { _, ok := ev.(room.Disconnected); return ok }).(room.Disconnected)
	if !errors.Is(ev.Err, room.ErrReconnectFailed) || !errors.Is(ev.Err, room.ErrRelayUnavailable) {
		t.Fatalf("alice ended with %v, want ErrReconnectFailed wrapping ErrRelayUnavailable", ev.Err)
	}
	refused := s.TURNStats().AuthRefusals
	if refused == 0 {
		t.Fatal("the TURN server refused nothing")
	}

	s.DropSignal("bob")
	for s.TURNStats().AuthRefusals == refused {
		select {
		case <-ctx.Done():
			t.Fatal("bob's resume never tried the refused credentials")
		case <-time.After(5 * time.Millisecond):
		}
	}
	s.SetTURNWrongCredentials(false)
	bob.wait(ctx, "reconnected", func(ev room.Event) bool { _, ok := ev.(room.Reconnected); return ok })
	wantRelay(t, bob)
}

// TURN over TCP (the only URL handed out): the relay candidate's transport
// to the TURN server is TCP, and data flows.
func TestRelayOverTCP(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{TCP: true, NoUDP: true}, ForceRelay: true})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "relay-tcp", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "relay-tcp", "bob", room.Options{})
	for _, p := range []*peer{alice, bob} {
		wantRelay(t, p)
		if pair, _ := p.r.SelectedCandidatePair(); pair.Local.RelayProtocol != "tcp" {
			t.Fatalf("%s: relay protocol %q, want tcp", p.r.LocalParticipant().Identity(), pair.Local.RelayProtocol)
		}
	}
	roundTripData(t, ctx, alice, bob, "over-turn-tcp")
	roundTripData(t, ctx, bob, alice, "back-over-turn-tcp")
}
