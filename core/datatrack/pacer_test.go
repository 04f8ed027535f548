package datatrack

import (
	"testing"
	"time"
)

// simPath is a channel send buffer on a path that drains at most capacity bytes per second,
// and a byte leaves the buffer no earlier than rtt after it was written (it counts as
// buffered until acknowledged).
type simPath struct {
	capacity float64
	rtt      time.Duration
	queue    []simChunk
	buffered uint64
	credit   float64
	clock    time.Duration // simulated time so far (run continues from it)
}

type simChunk struct {
	at time.Time
	n  uint64
}

func (s *simPath) write(now time.Time, n int) {
	s.queue = append(s.queue, simChunk{now, uint64(n)})
	s.buffered += uint64(n)
}

func (s *simPath) advance(now time.Time, dt time.Duration) {
	s.credit += s.capacity * dt.Seconds()
	for len(s.queue) > 0 && s.credit >= 1 {
		c := &s.queue[0]
		if now.Sub(c.at) < s.rtt {
			break
		}
		take := min(c.n, uint64(s.credit))
		c.n -= take
		s.buffered -= take
		s.credit -= float64(take)
		if c.n == 0 {
			s.queue = s.queue[1:]
		}
	}
	if s.credit > s.capacity*0.0001 {
		s.credit = s.capacity * 0.0001 // a path never banks more than 100 µs of capacity
	}
}

type simResult struct {
	sentBytes   uint64
	maxBuffered uint64
	waits       int // times a ready packet could not go at once
}

// run drives a writer with packets of pkt bytes, offered at offered bytes/s (0: as fast as
// the pacer allows), for d; the pacer decides each step.
func run(p *Pacer, path *simPath, pkt int, offered float64, d time.Duration) simResult {
	const step = 50 * time.Microsecond
	var r simResult
	start := time.Unix(1_700_000_000, 0)
	var backlog float64 // bytes offered but not yet sent
	end := path.clock + d
	for t := path.clock; t < end; t += step {
		path.clock = t + step
		now := start.Add(t)
		path.advance(now, step)
		if offered > 0 {
			backlog += offered * step.Seconds()
		}
		for offered == 0 || backlog >= float64(pkt) {
			p.Observe(now, path.buffered)
			if !p.MaySend(now, path.buffered, pkt) {
				r.waits++
				break
			}
			path.write(now, pkt)
			p.Sent(pkt)
			r.sentBytes += uint64(pkt)
			if offered > 0 {
				backlog -= float64(pkt)
			}
		}
		r.maxBuffered = max(r.maxBuffered, path.buffered)
	}
	return r
}

func TestPacerFillsAFastPath(t *testing.T) {
	// 60 MB/s with a 1 ms round trip: a fixed 8 KiB window could move at most 8 MB/s; the
	// pacer must reach most of the capacity while keeping about Latency of data queued.
	path := &simPath{capacity: 60e6, rtt: time.Millisecond}
	p := NewPacer(PacerConfig{})
	run(p, path, 16_000, 0, 500*time.Millisecond) // ramp up
	r := run(p, path, 16_000, 0, time.Second)
	if rate := float64(r.sentBytes); rate < 0.8*60e6 {
		t.Errorf("sent %.1f MB/s on a 60 MB/s path", rate/1e6)
	}
	// Queueing bound: target ≤ rate × (rtt + latency) worth of bytes, plus a packet.
	if lim := uint64(60e6*(0.001+0.005)*1.5) + 16_000; r.maxBuffered > lim {
		t.Errorf("buffered up to %d bytes, want ≤ %d", r.maxBuffered, lim)
	}

	fixed := &simPath{capacity: 60e6, rtt: time.Millisecond}
	fp := NewPacer(PacerConfig{MinInFlight: 8 << 10, MaxInFlight: 8 << 10})
	run(fp, fixed, 1000, 0, 500*time.Millisecond)
	fr := run(fp, fixed, 1000, 0, time.Second)
	if float64(fr.sentBytes) > 12e6 {
		t.Errorf("a fixed 8 KiB window moved %.1f MB/s; the model is wrong", float64(fr.sentBytes)/1e6)
	}
	if r.sentBytes < 4*fr.sentBytes {
		t.Errorf("adaptive %d bytes vs fixed %d: no gain", r.sentBytes, fr.sentBytes)
	}
}

