//go:build linux

package udpbatch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
)

// Batches from two senders reach a Conn that coalesces receives as the
// datagrams that were sent, each with its own sender, in each sender's
// order, whichever read method is used; the kernel delivers them in fewer
// receives than datagrams.
func TestCoalescedReceivesInKernel(t *testing.T) {
	sock := listenLoopback(t)
	if !Supported(sock) {
		if c := Wrap(sock); c != sock {
			t.Fatalf("Wrap without segmentation offload returned %T", c)
		}
		t.Log("this kernel has no UDP segmentation offload: checked the fallback only")
		return
	}
	rx, ok := Wrap(sock).(*Conn)
	if !ok {
		t.Fatal("Wrap did not wrap a socket of a kernel with segmentation offload")
	}
	defer func() { _ = rx.Close() }()
	coalescing := rx.rx.receive != nil
	if !coalescing {
		t.Log("this kernel does not coalesce receives (UDP_GRO): checked plain reads only")
	}
	dst := sock.LocalAddr().(*net.UDPAddr).AddrPort()

	type sender struct {
		mark  byte
		sizes []int
		conn  *Conn
		addr  netip.AddrPort
		next  int // sequence number of the next datagram to read
	}
	var senders []*sender
	for _, s := range []struct {
		mark  byte
		count int
		size  int
		last  int
	}{{'A', 20, 1200, 300}, {'B', 15, 1000, 0}} {
		sock := listenLoopback(t)
		sd := &sender{mark: s.mark, conn: queueing(newBatchConn(sock, gsoSender(sock))),
			addr: sock.LocalAddr().(*net.UDPAddr).AddrPort()}
		for range s.count {
			sd.sizes = append(sd.sizes, s.size)
		}
		if s.last > 0 {
			sd.sizes = append(sd.sizes, s.last)
		}
		for i, size := range sd.sizes {
			if _, err := sd.conn.WriteToAddrPort(datagram(s.mark, i, size), dst); err != nil {
				t.Fatal(err)
			}
		}
		senders = append(senders, sd)
	}
	total := 0
	for _, s := range senders {
		total += len(s.sizes)
		go s.conn.flushLoop()
		defer func() { _ = s.conn.Close() }()
	}

	reads := []func(p []byte) (int, netip.AddrPort, error){
		rx.ReadFromAddrPort,
		rx.ReadFromUDPAddrPort,
		func(p []byte) (int, netip.AddrPort, error) {
			n, a, err := rx.ReadFrom(p)
			if err != nil {
				return n, netip.AddrPort{}, err
			}
			return n, a.(*net.UDPAddr).AddrPort(), nil
		},
		func(p []byte) (int, netip.AddrPort, error) {
			n, a, err := rx.ReadFromUDP(p)
			if err != nil {
				return n, netip.AddrPort{}, err
			}
			return n, a.AddrPort(), nil
		},
		func(p []byte) (int, netip.AddrPort, error) {
			n, _, _, a, err := rx.ReadMsgUDPAddrPort(p, make([]byte, 64))
			return n, a, err
		},
		func(p []byte) (int, netip.AddrPort, error) {
			n, _, _, a, err := rx.ReadMsgUDP(p, make([]byte, 64))
			if err != nil {
				return n, netip.AddrPort{}, err
			}
			return n, a.AddrPort(), nil
		},
	}
	_ = rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1<<16)
	for i := range total {
		n, from, err := reads[i%len(reads)](buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, total, err)
		}
		var s *sender
		for _, c := range senders {
			if n > 0 && buf[0] == c.mark {
				s = c
			}
		}
		if s == nil || s.next >= len(s.sizes) {
			t.Fatalf("datagram %d: unexpected %d bytes (% x…)", i, n, buf[:min(n, 5)])
		}
		seq := int(binary.BigEndian.Uint32(buf[1:5]))
		want := datagram(s.mark, s.next, s.sizes[s.next])
		if seq != s.next || string(buf[:n]) != string(want) || from.Port() != s.addr.Port() {
			t.Fatalf("datagram %d: %c#%d, %d bytes from %v; want %c#%d, %d bytes from %v",
				i, s.mark, seq, n, from, s.mark, s.next, len(want), s.addr)
		}
		s.next++
	}
	if !coalescing {
		return
	}
	if got := rx.rx.received.Load(); got != uint64(total) {
		t.Fatalf("the receives brought %d datagrams, want %d", got, total)
	}
	if r := rx.rx.receives.Load(); r >= uint64(total) {
		t.Fatalf("%d receives for %d datagrams: nothing was coalesced", r, total)
	}
	t.Logf("%d datagrams in %d receives", total, rx.rx.receives.Load())
}
