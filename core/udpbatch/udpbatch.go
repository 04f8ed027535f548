package udpbatch

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// How batches form. The SCTP association behind the data channels writes one
// ~1 200-byte datagram at a time; with a system call per datagram the kernel's
// send path is a sixth of a publisher's CPU (a 100 KB frame is ~85
// datagrams; docs/performance.md has the measurements). Conn queues the
// datagrams written to an ICE socket and a flusher goroutine hands them to the kernel in batches: consecutive
// datagrams to the same destination with the same size (the last one may be
// shorter) become one send of up to batchMaxSegments segments, which the
// kernel splits into the original datagrams (Linux UDP generic segmentation
// offload, UDP_SEGMENT, udpbatch_linux.go). The receiver sees exactly the
// datagrams that were written, in the same order.
//
// Batches form only under load. A datagram written after a pause (more than
// batchIdleGap since the previous write), with nothing queued or being sent,
// is sent by the writer itself, as without batching: a goroutine hand-off
// would add ~0.1 ms to every datagram of a low-rate stream. The datagrams
// that follow it closely are queued, and the flusher sends them once the
// writer's send has returned, so a writer that produces faster than the
// kernel takes them fills the next batch during the current send. Queued
// bytes are bounded (batchQueueBytes): a writer waits for the flusher beyond that, as it would wait in a blocking
// send. The datagrams are copied into one of two buffers that the writers
// and the flusher swap, so a busy socket keeps two buffers of about
// batchQueueBytes and an idle one next to nothing.

const (
	// batchMaxSegments is the number of datagrams in one send (Linux's
	// UDP_MAX_SEGMENTS before 6.x; later kernels accept 128).
	batchMaxSegments = 64
	// batchMaxBytes bounds the bytes of one send, below the largest UDP
	// payload (65 507 bytes over IPv4).
	batchMaxBytes = 65000
	// batchQueueBytes bounds the bytes queued behind the ones being sent:
	// two full batches, so that the writer fills the next ones while the
	// flusher sends, and a full queue is a few hundred microseconds of
	// sending. With the buffer being sent, a socket holds at most about
	// twice this (plus one datagram), whatever the sizes of the datagrams.
	batchQueueBytes = 128 << 10
	// batchQueueRuns bounds the runs queued, for datagrams too small for
	// the byte bound to matter (every empty datagram is a run of its own).
	batchQueueRuns = 1024
	// batchIdleGap is the pause after which a write is sent directly: longer
	// than the gaps between the datagrams of a burst (a few microseconds),
	// shorter than those of a stream of a few thousand frames per second.
	batchIdleGap = 100 * time.Microsecond
)

// errBatchUnsupported is what a batch sender returns when the network path
// cannot send a batch at all (e.g. a device without checksum offload): the
// connection then sends every datagram on its own from then on.
var errBatchUnsupported = errors.New("udpbatch: batched UDP send not supported")

// batchSender sends buf as len(buf)/seg datagrams of seg bytes (the last one
// may be shorter) to dst with one system call.
type batchSender func(buf []byte, seg int, dst netip.AddrPort) error

// udpRun is a run of consecutive datagrams for one destination, sent with
// one system call: buf[off:end] of its sendQueue.
type udpRun struct {
	dst      netip.AddrPort
	off, end int
	seg      int  // size of every datagram but the last
	count    int  // datagrams in the run
	full     bool // takes no more datagrams (a shorter one ended it)
}

// sendQueue is datagrams back to back in one buffer, and the runs they form.
// A Conn has two: the writers append to one while the flusher sends
// the other, and they swap when the flusher is done.
type sendQueue struct {
	buf  []byte
	runs []udpRun
}

