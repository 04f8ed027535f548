package ffi

import (
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"google.golang.org/protobuf/proto"
)

// SendChatMessageRequest and EditChatMessageRequest complete with the message as sent, which
// bob receives as ChatMessageReceived (the same id, times and text), in request order; an edit
// without its original is refused at once (INVALID_ARGUMENT in the response).
func TestE2EChatMessages(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "chat", "alice")
	bob, _, _ := joinHost(t, s, "chat", "bob")
	alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })

	sent := alice.call(&ffipb.Request{Message: &ffipb.Request_SendChatMessage{SendChatMessage: &ffipb.SendChatMessageRequest{
		RoomHandle: ar, Message: "hello"}}}).GetSendChatMessage()
	if len(sent.GetId()) != 36 || sent.GetTimestampMs() == 0 || sent.GetEditTimestampMs() != 0 || sent.GetMessage() != "hello" {
		t.Fatalf("sent %v", sent)
	}
	edit := alice.call(&ffipb.Request{Message: &ffipb.Request_EditChatMessage{EditChatMessage: &ffipb.EditChatMessageRequest{
		RoomHandle: ar, Message: "hello, bob", Original: sent}}}).GetEditChatMessage()
	if edit.GetId() != sent.GetId() || edit.GetTimestampMs() != sent.GetTimestampMs() || edit.GetEditTimestampMs() < sent.GetTimestampMs() || edit.GetMessage() != "hello, bob" {
		t.Fatalf("edit %v of %v", edit, sent)
	}
	wantRespCode(t, alice.do(&ffipb.Request{RequestId: 999, Message: &ffipb.Request_EditChatMessage{EditChatMessage: &ffipb.EditChatMessageRequest{
		RoomHandle: ar, Message: "x"}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)

	first, i := bob.roomEvent("the message", 0, func(e *ffipb.RoomEvent) bool { return e.GetChatMessageReceived() != nil })
	second, _ := bob.roomEvent("the edit", i+1, func(e *ffipb.RoomEvent) bool { return e.GetChatMessageReceived() != nil })
	for _, c := range []struct {
		got  *ffipb.ChatMessageReceived
		want *ffipb.ChatMessage
	}{{first.GetChatMessageReceived(), sent}, {second.GetChatMessageReceived(), edit}} {
		if c.got.GetParticipantIdentity() != "alice" || !proto.Equal(c.got.GetMessage(), c.want) {
			t.Fatalf("bob received %v, want %v from alice", c.got, c.want)
		}
	}
}
