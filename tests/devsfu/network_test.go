package devsfu

import (
	"errors"
	"strings"
	"testing"
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