// add appends p for dst, to the last run when p can join it (same
// destination, still open, p no larger than its segments, room left) and
// as a new run otherwise. alone makes p a run that takes no other datagram.
func (q *sendQueue) add(p []byte, dst netip.AddrPort, alone bool) {
	off := len(q.buf)
	q.buf = append(q.buf, p...)
	if n := len(q.runs); n > 0 && len(p) > 0 && !alone {
		last := &q.runs[n-1]
		if !last.full && last.dst == dst && len(p) <= last.seg &&
			last.count < batchMaxSegments && last.end-last.off+len(p) <= batchMaxBytes {
			last.end += len(p)
			last.count++
			last.full = len(p) < last.seg
			return
		}
	}
	// An empty datagram is a run of its own: in a batch it would be no
	// segment at all.
	q.runs = append(q.runs, udpRun{dst: dst, off: off, end: len(q.buf), seg: len(p), count: 1,
		full: alone || len(p) == 0})
}

// reset empties q, keeping its memory.
func (q *sendQueue) reset() {
	q.buf = q.buf[:0]
	q.runs = q.runs[:0]
}

// batchStats counts what the flusher handed to the kernel.
type batchStats struct {
	sends     atomic.Uint64 // system calls (batches and single datagrams)
	datagrams atomic.Uint64 // datagrams in them
}

// Conn is a UDP socket whose writes are queued and sent in batches by
// its own goroutine, and whose reads may receive several datagrams at once
// (receive.go) but return one at a time. Deadlines, buffer sizes and
// addresses are the socket's own. WriteTo, WriteToUDP and WriteToAddrPort
// are batched (the paths pion's ICE uses); Write and WriteMsgUDP go to the
// socket directly.
type Conn struct {
	*net.UDPConn
	sendBatch batchSender

	mu        sync.Mutex
	space     *sync.Cond // the flusher took the queue, or Close
	queue     sendQueue  // written, not yet taken by the flusher
	closed    bool       // no more writes
	unbatched bool       // sendBatch reported errBatchUnsupported
	busy      bool       // a send is under way (the flusher's or a writer's)
	lastWrite time.Time  // of the previous write
	idleGap   time.Duration

	sending sendQueue     // the flusher's: being sent, or empty for the next swap
	wake    chan struct{} // capacity 1: the queue is not empty, or Close
	done    chan struct{} // closed when the flusher has returned
	stats   batchStats

	rx receiveState // coalesced receives (receive.go)
}

// startBatchConn wraps c and starts its flusher, which returns after Close.
func startBatchConn(c *net.UDPConn, send batchSender) *Conn {
	b := newBatchConn(c, send)
	go b.flushLoop()
	return b
}

// newBatchConn wraps c without starting the flusher (tests fill the queue
// first).
func newBatchConn(c *net.UDPConn, send batchSender) *Conn {
	b := &Conn{
		UDPConn:   c,
		sendBatch: send,
		idleGap:   batchIdleGap,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	b.space = sync.NewCond(&b.mu)
	return b
}

// queueFull reports whether a writer must wait for the flusher. Called with
// mu held.
func (b *Conn) queueFull() bool {
	return len(b.queue.buf) >= batchQueueBytes || len(b.queue.runs) >= batchQueueRuns
}

// WriteToAddrPort queues p for dst and returns, or sends it at once when the
// socket is idle (see batchIdleGap) and returns the socket's result. A
// queued p is copied, and an error of its later send is not reported (a
// datagram lost, as UDP may lose any). While the
// queue is full (batchQueueBytes, batchQueueRuns) it waits for the flusher to
// take it; it fails with net.ErrClosed after Close.
func (b *Conn) WriteToAddrPort(p []byte, dst netip.AddrPort) (int, error) {
	now := time.Now()
	b.mu.Lock()
	for b.queueFull() && !b.closed {
		b.space.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, net.ErrClosed
	}
	idle := !b.busy && len(b.queue.runs) == 0 && now.Sub(b.lastWrite) > b.idleGap
	b.lastWrite = now
	if idle {
		// Sent by this writer; what others write meanwhile waits in the
		// queue (busy), for the flusher to send after this send.
		b.busy = true
		b.mu.Unlock()
		n, err := b.UDPConn.WriteToUDPAddrPort(p, dst)
		b.stats.sends.Add(1)
		b.stats.datagrams.Add(1)
		b.mu.Lock()
		b.busy = false
		queued := len(b.queue.runs) > 0
		b.mu.Unlock()
		if queued {
			b.wakeFlusher()
		}
		return n, err
	}
	b.queue.add(p, dst, b.unbatched)
	b.mu.Unlock()
	b.wakeFlusher()
	return len(p), nil
}

// wakeFlusher tells the flusher that the queue is not empty (or closed).
func (b *Conn) wakeFlusher() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// WriteTo queues p like WriteToAddrPort when addr is a *net.UDPAddr;
// any other address gets the socket's own error (a UDP socket sends only to
// a *net.UDPAddr), so nothing can overtake the queue this way.
func (b *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return b.WriteToUDP(p, ua)
	}
	return b.UDPConn.WriteTo(p, addr)
}

