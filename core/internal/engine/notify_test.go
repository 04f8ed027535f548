package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// fakeLow models pion's buffered amount and its one low threshold: the
// callback fires only when the amount crosses the threshold downward.
type fakeLow struct {
	b         *bufferedLow
	amount    uint64
	threshold uint64
	sets      int
	onSet     func() // runs inside SetBufferedAmountLowThreshold (a drain racing the arming)
}

func (f *fakeLow) BufferedAmount() uint64 { return f.amount }

func (f *fakeLow) SetBufferedAmountLowThreshold(n uint64) {
	f.threshold = n
	f.sets++
	if f.onSet != nil {
		f.onSet()
	}
}

// drain sets the amount as acknowledgements would, firing the callback on a
// downward crossing (pion calls it on another goroutine; here synchronously).
func (f *fakeLow) drain(to uint64) {
	from := f.amount
	f.amount = to
	if from > f.threshold && to <= f.threshold {
		f.b.check()
	}
}

func newFakeLow(amount uint64) *fakeLow {
	f := &fakeLow{amount: amount}
	f.b = &bufferedLow{dc: f}
	return f
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestBufferedLowLevels(t *testing.T) {
	f := newFakeLow(200)
	high, relHigh := f.b.below(100)
	low, relLow := f.b.below(50)
	defer relHigh()
	defer relLow()
	if closed(high) || closed(low) {
		t.Fatal("released above the levels")
	}
	if f.threshold != 100 {
		t.Fatalf("threshold %d, want the highest level waited for (100)", f.threshold)
	}
	f.drain(150) // no crossing
	if closed(high) || closed(low) {
		t.Fatal("released at 150")
	}
	f.drain(80)
	if !closed(high) || closed(low) {
		t.Fatalf("at 80: high %v low %v", closed(high), closed(low))
	}
	if f.threshold != 50 {
		t.Fatalf("threshold %d after the first release, want 50", f.threshold)
	}
	f.drain(50)
	if !closed(low) {
		t.Fatal("not released at its level")
	}
	if len(f.b.waiters) != 0 {
		t.Fatalf("%d waiters left", len(f.b.waiters))
	}
}

func TestBufferedLowImmediateAndRace(t *testing.T) {
	f := newFakeLow(10)
	ready, release := f.b.below(10)
	release()
	if !closed(ready) || f.sets != 0 {
		t.Fatalf("at the level: released %v, threshold set %d times", closed(ready), f.sets)
	}
	// The amount falls below the level while the threshold is being armed:
	// pion would not fire (no crossing after the change); the re-read sees it.
	f.amount = 500
	f.onSet = func() { f.amount = 5 }
	ready, release = f.b.below(100)
	defer release()
	if !closed(ready) {
		t.Fatal("a drain during the arming was missed")
	}
}

func TestBufferedLowReleaseAndClose(t *testing.T) {
	f := newFakeLow(1000)
	a, relA := f.b.below(10)
	relA()
	relA() // idempotent
	if closed(a) || len(f.b.waiters) != 0 {
		t.Fatalf("released wait: closed %v, %d waiters", closed(a), len(f.b.waiters))
	}
	b, relB := f.b.below(10)
	defer relB()
	f.b.close()
	if !closed(b) {
		t.Fatal("close did not end the wait")
	}
	c, relC := f.b.below(10)
	defer relC()
	if !closed(c) {
		t.Fatal("a wait after close blocks")
	}
}

func TestEngineNotifications(t *testing.T) {
	eng, peer, _ := connectPair(t, Config{DataTrackHighWater: 128 << 10})
	defer peer.pc.Close() //nolint:errcheck
	defer eng.Close()     //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := eng.WaitDataTrackOpen(ctx); err != nil {
		t.Fatal(err)
	}
	if !eng.TransportConnected() || !eng.DataChannelsOpen() {
		t.Fatal("data channels open but the transport is not reported connected")
	}

	// Stall the peer's reader: `_data_track` backs up past the backstop.
	hold := make(chan struct{})
	peer.mu.Lock()
	peer.hold = hold
	peer.mu.Unlock()
	released := false
	release := func() {
		if !released {
			released = true
			peer.mu.Lock()
			peer.hold = nil
			peer.mu.Unlock()
			close(hold)
		}
	}
	defer release()
	pkt := make([]byte, 10_000)
	backedUp := false
	for i := 0; i < 2000 && !backedUp; i++ {
		err := eng.SendDataTrackPacket(pkt)
		switch {
		case errors.Is(err, ErrDataTrackBackedUp):
			backedUp = true
		case err != nil:
			t.Fatal(err)
		}
	}
	if !backedUp {
		t.Fatal("the data-track backstop never refused a packet with a stalled reader")
	}
	amount := eng.DataTrackBufferedAmount()
	if amount <= 128<<10 {
		t.Fatalf("refused at %d buffered bytes, backstop 128 KiB", amount)
	}
	mid, relMid := eng.DataTrackBelow(amount - 1)
	defer relMid()
	low, relLow := eng.DataTrackBelow(0)
	defer relLow()
	if closed(mid) || closed(low) {
		t.Fatal("a wait ended while nothing drains")
	}
	release()
	for _, ch := range []<-chan struct{}{mid, low} {
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("buffered-amount-low not notified after the reader resumed")
		}
	}
	if got := eng.DataTrackBufferedAmount(); got != 0 {
		t.Fatalf("level 0 released at %d bytes", got)
	}

	// Close ends every wait and changes the state.
	changed := eng.StateChanged()
	// The peer reads again, so reaching a level needs new sends: hold it.
	hold2 := make(chan struct{})
	peer.mu.Lock()
	peer.hold = hold2
	peer.mu.Unlock()
	defer close(hold2)
	for eng.DataTrackBufferedAmount() < 64<<10 {
		if err := eng.SendDataTrackPacket(pkt); err != nil {
			break
		}
	}
	pending, relPending := eng.DataTrackBelow(0)
	defer relPending()
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(changed) || !closed(pending) {
		t.Fatalf("after Close: changed %v, buffered wait %v", closed(changed), closed(pending))
	}
	if err := eng.WaitDataTrackOpen(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitDataTrackOpen after close: %v", err)
	}
	if err := eng.Flush(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after close: %v", err)
	}
}

func TestEngineStateChangedBeforeConnect(t *testing.T) {
	eng, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	changed := eng.StateChanged()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// Not connected: the open wait is bounded by its context.
	if err := eng.WaitDataTrackOpen(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitDataTrackOpen without a peer: %v", err)
	}
	if closed(changed) {
		t.Fatal("state changed without a peer")
	}
	if eng.dataTrack.dc.ReadyState() == webrtc.DataChannelStateOpen {
		t.Fatal("open without a peer")
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(changed) {
		t.Fatal("Close did not notify StateChanged")
	}
}
