// Package turntls_test joins rooms through TURN over TLS (a turns: URL, LiveKit's relay for
// networks that let only TLS on 443 out) served by devsfu's embedded TURN server. The client
// verifies the TURN server's certificate against the system's roots (pion offers no other
// trust setting), so this package is a test binary of its own: TestMain makes a CA, puts it
// in SSL_CERT_FILE before anything in the process loads the roots, and the tests give devsfu a
// certificate for 127.0.0.1 signed by it, or one signed by nobody the client trusts.
package turntls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"github.com/lkcore/lkcore/tests/testkit/testca"
	"github.com/pion/webrtc/v4"
)

// trusted is the certificate for 127.0.0.1 signed by the CA in SSL_CERT_FILE (TestMain).
var trusted tls.Certificate

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lkcore-turntls")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ca, cert, err := testca.Localhost()
	trusted = cert
	if err == nil {
		file := filepath.Join(dir, "ca.pem")
		err = os.WriteFile(file, ca.PEM(), 0o600)
		if err == nil {
			err = os.Setenv("SSL_CERT_FILE", file)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "turntls: making the test CA:", err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// TestRelayOverTLS: with the server forcing relay and only a turns: URL handed out, both
// rooms allocate their relay over TLS (the relay candidate's transport to the TURN server is
// "tls"), and reliable packets cross both ways through it.
func TestRelayOverTLS(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{TLSCertificate: &trusted, NoUDP: true}, ForceRelay: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := join(t, ctx, s, "alice")
	bob := join(t, ctx, s, "bob")
	for _, r := range []*room.Room{alice, bob} {
		pair, ok := r.SelectedCandidatePair()
		if !ok || pair.Local.Type != webrtc.ICECandidateTypeRelay || pair.Local.RelayProtocol != "tls" {
			t.Fatalf("%s: selected pair %+v (%v), want a relay candidate over TLS", r.LocalParticipant().Identity(), pair, ok)
		}
	}
	if st := s.TURNStats(); st.Allocations < 2 {
		t.Fatalf("TURN server allocations %d, want one per room at least", st.Allocations)
	}
	send(t, ctx, alice, bob, "to bob over turns")
	send(t, ctx, bob, alice, "to alice over turns")
}

// TestRelayOverTLSUntrusted: a TURN server whose certificate no trusted root signed is not
// used: with relay forced, Connect fails with ErrPeerConnectionFailed once its timeout has
// passed, and the server allocated nothing.
func TestRelayOverTLSUntrusted(t *testing.T) {
	self, err := testca.SelfSigned(net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{TLSCertificate: &self, NoUDP: true}, ForceRelay: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := room.Connect(ctx, s.URL(), s.MustToken(t, "turns", "mallory"),
		room.Options{PeerConnectionTimeout: 3 * time.Second, Logger: s.Logs.Logger()})
	if !errors.Is(err, room.ErrPeerConnectionFailed) || r != nil {
		if r != nil {
			_ = r.Disconnect(ctx)
		}
		t.Fatalf("Connect through an untrusted TURN server: room %v, err %v", r != nil, err)
	}
	if st := s.TURNStats(); st.Allocations != 0 {
		t.Fatalf("TURN server allocations %d, want 0", st.Allocations)
	}
}

// join connects identity to the room "turns" of s; the room is disconnected when t ends.
func join(t *testing.T, ctx context.Context, s *sfu.Server, identity string) *room.Room {
	t.Helper()
	r, err := room.Connect(ctx, s.URL(), s.MustToken(t, "turns", identity), room.Options{Logger: s.Logs.Logger().With("client", identity)})
	if err != nil {
		t.Fatalf("%s: connect: %v", identity, err)
	}
	t.Cleanup(func() { _ = r.Disconnect(context.Background()) })
	return r
}

// send publishes text reliably from one room and waits until the other receives it.
func send(t *testing.T, ctx context.Context, from, to *room.Room, text string) {
	t.Helper()
	if err := from.LocalParticipant().PublishData(ctx, []byte(text), room.DataPublishOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := to.NextEvent(ctx)
		if err != nil {
			t.Fatalf("%s: waiting for %q: %v", to.LocalParticipant().Identity(), text, err)
		}
		if d, isData := ev.(room.DataReceived); isData && string(d.Payload) == text {
			return
		}
	}
}
