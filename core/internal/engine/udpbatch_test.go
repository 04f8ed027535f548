package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// listenLoopback opens a UDP socket on 127.0.0.1 with a large receive buffer.
func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(UDPSocketBufferSize)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// datagram returns a datagram of size bytes that names its destination and
// its sequence number (when it is long enough to hold them).
func datagram(dst byte, seq, size int) []byte {
	p := bytes.Repeat([]byte{dst ^ byte(seq)}, size)
	if size >= 5 {
		p[0] = dst
		binary.BigEndian.PutUint32(p[1:], uint32(seq))
	}
	return p
}

// recordedBatch is one call of a recordingSender.
type recordedBatch struct {
	seg, bytes int
	dst        netip.AddrPort
}

// recordingSender is a batchSender that sends each segment with its own
// system call (what the kernel does for a real batch) and records the call;
// fail, when set, is returned instead.
type recordingSender struct {
	c     *net.UDPConn
	mu    sync.Mutex
	calls []recordedBatch
	fail  error
}

func (r *recordingSender) send(buf []byte, seg int, dst netip.AddrPort) error {
	r.mu.Lock()
	r.calls = append(r.calls, recordedBatch{seg: seg, bytes: len(buf), dst: dst})
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return fail
	}
	for off := 0; off < len(buf); off += seg {
		if _, err := r.c.WriteToUDPAddrPort(buf[off:min(off+seg, len(buf))], dst); err != nil {
			return err
		}
	}
	return nil
}

func (r *recordingSender) recorded() []recordedBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recordedBatch(nil), r.calls...)
}

// receiveAll reads len(want) datagrams from c (bounded by a deadline) and
// checks them against want, in order.
func receiveAll(c *net.UDPConn, want [][]byte) error {
	buf := make([]byte, 1<<16)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, w := range want {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return fmt.Errorf("datagram %d of %d: %w", i, len(want), err)
		}
		if !bytes.Equal(buf[:n], w) {
			return fmt.Errorf("datagram %d: got %d bytes (% x…), want %d bytes (% x…)",
				i, n, buf[:min(n, 5)], len(w), w[:min(len(w), 5)])
		}
	}
	return nil
}

// receiving starts receiveAll on its own goroutine (so that the socket is
// read while the datagrams arrive); the returned function waits for it.
func receiving(c *net.UDPConn, want [][]byte) func() error {
	done := make(chan error, 1)
	go func() { done <- receiveAll(c, want) }()
	return func() error { return <-done }
}

// queuedBatches describes the queue of a batchConn whose flusher has not run.
func queuedBatches(b *batchConn) []recordedBatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []recordedBatch
	for _, bt := range b.queue {
		out = append(out, recordedBatch{seg: bt.seg, bytes: len(bt.buf), dst: bt.dst})
	}
	return out
}

