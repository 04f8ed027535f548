package devsfu

import "time"

// congestionGate decides, per subscriber data-track channel, whether a forwarded packet is
// written or dropped, the way livekit-server's unreliable data-channel writer does for data
// tracks: it estimates how fast the subscriber drains its channel over the last second, and
// drops a packet when the bytes already buffered would take longer than the target latency to
// drain (and are more than a floor of minBuffered bytes). Each packet is judged on its own, so
// a congested subscriber loses single packets — and with them whole frames at its
// depacketizer — while a subscriber that keeps up loses nothing.
//
// It is a pure state machine: the caller passes the time and the channel's buffered amount,
// so it is unit-tested without a network (congestion_test.go). Not safe for concurrent use;
// writeDataTrack serialises calls per channel.
type congestionGate struct {
	targetLatency time.Duration
	minBuffered   uint64
	window        time.Duration

	// samples of the cumulative bytes handed to the channel and its buffered amount.
	samples []drainSample
	written uint64
}

type drainSample struct {
	at       time.Time
	written  uint64 // cumulative bytes written at that time
	buffered uint64
}

// newCongestionGate returns a gate; targetLatency ≤ 0 disables it (every packet passes).
func newCongestionGate(targetLatency time.Duration, minBuffered uint64) *congestionGate {
	return &congestionGate{targetLatency: targetLatency, minBuffered: minBuffered, window: time.Second}
}

// drainRate is the estimated drain rate in bytes per second over the window: bytes written
// minus the growth of the buffer, divided by the time covered. ok is false until the samples
// cover at least a tenth of the window (the server too lets everything through until it has
// a rate).
func (g *congestionGate) drainRate(now time.Time) (bytesPerSec float64, ok bool) {
	g.trim(now)
	if len(g.samples) < 2 {
		return 0, false
	}
	first, last := g.samples[0], g.samples[len(g.samples)-1]
	span := last.at.Sub(first.at)
	if span < g.window/10 {
		return 0, false
	}
	drained := float64(last.written-first.written) - (float64(last.buffered) - float64(first.buffered))
	if drained < 0 {
		drained = 0
	}
	return drained / span.Seconds(), true
}

// allow reports whether a packet of n bytes may be written now, given the channel's current
// buffered amount, and records the write when it may.
func (g *congestionGate) allow(now time.Time, n int, buffered uint64) bool {
	if g.targetLatency <= 0 {
		return true
	}
	if rate, ok := g.drainRate(now); ok {
		budget := uint64(rate * g.targetLatency.Seconds())
		if buffered > budget && buffered > g.minBuffered {
			return false
		}
	}
	g.written += uint64(n)
	g.samples = append(g.samples, drainSample{at: now, written: g.written, buffered: buffered + uint64(n)})
	return true
}

// trim forgets samples older than the window, keeping the newest one before it as the base.
func (g *congestionGate) trim(now time.Time) {
	cut := 0
	for cut+1 < len(g.samples) && now.Sub(g.samples[cut+1].at) > g.window {
		cut++
	}
	if cut > 0 {
		g.samples = append(g.samples[:0], g.samples[cut:]...)
	}
	// Bound the history: at most one sample per millisecond of the window survives.
	if max := int(g.window / time.Millisecond); len(g.samples) > 2*max {
		g.samples = append(g.samples[:0], g.samples[len(g.samples)-max:]...)
	}
}
