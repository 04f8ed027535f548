package engine

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Batched UDP sends. The SCTP association behind the data channels writes one
// ~1 200-byte datagram at a time; with a system call per datagram the kernel's
// send path costs about as much CPU as the rest of the stack (a 100 KB frame
// is ~85 datagrams). batchConn queues the datagrams written to an ICE socket
// and a flusher goroutine hands them to the kernel in batches: consecutive
// datagrams to the same destination with the same size (the last one may be
// shorter) become one send of up to batchMaxSegments segments, which the
// kernel splits into the original datagrams (Linux UDP generic segmentation
// offload, UDP_SEGMENT, udpbatch_linux.go). The receiver sees exactly the
// datagrams that were written, in the same order.
//
// Batches form only under load: a lone datagram is sent as soon as the
// flusher wakes (one goroutine hand-off later than a direct send), while a
// writer that produces faster than the kernel takes them fills the next batch
// during the current send. Queued bytes are bounded (batchQueueBytes): a
// writer waits for the flusher beyond that, as it would wait in a blocking
// send.

const (
	// batchMaxSegments is the number of datagrams in one send (Linux's
	// UDP_MAX_SEGMENTS before 6.x; later kernels accept 128).
	batchMaxSegments = 64
	// batchMaxBytes bounds the bytes of one send, below the largest UDP
	// payload (65 507 bytes over IPv4).
	batchMaxBytes = 65000
	// batchQueueBytes bounds the bytes queued and not yet sent: enough for the
	// batch being sent and the next ones, little enough that a full queue is
	// a few hundred microseconds of sending.
	batchQueueBytes = 256 << 10
)

// errBatchUnsupported is what a batch sender returns when the network path
// cannot send a batch at all (e.g. a device without checksum offload): the
// connection then sends every datagram on its own from then on.
var errBatchUnsupported = errors.New("engine: batched UDP send not supported")

// batchSender sends buf as len(buf)/seg datagrams of seg bytes (the last one
// may be shorter) to dst with one system call.
type batchSender func(buf []byte, seg int, dst netip.AddrPort) error

// udpBatch is a run of datagrams for one destination.
type udpBatch struct {
	dst   netip.AddrPort
	buf   []byte // the datagrams, back to back
	seg   int    // size of every datagram but the last
	count int    // datagrams in buf
	full  bool   // takes no more datagrams (a shorter one ended it)
}

// batchStats counts what the flusher handed to the kernel.
type batchStats struct {
	sends     atomic.Uint64 // system calls (batches and single datagrams)
	datagrams atomic.Uint64 // datagrams in them
}

// batchConn is a UDP socket whose writes are queued and sent in batches by
// its own goroutine. Reads, deadlines, buffer sizes and addresses are the
// socket's own. WriteTo, WriteToUDP and WriteToAddrPort are batched (the
// paths pion's ICE uses); Write and WriteMsgUDP go to the socket directly.
type batchConn struct {
	*net.UDPConn
	sendBatch batchSender

	mu        sync.Mutex
	space     *sync.Cond // the flusher sent something, or Close
	queue     []*udpBatch
	free      []*udpBatch
	queued    int  // bytes in queue
	closed    bool // no more writes
	unbatched bool // sendBatch reported errBatchUnsupported

	wake  chan struct{} // capacity 1: the queue is not empty, or Close
	done  chan struct{} // closed when the flusher has returned
	stats batchStats
}

// startBatchConn wraps c and starts its flusher, which returns after Close.
func startBatchConn(c *net.UDPConn, send batchSender) *batchConn {
	b := newBatchConn(c, send)
	go b.flushLoop()
	return b
}

