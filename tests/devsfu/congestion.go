package devsfu

import "time"

// congestionGate decides, per subscriber data-track channel, whether a forwarded packet is
// written or dropped, the way livekit-server (v1.13.5) treats a subscriber's data-track channel:
// a packet is dropped when the bytes already buffered for that subscriber are more than a floor
// (minBuffered, 8 KiB on the server) and more than the subscriber's measured drain rate would
// clear within the target latency (100 ms on the server). Each packet is judged on its own, so
// a congested subscriber loses single packets — and with them whole frames at its
// depacketizer — while a subscriber that keeps up loses nothing.
//
// The drain rate is measured only over the time the channel was backlogged ("busy"): after
// each write, the bytes that left the buffer since the previous write (bytes written minus the
// growth of the buffered amount) are added up, and the time since the previous write counts as
// busy when the buffer was not empty before this write. Both sums cover a sliding history of
// about two seconds kept in 100 ms windows. Until the history holds 100 ms of busy time there
// is no rate and nothing is dropped: an idle subscription lets a burst through whole, and
// only a subscriber that stays backed up is held to the latency budget.
//
// It is a pure state machine: the caller passes the time and the channel's buffered amount, so
// it is unit-tested without a network (congestion_test.go). Not safe for concurrent use;
// writeDataTrack serialises calls per channel.
type congestionGate struct {
	targetLatency time.Duration
	minBuffered   uint64

	windows []drainWindow // closed windows, oldest first (at most history/window + 2)
	active  drainWindow   // the window being filled
	drained uint64        // bytes drained over windows + active
	busy    time.Duration // busy time over windows + active
	last    time.Time     // time of the previous write (zero before the first)
	lastBuf uint64        // buffered amount right after the previous write
}

// drainWindow is one 100 ms slice of the history.
type drainWindow struct {
	start   time.Time
	drained uint64
	busy    time.Duration
}

const (
	// gateWindow is the granularity of the history and the busy time needed for a rate.
	gateWindow = 100 * time.Millisecond
	// gateHistory is how far back the history reaches (plus one window).
	gateHistory = 2 * time.Second
)

// newCongestionGate returns a gate; targetLatency ≤ 0 disables it (every packet passes).
func newCongestionGate(targetLatency time.Duration, minBuffered uint64) *congestionGate {
	return &congestionGate{targetLatency: targetLatency, minBuffered: minBuffered}
}

// drainRate is the measured drain rate in bytes per second, ok false while the history holds
// less than one window of busy time.
func (g *congestionGate) drainRate() (bytesPerSec float64, ok bool) {
	if g.busy < gateWindow {
		return 0, false
	}
	return float64(g.drained) / g.busy.Seconds(), true
}

// allow reports whether a packet may be written now, given the channel's buffered amount
// before the write. A packet that may be written must then be recorded with wrote.
func (g *congestionGate) allow(buffered uint64) bool {
	if g.targetLatency <= 0 {
		return true
	}
	rate, ok := g.drainRate()
	if !ok {
		return true
	}
	budget := uint64(rate * g.targetLatency.Seconds())
	return buffered <= budget || buffered <= g.minBuffered
}

// wrote records a write of n bytes at now (n = 0 when the write failed), with the channel's
// buffered amount read right after it.
func (g *congestionGate) wrote(now time.Time, n int, bufferedAfter uint64) {
	if g.targetLatency <= 0 {
		return
	}
	var busy time.Duration
	if !g.last.IsZero() && bufferedAfter > uint64(n) && now.After(g.last) {
		busy = now.Sub(g.last) // the buffer held data before this write: backlogged since then
	}
	g.last = now
	var drained uint64
	if out := int64(n) - (int64(bufferedAfter) - int64(g.lastBuf)); out > 0 {
		drained = uint64(out)
	}
	g.lastBuf = bufferedAfter

	if g.active.start.IsZero() {
		g.active.start = now
	}
	if now.Sub(g.active.start) >= gateWindow {
		g.windows = append(g.windows, g.active)
		g.active = drainWindow{start: now}
		expired := 0
		for expired < len(g.windows) && now.Sub(g.windows[expired].start) > gateHistory+gateWindow {
			g.drained -= g.windows[expired].drained
			g.busy -= g.windows[expired].busy
			expired++
		}
		if expired > 0 {
			g.windows = append(g.windows[:0], g.windows[expired:]...)
		}
		if len(g.windows) == 0 {
			g.drained, g.busy = 0, 0
		}
	}
	g.drained += drained
	g.busy += busy
	g.active.drained += drained
	g.active.busy += busy
}
