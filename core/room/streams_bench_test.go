package room_test

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
)

// BenchmarkByteStream: alice sends an 8 MiB byte stream to bob, whose
// handler reads it to the end; one op ends when bob has read everything.
// MB/s is the payload throughput through devsfu. "random" is incompressible
// (sent uncompressed after the compression probe); "text" is hex text that
// deflate-raw halves.
func BenchmarkByteStream(b *testing.B) {
	const size = 8 << 20
	for _, tc := range []struct {
		name string
		data func(testing.TB) []byte
	}{
		{"random", func(tb testing.TB) []byte { return randomBytes(tb, size) }},
		{"text", func(tb testing.TB) []byte { return []byte(randomText(tb, size)) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			_, alice, bob := dataPair(b, ctx)
			done := make(chan int64, 1)
			if err := bob.RegisterByteStreamHandler("bench", func(rd *datastream.ByteStreamReader, _ string) {
				n, _ := io.Copy(io.Discard, rd)
				done <- n
			}); err != nil {
				b.Fatal(err)
			}
			data := tc.data(b)
			opts := datastream.SendBytesOptions{Topic: "bench", DestinationIdentities: []string{"bob"}}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU(b)
			for range b.N {
				if _, err := alice.LocalParticipant().SendBytes(ctx, data, opts); err != nil {
					b.Fatal(err)
				}
				select {
				case n := <-done:
					if n != size {
						b.Fatalf("bob read %d bytes", n)
					}
				case <-ctx.Done():
					b.Fatal("stream not received")
				}
			}
			cpu.report()
		})
	}
}

// cpuMeter reports the process CPU time (user + system) per op as
// "cpu-ms/op": on a loaded machine wall-clock ns/op and MB/s mostly measure
// the scheduler, while the CPU time spent by the process (caller, callee and
// the in-process SFU together) is a steadier figure of the work done.
type cpuMeter struct {
	b  *testing.B
	t0 time.Duration
}

func startCPU(b *testing.B) cpuMeter { return cpuMeter{b: b, t0: processCPU(b)} }

func (c cpuMeter) report() {
	c.b.ReportMetric(float64(processCPU(c.b)-c.t0)/float64(time.Millisecond)/float64(c.b.N), "cpu-ms/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
