package datatrack

import (
	"context"
	"sync"
)

// OverflowPolicy decides what a full SendQueue does with a new frame.
type OverflowPolicy uint8

const (
	// RejectNew refuses the new frame with ErrQueueFull and leaves the queue untouched: the
	// producer sees every refusal and decides what to skip (nothing is dropped silently).
	// This is the TryPush default.
	RejectNew OverflowPolicy = iota
	// DropOldest evicts the oldest waiting frames (whole frames only, never the one being
	// written) until the new frame fits, and counts them. This is the Rust/Swift "waiting frame"
	// stage of their senders (capacity 1 there), for producers that prefer freshness.
	DropOldest
)

// SendQueue is the bounded per-track queue between TryPush and the channel writer
// (docs/protocol.md, Sending and pacing).
//
// Design (docs/protocol.md, Sending and pacing; it compares JS, which buffers without bound and
// back-pressures through flush(), with Rust/Swift, which drop whole frames): frames are the unit
// of admission, eviction and writing. A multi-packet frame is admitted whole or not at all, the
// writer takes a whole frame with Pop and writes all its packets before the next Pop, so no frame
// is ever cut and no other frame of the track is written between its packets. TryPush never
// blocks. With RejectNew (default) a full queue returns ErrQueueFull and the caller keeps its
// frame; with DropOldest older waiting frames are evicted and counted (Evicted). The queue is
// bounded both in frames and in serialized bytes; a single frame larger than the byte budget is
// still admitted into an empty queue so every frame within MaxPacketsPerFrame can be sent.
//
// SendQueue is safe for concurrent use by one producer side and one writer goroutine. It also
// keeps a free list of PacketizedFrame buffers (NewFrame/Done) so the steady state does not
// allocate: up to freeListFrames frames whose buffers together stay within the queue's byte
// budget (so recycled storage never holds more than a full queue would), and always up to
// two frames of any size up to a maximal frame.
type SendQueue struct {
	mu        sync.Mutex
	frames    []*PacketizedFrame // ring buffer
	head, n   int
	bytes     int
	maxBytes  int
	policy    OverflowPolicy
	inFlight  int
	closed    bool
	ready     chan struct{} // capacity 1: signalled when a frame is queued
	idle      chan struct{} // created by Flush while busy; closed when the queue becomes idle
	free      []*PacketizedFrame
	freeBytes int // sum of cap(buf) over free
	evicted   uint64
	rejected  uint64
	discarded uint64
}

// freeListFrames bounds SendQueue's free list: enough for a waiting Push's whole batch
// (PushQueueFrames) plus the frames in the writer's hands, so a blocking producer of small
// frames reuses every buffer.
const freeListFrames = 2 * PushQueueFrames

// NewSendQueue returns a queue holding at most maxFrames frames (0 = DefaultSendQueueFrames,
// values above MaxSendQueueFrames are clamped to it) and maxBytes serialized bytes
// (0 = DefaultSendQueueBytes).
func NewSendQueue(maxFrames, maxBytes int, policy OverflowPolicy) *SendQueue {
	if maxFrames <= 0 {
		maxFrames = DefaultSendQueueFrames
	}
	maxFrames = min(maxFrames, MaxSendQueueFrames)
	if maxBytes <= 0 {
		maxBytes = DefaultSendQueueBytes
	}
	return &SendQueue{
		frames:   make([]*PacketizedFrame, maxFrames),
		maxBytes: maxBytes,
		policy:   policy,
		ready:    make(chan struct{}, 1),
	}
}

// NewFrame returns an empty PacketizedFrame, reusing a recycled one when available.
func (q *SendQueue) NewFrame() *PacketizedFrame {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.free); n > 0 {
		f := q.free[n-1]
		q.free[n-1] = nil
		q.free = q.free[:n-1]
		q.freeBytes -= cap(f.buf)
		return f
	}
	return &PacketizedFrame{}
}

