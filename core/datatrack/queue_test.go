package datatrack

import (
	"context"
	"errors"
	"testing"
	"time"
)

func framePackets(t testing.TB, q *SendQueue, p *Packetizer, size int) *PacketizedFrame {
	t.Helper()
	f := q.NewFrame()
	if err := p.Packetize(f, make([]byte, size), Extensions{}, t0); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSendQueueRejectsWholeFrames(t *testing.T) {
	p := newTestPacketizer(t, 1, 0)
	q := NewSendQueue(2, 0, RejectNew)
	a := framePackets(t, q, p, 40000) // 3 packets
	b := framePackets(t, q, p, 10)
	c := framePackets(t, q, p, 40000)
	for _, f := range []*PacketizedFrame{a, b} {
		if _, err := q.TryPush(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.TryPush(c); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third frame: %v", err)
	}
	if q.CanAdmit(1) {
		t.Fatal("CanAdmit on a full queue")
	}
	st := q.Stats()
	if st.Frames != 2 || st.Rejected != 1 || st.Bytes != a.Bytes()+b.Bytes() {
		t.Fatalf("stats %+v", st)
	}
	// the writer gets whole frames, in order
	got, ok := q.Pop()
	if !ok || got != a || got.Len() != 3 {
		t.Fatal("first pop")
	}
	q.Done(got)
	if _, err := q.TryPush(c); err != nil {
		t.Fatalf("after pop: %v", err)
	}
}

func TestSendQueueByteBudget(t *testing.T) {
	p := newTestPacketizer(t, 1, 0)
	q := NewSendQueue(16, 50000, RejectNew)
	big := framePackets(t, q, p, 100000) // larger than the budget: admitted into an empty queue
	if _, err := q.TryPush(big); err != nil {
		t.Fatalf("big frame into empty queue: %v", err)
	}
	small := framePackets(t, q, p, 100)
	if _, err := q.TryPush(small); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("over budget: %v", err)
	}
}

func TestSendQueueDropOldest(t *testing.T) {
	p := newTestPacketizer(t, 1, 0)
	q := NewSendQueue(1, 0, DropOldest)
	a := framePackets(t, q, p, 100)
	b := framePackets(t, q, p, 100)
	c := framePackets(t, q, p, 40000)
	if _, err := q.TryPush(a); err != nil {
		t.Fatal(err)
	}
	inflight, _ := q.Pop() // being written: never evicted
	if ev, err := q.TryPush(b); err != nil || ev != 0 {
		t.Fatal(ev, err)
	}
	if ev, err := q.TryPush(c); err != nil || ev != 1 {
		t.Fatalf("evicted %d, %v", ev, err)
	}
	if got, _ := q.Pop(); got != c || got.Len() != 3 {
		t.Fatal("newest whole frame expected")
	}
	if inflight.Len() != 1 {
		t.Fatal("in-flight frame was touched")
	}
	if st := q.Stats(); st.Evicted != 1 || st.Rejected != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSendQueueFlushClose(t *testing.T) {
	p := newTestPacketizer(t, 1, 0)
	q := NewSendQueue(4, 0, RejectNew)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Flush(ctx); err != nil {
		t.Fatal("flush of empty queue", err)
	}
	for range 3 {
		if _, err := q.TryPush(framePackets(t, q, p, 20000)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-q.Ready():
	default:
		t.Fatal("Ready not signalled")
	}
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if err := q.Flush(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("flush with pending frames: %v", err)
	}
	written := make(chan int, 1)
	go func() { // a writer
		n := 0
		for {
			f, ok := q.Pop()
			if !ok {
				written <- n
				return
			}
			n += f.Len()
			q.Done(f)
		}
	}()
	if err := q.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := <-written; n != 6 {
		t.Fatalf("writer wrote %d packets", n)
	}
	if _, err := q.TryPush(framePackets(t, q, p, 10)); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q.Close()
	if st := q.Stats(); st.Frames != 0 || st.Discarded != 1 {
		t.Fatalf("after close %+v", st)
	}
	if _, err := q.TryPush(framePackets(t, q, p, 10)); !errors.Is(err, ErrQueueClosed) {
		t.Fatal(err)
	}
	if err := q.Flush(ctx); err != nil {
		t.Fatal("flush after close", err)
	}
}

func TestFrameBufferDropOldest(t *testing.T) {
	b := NewFrameBuffer(0, 0, DropOldestFrame)
	for i := range DefaultSubscriberBufferFrames + 4 {
		b.Push(Frame{FrameNumber: uint16(i)})
	}
	if b.Len() != DefaultSubscriberBufferFrames || b.Dropped() != 4 {
		t.Fatalf("len %d dropped %d", b.Len(), b.Dropped())
	}
	for i := range DefaultSubscriberBufferFrames { // in order across the ring's growth
		if f, _ := b.TryPop(); f.FrameNumber != uint16(4+i) {
			t.Fatalf("frame %d is %d", i, f.FrameNumber)
		}
	}
}

// By default a buffer takes a burst of 256 small frames (what a track accepts by default) and
// holds at most DefaultSubscriberBufferBytes of larger ones; its ring grows only as needed.
func TestFrameBufferDefaultBounds(t *testing.T) {
	b := NewFrameBuffer(0, 0, DropOldestFrame)
	if len(b.ring) != frameBufferInitialRing {
		t.Fatalf("initial ring %d", len(b.ring))
	}
	for i := range 256 {
		b.Push(Frame{FrameNumber: uint16(i), Payload: make([]byte, 1000)})
	}
	if b.Len() != 256 || b.Dropped() != 0 {
		t.Fatalf("burst of 256: len %d dropped %d", b.Len(), b.Dropped())
	}
	// A buffer sized in frames keeps them whatever their size (within MaxSubscriberBufferBytes).
	b = NewFrameBuffer(20, 0, DropOldestFrame)
	for i := range 20 {
		b.Push(Frame{FrameNumber: uint16(i), Payload: make([]byte, 200_000)})
	}
	if b.Len() != 20 || b.Dropped() != 0 || b.maxBytes != MaxSubscriberBufferBytes {
		t.Fatalf("20 frames of 200 KB in a buffer of 20 frames: len %d dropped %d", b.Len(), b.Dropped())
	}
	b = NewFrameBuffer(0, 0, DropOldestFrame)
	for i := range 30 {
		b.Push(Frame{FrameNumber: uint16(i), Payload: make([]byte, 100_000)})
	}
	if n := DefaultSubscriberBufferBytes / 100_000; b.Len() != n || b.Dropped() != uint64(30-n) {
		t.Fatalf("100 KB frames: len %d dropped %d, want %d kept", b.Len(), b.Dropped(), n)
	}
}

// The byte budget drops as many of the oldest frames as a new one needs, carries their loss to
// the frame that follows them, and keeps a frame larger than the budget when it is alone.
func TestFrameBufferByteBudget(t *testing.T) {
	b := NewFrameBuffer(100, 10, DropOldestFrame)
	for i, n := range []int{3, 3, 3} {
		b.Push(Frame{FrameNumber: uint16(i), Payload: make([]byte, n)})
	}
	b.Push(Frame{FrameNumber: 3, Payload: make([]byte, 7)}) // 9 + 7 > 10: frames 0 and 1 go
	if b.Len() != 2 || b.Dropped() != 2 {
		t.Fatalf("len %d dropped %d", b.Len(), b.Dropped())
	}
	if f, _ := b.TryPop(); f.FrameNumber != 2 || f.DroppedBefore != 2 {
		t.Fatalf("after the drops: frame %d, dropped before %d", f.FrameNumber, f.DroppedBefore)
	}
	if f, _ := b.TryPop(); f.FrameNumber != 3 {
		t.Fatalf("next %d", f.FrameNumber)
	}
	b.Push(Frame{FrameNumber: 4, Payload: make([]byte, 50)}) // alone beyond the budget: kept
	if f, _ := b.TryPop(); f.FrameNumber != 4 || len(f.Payload) != 50 || f.DroppedBefore != 0 {
		t.Fatalf("oversize frame: %d, %d bytes, dropped before %d", f.FrameNumber, len(f.Payload), f.DroppedBefore)
	}
	b.Push(Frame{FrameNumber: 5, Payload: make([]byte, 50)})
	b.Push(Frame{FrameNumber: 6, Payload: make([]byte, 1)}) // the oversize one makes room
	if f, _ := b.TryPop(); f.FrameNumber != 6 || f.DroppedBefore != 1 || b.Len() != 0 {
		t.Fatalf("frame %d dropped before %d, %d left", f.FrameNumber, f.DroppedBefore, b.Len())
	}

	// Reading frees the bytes: a frame that fits once the one before it was read is kept.
	b = NewFrameBuffer(100, 10, DropOldestFrame)
	b.Push(Frame{FrameNumber: 0, Payload: make([]byte, 6)})
	b.TryPop()
	b.Push(Frame{FrameNumber: 1, Payload: make([]byte, 6)})
	b.Push(Frame{FrameNumber: 2, Payload: make([]byte, 4)})
	if b.Len() != 2 || b.Dropped() != 0 {
		t.Fatalf("after a read: len %d dropped %d", b.Len(), b.Dropped())
	}

	// Drop-newest refuses the frame that does not fit instead.
	b = NewFrameBuffer(100, 10, DropNewestFrame)
	b.Push(Frame{FrameNumber: 0, Payload: make([]byte, 6)})
	if b.Push(Frame{FrameNumber: 1, Payload: make([]byte, 6)}) || b.Len() != 1 {
		t.Fatal("drop-newest accepted a frame beyond the budget")
	}
	b.TryPop()
	b.Push(Frame{FrameNumber: 2, Payload: make([]byte, 6)})
	if f, _ := b.TryPop(); f.FrameNumber != 2 || f.DroppedBefore != 1 {
		t.Fatalf("frame %d dropped before %d", f.FrameNumber, f.DroppedBefore)
	}
}

func TestFrameBufferDropNewest(t *testing.T) {
	b := NewFrameBuffer(2, 0, DropNewestFrame)
	for i := range 5 {
		b.Push(Frame{FrameNumber: uint16(i)})
	}
	f1, _ := b.TryPop()
	f2, _ := b.TryPop()
	if f1.FrameNumber != 0 || f2.FrameNumber != 1 || b.Dropped() != 3 {
		t.Fatal("drop-newest order")
	}
}

func TestFrameBufferCloseDrains(t *testing.T) {
	b := NewFrameBuffer(4, 0, DropOldestFrame)
	b.Push(Frame{FrameNumber: 1})
	b.Close(nil)
	b.Close(ErrDisconnected) // first error wins
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if f, err := b.Pop(ctx); err != nil || f.FrameNumber != 1 {
		t.Fatal("buffered frame lost on close")
	}
	if _, err := b.Pop(ctx); !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("end: %v", err)
	}
	if b.Push(Frame{}) {
		t.Fatal("push after close accepted")
	}
	// Pop waits for a frame pushed by another goroutine.
	b2 := NewFrameBuffer(4, 0, DropOldestFrame)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b2.Push(Frame{FrameNumber: 9})
	}()
	if f, err := b2.Pop(ctx); err != nil || f.FrameNumber != 9 {
		t.Fatal(f, err)
	}
	<-done
	short, c2 := context.WithCancel(ctx)
	c2()
	if _, err := b2.Pop(short); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestSendQueueRecyclesABlockingPushBatch: once a batch of PushQueueFrames frames has been
// written (Pop, Done), the next batch of the same size reuses their buffers (no allocation in
// NewFrame or Packetize), while the free list never holds more storage than the byte budget
// beyond its two always-kept frames.
func TestSendQueueRecyclesABlockingPushBatch(t *testing.T) {
	p := newTestPacketizer(t, 1, 0)
	payload := make([]byte, 1000)
	q := NewSendQueue(0, 0, RejectNew)
	batch := func() {
		for range PushQueueFrames {
			f := q.NewFrame()
			if err := p.Packetize(f, payload, Extensions{}, t0); err != nil {
				t.Fatal(err)
			}
			if _, err := q.TryPush(f); err != nil {
				t.Fatal(err)
			}
		}
		for {
			f, ok := q.Pop()
			if !ok {
				break
			}
			q.Done(f)
		}
	}
	batch()
	if a := testing.AllocsPerRun(20, batch); a != 0 {
		t.Fatalf("%v allocations per batch of %d frames", a, PushQueueFrames)
	}

	// A small byte budget: only the two always-kept frames plus what fits the budget.
	q = NewSendQueue(0, 20_000, RejectNew)
	var fs []*PacketizedFrame
	for range freeListFrames {
		f := q.NewFrame()
		if err := p.Packetize(f, make([]byte, 8000), Extensions{}, t0); err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		q.Recycle(f)
	}
	if len(q.free) != 2 || q.freeBytes != 2*cap(fs[0].buf) {
		t.Fatalf("free list of %d frames, %d bytes (each %d)", len(q.free), q.freeBytes, cap(fs[0].buf))
	}
}
