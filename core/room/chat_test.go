package room_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Legacy chat messages between participants of an E2EE room: a message and its edit arrive
// with the sender's id, times and text, in order with the other reliable data; encrypted (a
// participant without the key cannot read them); destinations honoured; bad input refused
// before anything is sent.
func TestChatMessages(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a, b, c := e2eeTrio(t, ctx, s, "chat") // carol has no key
	lp := a.r.LocalParticipant()

	if _, err := lp.SendChatMessage(ctx, "\xff", room.ChatOptions{}); !errors.Is(err, room.ErrInvalidArgument) {
		t.Fatalf("non-UTF-8 text: %v", err)
	}
	if _, err := lp.EditChatMessage(ctx, "x", room.ChatMessage{}, room.ChatOptions{}); !errors.Is(err, room.ErrInvalidArgument) {
		t.Fatalf("edit without an original: %v", err)
	}
	if _, err := lp.SendChatMessage(ctx, strings.Repeat("x", 70_000), room.ChatOptions{}); !errors.Is(err, room.ErrPacketTooLarge) {
		t.Fatalf("oversized: %v", err)
	}

	before := time.Now().Add(-time.Millisecond)
	if err := lp.PublishData(ctx, []byte("before"), room.DataPublishOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	sent, err := lp.SendChatMessage(ctx, "hello", room.ChatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edited, err := lp.EditChatMessage(ctx, "hello, bob", sent, room.ChatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.PublishData(ctx, []byte("after"), room.DataPublishOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	if len(sent.ID) != 36 || sent.Timestamp.Before(before) || !sent.EditTimestamp.IsZero() || sent.Message != "hello" {
		t.Fatalf("sent %+v", sent)
	}
	if edited.ID != sent.ID || !edited.Timestamp.Equal(sent.Timestamp) || edited.EditTimestamp.Before(sent.Timestamp) || edited.Message != "hello, bob" {
		t.Fatalf("edited %+v (sent %+v)", edited, sent)
	}
	b.wait(ctx, "after", func(ev room.Event) bool { d, ok := ev.(room.DataReceived); return ok && string(d.Payload) == "after" })
	var got []string
	var msgs []room.ChatMessageReceived
	for _, ev := range b.events() {
		switch e := ev.(type) {
		case room.DataReceived:
			got = append(got, string(e.Payload))
		case room.ChatMessageReceived:
			got = append(got, e.Message.Message)
			msgs = append(msgs, e)
		}
	}
	if strings.Join(got, "|") != "before|hello|hello, bob|after" {
		t.Fatalf("bob received %q", got)
	}
	for i, want := range []room.ChatMessage{sent, edited} {
		m := msgs[i]
		if m.SenderIdentity != "alice" || m.Participant == nil || m.Participant.Identity() != "alice" ||
			m.Message.ID != want.ID || !m.Message.Timestamp.Equal(want.Timestamp) || !m.Message.EditTimestamp.Equal(want.EditTimestamp) {
			t.Fatalf("bob's message %d: %+v, want %+v", i, m, want)
		}
	}
	// carol has no key: the messages reach her encrypted and undecryptable.
	c.wait(ctx, "a decryption failure", func(ev room.Event) bool { _, ok := ev.(room.DecryptionFailed); return ok })
	if n := c.count(func(ev room.Event) bool { _, ok := ev.(room.ChatMessageReceived); return ok }); n != 0 {
		t.Fatalf("carol read %d chat messages without the key", n)
	}

	// Destinations: only carol gets the first; bob's next message is the broadcast.
	if _, err := lp.SendChatMessage(ctx, "to carol", room.ChatOptions{DestinationIdentities: []string{"carol"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lp.SendChatMessage(ctx, "to all", room.ChatOptions{}); err != nil {
		t.Fatal(err)
	}
	b.wait(ctx, "to all", func(ev room.Event) bool {
		e, ok := ev.(room.ChatMessageReceived)
		return ok && e.Message.Message == "to all"
	})
	if n := b.count(func(ev room.Event) bool {
		e, ok := ev.(room.ChatMessageReceived)
		return ok && e.Message.Message == "to carol"
	}); n != 0 {
		t.Fatal("bob got carol's message")
	}
}