// Recycle returns a frame that was never queued (e.g. refused) to the free list.
func (q *SendQueue) Recycle(f *PacketizedFrame) {
	q.mu.Lock()
	q.recycleLocked(f)
	q.mu.Unlock()
}

func (q *SendQueue) recycleLocked(f *PacketizedFrame) {
	if f == nil {
		return
	}
	f.Reset()
	c := cap(f.buf)
	keep := (len(q.free) < 2 && c <= 4*TransportMTU*MaxPacketsPerFrame) ||
		(len(q.free) < freeListFrames && q.freeBytes+c <= q.maxBytes)
	if keep {
		q.free = append(q.free, f)
		q.freeBytes += c
	}
}

// CanAdmit reports whether a frame of the given serialized size would be admitted now.
func (q *SendQueue) CanAdmit(frameBytes int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.closed && (q.policy == DropOldest || q.fitsLocked(frameBytes))
}

func (q *SendQueue) fitsLocked(b int) bool {
	if q.n == 0 {
		return true
	}
	return q.n < len(q.frames) && q.bytes+b <= q.maxBytes
}

// TryPush queues f whole, or returns ErrQueueFull (RejectNew; f stays the caller's) or
// ErrQueueClosed. With DropOldest it evicts older waiting frames instead and returns how many.
// It never blocks.
func (q *SendQueue) TryPush(f *PacketizedFrame) (evicted int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrQueueClosed
	}
	b := f.Bytes()
	for !q.fitsLocked(b) {
		if q.policy == RejectNew {
			q.rejected++
			return 0, ErrQueueFull
		}
		old := q.popLocked()
		q.recycleLocked(old)
		q.evicted++
		evicted++
	}
	q.frames[(q.head+q.n)%len(q.frames)] = f
	q.n++
	q.bytes += b
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return evicted, nil
}

func (q *SendQueue) popLocked() *PacketizedFrame {
	f := q.frames[q.head]
	q.frames[q.head] = nil
	q.head = (q.head + 1) % len(q.frames)
	q.n--
	q.bytes -= f.Bytes()
	return f
}

// Pop takes the oldest frame for writing; ok is false when the queue is empty. The writer must
// write all of the frame's packets (or give up on the whole frame) and then call Done.
func (q *SendQueue) Pop() (f *PacketizedFrame, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil, false
	}
	q.inFlight++
	return q.popLocked(), true
}

// Done marks a popped frame as handed to the transport and recycles it.
func (q *SendQueue) Done(f *PacketizedFrame) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight--
	q.recycleLocked(f)
	q.signalIdleLocked()
}

func (q *SendQueue) signalIdleLocked() {
	if q.n == 0 && q.inFlight <= 0 && q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
}

// Ready is signalled (capacity-1 channel) whenever a frame is queued; a writer waits on it
// and then Pops until empty.
func (q *SendQueue) Ready() <-chan struct{} { return q.ready }

// Flush waits until every queued frame has been popped and marked Done, or ctx ends
// (JS flush() parity, docs/protocol.md, Sending and pacing).
func (q *SendQueue) Flush(ctx context.Context) error {
	q.mu.Lock()
	if q.n == 0 && q.inFlight <= 0 {
		q.mu.Unlock()
		return nil
	}
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	idle := q.idle
	q.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Clear discards every waiting frame (unpublish, disconnect: docs/protocol.md, Sending and pacing; a republish keeps them) and
// returns how many were discarded; they are also counted in Stats().Discarded.
func (q *SendQueue) Clear() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.clearLocked()
}

func (q *SendQueue) clearLocked() int {
	n := q.n
	for q.n > 0 {
		q.recycleLocked(q.popLocked())
	}
	q.discarded += uint64(n)
	q.signalIdleLocked()
	return n
}

// Close discards waiting frames and refuses further pushes. It is idempotent.
func (q *SendQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.clearLocked()
}

// Reopen accepts pushes again after Close (a republished track reuses its queue).
func (q *SendQueue) Reopen() {
	q.mu.Lock()
	q.closed = false
	q.mu.Unlock()
}

