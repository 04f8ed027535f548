package room_test

import (
	"context"
	"io"
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
		})
	}
}
