package room_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// TestIPv6OnlyServer: a server reachable only over IPv6 (signalling on ws://[::1]:PORT, its
// ICE candidates on ::1 only) is joined like any other. The WebSocket dials a bracketed
// literal, the rooms pick an IPv6 candidate pair at both ends (the ICE sockets, wrapped for
// batched sends and receives, are udp6 ones), and everything that crosses the data channels
// arrives intact: a reliable packet larger than one datagram, data-track frames of one packet
// and of a hundred, both ways.
//
// It needs the machine's IPv6 loopback address (::1) and fails, saying so, where there is
// none.
func TestIPv6OnlyServer(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Fatalf("this machine has no IPv6 loopback address (::1), which the test needs: %v", err)
	} else {
		_ = ln.Close()
	}
	s := sfu.Start(t, devsfu.Options{Addr: "[::1]:0"})
	if !strings.HasPrefix(s.URL(), "ws://[::1]:") {
		t.Fatalf("server URL %q", s.URL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := joinPeer(t, ctx, s, "ipv6", "alice", room.Options{})
	b := joinPeer(t, ctx, s, "ipv6", "bob", room.Options{})
	for _, p := range []*peer{a, b} {
		st, ok := p.r.ConnectionStats()
		if !ok || !isIPv6(st.CandidatePair.Local.IP) || !isIPv6(st.CandidatePair.Remote.IP) {
			t.Fatalf("%s's candidate pair %+v (%v): not IPv6 at both ends", p.r.LocalParticipant().Identity(), st.CandidatePair, ok)
		}
	}

	// A reliable packet of about seventeen datagrams.
	payload := numbered(1, 20_000)
	if err := a.r.LocalParticipant().PublishData(ctx, payload, room.DataPublishOptions{Reliable: true, Topic: "v6"}); err != nil {
		t.Fatal(err)
	}
	got := b.wait(ctx, "alice's packet", func(ev room.Event) bool {
		d, ok := ev.(room.DataReceived)
		return ok && d.Topic == "v6"
	}).(room.DataReceived)
	if !bytes.Equal(got.Payload, payload) {
		t.Fatalf("bob received %d bytes, not alice's %d", len(got.Payload), len(payload))
	}

	// Data-track frames both ways: 20 of 1 KB and 3 of 100 KB (each about a hundred packets,
	// sent in batches), every one checked.
	repushes := 0
	for _, dir := range []struct{ from, to *peer }{{a, b}, {b, a}} {
		from := dir.from.r.LocalParticipant().Identity()
		lt := publish(t, ctx, dir.from, "v6-"+from)
		st := subscribe(t, ctx, dir.to.track(ctx, from, "v6-"+from), room.SubscribeOptions{BufferSize: 64})
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
