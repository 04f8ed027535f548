package udpbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// socketBuffer is the kernel buffer size the tests ask for, as the client
// engine does for its ICE sockets.
const socketBuffer = 4 << 20

// listenLoopback opens a UDP socket on 127.0.0.1 with a large receive buffer.
func listenLoopback(tb testing.TB) *net.UDPConn {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadBuffer(socketBuffer)
	tb.Cleanup(func() { _ = c.Close() })
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

// queueing makes b queue every write: none is sent directly after a pause
// (batchIdleGap), so that tests see the queue they wrote. Called before the
// first write.
func queueing(b *Conn) *Conn {
	b.idleGap = math.MaxInt64
	return b
}

// runsOf describes the runs of q.
func runsOf(q *sendQueue) []recordedBatch {
	var out []recordedBatch
	for _, r := range q.runs {
		out = append(out, recordedBatch{seg: r.seg, bytes: r.end - r.off, dst: r.dst})
	}
	return out
}

func TestSendQueueRuns(t *testing.T) {
	a := netip.MustParseAddrPort("192.0.2.1:1000")
	b := netip.MustParseAddrPort("192.0.2.2:2000")
	var q sendQueue
	var all []byte
	seq := 0
	add := func(dst netip.AddrPort, size int) {
		p := datagram(dst.Addr().As4()[3], seq, size)
		seq++
		q.add(p, dst, false)
		all = append(all, p...)
	}
	// 70 datagrams of 1 000 bytes: a run of 64 (the segment limit), then 6
	// more ended by a shorter one.
	for range 70 {
		add(a, 1000)
	}
	add(a, 700)
	// A larger datagram cannot join a run of smaller segments.
	add(a, 900)
	add(a, 1100)
	// Another destination starts a new run; coming back to the first one
	// starts another (the order of writes is kept).
	add(b, 1100)
	add(b, 1100)
	add(a, 1100)
	// 60 datagrams of 1 100 bytes exceed batchMaxBytes (65 000) after 59.
	for range 60 {
		add(b, 1100)
	}
	// Empty and oversize datagrams are runs of their own.
	add(b, 0)
	add(b, 0)
	add(b, batchMaxBytes+1)
	add(b, 10)
	want := []recordedBatch{
		{1000, 64 * 1000, a},
		{1000, 6*1000 + 700, a},
		{900, 900, a},
		{1100, 1100, a},
		{1100, 2 * 1100, b},
		{1100, 1100, a},
		{1100, 59 * 1100, b},
		{1100, 1100, b},
		{0, 0, b},
		{0, 0, b},
		{batchMaxBytes + 1, batchMaxBytes + 1, b},
		{10, 10, b},
	}
	got := runsOf(&q)
	if len(got) != len(want) {
		t.Fatalf("%d runs, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("run %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if !bytes.Equal(q.buf, all) {
		t.Fatal("queued bytes differ from the datagrams written")
	}
	// A datagram written alone (batching refused) takes no other.
	q.reset()
	q.add(make([]byte, 100), a, true)
	q.add(make([]byte, 100), a, false)
	if got := runsOf(&q); len(got) != 2 || len(q.buf) != 200 {
		t.Fatalf("runs after an alone datagram: %+v", got)
	}
}

func TestBatchConnSendsBatches(t *testing.T) {
	sender := listenLoopback(t)
	rxA, rxB := listenLoopback(t), listenLoopback(t)
	a := rxA.LocalAddr().(*net.UDPAddr).AddrPort()
	bAddr := rxB.LocalAddr().(*net.UDPAddr).AddrPort()
	rec := &recordingSender{c: sender}
	b := queueing(newBatchConn(sender, rec.send))

	var wantA, wantB [][]byte
	seq := 0
	write := func(dst netip.AddrPort, size int) {
		t.Helper()
		name := byte('A')
		if dst != a {
			name = 'B'
		}
		p := datagram(name, seq, size)
		seq++
		if n, err := b.WriteToAddrPort(p, dst); err != nil || n != len(p) {
			t.Fatalf("write %d bytes: %d, %v", len(p), n, err)
		}
		if dst == a {
			wantA = append(wantA, p)
		} else {
			wantB = append(wantB, p)
		}
	}
	// Queued before the flusher starts: runs of 64, 7, 1, 2 and 1 datagrams.
	for range 70 {
		write(a, 1000)
	}
	write(a, 700)
	write(a, 900)
	write(bAddr, 1100)
	write(bAddr, 1100)
	write(a, 1100)
	waitA, waitB := receiving(rxA, wantA), receiving(rxB, wantB)
	go b.flushLoop()
	if err := waitA(); err != nil {
		t.Fatal("first destination: ", err)
	}
	if err := waitB(); err != nil {
		t.Fatal("second destination: ", err)
	}
	// Only runs of more than one datagram go through the batch sender.
	wantCalls := []recordedBatch{{1000, 64 * 1000, a}, {1000, 6*1000 + 700, a}, {1100, 2 * 1100, bAddr}}
	if calls := rec.recorded(); !slices.Equal(calls, wantCalls) {
		t.Fatalf("batch sender called for %+v, want %+v", calls, wantCalls)
	}
	// Written while the flusher runs: how they group depends on its pace,
	// what arrives does not. The receivers read from the start (the
	// datagrams may exceed a socket's receive buffer).
	type dgram struct {
		dst netip.AddrPort
		p   []byte
	}
	var round2 []dgram
	wantA, wantB = nil, nil
	add := func(dst netip.AddrPort, size int) {
		if dst == a {
			round2 = append(round2, dgram{dst, datagram('A', seq, size)})
			wantA = append(wantA, round2[len(round2)-1].p)
		} else {
			round2 = append(round2, dgram{dst, datagram('B', seq, size)})
			wantB = append(wantB, round2[len(round2)-1].p)
		}
		seq++
	}
	for i := range 300 {
		add([]netip.AddrPort{a, bAddr}[i/50%2], 1000+i%3)
	}
	add(bAddr, 0)
	add(bAddr, 60000)
	add(a, 10)
	waitA, waitB = receiving(rxA, wantA), receiving(rxB, wantB)
	for _, d := range round2 {
		if _, err := b.WriteToAddrPort(d.p, d.dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitA(); err != nil {
		t.Fatal("first destination, second round: ", err)
	}
	if err := waitB(); err != nil {
		t.Fatal("second destination, second round: ", err)
	}
	if err := b.Close(); err != nil { // the flusher has returned: its counts are final
		t.Fatal(err)
	}
	if d := b.stats.datagrams.Load(); d != uint64(seq) {
		t.Fatalf("stats: %d datagrams sent, want %d", d, seq)
	}
	for _, c := range rec.recorded() {
		if c.bytes > batchMaxBytes || (c.bytes+c.seg-1)/c.seg > batchMaxSegments {
			t.Fatalf("batch over the limits: %+v", c)
		}
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
			b := queueing(newBatchConn(sender, rec.send))
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
	// An address that is not a UDP one is refused by the socket, not sent
	// past the queue.
	if _, err := b.WriteTo(datagram('W', 9, 100), &net.IPAddr{IP: ua.IP}); err == nil {
		t.Fatal("WriteTo with a *net.IPAddr succeeded")
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

// gatedSender is a batchSender that waits for its gate to open before
// sending (a socket whose sends take time); entered is signalled on each call.
type gatedSender struct {
	rec     *recordingSender
	gate    chan struct{}
	entered chan struct{}
}

func (g *gatedSender) send(buf []byte, seg int, dst netip.AddrPort) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	return g.rec.send(buf, seg, dst)
}

// writeBlocks starts a write of p on its own goroutine and checks that it
// has not returned 50 ms later; the channel receives its error.
func writeBlocks(t *testing.T, b *Conn, p []byte, dst netip.AddrPort) chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := b.WriteToAddrPort(p, dst)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("write over a full queue returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	return done
}

// waitWrite waits (bounded) for a write started by writeBlocks.
func waitWrite(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("writer still waiting")
		return nil
	}
}

func TestBatchConnQueueBoundAndClose(t *testing.T) {
	sender, rx := listenLoopback(t), listenLoopback(t)
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	g := &gatedSender{rec: &recordingSender{c: sender}, gate: make(chan struct{}),
		entered: make(chan struct{}, 1)}
	b := queueing(startBatchConn(sender, g.send))
	// Two datagrams form a batch; the flusher takes them and waits in the
	// sender. If it woke between the two writes it took each alone and sent
	// it on its own (not through the sender): then, with nothing queued or
	// being sent, try again.
	p := make([]byte, 1000)
	deadline := time.Now().Add(10 * time.Second)
	for entered := false; !entered; {
		for range 2 {
			if _, err := b.WriteToAddrPort(p, dst); err != nil {
				t.Fatal(err)
			}
		}
		for {
			select {
			case <-g.entered:
				entered = true
			default:
			}
			b.mu.Lock()
			idle := !b.busy && len(b.queue.runs) == 0
			b.mu.Unlock()
			if entered || idle && len(g.entered) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("flusher did not send")
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Meanwhile the queue fills to its bound, and the next writer waits.
	// Datagrams of alternating sizes make runs of two: the bound is on the
	// bytes and the runs, whatever the runs are.
	written := 0
	for i := 0; ; i++ {
		b.mu.Lock()
		full := b.queueFull()
		b.mu.Unlock()
		if full {
			break
		}
		if _, err := b.WriteToAddrPort(p[:1000-i%2], dst); err != nil {
			t.Fatal(err)
		}
		written += 1000 - i%2
	}
	if written < batchQueueBytes || written >= batchQueueBytes+1000 {
		t.Fatalf("queue full after %d bytes, bound %d", written, batchQueueBytes)
	}
	if c := cap(b.queue.buf); c > 2*batchQueueBytes {
		t.Fatalf("queue buffer of %d bytes for %d queued", c, written)
	}
	blocked := writeBlocks(t, b, p, dst)
	// Close releases the waiting writer at once, though the flusher is still
	// in its send; Close itself returns when the flusher has.
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	if err := waitWrite(t, blocked); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("waiting writer got %v, want net.ErrClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while the flusher was sending", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the flusher's send")
	}
	if _, err := b.WriteToAddrPort(p, dst); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	_ = b.Close() // a second Close returns
}

func TestBatchConnFlusherMakesRoom(t *testing.T) {
	sender, rx := listenLoopback(t), listenLoopback(t)
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	b := queueing(newBatchConn(sender, (&recordingSender{c: sender}).send))
	// Without the flusher, empty datagrams fill the queue by runs (they
	// have no bytes to count)...
	for range batchQueueRuns {
		if _, err := b.WriteToAddrPort(nil, dst); err != nil {
			t.Fatal(err)
		}
	}
	blocked := writeBlocks(t, b, nil, dst)
	// ...and the flusher taking the queue lets the writer continue.
	go b.flushLoop()
	if err := waitWrite(t, blocked); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBatchConnSendsDirectlyWhenIdle(t *testing.T) {
	sender, rx := listenLoopback(t), listenLoopback(t)
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	rec := &recordingSender{c: sender}
	b := newBatchConn(sender, rec.send) // no flusher yet
	b.idleGap = time.Hour               // only the first write comes after a pause
	p1, p2, p3 := datagram('I', 1, 500), datagram('I', 2, 500), datagram('I', 3, 500)
	// The first write finds the socket idle and is sent by the writer itself.
	if _, err := b.WriteToAddrPort(p1, dst); err != nil {
		t.Fatal(err)
	}
	if err := receiveAll(rx, [][]byte{p1}); err != nil {
		t.Fatal("idle write: ", err)
	}
	// The next ones follow closely: queued, for the flusher.
	for _, p := range [][]byte{p2, p3} {
		if _, err := b.WriteToAddrPort(p, dst); err != nil {
			t.Fatal(err)
		}
	}
	b.mu.Lock()
	queued := len(b.queue.runs)
	b.mu.Unlock()
	if queued != 1 {
		t.Fatalf("%d runs queued after the idle write, want 1", queued)
	}
	wait := receiving(rx, [][]byte{p2, p3})
	go b.flushLoop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if calls := rec.recorded(); len(calls) != 1 || calls[0].bytes != 1000 {
		t.Fatalf("batch sender calls %+v, want one of 2 datagrams", calls)
	}

	// While a send is under way (a writer's own, here), a write after a
	// pause is queued too, and sent once the sender is done: nothing
	// overtakes a datagram already being sent. The flusher may still be
	// finishing the send above (the datagrams arrive before it clears busy):
	// wait for it to be idle before marking a send under way.
	waitFlusherIdle(t, b)
	b.mu.Lock()
	b.idleGap = 0
	b.busy = true
	b.mu.Unlock()
	p4, p5 := datagram('I', 4, 500), datagram('I', 5, 500)
	if _, err := b.WriteToAddrPort(p4, dst); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	queued = len(b.queue.runs)
	b.mu.Unlock()
	if queued != 1 {
		t.Fatalf("%d runs queued during a send, want 1", queued)
	}
	b.mu.Lock()
	b.busy = false
	b.mu.Unlock()
	// With something queued, the next write joins the queue as well.
	if _, err := b.WriteToAddrPort(p5, dst); err != nil {
		t.Fatal(err)
	}
	if err := receiveAll(rx, [][]byte{p4, p5}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if d := b.stats.datagrams.Load(); d != 5 {
		t.Fatalf("%d datagrams sent, want 5", d)
	}
}

// waitFlusherIdle waits (at most 10 s) until no send is under way and
// nothing is queued.
func waitFlusherIdle(t *testing.T, b *Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		idle := !b.busy && len(b.queue.runs) == 0
		b.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher is still busy after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatchConnKeepsOrderUnderMixedSends(t *testing.T) {
	// Writes at irregular pauses, some sent directly and some queued, from
	// two goroutines each writing to its own destination: each destination
	// receives its datagrams in order.
	sender := listenLoopback(t)
	rxs := []*net.UDPConn{listenLoopback(t), listenLoopback(t)}
	b := startBatchConn(sender, (&recordingSender{c: sender}).send)
	b.idleGap = 20 * time.Microsecond
	const n = 400
	var waits []func() error
	var writers sync.WaitGroup
	for w, rx := range rxs {
		dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
		var want [][]byte
		for i := range n {
			want = append(want, datagram(byte(w), i, 600+i%2))
		}
		waits = append(waits, receiving(rx, want))
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i, p := range want {
				if _, err := b.WriteToAddrPort(p, dst); err != nil {
					t.Error(err)
					return
				}
				if i%7 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	writers.Wait()
	for i, wait := range waits {
		if err := wait(); err != nil {
			t.Fatalf("destination %d: %v", i, err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if d := b.stats.datagrams.Load(); d != 2*n {
		t.Fatalf("%d datagrams sent, want %d", d, 2*n)
	}
}

func TestBatchConnDirectSendReportsSocketError(t *testing.T) {
	sender, rx := listenLoopback(t), listenLoopback(t)
	b := newBatchConn(sender, (&recordingSender{c: sender}).send)
	_ = sender.Close() // the socket fails; the Conn itself is open
	_, err := b.WriteToAddrPort(make([]byte, 10), rx.LocalAddr().(*net.UDPAddr).AddrPort())
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("idle write on a closed socket: %v, want net.ErrClosed", err)
	}
}
