package devsfu

import (
	"testing"
	"time"
)

// fakeChannel drains its buffer at a fixed rate.
type fakeChannel struct {
	drainPerSec float64
	buffered    float64
}

// simulate offers packets of n bytes every interval for d through the gate, the way
// writeDataTrack does (allow, then write and record), and returns how many passed and were
// dropped and the largest buffered amount seen.
func simulate(g *congestionGate, ch *fakeChannel, n int, every time.Duration, d time.Duration) (passed, dropped int, maxBuffered float64) {
	start := time.Unix(1_700_000_000, 0)
	for t := time.Duration(0); t < d; t += every {
		ch.buffered -= ch.drainPerSec * every.Seconds()
		if ch.buffered < 0 {
			ch.buffered = 0
		}
		if g.allow(uint64(ch.buffered)) {
			passed++
			ch.buffered += float64(n)
			g.wrote(start.Add(t), n, uint64(ch.buffered))
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
	// The first 100 ms of backlog pass unchecked (no rate yet): the buffer grows by 1.5 MB/s
	// for that long, ~150 kB; after that it must stay within the 50 kB budget, so the peak is
	// the warm-up's.
	if maxBuf > 160e3 {
		t.Errorf("buffer grew to %.0f bytes", maxBuf)
	}
	if rate, ok := g.drainRate(); !ok || rate < 4.5e5 || rate > 5.5e5 {
		t.Errorf("measured drain rate %.0f B/s (ok %v), want about 500 kB/s", rate, ok)
	}
}

func TestCongestionGateBurstOnIdleSubscriptionPasses(t *testing.T) {
	// A subscriber that kept up with small frames (never backlogged), then a 100 KB frame:
	// seven 16 KB packets written back to back. No busy time has been measured, so the gate
	// has no rate and lets the whole frame through, as the server does.
	g := newCongestionGate(100*time.Millisecond, 8192)
	ch := &fakeChannel{drainPerSec: 5e6}
	passed, dropped, _ := simulate(g, ch, 100, 10*time.Millisecond, 2*time.Second)
	if dropped != 0 {
		t.Fatalf("small frames: %d dropped", dropped)
	}
	now := time.Unix(1_700_000_002, 0)
	for i := 0; i < 7; i++ {
		if !g.allow(uint64(ch.buffered)) {
			t.Fatalf("packet %d of a burst on an idle subscription dropped (buffered %.0f)", i, ch.buffered)
		}
		ch.buffered += 16000
		g.wrote(now.Add(time.Duration(i)*10*time.Microsecond), 16000, uint64(ch.buffered))
	}
	if passed == 0 {
		t.Fatal("nothing passed")
	}
}

func TestCongestionGateFloor(t *testing.T) {
	// A nearly stalled subscriber (1 kB/s): the first 100 ms of backlog pass unchecked (~11
	// packets, ~11 kB), then nothing more goes out until the buffer drains under the 8 KiB floor,
	// so it never exceeds what the warm-up put in.
	g := newCongestionGate(100*time.Millisecond, 8192)
	passed, _, maxBuf := simulate(g, &fakeChannel{drainPerSec: 1e3}, 1000, 10*time.Millisecond, 5*time.Second)
	if maxBuf > 11500 {
		t.Errorf("buffer %.0f beyond the warm-up", maxBuf)
	}
	// Over 5 s at 1 kB/s about 5 kB drain: the warm-up's packets plus a handful.
	if passed < 10 || passed > 16 {
		t.Errorf("%d packets passed to a 1 kB/s subscriber in 5 s", passed)
	}
	// With such a rate (budget ~100 bytes), a buffer under the floor still passes, one above
	// it does not.
	if !g.allow(8000) || g.allow(9000) {
		t.Errorf("floor not applied: allow(8000)=%v allow(9000)=%v", g.allow(8000), g.allow(9000))
	}
}

func TestCongestionGateHistoryBounded(t *testing.T) {
	// A long run keeps about two seconds of 100 ms windows, and the measured rate follows the
	// recent drain rate, not the old one.
	g := newCongestionGate(100*time.Millisecond, 8192)
	ch := &fakeChannel{drainPerSec: 1e6}
	simulate(g, ch, 2000, time.Millisecond, 10*time.Second) // backlogged at 1 MB/s
	if len(g.windows) > 23 {
		t.Fatalf("%d windows kept", len(g.windows))
	}
	if rate, ok := g.drainRate(); !ok || rate < 0.9e6 || rate > 1.1e6 {
		t.Fatalf("rate %.0f (ok %v), want about 1 MB/s", rate, ok)
	}
}