// WriteToUDP queues p like WriteToAddrPort.
func (b *Conn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return b.UDPConn.WriteToUDP(p, addr) // the socket's own error
	}
	return b.WriteToAddrPort(p, addr.AddrPort())
}

// flushLoop sends what is queued each time it is woken, until Close. It
// takes the whole queue at once (the writers go on in the other buffer) and
// sends it run by run. While a writer sends a datagram itself (busy), the
// flusher leaves the queue alone: the writer wakes it when its send returns,
// so that nothing queued after that datagram overtakes it.
func (b *Conn) flushLoop() {
	defer close(b.done)
	for range b.wake {
		b.mu.Lock()
		for !b.busy && len(b.queue.runs) > 0 {
			b.queue, b.sending = b.sending, b.queue
			b.busy = true
			unbatched := b.unbatched
			b.space.Broadcast()
			b.mu.Unlock()
			for i := range b.sending.runs {
				if b.send(b.sending.buf, &b.sending.runs[i], unbatched) {
					unbatched = true
				}
			}
			b.sending.reset()
			b.mu.Lock()
			b.busy = false
			b.unbatched = b.unbatched || unbatched
		}
		closed := b.closed
		b.mu.Unlock()
		if closed {
			return
		}
	}
}

// send hands one run of buf to the kernel. It reports whether batches turned
// out to be unsupported; the run is then sent datagram by datagram, as it
// is after any other error of the batched send (so that one refused batch,
// e.g. over a path with a smaller MTU, loses nothing that separate sends
// would have delivered). Errors of separate sends are dropped: a lost
// datagram.
func (b *Conn) send(buf []byte, r *udpRun, unbatched bool) (unsupported bool) {
	data := buf[r.off:r.end]
	if r.count > 1 && !unbatched {
		err := b.sendBatch(data, r.seg, r.dst)
		if err == nil {
			b.stats.sends.Add(1)
			b.stats.datagrams.Add(uint64(r.count))
			return false
		}
		unsupported = errors.Is(err, errBatchUnsupported)
	}
	for off, i := 0, 0; i < r.count; i++ {
		end := min(off+r.seg, len(data))
		_, _ = b.UDPConn.WriteToUDPAddrPort(data[off:end], r.dst)
		b.stats.sends.Add(1)
		b.stats.datagrams.Add(1)
		off = end
	}
	return unsupported
}

// Close stops the writes (waiting writers fail with net.ErrClosed), closes
// the socket and waits for the flusher. Datagrams still queued are dropped
// (pion closes an ICE socket after setting a deadline that makes any send
// fail, so they could not have been sent anyway).
func (b *Conn) Close() error {
	b.mu.Lock()
	b.closed = true
	b.space.Broadcast()
	b.mu.Unlock()
	err := b.UDPConn.Close()
	b.wakeFlusher()
	<-b.done
	return err
}
