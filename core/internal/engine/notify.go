package engine

import (
	"context"
	"sync"

	"github.com/pion/webrtc/v4"
)

// Notifications (instead of polling). The engine tells its owner when
// something it waits for happened; the owner takes the notification channel
// first, then checks the state, then waits, so no change can slip between
// the check and the wait:
//
//   - StateChanged: any change of the transport — PeerConnection or ICE
//     connection state, selected candidate pair, a data channel opening or
//     closing, Close. With TransportConnected, DataChannelsOpen and
//     DataTrackReady it replaces a poll of those.
//   - DataTrackBelow: the `_data_track` buffered amount fell to a level the
//     caller chose (pion's buffered-amount-low threshold, kept by the engine
//     at the highest level still waited for).
//   - DataReady / WaitDataTrackOpen: the channels opened.
//
// Every wait also ends when the engine closes, so nothing waits on a dead
// engine; none of them starts a goroutine.

// broadcast is an edge that wakes every current waiter: wait returns a
// channel that the next fire closes.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) fire() {
	b.mu.Lock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
	b.mu.Unlock()
}

// bufferedLow wakes waiters once a data channel's buffered amount is at
// most the level each of them chose. pion keeps one threshold per channel
// and fires only when the amount crosses it downward, so bufferedLow keeps
// the threshold at the highest level still waited for and reads the amount
// again after every change of it: a crossing between the read and the
// change is seen by the second read, one after it fires the callback.
type bufferedLow struct {
	dc lowSource

	mu      sync.Mutex // guards the fields below; held across the pion calls
	waiters []*lowWaiter
	armed   uint64 // the threshold last given to pion
	shut    bool   // channel or engine closed: every wait ends at once
}

// lowSource is what bufferedLow needs of a pion DataChannel.
type lowSource interface {
	BufferedAmount() uint64
	SetBufferedAmountLowThreshold(uint64)
}

type lowWaiter struct {
	level uint64
	ch    chan struct{}
}

func newBufferedLow(dc *webrtc.DataChannel, initial uint64) *bufferedLow {
	dc.SetBufferedAmountLowThreshold(initial)
	b := &bufferedLow{dc: dc, armed: initial}
	dc.OnBufferedAmountLow(b.check)
	return b
}

// below returns a channel closed once the buffered amount is at most level
// (at once if it is already) or the channel or engine closes, and a release
// function that forgets the waiter (idempotent; call it when the wait ends
// either way, so an abandoned wait leaves nothing behind).
func (b *bufferedLow) below(level uint64) (<-chan struct{}, func()) {
	w := &lowWaiter{level: level, ch: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shut {
		close(w.ch)
		return w.ch, func() {}
	}
	b.waiters = append(b.waiters, w)
	b.checkLocked()
	return w.ch, func() { b.release(w) }
}

func (b *bufferedLow) release(w *lowWaiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.waiters {
		if x == w {
			b.waiters[i] = b.waiters[len(b.waiters)-1]
			b.waiters[len(b.waiters)-1] = nil
			b.waiters = b.waiters[:len(b.waiters)-1]
			return
		}
	}
}

// check runs on pion's buffered-amount-low callback.
func (b *bufferedLow) check() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.checkLocked()
}

func (b *bufferedLow) checkLocked() {
	for len(b.waiters) > 0 {
		amount := b.dc.BufferedAmount()
		kept := b.waiters[:0]
		var top uint64
		for _, w := range b.waiters {
			if amount <= w.level {
				close(w.ch)
				continue
			}
			kept = append(kept, w)
			top = max(top, w.level)
		}
		clear(b.waiters[len(kept):])
		b.waiters = kept
		if len(kept) == 0 {
			return
		}
		if top != b.armed {
			b.dc.SetBufferedAmountLowThreshold(top)
			b.armed = top
		}
		if b.dc.BufferedAmount() > top {
			return // the crossing of top will call check
		}
	}
}

// close ends every wait, now and later.
func (b *bufferedLow) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shut = true
	for _, w := range b.waiters {
		close(w.ch)
	}
	clear(b.waiters)
	b.waiters = nil
}

// StateChanged returns a channel that is closed at the next change of the
// transport: PeerConnection or ICE connection state, selected ICE candidate
// pair, a data channel opening or closing, or Close. Take it before reading
// the state (TransportConnected, DataChannelsOpen, DataTrackReady), then
// wait on it: a change after the read closes it. After Close it is never
// closed again. The room's reconnect waits on it instead of polling, and the
// data-track writer uses it to learn that `_data_track` opened.
func (e *Engine) StateChanged() <-chan struct{} { return e.changed.wait() }

// WaitDataTrackOpen waits until `_data_track` is open, bounded by ctx. It
// fails with ErrClosed when the engine closes and with ErrChannelNotOpen
// when the channel was open and closed again (it never reopens).
func (e *Engine) WaitDataTrackOpen(ctx context.Context) error {
	for {
		changed := e.StateChanged()
		if e.isClosed() {
			return ErrClosed
		}
		switch e.dataTrack.dc.ReadyState() {
		case webrtc.DataChannelStateOpen:
			return nil
		case webrtc.DataChannelStateClosing, webrtc.DataChannelStateClosed:
			return ErrChannelNotOpen
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.closed:
			return ErrClosed
		}
	}
}

// DataTrackBelow returns a channel that is closed once the `_data_track`
// buffered amount is at most level — at once if it already is — or when the
// channel or the engine closes (check DataTrackReady after waking). release
// forgets the wait; call it once the wait is over, whichever way it ended.
// The engine keeps pion's buffered-amount-low threshold at the highest level
// waited for, so the level is the only policy input: the data-track writer
// gives the level its scheduler chose (core/datatrack.Scheduler).
func (e *Engine) DataTrackBelow(level uint64) (ready <-chan struct{}, release func()) {
	return e.dataTrack.low.below(level)
}
