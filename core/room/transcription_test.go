package room_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Legacy transcriptions: an agent's transcription of bob's speech reaches bob and carol whole
// (transcribed identity, track, every segment field), in order with the agent's other reliable
// data; a participant that is not an agent is refused before sending (the server would drop
// it), as is bad input and a transcription in an encrypted room.
func TestTranscriptions(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	agent := joinPeer(t, ctx, s, "transcripts", "agent", room.Options{}, auth.WithKind("agent"))
	bob := joinPeer(t, ctx, s, "transcripts", "bob", room.Options{})
	carol := joinPeer(t, ctx, s, "transcripts", "carol", room.Options{})
	knowEachOther(t, ctx, agent, bob, carol)
	tr := room.Transcription{ParticipantIdentity: "bob", TrackSID: "TR_bobmic", Segments: []room.TranscriptionSegment{
		{ID: "seg-1", Text: "hello", StartTime: 120, EndTime: 480, Language: "en"},
		{ID: "seg-2", Text: "wörld", StartTime: 500, EndTime: 900, Final: true, Language: "de"},
	}}

	// Refused before sending: nothing of these reaches anyone (the first packet each receiver
	// gets below is the data packet that follows).
	if err := bob.r.LocalParticipant().PublishTranscription(ctx, tr); !errors.Is(err, room.ErrPublishDataNotAllowed) {
		t.Fatalf("a standard participant publishing: %v", err)
	}
	alp := agent.r.LocalParticipant()
	tooMany := make([]room.TranscriptionSegment, room.MaxTranscriptionSegments+1)
	for i := range tooMany {
		tooMany[i].ID = "s"
	}
	for name, bad := range map[string]room.Transcription{
		"no identity":      {Segments: tr.Segments},
		"no segment":       {ParticipantIdentity: "bob"},
		"too many":         {ParticipantIdentity: "bob", Segments: tooMany},
		"segment no id":    {ParticipantIdentity: "bob", Segments: []room.TranscriptionSegment{{Text: "x"}}},
		"text not UTF-8":   {ParticipantIdentity: "bob", Segments: []room.TranscriptionSegment{{ID: "s", Text: "\xff"}}},
		"track not UTF-8":  {ParticipantIdentity: "bob", TrackSID: "\xff", Segments: tr.Segments},
		"language invalid": {ParticipantIdentity: "bob", Segments: []room.TranscriptionSegment{{ID: "s", Language: "\xff"}}},
	} {
		if err := alp.PublishTranscription(ctx, bad); !errors.Is(err, room.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	huge := room.Transcription{ParticipantIdentity: "bob", Segments: []room.TranscriptionSegment{{ID: "s", Text: strings.Repeat("x", 70_000)}}}
	if err := alp.PublishTranscription(ctx, huge); !errors.Is(err, room.ErrPacketTooLarge) {
		t.Fatalf("oversized: %v", err)
	}

	if err := alp.PublishData(ctx, []byte("before"), room.DataPublishOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	if err := alp.PublishTranscription(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if err := alp.PublishData(ctx, []byte("after"), room.DataPublishOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*peer{bob, carol} {
		x.wait(ctx, "after", func(ev room.Event) bool { d, ok := ev.(room.DataReceived); return ok && string(d.Payload) == "after" })
		var order []string
		for _, ev := range x.events() {
			switch e := ev.(type) {
			case room.DataReceived:
				order = append(order, string(e.Payload))
			case room.TranscriptionReceived:
				order = append(order, "transcription")
				if !reflect.DeepEqual(e.Transcription, tr) || e.SenderIdentity != "agent" || e.Participant == nil || e.Participant.Identity() != "agent" {
					t.Errorf("%s got %+v from %q (%v), want %+v from the agent", x.r.LocalParticipant().Identity(), e.Transcription, e.SenderIdentity, e.Participant, tr)
				}
			}
		}
		if strings.Join(order, ",") != "before,transcription,after" {
			t.Errorf("%s received %v", x.r.LocalParticipant().Identity(), order)
		}
	}

	// In an encrypted room the agent is refused: the transcription would travel in clear.
	key, err := room.SharedKeyE2EE([]byte(e2eeKey))
	if err != nil {
		t.Fatal(err)
	}
	encAgent := joinPeer(t, ctx, s, "transcripts-e2ee", "agent", room.Options{E2EE: key}, auth.WithKind("agent"))
	if err := encAgent.r.LocalParticipant().PublishTranscription(ctx, tr); !errors.Is(err, room.ErrInvalidArgument) {
		t.Fatalf("in an encrypted room: %v", err)
	}
}
