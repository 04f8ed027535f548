package udpbatch

import (
	"bytes"
	"net/netip"
	"testing"
)

// One coalesced receive is handed out as the datagrams that were sent: each
// of seg bytes, the last one shorter, all from the receive's sender.
func TestCoalescedHandsOutEachDatagram(t *testing.T) {
	src := netip.MustParseAddrPort("192.0.2.7:4000")
	var buf []byte
	var want [][]byte
	for i := range 3 {
		want = append(want, datagram('C', i, 6))
	}
	want = append(want, datagram('C', 3, 2))
	for _, w := range want {
		buf = append(buf, w...)
	}
	var c coalesced
	c.load(buf, 6, src)
	p := make([]byte, 64)
	for i, w := range want {
		if c.empty() {
			t.Fatalf("empty after %d of %d datagrams", i, len(want))
		}
		n, from := c.next(p)
		if !bytes.Equal(p[:n], w) || from != src {
			t.Fatalf("datagram %d: % x from %v, want % x from %v", i, p[:n], from, w, src)
		}
	}
	if !c.empty() {
		t.Fatal("datagrams left after the last one")
	}
}

// Without a usable segment size a receive is one datagram; an empty
// datagram is handed out once; a read buffer smaller than a datagram
// truncates that datagram only, as a socket does.
func TestCoalescedEdgeCases(t *testing.T) {
	src := netip.MustParseAddrPort("[2001:db8::1]:5")
	p := make([]byte, 64)
	for _, seg := range []int{0, -1, 10, 11} {
		var c coalesced
		c.load(bytes.Repeat([]byte{1}, 10), seg, src)
		if n, _ := c.next(p); n != 10 || !c.empty() {
			t.Fatalf("seg %d: first datagram %d bytes, empty after it %v; want all 10 bytes in one", seg, n, c.empty())
		}
	}

	var c coalesced
	c.load(p[:0], 0, src)
	if c.empty() {
		t.Fatal("an empty datagram was not handed out")
	}
	if n, from := c.next(p); n != 0 || from != src || !c.empty() {
		t.Fatalf("empty datagram: %d bytes from %v, empty after it %v", n, from, c.empty())
	}

	buf := append(datagram('T', 0, 8), datagram('T', 1, 8)...)
	c.load(buf, 8, src)
	small := make([]byte, 5)
	if n, _ := c.next(small); n != 5 || !bytes.Equal(small, buf[:5]) {
		t.Fatalf("truncated datagram: % x", small[:n])
	}
	if n, _ := c.next(p); !bytes.Equal(p[:n], buf[8:]) || !c.empty() {
		t.Fatalf("datagram after a truncated one: % x, want % x", p[:n], buf[8:])
	}
}
