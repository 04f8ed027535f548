package rpc_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/rpc"
)

// BenchmarkRPCRoundTrip measures a full call (request, ack, response) between
// two managers over the in-memory network, with the real clock.
func BenchmarkRPCRoundTrip(b *testing.B) {
	for _, c := range []struct {
		name    string
		proto   int32
		payload string
	}{
		{"v1-100B", 0, strings.Repeat("x", 100)},
		{"v2-100B", 2, strings.Repeat("x", 100)},
		{"v2-100B-compressing", 3, strings.Repeat("x", 100)},
		{"v2-1MiB", 2, pseudo(1 << 20)},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := newWorld(b)
			w.clock = nil
			alice := w.joinReal(b, "alice", 2, capsAll...)
			bob := w.joinReal(b, "bob", min(c.proto, 2))
			if c.proto == 3 { // v2 peer that can inflate
				bob = w.joinReal(b, "bob2", 2, capsAll...)
				_ = bob.rpc.RegisterMethod("echo", echo)
			}
			w.net.IntroduceAll()
			_ = bob.rpc.RegisterMethod("echo", echo)
			ctx := context.Background()
			b.SetBytes(int64(2 * len(c.payload)))
			b.ReportAllocs()
			for b.Loop() {
				got, err := alice.rpc.PerformRPC(ctx, rpc.PerformParams{Destination: bob.ep.LocalIdentity(), Method: "echo", Payload: c.payload})
				if err != nil || len(got) != len(c.payload) {
					b.Fatal(err)
				}
			}
		})
	}
}

func pseudo(n int) string {
	var sb strings.Builder
	x := uint64(88172645463325252)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		sb.WriteByte(byte(33 + x%94))
	}
	return sb.String()
}