// SendQueueStats are the queue's counters.
type SendQueueStats struct {
	// Frames and Bytes are waiting right now.
	Frames, Bytes int
	// Rejected counts ErrQueueFull refusals; Evicted counts DropOldest evictions; Discarded
	// counts frames thrown away by Clear/Close.
	Rejected, Evicted, Discarded uint64
}

// Stats returns a snapshot of the counters.
func (q *SendQueue) Stats() SendQueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return SendQueueStats{Frames: q.n, Bytes: q.bytes, Rejected: q.rejected, Evicted: q.evicted, Discarded: q.discarded}
}

// BufferDropPolicy decides which frame a full FrameBuffer gives up.
type BufferDropPolicy uint8

const (
	// DropOldestFrame discards the oldest buffered frame to make room (Rust; the Go default,
	// docs/protocol.md, Departures).
	DropOldestFrame BufferDropPolicy = iota
	// DropNewestFrame discards the incoming frame (JS ReadableStream behaviour).
	DropNewestFrame
)

// FrameBuffer is one local subscriber's bounded frame buffer
// (docs/protocol.md, Sending and pacing). A slow reader never blocks the receive path: when the
// buffer is full — it holds its maximum of frames, or the new frame's payload would take its
// bytes beyond the budget — frames are dropped according to the policy (default: drop the
// oldest, so the reader catches up with the newest data) and the Dropped counter increases. A
// frame larger than the whole budget is kept when nothing else is buffered. Each local
// subscription has its own buffer, so a slow stream loses frames only on itself. Safe for
// concurrent use.
//
// Every loss is attributed to the frame read after it (Frame.DroppedBefore, docs/protocol.md,
// Frame loss accounting): a pushed frame brings the frames lost upstream before it, and a
// dropped frame's count, plus one for itself, moves to the frame that follows it. So the
// frames read plus the sum of their DroppedBefore is every frame since the first one pushed,
// up to the last one read.
type FrameBuffer struct {
	mu       sync.Mutex
	ring     []Frame // grows (doubling) up to max frames, so an idle subscription stays small
	head, n  int
	max      int // frames
	maxBytes int
	bytes    int // payload bytes buffered
	policy   BufferDropPolicy
	dropped  uint64 // frames the policy discarded
	upstream uint64 // frames lost before they reached the buffer (sum of pushed DroppedBefore)
	carry    uint64 // losses waiting for the next accepted frame (DropNewestFrame)
	pushed   uint64
	closed   bool
	endErr   error
	ready    chan struct{} // capacity 1: a frame was pushed or the buffer closed
	done     chan struct{} // closed on Close
}

// frameBufferInitialRing is the ring a FrameBuffer starts with (fewer if its maximum is lower).
const frameBufferInitialRing = 16

// NewFrameBuffer returns a buffer of at most size frames and maxBytes payload bytes. A size < 1
// means DefaultSubscriberBufferFrames; a maxBytes < 1 means DefaultSubscriberBufferBytes with the
// default size, and MaxSubscriberBufferBytes with a size given (a buffer sized in frames keeps
// that many frames whatever their size, within that cap). Values above MaxSubscriberBufferFrames
// and MaxSubscriberBufferBytes are clamped to them (callers taking the sizes from outside refuse
// them first with ErrInvalidOption).
func NewFrameBuffer(size, maxBytes int, policy BufferDropPolicy) *FrameBuffer {
	if maxBytes < 1 {
		maxBytes = MaxSubscriberBufferBytes
		if size < 1 {
			maxBytes = DefaultSubscriberBufferBytes
		}
	}
	if size < 1 {
		size = DefaultSubscriberBufferFrames
	}
	size = min(size, MaxSubscriberBufferFrames)
	return &FrameBuffer{ring: make([]Frame, min(size, frameBufferInitialRing)), max: size,
		maxBytes: min(maxBytes, MaxSubscriberBufferBytes), policy: policy,
		ready: make(chan struct{}, 1), done: make(chan struct{})}
}

