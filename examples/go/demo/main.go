// Command demo starts the embedded dev SFU, joins two participants to one
// room, exchanges data packets between them and prints what happens.
//
//	go run ./examples/go/demo            (or ./build.sh demo)
//
// Pass -url and two tokens to run against a real LiveKit server instead.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
)

func main() {
	url := flag.String("url", "", "LiveKit server URL (default: start the embedded dev SFU)")
	tokA := flag.String("token-a", "", "token for the first participant (with -url)")
	tokB := flag.String("token-b", "", "token for the second participant (with -url)")
	flag.Parse()
	if err := run(*url, *tokA, *tokB); err != nil {
		log.Fatalf("demo: %v", err)
	}
}

func run(url, tokA, tokB string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if url == "" {
		sfu, err := devsfu.Start(devsfu.Options{UpdateBatchInterval: 100 * time.Millisecond})
		if err != nil {
			return err
		}
		defer sfu.Close() //nolint:errcheck
		url = sfu.URL()
		if tokA, err = sfu.Token("demo", "alice"); err != nil {
			return err
		}
		if tokB, err = sfu.Token("demo", "bob"); err != nil {
			return err
		}
		fmt.Println("dev SFU listening on", url)
	}

	alice, err := room.Connect(ctx, url, tokA, room.Options{})
	if err != nil {
		return fmt.Errorf("alice: %w", err)
	}
	defer alice.Disconnect(context.Background()) //nolint:errcheck
	fmt.Printf("alice joined room %q as %s\n", alice.Name(), alice.LocalParticipant().SID())

	bob, err := room.Connect(ctx, url, tokB, room.Options{})
	if err != nil {
		return fmt.Errorf("bob: %w", err)
	}
	fmt.Printf("bob joined; he sees %d participant(s) already there\n", len(bob.RemoteParticipants()))

	// Alice waits until the server has announced bob, then talks to him.
	for ev := range alice.Events() {
		if e, ok := ev.(room.ParticipantConnected); ok {
			fmt.Printf("alice: %s connected\n", e.Participant.Identity())
			break
		}
	}
	lp := alice.LocalParticipant()
	if err := lp.PublishData(ctx, []byte("hello bob"), room.DataPublishOptions{Reliable: true, Topic: "greetings"}); err != nil {
		return err
	}
	if err := lp.PublishData(ctx, []byte("just for you"), room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"bob"}}); err != nil {
		return err
	}

	// Bob prints what he receives and answers the first message (lossy).
	received := 0
	for received < 2 {
		ev, err := bob.NextEvent(ctx)
		if err != nil {
			return err
		}
		if d, ok := ev.(room.DataReceived); ok {
			received++
			fmt.Printf("bob: %q from %s (topic %q, reliable %v)\n", d.Payload, d.SenderIdentity, d.Topic, d.Reliable)
			if received == 1 {
				if err := bob.LocalParticipant().PublishData(ctx, []byte("hi alice"), room.DataPublishOptions{Topic: "greetings"}); err != nil {
					return err
				}
			}
		}
	}

	if err := dataTrackAndRPC(ctx, alice, bob); err != nil {
		return err
	}

	// Bob leaves; alice sees the answer and the departure.
	if err := bob.Disconnect(ctx); err != nil {
		return err
	}
	for ev := range alice.Events() {
		switch e := ev.(type) {
		case room.DataReceived:
			fmt.Printf("alice: %q from %s (topic %q, reliable %v)\n", e.Payload, e.SenderIdentity, e.Topic, e.Reliable)
		case room.ParticipantDisconnected:
			fmt.Printf("alice: %s left (%s)\n", e.Participant.Identity(), e.Reason)
			if err := alice.Disconnect(ctx); err != nil {
				return err
			}
		case room.Disconnected:
			fmt.Printf("alice: disconnected (%s)\n", e.Reason)
		}
	}
	fmt.Println("demo done")
	os.Stdout.Sync() //nolint:errcheck
	return nil
}

