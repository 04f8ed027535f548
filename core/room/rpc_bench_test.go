package room_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
)

// rpcBenchPair connects alice (caller) and bob (echo callee) through devsfu.
func rpcBenchPair(b *testing.B) (alice *room.Room, ctx context.Context) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	_, alice, bob := dataPair(b, ctx)
	if err := bob.RegisterRPCMethod("echo", echo); err != nil {
		b.Fatal(err)
	}
	// Warm up (first call pays for pools and SCTP windows).
	if _, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "echo", Payload: "warm"}); err != nil {
		b.Fatal(err)
	}
	return alice, ctx
}

// BenchmarkRPCRoundTrip100B: sequential 100-byte echo calls alice → bob
// through devsfu (v2: inline request and response streams). Reports the
// round-trip p50/p99 in ms; allocs/op counts the whole process (caller,
// callee and the in-process SFU).
func BenchmarkRPCRoundTrip100B(b *testing.B) {
	alice, ctx := rpcBenchPair(b)
	p := rpc.PerformParams{Destination: "bob", Method: "echo", Payload: strings.Repeat("x", 100)}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := alice.LocalParticipant().PerformRPC(ctx, p); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// BenchmarkRPC1MB: 1 MiB echo alice → bob (request and response as v2
// data streams). ns/op is the round trip; MB/s counts the request payload.
func BenchmarkRPC1MB(b *testing.B) {
	for _, tc := range []struct {
		name    string
		payload func(testing.TB) string
	}{
		{"random", func(tb testing.TB) string { return randomText(tb, 1<<20) }},
		{"text", func(testing.TB) string { return strings.Repeat("lkcore rpc payload ", 1<<20/19+1)[:1<<20] }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			alice, ctx := rpcBenchPair(b)
			p := rpc.PerformParams{Destination: "bob", Method: "echo", Payload: tc.payload(b)}
			b.SetBytes(int64(len(p.Payload)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU(b)
			for range b.N {
				out, err := alice.LocalParticipant().PerformRPC(ctx, p)
				if err != nil {
					b.Fatal(err)
				}
				if len(out) != len(p.Payload) {
					b.Fatalf("echo returned %d bytes", len(out))
				}
			}
			cpu.report()
		})
	}
}