// fullFor reports whether f cannot be added without dropping a frame.
func (b *FrameBuffer) fullFor(f Frame) bool {
	return b.n == b.max || b.n > 0 && b.bytes+len(f.Payload) > b.maxBytes
}

// Push adds a frame whose DroppedBefore counts the frames lost upstream since the previous
// frame pushed (ignored for the buffer's first frame: what was lost before a stream began is
// not its loss). It returns false if a frame had to be dropped (or the buffer is closed).
func (b *FrameBuffer) Push(f Frame) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	if b.pushed == 0 {
		f.DroppedBefore = 0
	}
	b.upstream += f.DroppedBefore
	ok := true
	if b.fullFor(f) && b.policy == DropNewestFrame {
		b.dropped++
		b.carry += f.DroppedBefore + 1
		return false
	}
	for b.fullFor(f) {
		b.dropped++
		ok = false
		old := b.ring[b.head]
		b.ring[b.head] = Frame{}
		b.head = (b.head + 1) % len(b.ring)
		b.n--
		b.bytes -= len(old.Payload)
		lost := old.DroppedBefore + 1
		if b.n > 0 {
			b.ring[b.head].DroppedBefore += lost
		} else {
			f.DroppedBefore += lost
		}
	}
	if b.n == len(b.ring) {
		b.grow()
	}
	f.DroppedBefore += b.carry
	b.carry = 0
	b.ring[(b.head+b.n)%len(b.ring)] = f
	b.n++
	b.bytes += len(f.Payload)
	b.pushed++
	select {
	case b.ready <- struct{}{}:
	default:
	}
	return ok
}

// grow doubles the ring (up to max frames), keeping the frames in order from index 0.
func (b *FrameBuffer) grow() {
	ring := make([]Frame, min(2*len(b.ring), b.max))
	for i := range b.n {
		ring[i] = b.ring[(b.head+i)%len(b.ring)]
	}
	b.ring, b.head = ring, 0
}

// TryPop returns the oldest buffered frame, if any.
func (b *FrameBuffer) TryPop() (Frame, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.popLocked()
}

func (b *FrameBuffer) popLocked() (Frame, bool) {
	if b.n == 0 {
		return Frame{}, false
	}
	f := b.ring[b.head]
	b.ring[b.head] = Frame{}
	b.head = (b.head + 1) % len(b.ring)
	b.n--
	b.bytes -= len(f.Payload)
	return f, true
}

// Pop waits for a frame. After Close it returns the remaining frames, then the end error
// (ErrStreamEnded for a normal end, or the failure).
func (b *FrameBuffer) Pop(ctx context.Context) (Frame, error) {
	for {
		b.mu.Lock()
		f, ok := b.popLocked()
		closed, endErr := b.closed, b.endErr
		b.mu.Unlock()
		if ok {
			return f, nil
		}
		if closed {
			return Frame{}, endErr
		}
		select {
		case <-b.ready:
		case <-b.done:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// Ready is signalled when a frame arrives or the buffer closes (for select loops / pollers).
func (b *FrameBuffer) Ready() <-chan struct{} { return b.ready }

// Done is closed when the buffer is closed.
func (b *FrameBuffer) Done() <-chan struct{} { return b.done }

// Close ends the buffer with err (nil = ErrStreamEnded). Buffered frames stay readable. It is
// idempotent: the first error wins.
func (b *FrameBuffer) Close(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if err == nil {
		err = ErrStreamEnded
	}
	b.closed, b.endErr = true, err
	close(b.done)
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// Err returns the end error once closed, else nil.
func (b *FrameBuffer) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.endErr
}

// Len returns the number of buffered frames.
func (b *FrameBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// Dropped returns how many frames the drop policy discarded.
func (b *FrameBuffer) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// Lost returns every frame this buffer's reader will never get: those the drop policy
// discarded plus those lost upstream between the frames pushed.
func (b *FrameBuffer) Lost() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped + b.upstream
}

func (q *SendQueue) noteRejected() {
	q.mu.Lock()
	q.rejected++
	q.mu.Unlock()
}
