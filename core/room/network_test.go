package room_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"github.com/lkcore/lkcore/tests/testkit/testca"
	"github.com/pion/webrtc/v4"
)

// TestIPv6OnlyServer: a server reachable only over IPv6 (signalling on ws://[::1]:PORT, its
// ICE candidates on ::1 only) is joined like any other. The WebSocket dials a bracketed
// literal, the rooms pick an IPv6 candidate pair at both ends (the ICE sockets, wrapped for
// batched sends and receives, are udp6 ones), and everything that crosses the data channels
// arrives intact (exchangeAll).
//
// pion gathers no host candidate on ::1 (it takes the address for an IPv4-compatible one), so
// a client reaches ::1 from another IPv6 address of the machine. On a machine whose only IPv6
// address is ::1 no pair can form, and the test checks the other promise instead: Connect
// fails with ErrPeerConnectionFailed once its peer-connection timeout has passed, and the room
// is left disconnected. The machine's ::1 itself is a prerequisite (a failure where missing).
func TestIPv6OnlyServer(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{Addr: "[::1]:0"})
	if !strings.HasPrefix(s.URL(), "ws://[::1]:") {
		t.Fatalf("server URL %q", s.URL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if !gatherableIPv6(t) {
		t.Log("no IPv6 address but ::1 on this machine: checking that Connect fails cleanly")
		r, err := room.Connect(ctx, s.URL(), s.MustToken(t, "ipv6", "alice"), room.Options{PeerConnectionTimeout: 2 * time.Second, Logger: s.Logger("alice")})
		if !errors.Is(err, room.ErrPeerConnectionFailed) || r != nil {
			if r != nil {
				_ = r.Disconnect(ctx)
			}
			t.Fatalf("Connect to an unreachable IPv6 server: room %v, err %v", r != nil, err)
		}
		return
	}
	a := joinPeer(t, ctx, s, "ipv6", "alice", room.Options{})
	b := joinPeer(t, ctx, s, "ipv6", "bob", room.Options{})
	for _, p := range []*peer{a, b} {
		st, ok := p.r.ConnectionStats()
		if !ok || !isIPv6(st.CandidatePair.Local.IP) || !isIPv6(st.CandidatePair.Remote.IP) {
			t.Fatalf("%s's candidate pair %+v (%v): not IPv6 at both ends", p.r.LocalParticipant().Identity(), st.CandidatePair, ok)
		}
	}
	exchangeAll(t, ctx, a, b)
}

// gatherableIPv6 reports whether an interface that is up has an IPv6 address pion gathers a
// host candidate on: neither loopback (::1 is skipped) nor link-local.
func gatherableIPv6(t *testing.T) bool {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() == nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return true
			}
		}
	}
	return false
}

// TestICETCP: a server that offers only passive ICE/TCP candidates (livekit-server's TCP
// port for clients whose network blocks UDP) is reached over TCP: the rooms answer its
// candidates with active TCP ones (the engine lists the TCP network types), the pair is TCP at
// both ends, and everything that crosses the data channels arrives intact. (IPv4: pion gathers
// no passive candidate on ::1, so an IPv6 devsfu cannot offer one.)
func TestICETCP(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{ICETCP: true, ICEUDPOff: true})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := joinPeer(t, ctx, s, "icetcp", "alice", room.Options{})
	b := joinPeer(t, ctx, s, "icetcp", "bob", room.Options{})
	for _, p := range []*peer{a, b} {
		st, ok := p.r.ConnectionStats()
		if pair := st.CandidatePair; !ok || pair.Local.Protocol != "tcp" || pair.Remote.Protocol != "tcp" ||
			pair.Local.Type != webrtc.ICECandidateTypeHost || pair.Remote.Type != webrtc.ICECandidateTypeHost {
			t.Fatalf("%s's candidate pair %+v (%v): not TCP host to host", p.r.LocalParticipant().Identity(), pair, ok)
		}
	}
	exchangeAll(t, ctx, a, b)
}

