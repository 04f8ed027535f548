package ffi

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// The Go runtime inside the shared library reads GOGC and GOMEMLIMIT from the environment block
// the process started with, not from the C library's current environment: a value a host sets
// after start-up and before loading the library (Python's os.environ, setenv before dlopen)
// would be ignored. ApplyHostRuntimeEnv closes that gap when the library is loaded.

// RuntimeEnv is what DecideRuntimeEnv decided: which settings differ from the process's
// start-up environment and are to be applied.
type RuntimeEnv struct {
	GCPercent      int   // the GOGC value applied (-1 = off), when SetGCPercent
	SetGCPercent   bool  // GOGC differs from the start-up environment and is valid
	MemoryLimit    int64 // the GOMEMLIMIT value applied in bytes, when SetMemoryLimit
	SetMemoryLimit bool  // GOMEMLIMIT differs from the start-up environment and is valid
}

// DecideRuntimeEnv compares the host's current environment (host) with the one the runtime
// started with (atStart) and returns the GOGC / GOMEMLIMIT values to apply. Values equal to
// the start-up ones were already applied by the runtime; an unset or invalid value is ignored
// (where the runtime would refuse to start, a library must not abort its host).
func DecideRuntimeEnv(host, atStart func(string) (string, bool)) RuntimeEnv {
	var d RuntimeEnv
	if v, ok := changedEnv("GOGC", host, atStart); ok {
		d.GCPercent, d.SetGCPercent = parseGOGC(v)
	}
	if v, ok := changedEnv("GOMEMLIMIT", host, atStart); ok {
		d.MemoryLimit, d.SetMemoryLimit = parseMemoryLimit(v)
	}
	return d
}

// ApplyHostRuntimeEnv applies what DecideRuntimeEnv returns to this process's Go runtime.
func ApplyHostRuntimeEnv(host, atStart func(string) (string, bool)) {
	d := DecideRuntimeEnv(host, atStart)
	if d.SetGCPercent {
		debug.SetGCPercent(d.GCPercent)
	}
	if d.SetMemoryLimit {
		debug.SetMemoryLimit(d.MemoryLimit)
	}
}

// changedEnv returns the host's value of name when it is set and differs from the start-up one.
func changedEnv(name string, host, atStart func(string) (string, bool)) (string, bool) {
	v, ok := host(name)
	if !ok {
		return "", false
	}
	if s, had := atStart(name); had && s == v {
		return "", false
	}
	return v, true
}

// parseGOGC reads GOGC as the runtime does: "off" or a decimal number (negative = off).
func parseGOGC(v string) (int, bool) {
	if v == "off" {
		return -1, true
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return max(int(n), -1), true
}

// parseMemoryLimit reads GOMEMLIMIT as the runtime does: "off", or a non-negative decimal
// number of bytes with an optional unit B, KiB, MiB, GiB or TiB (no other unit, no space).
func parseMemoryLimit(v string) (int64, bool) {
	if v == "off" {
		return math.MaxInt64, true
	}
	unit := uint64(1)
	for _, u := range []struct {
		suffix string
		size   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			v, unit = s, u.size
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || uint64(n) > math.MaxInt64/unit {
		return 0, false
	}
	return n * int64(unit), true
}

// runtimeSettings returns the GC percentage (-1 = off) and the memory limit (math.MaxInt64 =
// none) this process's Go runtime uses now.
func runtimeSettings() (gcPercent int32, memoryLimit int64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		gcPercent = int32(s[0].Value.Uint64()) // -1 (off) wraps to MaxUint64, back to -1 here
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		memoryLimit = int64(min(s[1].Value.Uint64(), math.MaxInt64))
	}
	return gcPercent, memoryLimit
}
