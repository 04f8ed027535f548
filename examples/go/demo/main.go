// Command demo starts the embedded dev SFU, joins two participants to one
// room, exchanges data packets between them and prints what happens.
//
//	go run ./examples/go/demo            (or ./build.sh demo)
//
// Pass -url and two tokens to run against a real LiveKit server instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/lkcore/lkcore/core/room"
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
