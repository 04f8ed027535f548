package ffi

import (
	"math"
	"runtime/debug"
	"testing"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDecideRuntimeEnv(t *testing.T) {
	for _, tc := range []struct {
		name          string
		host, atStart map[string]string
		want          RuntimeEnv
	}{
		{"nothing set", nil, nil, RuntimeEnv{}},
		{"set at start, unchanged: the runtime applied it", map[string]string{"GOGC": "400", "GOMEMLIMIT": "64MiB"},
			map[string]string{"GOGC": "400", "GOMEMLIMIT": "64MiB"}, RuntimeEnv{}},
		{"set after start", map[string]string{"GOGC": "400", "GOMEMLIMIT": "64MiB"}, nil,
			RuntimeEnv{GCPercent: 400, SetGCPercent: true, MemoryLimit: 64 << 20, SetMemoryLimit: true}},
		{"changed after start", map[string]string{"GOGC": "off"}, map[string]string{"GOGC": "50"},
			RuntimeEnv{GCPercent: -1, SetGCPercent: true}},
		{"unset after start: left as the runtime has it", nil, map[string]string{"GOGC": "50"}, RuntimeEnv{}},
		{"invalid values are ignored", map[string]string{"GOGC": "fast", "GOMEMLIMIT": "64MB"}, nil, RuntimeEnv{}},
	} {
		if got := DecideRuntimeEnv(envOf(tc.host), envOf(tc.atStart)); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestParseRuntimeValues(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  int
		ok bool
	}{{"off", -1, true}, {"100", 100, true}, {"-5", -1, true}, {"+20", 20, true}, {"", 0, false},
		{"1e3", 0, false}, {"4294967296", 0, false}} {
		if n, ok := parseGOGC(tc.in); n != tc.n || ok != tc.ok {
			t.Errorf("GOGC=%q: %d %v, want %d %v", tc.in, n, ok, tc.n, tc.ok)
		}
	}
	for _, tc := range []struct {
		in string
		n  int64
		ok bool
	}{{"off", math.MaxInt64, true}, {"0", 0, true}, {"123", 123, true}, {"123B", 123, true},
		{"2KiB", 2 << 10, true}, {"3MiB", 3 << 20, true}, {"4GiB", 4 << 30, true}, {"5TiB", 5 << 40, true},
		{"8388607TiB", 8388607 << 40, true}, {"8388608TiB", 0, false}, {"-1", 0, false}, {"KiB", 0, false},
		{"B", 0, false}, {"", 0, false}, {"5MB", 0, false}, {"5 MiB", 0, false}, {"5iB", 0, false}, {"5kiB", 0, false}} {
		if n, ok := parseMemoryLimit(tc.in); n != tc.n || ok != tc.ok {
			t.Errorf("GOMEMLIMIT=%q: %d %v, want %d %v", tc.in, n, ok, tc.n, tc.ok)
		}
	}
}

func TestApplyHostRuntimeEnvAndReadBack(t *testing.T) {
	gc0 := debug.SetGCPercent(100)
	lim0 := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(gc0); debug.SetMemoryLimit(lim0) })

	ApplyHostRuntimeEnv(envOf(map[string]string{"GOGC": "250", "GOMEMLIMIT": "96MiB"}), envOf(nil))
	if gc, lim := runtimeSettings(); gc != 250 || lim != 96<<20 {
		t.Fatalf("after applying GOGC=250 GOMEMLIMIT=96MiB the runtime reports %d %d", gc, lim)
	}
	ApplyHostRuntimeEnv(envOf(map[string]string{"GOGC": "off", "GOMEMLIMIT": "off"}), envOf(nil))
	if gc, lim := runtimeSettings(); gc != -1 || lim != math.MaxInt64 {
		t.Fatalf("after applying GOGC=off GOMEMLIMIT=off the runtime reports %d %d", gc, lim)
	}
}