// TestSignallingOverTLS: against a wss:// server (as every production server is), a room
// trusts only what its Options.TLSConfig or the system's roots trust, and uses that TLS
// configuration for every connection it makes: the join, the validation request after a
// refused join (a typed ErrUnauthorized), a resume and a full reconnect, after which data
// still flows both ways.
func TestSignallingOverTLS(t *testing.T) {
	ca, cert, err := testca.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	s := sfu.Start(t, devsfu.Options{TLSCertificate: &cert})
	if !strings.HasPrefix(s.URL(), "wss://127.0.0.1:") {
		t.Fatalf("server URL %q", s.URL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// Not trusted by the system's roots: refused, with the verification's error.
	r, err := room.Connect(ctx, s.URL(), s.MustToken(t, "tls", "mallory"), room.Options{Logger: s.Logger("mallory")})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) || r != nil {
		if r != nil {
			_ = r.Disconnect(ctx)
		}
		t.Fatalf("Connect with the system's roots: room %v, err %v", r != nil, err)
	}
	trust := room.Options{TLSConfig: &tls.Config{RootCAs: ca.Pool()}}
	// A refused token: the validation request that explains it goes over TLS too.
	bad, err := s.Token("tls", "eve")
	if err != nil {
		t.Fatal(err)
	}
	r, err = room.Connect(ctx, s.URL(), bad+"x", trust)
	if !errors.Is(err, room.ErrUnauthorized) || r != nil {
		if r != nil {
			_ = r.Disconnect(ctx)
		}
		t.Fatalf("Connect with a bad signature: room %v, err %v", r != nil, err)
	}

	a := joinPeer(t, ctx, s, "tls", "alice", trust)
	b := joinPeer(t, ctx, s, "tls", "bob", trust)
	roundTripData(t, ctx, a, b, "wss")
	if !s.DropSignal("alice") {
		t.Fatal("no signalling connection of alice to drop")
	}
	waitReconnects(t, ctx, a, room.ReconnectResume, 1)
	roundTripData(t, ctx, b, a, "wss after a resume")
	s.ForceFullReconnect("bob", true)
	if !s.DropSignal("bob") {
		t.Fatal("no signalling connection of bob to drop")
	}
	waitReconnects(t, ctx, b, room.ReconnectFull, 1)
	s.ForceFullReconnect("bob", false)
	roundTripData(t, ctx, a, b, "wss after a full reconnect")
	roundTripData(t, ctx, b, a, "wss back after a full reconnect")
}

// exchangeAll sends what crosses the data channels between a and b and checks that it
// arrives intact: a reliable packet of about seventeen datagrams from a to b, then data-track
// frames both ways, 20 of 1 KB and 3 of 100 KB (each about a hundred packets), every one checked.
func exchangeAll(t *testing.T, ctx context.Context, a, b *peer) {
	t.Helper()
	payload := numbered(1, 20_000)
	if err := a.r.LocalParticipant().PublishData(ctx, payload, room.DataPublishOptions{Reliable: true, Topic: "net"}); err != nil {
		t.Fatal(err)
	}
	got := b.wait(ctx, "a's packet", func(ev room.Event) bool {
		d, ok := ev.(room.DataReceived)
		return ok && d.Topic == "net"
	}).(room.DataReceived)
	if !bytes.Equal(got.Payload, payload) {
		t.Fatalf("received %d bytes, not the %d sent", len(got.Payload), len(payload))
	}
	repushes := 0
	for _, dir := range []struct{ from, to *peer }{{a, b}, {b, a}} {
		from := dir.from.r.LocalParticipant().Identity()
		lt := publish(t, ctx, dir.from, "net-"+from)
		st := subscribe(t, ctx, dir.to.track(ctx, from, "net-"+from), room.SubscribeOptions{BufferSize: 64})
		receiveNumbered(t, ctx, lt, st, 20, 1000, &repushes, nil)
		receiveNumbered(t, ctx, lt, st, 3, 100_000, &repushes, func(f room.Frame) bool { return len(f.Payload) == 1000 })
	}
	if repushes > 0 {
		t.Logf("frames pushed again after a loss: %d times", repushes)
	}
}

// isIPv6 reports whether s is an IPv6 address (not an IPv4 one, mapped or not).
func isIPv6(s string) bool {
	ip, err := netip.ParseAddr(s)
	return err == nil && ip.Is6() && !ip.Is4In6()
}
