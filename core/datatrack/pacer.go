package datatrack

import "time"

// Pacer defaults (PacerConfig zero values).
const (
	// DefaultPacerLatency is the queueing delay the writer accepts in the channel's send
	// buffer: the in-flight target is the measured drain rate times this budget.
	DefaultPacerLatency = 5 * time.Millisecond
	// DefaultPacerMinInFlight is the smallest target: the JS and Rust writers' fixed 8 KiB
	// low-water mark, used until a rate is measured and whenever the path is slow.
	DefaultPacerMinInFlight = 8 << 10
	// DefaultPacerMaxInFlight caps the target whatever the rate (the channel's high water).
	DefaultPacerMaxInFlight = 256 << 10
	// DefaultPacerWindow is how far back the drain rate looks.
	DefaultPacerWindow = 100 * time.Millisecond
)

// PacerConfig configures NewPacer; zero fields take the defaults above.
type PacerConfig struct {
	Latency     time.Duration
	MinInFlight uint64
	MaxInFlight uint64
	Window      time.Duration
}

// Pacer is the data-track writer's scheduling policy, a pure state machine (time and the
// channel's buffered amount are passed in; no I/O, no goroutines, not safe for concurrent
// use). It decides whether the next packet may be handed to the `_data_track` channel now.
// With MinInFlight = MaxInFlight it is exactly the official SDKs' fixed low-water rule.
//
// A fixed buffered-amount threshold trades latency for throughput: a small one (8 KiB, the
// official SDKs') starves a fast path, a large one queues data on a slow one. The pacer
// instead keeps the bytes in flight near what the path drains in Latency: it estimates the
// drain rate — bytes written minus the growth of the channel's buffer — over the last Window
// and sets the target to rate × Latency, clamped to [MinInFlight, MaxInFlight]. A packet may
// go when it fits under the target, or when the channel holds at most MinInFlight (so a
// packet larger than the target is never stuck). On a path that drains faster than the writer offers, the buffer
// stays nearly empty and frames go out at once; on a saturated path the queueing delay stays
// near Latency while the target grows with the rate, so throughput is not capped by a
// constant. Because the rate a small target can show is bounded by that target over the
// path's round trip, the target grows each window only while Latency exceeds the round trip,
// which on the loopback and LAN paths it is meant for it does.
type Pacer struct {
	cfg     PacerConfig
	written uint64 // cumulative bytes handed to the channel
	samples []pacerSample
}

type pacerSample struct {
	at      time.Time
	drained uint64 // cumulative bytes written minus the buffered amount at that time
}

// NewPacer returns a pacer with cfg's zero fields defaulted.
func NewPacer(cfg PacerConfig) *Pacer {
	if cfg.Latency <= 0 {
		cfg.Latency = DefaultPacerLatency
	}
	if cfg.MinInFlight == 0 {
		cfg.MinInFlight = DefaultPacerMinInFlight
	}
	if cfg.MaxInFlight < cfg.MinInFlight {
		cfg.MaxInFlight = max(DefaultPacerMaxInFlight, cfg.MinInFlight)
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultPacerWindow
	}
	return &Pacer{cfg: cfg}
}

// Observe records the channel's buffered amount at now (call it whenever the writer looks at
// the channel, before MaySend).
func (p *Pacer) Observe(now time.Time, buffered uint64) {
	d := uint64(0)
	if p.written > buffered {
		d = p.written - buffered
	}
	if n := len(p.samples); n > 0 {
		last := p.samples[n-1]
		if d < last.drained { // the buffer cannot un-drain; keep the series monotonic
			d = last.drained
		}
		if now.Sub(last.at) < p.cfg.Window/64 { // coalesce bursts of samples
			p.samples[n-1] = pacerSample{at: last.at, drained: d}
			return
		}
	}
	p.samples = append(p.samples, pacerSample{at: now, drained: d})
	p.trim(now)
}

// Sent records that n bytes were handed to the channel at now.
func (p *Pacer) Sent(n int) { p.written += uint64(n) }

// Rate is the drain rate in bytes per second over the window, and whether enough time is
// covered to tell (a tenth of the window).
func (p *Pacer) Rate(now time.Time) (float64, bool) {
	p.trim(now)
	if len(p.samples) < 2 {
		return 0, false
	}
	first, last := p.samples[0], p.samples[len(p.samples)-1]
	span := last.at.Sub(first.at)
	if span < p.cfg.Window/10 {
		return 0, false
	}
	return float64(last.drained-first.drained) / span.Seconds(), true
}

// Target is the number of bytes the writer may keep in the channel now.
func (p *Pacer) Target(now time.Time) uint64 {
	rate, ok := p.Rate(now)
	if !ok {
		return p.cfg.MinInFlight
	}
	t := uint64(rate * p.cfg.Latency.Seconds())
	return min(max(t, p.cfg.MinInFlight), p.cfg.MaxInFlight)
}

// MaySend reports whether a packet of n bytes may be handed to a channel holding buffered
// bytes: the channel holds at most MinInFlight (the official SDKs' fixed low-water rule, so
// the pacer is never slower than they are, whatever the packet size), or the packet fits
// under Target.
func (p *Pacer) MaySend(now time.Time, buffered uint64, n int) bool {
	return buffered <= p.cfg.MinInFlight || buffered+uint64(n) <= p.Target(now)
}

// WakeAt is the buffered amount at which a writer waiting to send n bytes should look again
// (the channel's buffered-amount-low threshold to arm): where the packet would fit under the
// target, and never below MinInFlight.
func (p *Pacer) WakeAt(now time.Time, n int) uint64 {
	t := p.Target(now)
	if uint64(n)+p.cfg.MinInFlight >= t {
		return p.cfg.MinInFlight
	}
	return t - uint64(n)
}

// trim forgets samples older than the window, keeping the newest one before it as the base.
func (p *Pacer) trim(now time.Time) {
	cut := 0
	for cut+1 < len(p.samples) && now.Sub(p.samples[cut+1].at) >= p.cfg.Window {
		cut++
	}
	if cut > 0 {
		p.samples = append(p.samples[:0], p.samples[cut:]...)
	}
}
