package datatrack

import (
	"testing"
	"time"
)

// schedEvent is one input to the scheduler (at ms after the start): an observation of the
// channel's buffered amount, or n bytes sent.
type schedEvent struct {
	at       int // ms
	observe  bool
	buffered uint64
	sent     int
}

func obs(at int, buffered uint64) schedEvent {
	return schedEvent{at: at, observe: true, buffered: buffered}
}
func sent(n int) schedEvent { return schedEvent{sent: n} }

// drainAt builds a drain history: every 2 ms from 0 to 100 ms, n bytes sent and all of them
// acknowledged by the next observation (at 102 ms the last), so the measured rate is n bytes
// per 2 ms.
func drainAt(n int) []schedEvent {
	var evs []schedEvent
	for i := 0; i <= 100; i += 2 {
		evs = append(evs, obs(i, 0), sent(n))
	}
	return append(evs, obs(102, 0))
}

// near is a value with a relative tolerance (the measured rate is a float).
type near struct {
	v   uint64
	tol float64
}

func (n near) ok(got uint64) bool {
	d := float64(got) - float64(n.v)
	return d <= n.tol*float64(n.v) && -d <= n.tol*float64(n.v)
}

func exact(v uint64) near { return near{v: v} }
func about(v uint64) near { return near{v: v, tol: 0.001} }

func TestSchedulerDecisions(t *testing.T) {
	const floor = DefaultPacerMinInFlight // 8192
	cases := []struct {
		name   string
		events []schedEvent
		at     int // ms of the decision
		next   int
		write  near // Decision.Write
		low    near // Decision.Low
	}{
		{"no rate yet: the 8 KiB floor", []schedEvent{obs(0, 0)}, 0, 1000, exact(floor), exact(0)},
		{"a burst counts what was sent since the read", []schedEvent{obs(0, 0), sent(5000)}, 0, 1000, exact(floor - 5000), exact(0)},
		{"a packet larger than the target goes at the floor", []schedEvent{obs(0, floor)}, 0, 16000, exact(16000), exact(0)},
		{"the floor rule after a burst", []schedEvent{obs(0, 0), sent(8000)}, 0, 1000, exact(1000), exact(0)},
		{"above the floor without room: wait for the floor", []schedEvent{obs(0, 9000)}, 0, 1000, exact(0), exact(floor)},
		{"a burst past the floor waits", []schedEvent{obs(0, 0), sent(8000), sent(1000)}, 0, 1000, exact(0), exact(floor)},
		// 40 000 bytes per 2 ms = 20 MB/s: target 20e6 × 5 ms = 100 000.
		{"the measured rate sets the target", drainAt(40_000), 102, 16000, about(100_000), exact(0)},
		{"wait where the next packet fits under the target",
			append(drainAt(40_000), obs(102, 95_000)), 102, 16000, exact(0), about(100_000 - 16000)},
		// 5 GB/s: clamped to the 256 KiB cap.
		{"the target is capped", drainAt(10_000_000), 102, 1000, exact(DefaultPacerMaxInFlight), exact(0)},
		{"an oversized packet above the floor waits for the floor",
			append(drainAt(40_000), obs(102, 50_000)), 102, 100_000, exact(0), exact(floor)},
	}
	start := time.Unix(1_700_000_000, 0)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewScheduler(PacerConfig{})
			for _, e := range c.events {
				if e.observe {
					s.Observe(ms(e.at), e.buffered)
				} else {
					s.Sent(e.sent)
				}
			}
			if got := s.Decide(ms(c.at), c.next); !c.write.ok(got.Write) || !c.low.ok(got.Low) {
				t.Fatalf("Decide(%d) = %+v, want Write %+v Low %+v", c.next, got, c.write, c.low)
			}
		})
	}
}

// TestSchedulerTimeAloneNeverOpens: without an acknowledgement (no new observation) a decision
// to wait never turns into a permission as time passes, and the level to wait for never rises,
// so the writer needs no timer besides the buffered-amount-low notification.
func TestSchedulerTimeAloneNeverOpens(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	s := NewScheduler(PacerConfig{})
	for _, e := range drainAt(80_000) { // 40 MB/s: target 200 000
		if e.observe {
			s.Observe(start.Add(time.Duration(e.at)*time.Millisecond), e.buffered)
		} else {
			s.Sent(e.sent)
		}
	}
	s.Observe(start.Add(102*time.Millisecond), 190_000)
	prev := s.Decide(start.Add(102*time.Millisecond), 16000)
	if prev.Write != 0 {
		t.Fatalf("first decision %+v, want a wait", prev)
	}
	for ms := 103; ms < 2000; ms += 3 {
		d := s.Decide(start.Add(time.Duration(ms)*time.Millisecond), 16000)
		// +1: the same rate measured over a different span may round one byte up.
		if d.Write != 0 || d.Low > prev.Low+1 {
			t.Fatalf("at %d ms: %+v after %+v", ms, d, prev)
		}
		prev = d
	}
	if prev.Low != DefaultPacerMinInFlight {
		t.Fatalf("after the window the level is %d, want the floor", prev.Low)
	}
}

