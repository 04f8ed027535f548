//go:build linux

package engine

import (
	"net"
	"testing"
)

// The kernel cuts a batch into the datagrams that were written: sizes,
// contents and order as sent, with one system call per batch.
func TestBatchUDPSegmentsInKernel(t *testing.T) {
	sender, rx := listenLoopback(t), listenLoopback(t)
	if !gsoAvailable(sender) {
		// A kernel without UDP_SEGMENT (before 4.18): the socket is used as is.
		if c := batchUDP(sender); c != sender {
			t.Fatalf("batchUDP without segmentation offload returned %T", c)
		}
		t.Log("this kernel has no UDP segmentation offload: checked the fallback only")
		return
	}
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	b := queueing(newBatchConn(sender, gsoSender(sender)))
	var want [][]byte
	write := func(seq, size int) {
		p := datagram('K', seq, size)
		if _, err := b.WriteToAddrPort(p, dst); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	for i := range 40 { // one batch of 40 × 1 200 bytes ended by 500 bytes
		write(i, 1200)
	}
	write(40, 500)
	for i := range 10 { // one batch of 10 × 1 000 bytes
		write(41+i, 1000)
	}
	wait := receiving(rx, want)
	go b.flushLoop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if s, d := b.stats.sends.Load(), b.stats.datagrams.Load(); s != 2 || d != 51 {
		t.Fatalf("%d sends of %d datagrams, want 2 of 51", s, d)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unbatched {
		t.Fatal("the kernel refused a batch on loopback")
	}
}

// batchUDP wraps a socket of a kernel with segmentation offload.
func TestBatchUDPWrapsWhenAvailable(t *testing.T) {
	c := listenLoopback(t)
	got := batchUDP(c)
	if _, ok := got.(*batchConn); ok != gsoAvailable(c) {
		t.Fatalf("batchUDP returned %T with offload available = %v", got, gsoAvailable(c))
	}
	if b, ok := got.(*batchConn); ok {
		_ = b.Close()
	}
}
