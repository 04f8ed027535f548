package main

import (
	"bytes"
	"compress/flate"
	"testing"
	"time"
	"unicode/utf8"
)

func TestStatCPU(t *testing.T) {
	// A command name with spaces and a parenthesis; utime 250 and stime 31 ticks.
	line := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 9 0 123 456 789"
	got, err := statCPU(line)
	if err != nil || got != 2810*time.Millisecond {
		t.Fatalf("statCPU = %v, %v; want 2.81s", got, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 0"} {
		if _, err := statCPU(bad); err == nil {
			t.Errorf("statCPU(%q) accepted", bad)
		}
	}
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := summarize(d)
	want := latencies{P50Ms: 51, P99Ms: 99, MaxMs: 100, MeanMs: 50.5}
	if got != want {
		t.Fatalf("summarize = %+v, want %+v", got, want)
	}
	if (summarize(nil) != latencies{}) {
		t.Fatal("summarize(nil) not zero")
	}
}

func deflated(b []byte) int {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Len()
}

func TestMakePayload(t *testing.T) {
	const n = 1 << 18
	for _, c := range []struct {
		kind     string
		raw      bool
		minRatio float64 // deflated size / size, at least
		maxRatio float64 // and at most
	}{
		{"random", true, 0.99, 1.01},  // raw random bytes: incompressible
		{"random", false, 0.70, 0.80}, // base64: entropy coding only
		{"text", false, 0, 0.05},
	} {
		b, err := makePayload(c.kind, n, c.raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != n {
			t.Fatalf("%s: %d bytes", c.kind, len(b))
		}
		if !c.raw && !utf8.Valid(b) {
			t.Fatalf("%s: not UTF-8", c.kind)
		}
		if r := float64(deflated(b)) / n; r < c.minRatio || r > c.maxRatio {
			t.Errorf("%s (raw %v): deflate ratio %.3f, want %.2f–%.2f", c.kind, c.raw, r, c.minRatio, c.maxRatio)
		}
	}
	if _, err := makePayload("zeros", 10, false); err == nil {
		t.Fatal("unknown payload kind accepted")
	}
}
