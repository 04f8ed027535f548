package procstat

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestDeltaCountsWork(t *testing.T) {
	a, err := Now()
	if err != nil {
		t.Fatal(err)
	}
	// Burn some CPU and allocate 1000 buffers of 4 KiB.
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i ^ (x >> 3)
	}
	var bufs [][]byte
	for i := 0; i < 1000; i++ {
		bufs = append(bufs, make([]byte, 4096))
	}
	b, err := Now()
	runtime.KeepAlive(bufs)
	if err != nil {
		t.Fatal(err)
	}
	d := b.Sub(a)
	if x == 42 {
		t.Log(x)
	}
	if d.CPUMs <= 0 || d.CPUMs != d.UserMs+d.SysMs {
		t.Fatalf("cpu: %+v", d)
	}
	if d.CtxSwitches < 0 {
		t.Fatalf("context switches: %+v", d)
	}
	if d.Mallocs < 1000 || d.AllocBytes < 1000*4096 {
		t.Fatalf("allocations not counted: %+v", d)
	}
	// The 4 MB just allocated (and written: Go zeroes it) is resident, so the peak is at least that.
	if d.PeakRSSKB < 4000 || d.PeakRSSKB < a.MaxRSSKB {
		t.Fatalf("peak RSS: %+v (before: %d KiB)", d, a.MaxRSSKB)
	}
}

func TestCPUProfileWritesAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := StartCPUProfile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Size() == 0 {
		t.Fatalf("profile: %v %v", st, err)
	}
	stop, err = StartCPUProfile("")
	if err != nil || stop() != nil {
		t.Fatal("empty path must be a no-op")
	}
}