// newBatchConn wraps c without starting the flusher (tests fill the queue
// first).
func newBatchConn(c *net.UDPConn, send batchSender) *batchConn {
	b := &batchConn{
		UDPConn:   c,
		sendBatch: send,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	b.space = sync.NewCond(&b.mu)
	return b
}

// WriteToAddrPort queues p for dst and returns: p is copied, and a send error
// of the kernel is not reported (a datagram lost, as UDP may lose any).
// It waits while batchQueueBytes are queued, and fails with net.ErrClosed
// after Close.
func (b *batchConn) WriteToAddrPort(p []byte, dst netip.AddrPort) (int, error) {
	b.mu.Lock()
	for b.queued >= batchQueueBytes && !b.closed {
		b.space.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, net.ErrClosed
	}
	bt := b.batchFor(p, dst)
	bt.buf = append(bt.buf, p...)
	bt.count++
	if len(p) < bt.seg || b.unbatched || len(p) == 0 {
		bt.full = true
	}
	b.queued += len(p)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// batchFor returns the queued batch that p joins: the last one, if it is for
// dst, still open, has p's segment size (or a larger one: p ends it) and room
// left; otherwise a new batch at the end of the queue. An empty datagram is
// a batch of its own (in a batch it would be no segment at all). Called with
// mu held.
func (b *batchConn) batchFor(p []byte, dst netip.AddrPort) *udpBatch {
	if n := len(b.queue); n > 0 && len(p) > 0 {
		last := b.queue[n-1]
		if !last.full && last.dst == dst && len(p) <= last.seg &&
			last.count < batchMaxSegments && len(last.buf)+len(p) <= batchMaxBytes {
			return last
		}
	}
	var bt *udpBatch
	if n := len(b.free); n > 0 {
		bt = b.free[n-1]
		b.free = b.free[:n-1]
	} else {
		bt = &udpBatch{buf: make([]byte, 0, batchMaxBytes)}
	}
	*bt = udpBatch{dst: dst, buf: bt.buf[:0], seg: len(p)}
	b.queue = append(b.queue, bt)
	return bt
}

// WriteTo queues p like WriteToAddrPort when addr is a *net.UDPAddr, and
// sends it directly otherwise.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return b.WriteToUDP(p, ua)
	}
	return b.UDPConn.WriteTo(p, addr)
}

// WriteToUDP queues p like WriteToAddrPort.
func (b *batchConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return b.UDPConn.WriteToUDP(p, addr) // the socket's own error
	}
	return b.WriteToAddrPort(p, addr.AddrPort())
}

// ReadFromAddrPort reads the next datagram (pion's ICE reads through it
// when the connection has WriteToAddrPort).
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

// flushLoop sends what is queued each time it is woken, until Close.
func (b *batchConn) flushLoop() {
	defer close(b.done)
	var work []*udpBatch
	for range b.wake {
		for {
			b.mu.Lock()
			work = append(work[:0], b.queue...)
			clear(b.queue)
			b.queue = b.queue[:0]
			closed, unbatched := b.closed, b.unbatched
			b.mu.Unlock()
			if len(work) == 0 {
				if closed {
					return
				}
				break
			}
			sent := 0
			for _, bt := range work {
				if b.send(bt, unbatched) {
					unbatched = true
				}
				sent += len(bt.buf)
			}
			b.mu.Lock()
			if unbatched {
				b.unbatched = true
			}
			b.queued -= sent
			b.free = append(b.free, work...)
			clear(work)
			b.space.Broadcast()
			b.mu.Unlock()
		}
	}
}

// send hands one batch to the kernel. It reports whether batches turned out
// to be unsupported; the batch is then sent datagram by datagram, as it is
// after any other error of the batched send (so that one refused batch, e.g.
// over a path with a smaller MTU, loses nothing that separate sends would
// have delivered). Errors of separate sends are dropped: a lost datagram.
func (b *batchConn) send(bt *udpBatch, unbatched bool) (unsupported bool) {
	if bt.count > 1 && !unbatched {
		err := b.sendBatch(bt.buf, bt.seg, bt.dst)
		if err == nil {
			b.stats.sends.Add(1)
			b.stats.datagrams.Add(uint64(bt.count))
			return false
		}
		unsupported = errors.Is(err, errBatchUnsupported)
	}
	for off, i := 0, 0; i < bt.count; i++ {
		end := min(off+bt.seg, len(bt.buf))
		_, _ = b.UDPConn.WriteToUDPAddrPort(bt.buf[off:end], bt.dst)
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
func (b *batchConn) Close() error {
	b.mu.Lock()
	b.closed = true
	b.space.Broadcast()
	b.mu.Unlock()
	err := b.UDPConn.Close()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	<-b.done
	return err
}