// dataTrackAndRPC shows the two other data-plane features: alice publishes a
// data track that bob subscribes to (frames carry their send time, so bob can
// measure one-way latency), then alice calls an RPC method bob registered.
func dataTrackAndRPC(ctx context.Context, alice, bob *room.Room) error {
	const frames, rate = 250, 500 // 256-byte frames at 500 Hz

	track, err := alice.LocalParticipant().PublishDataTrack(ctx, "sensor", room.DataTrackOptions{})
	if err != nil {
		return fmt.Errorf("publish data track: %w", err)
	}
	fmt.Printf("alice: published data track %q (%s)\n", track.Name(), track.SID())

	// Bob learns about the track from his room events (DataReceived events
	// still pending are printed on the way).
	var remote *room.RemoteDataTrack
	for remote == nil {
		ev, err := bob.NextEvent(ctx)
		if err != nil {
			return err
		}
		if e, ok := ev.(room.DataTrackPublished); ok && e.Track.Name() == "sensor" {
			remote = e.Track
		}
	}
	sub, err := remote.Subscribe(ctx, room.SubscribeOptions{BufferSize: 64})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	fmt.Printf("bob: subscribed to %s's track %q\n", remote.PublisherIdentity(), remote.Name())

	go func() {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		payload := make([]byte, 256)
		for i := 0; i < frames; i++ {
			<-tick.C
			// Payload: sequence number and send time in µs (for a precise
			// latency); the user timestamp follows the LiveKit convention of
			// Unix milliseconds.
			now := time.Now()
			binary.BigEndian.PutUint64(payload, uint64(i))
			binary.BigEndian.PutUint64(payload[8:], uint64(now.UnixMicro()))
			if err := track.TryPush(room.Frame{Payload: payload, UserTimestamp: uint64(now.UnixMilli()), HasUserTimestamp: true}); err != nil {
				fmt.Printf("alice: frame %d not queued: %v\n", i, err)
			}
		}
	}()

	start := time.Now()
	lat := make([]time.Duration, 0, frames)
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for len(lat) < frames {
		f, err := sub.Next(wait)
		if err != nil {
			break // timed out: report what arrived
		}
		sent := int64(binary.BigEndian.Uint64(f.Payload[8:]))
		lat = append(lat, time.Duration(time.Now().UnixMicro()-sent)*time.Microsecond)
	}
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		fmt.Printf("bob: %d/%d frames in %v (%.0f frames/s), one-way latency p50 %v p99 %v, dropped %d\n",
			len(lat), frames, elapsed.Round(time.Millisecond), float64(len(lat))/elapsed.Seconds(),
			lat[len(lat)/2], lat[len(lat)*99/100], sub.Dropped())
	} else {
		fmt.Println("bob: no frames arrived")
	}
	sub.Close()
	if err := track.Unpublish(ctx); err != nil {
		return err
	}

	// RPC: bob registers "echo", alice calls it a few times.
	if err := bob.RegisterRPCMethod("echo", func(_ context.Context, inv rpc.Invocation) (string, error) {
		return inv.Payload, nil
	}); err != nil {
		return err
	}
	const calls = 50
	rtts := make([]time.Duration, 0, calls)
	for i := 0; i < calls; i++ {
		t0 := time.Now()
		resp, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{
			Destination: "bob", Method: "echo", Payload: fmt.Sprintf("ping %d", i), ResponseTimeout: 5 * time.Second,
		})
		if err != nil {
			return fmt.Errorf("rpc: %w", err)
		}
		if resp != fmt.Sprintf("ping %d", i) {
			return fmt.Errorf("rpc: unexpected echo %q", resp)
		}
		rtts = append(rtts, time.Since(t0))
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	fmt.Printf("alice: %d RPC echo calls to bob, round trip p50 %v p99 %v\n", calls,
		rtts[calls/2].Round(time.Microsecond), rtts[calls*99/100].Round(time.Microsecond))
	return nil
}
