package ffi

import (
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"google.golang.org/protobuf/proto"
)

// joinAgent creates a host, a room and connects it as identity, a participant of kind agent.
func joinAgent(t *testing.T, s *sfu.Server, roomName, identity string) (*host, uint64) {
	t.Helper()
	tok, err := s.Token(roomName, identity, auth.WithKind("agent"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t)
	rh := h.createRoom(nil)
	h.connect(rh, s.URL(), tok)
	return h, rh
}

// PublishTranscriptionRequest from an agent reaches bob as TranscriptionReceived, whole and in
// request order with a data packet; a participant that is not an agent gets NOT_ALLOWED in the
// completion, a request without a transcription INVALID_ARGUMENT in the response.
func TestE2ETranscriptions(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	agent, ar := joinAgent(t, s, "transcripts", "agent")
	bob, br, _ := joinHost(t, s, "transcripts", "bob")
	agent.roomEvent("the agent sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })

	tr := &ffipb.Transcription{ParticipantIdentity: "bob", TrackSid: "TR_mic", Segments: []*ffipb.TranscriptionSegment{
		{Id: "s1", Text: "hello", StartTime: 10, EndTime: 400, Language: "en"},
		{Id: "s2", Text: "again", StartTime: 500, EndTime: 900, Final: true},
	}}
	wantRespCode(t, agent.do(&ffipb.Request{RequestId: 999, Message: &ffipb.Request_PublishTranscription{PublishTranscription: &ffipb.PublishTranscriptionRequest{
		RoomHandle: ar}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	refused := bob.completion(bob.async(&ffipb.Request{Message: &ffipb.Request_PublishTranscription{PublishTranscription: &ffipb.PublishTranscriptionRequest{
		RoomHandle: br, Transcription: tr}}}))
	if refused.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_NOT_ALLOWED {
		t.Fatalf("bob (not an agent) publishing: %v", refused)
	}
	agent.call(&ffipb.Request{Message: &ffipb.Request_PublishTranscription{PublishTranscription: &ffipb.PublishTranscriptionRequest{
		RoomHandle: ar, Transcription: tr}}})
	agent.call(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{
		RoomHandle: ar, Payload: []byte("after"), Reliable: true}}})

	got, i := bob.roomEvent("the transcription", 0, func(e *ffipb.RoomEvent) bool { return e.GetTranscriptionReceived() != nil })
	bob.roomEvent("the data packet after it", i+1, func(e *ffipb.RoomEvent) bool { return string(e.GetDataReceived().GetPayload()) == "after" })
	if g := got.GetTranscriptionReceived(); g.GetParticipantIdentity() != "agent" || !proto.Equal(g.GetTranscription(), tr) {
		t.Fatalf("bob received %v, want %v from the agent", g, tr)
	}
}
