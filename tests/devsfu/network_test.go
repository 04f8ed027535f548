package devsfu

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/tests/testkit/testca"
)

// TestStartNetworks: the address family of Addr is the server's (an IPv6 one gives a
// ws://[::1] URL), and a server left without candidates (no UDP, no ICE/TCP) is refused.
// Joining over IPv6 or ICE/TCP is tested end to end in core/room (network_test.go).
func TestStartNetworks(t *testing.T) {
	if _, err := Start(Options{ICEUDPOff: true}); !errors.Is(err, ErrNoICECandidates) {
		t.Fatalf("ICEUDPOff alone: %v", err)
	}
	s, err := Start(Options{Addr: "[::1]:0", ICETCP: true})
	if err != nil {
		t.Fatalf("IPv6 with ICE/TCP (the machine's ::1 is a prerequisite): %v", err)
	}
	defer func() { _ = s.Close() }()
	if !strings.HasPrefix(s.URL(), "ws://[::1]:") {
		t.Fatalf("URL %q", s.URL())
	}
	if s.tcpMux == nil {
		t.Fatal("ICETCP: no TCP mux")
	}
}

// TestAlsoTLS: with AlsoTLSCertificate the server listens for wss:// on a second port (TLSURL)
// with that certificate, and for ws:// as before.
func TestAlsoTLS(t *testing.T) {
	ca, cert, err := testca.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Options{AlsoTLSCertificate: &cert})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if !strings.HasPrefix(s.URL(), "ws://127.0.0.1:") || !strings.HasPrefix(s.TLSURL(), "wss://127.0.0.1:") ||
		strings.TrimPrefix(s.TLSURL(), "wss://") == strings.TrimPrefix(s.URL(), "ws://") {
		t.Fatalf("URL %q, TLSURL %q", s.URL(), s.TLSURL())
	}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.TLSURL(), "wss://"), &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatalf("TLS to %s: %v", s.TLSURL(), err)
	}
	_ = conn.Close()
	plain, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = plain.Close() }()
	if plain.TLSURL() != "" {
		t.Fatalf("TLSURL without AlsoTLSCertificate: %q", plain.TLSURL())
	}
}