func TestBatchConnFormsBatches(t *testing.T) {
	sender := listenLoopback(t)
	rxA, rxB := listenLoopback(t), listenLoopback(t)
	a := rxA.LocalAddr().(*net.UDPAddr).AddrPort()
	bAddr := rxB.LocalAddr().(*net.UDPAddr).AddrPort()
	rec := &recordingSender{c: sender}
	b := newBatchConn(sender, rec.send)

	var wantA, wantB [][]byte
	write := func(dst netip.AddrPort, p []byte) {
		t.Helper()
		if n, err := b.WriteToAddrPort(p, dst); err != nil || n != len(p) {
			t.Fatalf("write %d bytes: %d, %v", len(p), n, err)
		}
		if dst == a {
			wantA = append(wantA, p)
		} else {
			wantB = append(wantB, p)
		}
	}
	seq := 0
	next := func(dst netip.AddrPort, size int) {
		name := byte('A')
		if dst != a {
			name = 'B'
		}
		write(dst, datagram(name, seq, size))
		seq++
	}
	// 70 datagrams of 1 000 bytes: a batch of 64 (the segment limit), then 6
	// more ended by a shorter one.
	for range 70 {
		next(a, 1000)
	}
	next(a, 700)
	// A larger datagram cannot join a batch of smaller segments.
	next(a, 900)
	next(a, 1100)
	// Another destination starts a new batch; coming back to the first one
	// starts another (the order of writes is kept).
	next(bAddr, 1100)
	next(bAddr, 1100)
	next(a, 1100)
	// 60 datagrams of 1 100 bytes exceed batchMaxBytes (65 000) after 59.
	for range 60 {
		next(bAddr, 1100)
	}
	// Empty and oversize datagrams are sent alone.
	next(bAddr, 0)
	next(bAddr, batchMaxBytes+1)
	next(bAddr, 10)

	want := []recordedBatch{
		{1000, 64 * 1000, a},
		{1000, 6*1000 + 700, a},
		{900, 900, a},
		{1100, 1100, a},
		{1100, 2 * 1100, bAddr},
		{1100, 1100, a},
		{1100, 59 * 1100, bAddr},
		{1100, 1100, bAddr},
		{0, 0, bAddr},
		{batchMaxBytes + 1, batchMaxBytes + 1, bAddr},
		{10, 10, bAddr},
	}
	got := queuedBatches(b)
	if len(got) != len(want) {
		t.Fatalf("%d batches queued, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("batch %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	waitA, waitB := receiving(rxA, wantA), receiving(rxB, wantB)
	go b.flushLoop()
	if err := waitA(); err != nil {
		t.Fatal("first destination: ", err)
	}
	if err := waitB(); err != nil {
		t.Fatal("second destination: ", err)
	}
	// Only batches of more than one datagram go through the batch sender.
	var multi []recordedBatch
	for _, w := range want {
		if w.bytes > w.seg {
			multi = append(multi, w)
		}
	}
	if calls := rec.recorded(); len(calls) != len(multi) {
		t.Fatalf("batch sender called for %+v, want %+v", calls, multi)
	}
	if err := b.Close(); err != nil { // the flusher has returned: its counts are final
		t.Fatal(err)
	}
	if s, d := b.stats.sends.Load(), b.stats.datagrams.Load(); s != uint64(len(want)) || d != uint64(len(wantA)+len(wantB)) {
		t.Fatalf("stats: %d sends, %d datagrams; want %d, %d", s, d, len(want), len(wantA)+len(wantB))
	}
}

func TestBatchConnSendsSeparatelyWhenBatchRefused(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		unsupported bool
	}{
		{"unsupported", errBatchUnsupported, true},
		{"other error", &net.OpError{Op: "write", Err: syscall.EINVAL}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sender, rx := listenLoopback(t), listenLoopback(t)
			dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
			rec := &recordingSender{c: sender, fail: tc.err}
			b := newBatchConn(sender, rec.send)
			var want [][]byte
			for round := range 2 {
				for i := range 20 {
					p := datagram('R', round*100+i, 1000)
					if _, err := b.WriteToAddrPort(p, dst); err != nil {
						t.Fatal(err)
					}
					want = append(want, p)
				}
				wait := receiving(rx, want)
				if round == 0 {
					go b.flushLoop()
				}
				if err := wait(); err != nil {
					t.Fatal(err)
				}
				want = want[:0]
			}
			_ = b.Close() // the flusher has returned: its counts are final
			// An unsupported batch turns batching off for good; any other
			// refusal is retried with the next batch.
			calls := len(rec.recorded())
			if tc.unsupported && calls != 1 || !tc.unsupported && calls < 2 {
				t.Fatalf("batch sender called %d times", calls)
			}
			b.mu.Lock()
			unbatched := b.unbatched
			b.mu.Unlock()
			if unbatched != tc.unsupported {
				t.Fatalf("unbatched = %v, want %v", unbatched, tc.unsupported)
			}
			if d := b.stats.datagrams.Load(); d != 40 {
				t.Fatalf("%d datagrams sent, want 40", d)
			}
		})
	}
}

func TestBatchConnWriteAPIs(t *testing.T) {
	sender, rx := listenLoopback(t), listenLoopback(t)
	ua := rx.LocalAddr().(*net.UDPAddr)
	rec := &recordingSender{c: sender}
	b := startBatchConn(sender, rec.send)
	defer b.Close()
	p1, p2, p3 := datagram('W', 1, 100), datagram('W', 2, 200), datagram('W', 3, 300)
	if _, err := b.WriteTo(p1, ua); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteToUDP(p2, ua); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteToAddrPort(p3, ua.AddrPort()); err != nil {
		t.Fatal(err)
	}
	if err := receiveAll(rx, [][]byte{p1, p2, p3}); err != nil {
		t.Fatal(err)
	}
	// What arrives is read back through ReadFromAddrPort.
	if _, err := sender.WriteToUDPAddrPort(p1, b.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := b.ReadFromAddrPort(buf)
	if err != nil || !bytes.Equal(buf[:n], p1) || from != b.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("read %d bytes from %v: %v", n, from, err)
	}
}

func TestBatchConnCloseReleasesWriters(t *testing.T) {
	sender, rx := listenLoopback(t), listenLoopback(t)
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	b := newBatchConn(sender, (&recordingSender{c: sender}).send)
	// Without the flusher the queue fills to its bound...
	p := make([]byte, 1000)
	for b.queued < batchQueueBytes {
		if _, err := b.WriteToAddrPort(p, dst); err != nil {
			t.Fatal(err)
		}
	}
	// ...and the next writer waits.
	blocked := make(chan error, 1)
	go func() {
		_, err := b.WriteToAddrPort(p, dst)
		blocked <- err
	}()
	select {
	case err := <-blocked:
		t.Fatalf("write over a full queue returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	go b.flushLoop()
	// The flusher makes room: the writer continues.
	select {
	case err := <-blocked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer still waiting after the flusher ran")
	}
	// Fill again while blocking the flusher's sends is not possible, so
	// check Close on writers waiting for space directly: mark the queue full.
	b.mu.Lock()
	b.queued += batchQueueBytes
	b.mu.Unlock()
	go func() {
		_, err := b.WriteToAddrPort(p, dst)
		blocked <- err
	}()
	select {
	case err := <-blocked:
		t.Fatalf("write over a full queue returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("waiting writer got %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer still waiting after Close")
	}
	select {
	case <-b.done:
	default:
		t.Fatal("flusher running after Close")
	}
	if _, err := b.WriteToAddrPort(p, dst); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	_ = b.Close() // a second Close returns
}
