// Package procstat measures what a benchmark process spends over an interval: CPU time
// (getrusage user + system) and Go heap allocations (runtime.MemStats), and starts an optional
// CPU profile. The multi-process data-track benchmark (tests/bench/mp.sh) prints these figures
// for each of its three processes so that CPU per delivered megabyte can be compared between
// changes even when the machine's wall clock is shared with other work.
package procstat

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

// Sample is the process's cumulative counters at one instant.
type Sample struct {
	// UserMs and SysMs are the CPU time spent in user and kernel mode since the process started.
	UserMs float64 `json:"cpu_user_ms"`
	SysMs  float64 `json:"cpu_sys_ms"`
	// Mallocs and AllocBytes are runtime.MemStats.Mallocs and TotalAlloc.
	Mallocs    uint64 `json:"mallocs"`
	AllocBytes uint64 `json:"alloc_bytes"`
	// GCs is runtime.MemStats.NumGC.
	GCs uint32 `json:"gcs"`
	// CtxSwitches counts the process's voluntary context switches (a thread blocked: each is
	// a wake-up that the next packet or timer had to pay for), a proxy for per-packet
	// scheduling cost that depends less on the machine's load than CPU time does.
	CtxSwitches int64 `json:"ctx_switches"`
	// MaxRSSKB is the process's peak resident set size so far, in KiB (getrusage ru_maxrss).
	MaxRSSKB int64 `json:"max_rss_kb"`
}

// Now reads the counters. runtime.ReadMemStats stops the world briefly; call it at the edges of
// a measured interval, not inside it.
func Now() (Sample, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Sample{}, fmt.Errorf("getrusage: %w", err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Sample{
		UserMs:     tvMs(ru.Utime),
		SysMs:      tvMs(ru.Stime),
		Mallocs:    ms.Mallocs,
		AllocBytes: ms.TotalAlloc,
		GCs:        ms.NumGC,
		// Nvcsw is int64 on linux/amd64 and arm64, int32 on some other platforms.
		CtxSwitches: int64(ru.Nvcsw),  //nolint:unconvert
		MaxRSSKB:    int64(ru.Maxrss), //nolint:unconvert
	}, nil
}

func tvMs(tv syscall.Timeval) float64 {
	return float64(time.Duration(tv.Nano())) / float64(time.Millisecond)
}

// Delta is what the process spent between two samples.
type Delta struct {
	CPUMs      float64 `json:"cpu_ms"` // user + system
	UserMs     float64 `json:"cpu_user_ms"`
	SysMs      float64 `json:"cpu_sys_ms"`
	Mallocs    uint64  `json:"mallocs"`
	AllocBytes uint64  `json:"alloc_bytes"`
	GCs        uint32  `json:"gcs"`
	// CtxSwitches: voluntary context switches.
	CtxSwitches int64 `json:"ctx_switches"`
	// PeakRSSKB is the process's peak resident set size at the end of the interval, in KiB
	// (not a difference: memory the process held at any time up to then, start-up included).
	PeakRSSKB int64 `json:"peak_rss_kb"`
}

// Sub returns what was spent from earlier to s.
func (s Sample) Sub(earlier Sample) Delta {
	d := Delta{
		UserMs:      s.UserMs - earlier.UserMs,
		SysMs:       s.SysMs - earlier.SysMs,
		Mallocs:     s.Mallocs - earlier.Mallocs,
		AllocBytes:  s.AllocBytes - earlier.AllocBytes,
		GCs:         s.GCs - earlier.GCs,
		CtxSwitches: s.CtxSwitches - earlier.CtxSwitches,
		PeakRSSKB:   s.MaxRSSKB,
	}
	d.CPUMs = d.UserMs + d.SysMs
	return d
}

// WriteHeapProfile writes the allocation profile (every allocation since the process
// started, as `go tool pprof -sample_index=alloc_space` reads it) to path; "" writes nothing.
func WriteHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		return errors.Join(fmt.Errorf("heap profile: %w", err), f.Close())
	}
	return f.Close()
}

// StartCPUProfile writes a CPU profile to path until the returned stop function is called
// (path "" profiles nothing and returns a no-op stop).
func StartCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(fmt.Errorf("cpu profile: %w", err), f.Close())
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