// TestSchedulerMatchesPacer: for any amount and packet, the scheduler allows a packet exactly
// when the pacer's per-packet rule does, and its level is the pacer's WakeAt.
func TestSchedulerMatchesPacer(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	for _, rate := range []int{0, 2_000, 20_000, 60_000, 1_000_000} {
		for _, b := range []uint64{0, 4096, 8192, 8193, 50_000, 120_000, 300_000} {
			for _, n := range []int{1, 1000, 16000} {
				s := NewScheduler(PacerConfig{})
				p := NewPacer(PacerConfig{})
				if rate > 0 {
					for _, e := range drainAt(rate) {
						at := start.Add(time.Duration(e.at) * time.Millisecond)
						if e.observe {
							s.Observe(at, e.buffered)
							p.Observe(at, e.buffered)
						} else {
							s.Sent(e.sent)
							p.Sent(e.sent)
						}
					}
				}
				now := start.Add(102 * time.Millisecond)
				s.Observe(now, b)
				p.Observe(now, b)
				d := s.Decide(now, n)
				if may := p.MaySend(now, b, n); may != (uint64(n) <= d.Write) {
					t.Fatalf("rate %d b %d n %d: pacer %v, scheduler %+v", rate, b, n, may, d)
				}
				if d.Write == 0 && d.Low != p.WakeAt(now, n) {
					t.Fatalf("rate %d b %d n %d: level %d, pacer %d", rate, b, n, d.Low, p.WakeAt(now, n))
				}
			}
		}
	}
}

// runSched drives the scheduler like the room's writer on simPath: it reads the channel once
// per wake-up, bursts packets as long as Decide allows, and otherwise sleeps until the path's
// buffered amount falls to Decision.Low (the engine's buffered-amount-low notification).
func runSched(s *Scheduler, path *simPath, pkt int, d time.Duration) (r simResult, wakeups int) {
	const step = 50 * time.Microsecond
	start := time.Unix(1_700_000_000, 0)
	end := path.clock + d
	var waitLow uint64
	waiting := false
	for t := path.clock; t < end; t += step {
		path.clock = t + step
		now := start.Add(t)
		path.advance(now, step)
		if waiting && path.buffered > waitLow {
			r.maxBuffered = max(r.maxBuffered, path.buffered)
			continue
		}
		waiting = false
		wakeups++
		s.Observe(now, path.buffered)
		for {
			dec := s.Decide(now, pkt)
			if uint64(pkt) > dec.Write {
				waiting, waitLow = true, dec.Low
				r.waits++
				break
			}
			path.write(now, pkt)
			s.Sent(pkt)
			r.sentBytes += uint64(pkt)
		}
		r.maxBuffered = max(r.maxBuffered, path.buffered)
	}
	return r, wakeups
}

// TestSchedulerWriterKeepsPacerThroughput: the wake-up/burst writer moves what the per-packet
// pacer moves on the same simulated paths (today's measured behaviour), with the same queue
// bound, while reading the channel only on wake-ups.
func TestSchedulerWriterKeepsPacerThroughput(t *testing.T) {
	for _, c := range []struct {
		name     string
		capacity float64
		rtt      time.Duration
		pkt      int
	}{
		{"fast path 16 KB packets", 60e6, time.Millisecond, 16_000},
		{"fast path 1 KB packets", 60e6, time.Millisecond, 1000},
		{"slow path", 1e6, time.Millisecond, 1000},
	} {
		t.Run(c.name, func(t *testing.T) {
			pp := &simPath{capacity: c.capacity, rtt: c.rtt}
			p := NewPacer(PacerConfig{})
			run(p, pp, c.pkt, 0, 500*time.Millisecond)
			pr := run(p, pp, c.pkt, 0, time.Second)

			sp := &simPath{capacity: c.capacity, rtt: c.rtt}
			s := NewScheduler(PacerConfig{})
			runSched(s, sp, c.pkt, 500*time.Millisecond)
			sr, wakeups := runSched(s, sp, c.pkt, time.Second)
			if float64(sr.sentBytes) < 0.95*float64(pr.sentBytes) {
				t.Errorf("scheduler moved %d bytes/s, pacer %d", sr.sentBytes, pr.sentBytes)
			}
			if lim := max(pr.maxBuffered, DefaultPacerMinInFlight+uint64(c.pkt)); sr.maxBuffered > lim+uint64(c.pkt) {
				t.Errorf("scheduler buffered up to %d, pacer %d", sr.maxBuffered, pr.maxBuffered)
			}
			if wakeups == 0 || wakeups > sr.waits+1 {
				t.Errorf("%d wake-ups for %d waits", wakeups, sr.waits)
			}
		})
	}
}
