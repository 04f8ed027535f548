package room_test

import (
	"context"
	"encoding/binary"
	"sort"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// benchPair connects alice and bob through a fresh devsfu; both read events
// with NextEvent (no recorder goroutine).
func benchPair(b *testing.B) (alice, bob *room.Room, ctx context.Context) {
	b.Helper()
	s := sfu.Start(b, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	connect := func(identity string) *room.Room {
		tok, err := s.Token("bench", identity)
		if err != nil {
			b.Fatal(err)
		}
		r, err := room.Connect(ctx, s.URL(), tok, room.Options{MaxPendingDataEvents: 8192})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = r.Disconnect(context.Background()) })
		return r
	}
	alice, bob = connect("alice"), connect("bob")
	for alice.RemoteParticipant("bob") == nil || bob.RemoteParticipant("alice") == nil {
		select {
		case <-ctx.Done():
			b.Fatal("participants never saw each other")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return alice, bob, ctx
}

func nextData(b *testing.B, ctx context.Context, r *room.Room) room.DataReceived {
	for {
		ev, err := r.NextEvent(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if d, ok := ev.(room.DataReceived); ok {
			return d
		}
	}
}

// BenchmarkReliableThroughput: alice publishes b.N reliable 1 KB packets to
// bob as fast as backpressure allows; the op ends when bob has received all.
// Reports received messages/s and MB/s (payload).
func BenchmarkReliableThroughput(b *testing.B) {
	alice, bob, ctx := benchPair(b)
	payload := make([]byte, 1024)
	opts := room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"bob"}}
	errc := make(chan error, 1)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := 0; i < b.N; i++ {
			binary.BigEndian.PutUint32(payload, uint32(i))
			if err := alice.LocalParticipant().PublishData(ctx, payload, opts); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := 0; i < b.N; i++ {
		d := nextData(b, ctx, bob)
		if got := binary.BigEndian.Uint32(d.Payload); got != uint32(i) {
			b.Fatalf("packet %d arrived as %d", i, got)
		}
	}
	elapsed := time.Since(start)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkRoundTrip: alice sends a 100-byte reliable packet to bob, bob
// echoes it, alice waits for the echo; one op = one round trip through the
// SFU (two SFU hops each way). Reports p50/p99 in µs.
func BenchmarkRoundTrip(b *testing.B) {
	alice, bob, ctx := benchPair(b)
	stop := make(chan struct{})
	echoDone := make(chan error, 1)
	go func() {
		for {
			ev, err := bob.NextEvent(ctx)
			if err != nil {
				echoDone <- nil
				return
			}
			if d, ok := ev.(room.DataReceived); ok {
				if err := bob.LocalParticipant().PublishData(ctx, d.Payload, room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"alice"}}); err != nil {
					select {
					case <-stop:
						echoDone <- nil
					default:
						echoDone <- err
					}
					return
				}
			}
		}
	}()
	payload := make([]byte, 100)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint32(payload, uint32(i))
		t0 := time.Now()
		if err := alice.LocalParticipant().PublishData(ctx, payload, room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"bob"}}); err != nil {
			b.Fatal(err)
		}
		d := nextData(b, ctx, alice)
		samples = append(samples, time.Since(t0))
		if got := binary.BigEndian.Uint32(d.Payload); got != uint32(i) {
			b.Fatalf("echo %d arrived as %d", i, got)
		}
	}
	b.StopTimer()
	close(stop)
	_ = bob.Disconnect(context.Background())
	if err := <-echoDone; err != nil {
		b.Fatal(err)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds()), "p99-µs")
}