func TestPacerSlowPathKeepsBufferSmall(t *testing.T) {
	// 1 MB/s: rate × 5 ms is 5 kB, under the 8 KiB floor, so the buffer stays at the floor.
	path := &simPath{capacity: 1e6, rtt: time.Millisecond}
	p := NewPacer(PacerConfig{})
	r := run(p, path, 1000, 0, 2*time.Second)
	if r.maxBuffered > 8<<10+1000 {
		t.Errorf("buffered %d bytes on a 1 MB/s path", r.maxBuffered)
	}
	if got := float64(r.sentBytes) / 2; got < 0.9e6 {
		t.Errorf("sent %.2f MB/s on a 1 MB/s path", got/1e6)
	}
}

func TestPacerBelowCapacityNeverWaits(t *testing.T) {
	// 5 MB/s of 1 KB frames offered on a 60 MB/s path: every frame goes at once.
	path := &simPath{capacity: 60e6, rtt: 200 * time.Microsecond}
	p := NewPacer(PacerConfig{})
	r := run(p, path, 1000, 5e6, 2*time.Second)
	if r.waits != 0 {
		t.Errorf("%d waits below capacity", r.waits)
	}
	if got := float64(r.sentBytes) / 2; got < 4.9e6 {
		t.Errorf("sent %.2f MB/s of 5 offered", got/1e6)
	}
}

func TestPacerTargetBounds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	p := NewPacer(PacerConfig{})
	if got := p.Target(now); got != DefaultPacerMinInFlight {
		t.Fatalf("target without a rate %d", got)
	}
	// A packet larger than the target goes while the channel holds at most the floor (the
	// fixed low-water rule), not above it.
	if !p.MaySend(now, DefaultPacerMinInFlight, 60_000) || p.MaySend(now, DefaultPacerMinInFlight+1, 60_000) {
		t.Fatal("oversized packet rule")
	}
	// 10 GB/s drained over 100 ms: clamped to the maximum.
	for i := 0; i <= 100; i++ {
		p.Observe(now.Add(time.Duration(i)*time.Millisecond), 0)
		p.Sent(10_000_000)
	}
	p.Observe(now.Add(101*time.Millisecond), 0)
	if got := p.Target(now.Add(101 * time.Millisecond)); got != DefaultPacerMaxInFlight {
		t.Fatalf("target %d, want the cap %d", got, DefaultPacerMaxInFlight)
	}
	if w := p.WakeAt(now.Add(101*time.Millisecond), 1000); w != DefaultPacerMaxInFlight-1000 {
		t.Fatalf("WakeAt %d", w)
	}
	if w := p.WakeAt(now, 2<<20); w != DefaultPacerMinInFlight {
		t.Fatalf("WakeAt for an oversized packet %d", w)
	}
}

func TestPacerHistoryBounded(t *testing.T) {
	p := NewPacer(PacerConfig{})
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < 1_000_000; i++ {
		p.Sent(100)
		p.Observe(now.Add(time.Duration(i)*time.Microsecond), 50)
	}
	if len(p.samples) > 130 {
		t.Fatalf("%d samples kept", len(p.samples))
	}
}

func BenchmarkPacerDecision(b *testing.B) {
	p := NewPacer(PacerConfig{})
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		t := now.Add(time.Duration(i) * time.Microsecond)
		p.Observe(t, 4096)
		if p.MaySend(t, 4096, 1000) {
			p.Sent(1000)
		}
	}
}
