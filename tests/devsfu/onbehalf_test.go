package devsfu

import (
	"slices"
	"testing"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/proto"
)

// What livekit-server 1.13.5 (pkg/rtc/participant.go, handleReceivedDataMessage) does with the
// packets only agents may send: a transcription is forwarded from an agent only; an agent's chat
// message or text-stream header naming another participant keeps that identity and is marked
// generated, while its byte-stream header, an on-behalf claim by a standard participant and the
// stream's chunks get the real sender's identity. The SID is always the sender's.
func TestAgentOnlyPackets(t *testing.T) {
	s := startServer(t, Options{})
	agent := dial(t, s, "room", "agent", clientOpts{tokenOpts: []auth.TokenOption{auth.WithKind("agent")}})
	defer agent.close()
	user := dial(t, s, "room", "user", clientOpts{})
	defer user.close()
	obs := dial(t, s, "room", "obs", clientOpts{})
	defer obs.close()
	for _, c := range []*testClient{agent, user, obs} {
		c.waitServerReady(s)
	}
	transcription := func(seq uint32) *lkpb.DataPacket {
		return &lkpb.DataPacket{Sequence: seq, Value: &lkpb.DataPacket_Transcription{Transcription: &lkpb.Transcription{
			TranscribedParticipantIdentity: "user", Segments: []*lkpb.TranscriptionSegment{{Id: "s", Text: "hi"}}}}}
	}
	chat := func(seq uint32, claimed string) *lkpb.DataPacket {
		return &lkpb.DataPacket{Sequence: seq, ParticipantIdentity: claimed, Value: &lkpb.DataPacket_ChatMessage{ChatMessage: &lkpb.ChatMessage{Id: "m", Message: "hi"}}}
	}
	header := func(seq uint32, claimed string, text bool) *lkpb.DataPacket {
		h := &lkpb.DataStream_Header{StreamId: "st", Topic: "lk.transcription"}
		if text {
			h.ContentHeader = &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}}
		} else {
			h.ContentHeader = &lkpb.DataStream_Header_ByteHeader{ByteHeader: &lkpb.DataStream_ByteHeader{Name: "b"}}
		}
		return &lkpb.DataPacket{Sequence: seq, ParticipantIdentity: claimed, Value: &lkpb.DataPacket_StreamHeader{StreamHeader: h}}
	}
	chunk := &lkpb.DataPacket{Sequence: 5, ParticipantIdentity: "user", Value: &lkpb.DataPacket_StreamChunk{StreamChunk: &lkpb.DataStream_Chunk{StreamId: "st", Content: []byte("x")}}}

	user.sendPacket(labelReliable, transcription(1)) // dropped: not an agent
	user.sendPacket(labelReliable, chat(2, "agent")) // a standard participant's claim is overwritten
	agent.sendPacket(labelReliable, transcription(1))
	agent.sendPacket(labelReliable, chat(2, "user"))
	agent.sendPacket(labelReliable, header(3, "user", true))
	agent.sendPacket(labelReliable, header(4, "user", false))
	agent.sendPacket(labelReliable, chunk)

	type seen struct {
		what, identity string
		generated      bool
	}
	want := []seen{
		{"chat", "user", false},           // from the user, its claim ignored
		{"transcription", "agent", false}, // from the agent
		{"chat", "user", true},            // the agent's on behalf of the user
		{"text header", "user", true},
		{"byte header", "agent", false},
		{"chunk", "agent", false},
	}
	var got []seen
	var sids []string
	for range want {
		var dp lkpb.DataPacket
		if err := proto.Unmarshal(obs.waitData(labelReliable, nil), &dp); err != nil {
			t.Fatal(err)
		}
		sids = append(sids, dp.GetParticipantSid())
		switch v := dp.Value.(type) {
		case *lkpb.DataPacket_Transcription:
			got = append(got, seen{"transcription", dp.GetParticipantIdentity(), false})
		case *lkpb.DataPacket_ChatMessage:
			got = append(got, seen{"chat", dp.GetParticipantIdentity(), v.ChatMessage.GetGenerated()})
		case *lkpb.DataPacket_StreamHeader:
			if th := v.StreamHeader.GetTextHeader(); th != nil {
				got = append(got, seen{"text header", dp.GetParticipantIdentity(), th.GetGenerated()})
			} else {
				got = append(got, seen{"byte header", dp.GetParticipantIdentity(), false})
			}
		case *lkpb.DataPacket_StreamChunk:
			got = append(got, seen{"chunk", dp.GetParticipantIdentity(), false})
		}
	}
	// The user's chat message may arrive before, between or after the agent's packets (two
	// senders); the agent's keep their order.
	var fromUser, fromAgent []seen
	for i, g := range got {
		switch sids[i] {
		case user.sid():
			fromUser = append(fromUser, g)
		case agent.sid():
			fromAgent = append(fromAgent, g)
		default:
			t.Errorf("%s carries sid %s, neither the user's nor the agent's", g.what, sids[i])
		}
	}
	if !slices.Equal(fromUser, want[:1]) || !slices.Equal(fromAgent, want[1:]) {
		t.Fatalf("observer got %+v from the user and %+v from the agent, want %+v and %+v", fromUser, fromAgent, want[:1], want[1:])
	}
}
