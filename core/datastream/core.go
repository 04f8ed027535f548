package datastream

import (
	"context"
	"io"
	"maps"
	"sync"
)

// streamCore is the queue between the manager (which pushes wire pieces of
// one stream in order, after the ordering filter) and the reader (which pops
// and decodes them). Wire pieces are compressed bytes for compressed streams.
//
// Lock order: Manager.mu before streamCore.mu; streamCore.mu is never held
// while calling into the manager.
type streamCore struct {
	mu          sync.Mutex
	wake        chan struct{} // capacity 1: "something changed"
	pieces      [][]byte
	queued      int
	maxBuffered int
	ended       bool  // normal end: pieces may still drain
	err         error // terminal: pending pieces are discarded
	attrs       map[string]string
	onAbandon   func()      // tells the manager to forget the stream
	shared      *byteBudget // the manager's budget for all readers' queued bytes
	onFinish    func()      // once, when the reader is done (end or error seen, or abandoned)
}

func newCore(attrs map[string]string, maxBuffered int, shared *byteBudget) *streamCore {
	return &streamCore{wake: make(chan struct{}, 1), attrs: attrs, maxBuffered: maxBuffered, shared: shared}
}

// byteBudget is a bound shared by several queues.
type byteBudget struct {
	mu   sync.Mutex
	used int
	max  int
}

// take reserves n bytes; false (nothing reserved) if that would exceed the bound.
func (b *byteBudget) take(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *byteBudget) give(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// inUse reports the bytes reserved.
func (b *byteBudget) inUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// dropQueuedLocked discards the queued pieces and returns their bytes to the budget.
func (c *streamCore) dropQueuedLocked() {
	c.shared.give(c.queued)
	c.pieces, c.queued = nil, 0
}

// finish runs onFinish once; called without c.mu held (it calls into the manager).
func (c *streamCore) finish() {
	c.mu.Lock()
	f := c.onFinish
	c.onFinish = nil
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

func (c *streamCore) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// push queues a piece. It fails the stream and returns false when the buffer
// limit would be exceeded.
func (c *streamCore) push(p []byte, streamID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.ended {
		return false
	}
	if c.queued+len(p) > c.maxBuffered {
		c.err = newErr(ReasonBufferOverflow, streamID, "reader of data stream "+streamID+" is too slow: buffer limit reached", nil)
		c.dropQueuedLocked()
		c.signal()
		return false
	}
	if !c.shared.take(len(p)) {
		c.err = newErr(ReasonBufferOverflow, streamID, "readers of data streams are too slow: the limit of data buffered for all of them is reached", nil)
		c.dropQueuedLocked()
		c.signal()
		return false
	}
	c.pieces = append(c.pieces, p)
	c.queued += len(p)
	c.signal()
	return true
}

// end marks a normal end after merging the trailer attributes.
func (c *streamCore) end(trailerAttrs map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mergeLocked(trailerAttrs)
	if c.err == nil {
		c.ended = true
	}
	c.signal()
}

func (c *streamCore) mergeLocked(a map[string]string) {
	if len(a) == 0 {
		return
	}
	if c.attrs == nil {
		c.attrs = make(map[string]string, len(a))
	}
	maps.Copy(c.attrs, a)
}

// fail ends the stream with err (first error wins) and merges attributes.
func (c *streamCore) fail(err error, trailerAttrs map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mergeLocked(trailerAttrs)
	if c.err == nil && !c.ended {
		c.err = err
		c.dropQueuedLocked()
	}
	c.signal()
}

// abandon is called from the reader side: the reader gave up (cancelled,
// closed or detected a decode error). The manager forgets the stream.
func (c *streamCore) abandon(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.dropQueuedLocked()
	f := c.onAbandon
	c.onAbandon = nil
	c.mu.Unlock()
	if f != nil {
		f()
	}
	c.finish()
}

func (c *streamCore) attributes() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.attrs)
}

// pop returns the next piece, io.EOF after a normal end, or the stream's
// error. It blocks until one of those is available or ctx is done (then the
// stream is abandoned).
func (c *streamCore) pop(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			c.finish()
			return nil, err
		}
		if len(c.pieces) > 0 {
			p := c.pieces[0]
			c.pieces[0] = nil
			c.pieces = c.pieces[1:]
			if len(c.pieces) == 0 {
				c.pieces = nil
			}
			c.queued -= len(p)
			c.shared.give(len(p))
			c.mu.Unlock()
			return p, nil
		}
		if c.ended {
			c.mu.Unlock()
			c.finish()
			return nil, io.EOF
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-ctx.Done():
			err := newErr(ReasonCancelled, "", "", ctx.Err())
			c.abandon(err)
			return nil, err
		}
	}
}

// coreSource is the deflate.Source of a compressed stream: the pieces of
// its streamCore, popped with the context of the read in progress.
type coreSource struct {
	core *streamCore
	ctx  context.Context
}

// Next implements deflate.Source.
func (s *coreSource) Next() ([]byte, error) { return s.core.pop(s.ctx) }
