package devsfu

import (
	"testing"
	"time"
)

// fakeChannel drains its buffer at a fixed rate; offer runs packets of size n at a fixed
// interval through the gate and returns how many passed and the largest buffered amount seen.
type fakeChannel struct {
	drainPerSec float64
	buffered    float64
}

func simulate(g *congestionGate, ch *fakeChannel, n int, every time.Duration, d time.Duration) (passed, dropped int, maxBuffered float64) {
	start := time.Unix(1_700_000_000, 0)
	for t := time.Duration(0); t < d; t += every {
		ch.buffered -= ch.drainPerSec * every.Seconds()
		if ch.buffered < 0 {
			ch.buffered = 0
		}
		if g.allow(start.Add(t), n, uint64(ch.buffered)) {
			passed++
			ch.buffered += float64(n)
		} else {
			dropped++
		}
		if ch.buffered > maxBuffered {
			maxBuffered = ch.buffered
		}
	}
	return passed, dropped, maxBuffered
}

func TestCongestionGateDisabled(t *testing.T) {
	g := newCongestionGate(0, 8192)
	_, dropped, _ := simulate(g, &fakeChannel{drainPerSec: 1000}, 1000, time.Millisecond, time.Second)
	if dropped != 0 {
		t.Fatalf("disabled gate dropped %d packets", dropped)
	}
}

func TestCongestionGateKeepsUpNoDrops(t *testing.T) {
	// 1 MB/s offered (1 KB every ms), 5 MB/s drained: never congested.
	g := newCongestionGate(100*time.Millisecond, 8192)
	passed, dropped, _ := simulate(g, &fakeChannel{drainPerSec: 5e6}, 1000, time.Millisecond, 3*time.Second)
	if dropped != 0 || passed != 3000 {
		t.Fatalf("passed %d dropped %d, want 3000/0", passed, dropped)
	}
}

func TestCongestionGateSlowSubscriberBoundedLatency(t *testing.T) {
	// 2 MB/s offered, 500 kB/s drained: the gate must drop about three quarters of the
	// packets and keep the buffer near rate × target latency (50 kB), not let it grow to
	// the megabytes an ungated channel would hold after 3 s.
	g := newCongestionGate(100*time.Millisecond, 8192)
	passed, dropped, maxBuf := simulate(g, &fakeChannel{drainPerSec: 5e5}, 1000, 500*time.Microsecond, 3*time.Second)
	if dropped == 0 {
		t.Fatalf("no drops toward a subscriber draining a quarter of the offered rate")
	}
	if frac := float64(passed) / float64(passed+dropped); frac < 0.15 || frac > 0.45 {
		t.Errorf("passed fraction %.2f, want about the drain/offer ratio 0.25", frac)
	}
	// The first tenth of a second passes unconditionally (no rate yet): ≤ 200 kB then, and
	// after that the buffer must stay within a few times the 50 kB budget.
	if maxBuf > 260e3 {
		t.Errorf("buffer grew to %.0f bytes", maxBuf)
	}
}

func TestCongestionGateFloor(t *testing.T) {
	// A nearly stalled subscriber (1 kB/s): the first tenth of a second passes unchecked
	// (10 packets, ~10 kB), then nothing more goes out until the buffer drains under the
	// floor, so it never exceeds what the warm-up put in plus one packet.
	g := newCongestionGate(100*time.Millisecond, 8192)
	passed, _, maxBuf := simulate(g, &fakeChannel{drainPerSec: 1e3}, 1000, 10*time.Millisecond, 5*time.Second)
	if maxBuf > 11000 {
		t.Errorf("buffer %.0f beyond warm-up + one packet", maxBuf)
	}
	// Over 5 s at 1 kB/s about 5 kB drain: the warm-up's 10 packets plus a handful.
	if passed < 10 || passed > 16 {
		t.Errorf("%d packets passed to a 1 kB/s subscriber in 5 s", passed)
	}
	g2 := newCongestionGate(100*time.Millisecond, 8192)
	now := time.Unix(1_700_000_000, 0)
	// With a rate established near zero, a buffer under the floor still passes.
	for i := 0; i < 50; i++ {
		g2.allow(now.Add(time.Duration(i)*10*time.Millisecond), 10, 0)
	}
	if !g2.allow(now.Add(600*time.Millisecond), 1000, 8000) {
		t.Errorf("packet refused under the floor")
	}
}

func TestCongestionGateHistoryBounded(t *testing.T) {
	g := newCongestionGate(100*time.Millisecond, 8192)
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < 100_000; i++ {
		g.allow(now.Add(time.Duration(i)*10*time.Microsecond), 10, 0)
	}
	if len(g.samples) > 2000 {
		t.Fatalf("%d samples kept", len(g.samples))
	}
}
