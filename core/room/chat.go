package room

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Chat messages of the legacy kind (DataPacket.chat_message): what the
// official clients' deprecated sendChatMessage / editChatMessage send and
// their ChatMessage event reports. Newer clients chat with text streams on the
// topic "lk.chat" (SendText and a text-stream handler). A message has an id
// (a UUID) and a send time; an edit repeats both with the new text and an edit
// time. It travels on the reliable channel, end-to-end encrypted when the room
// is, and is a data event: it keeps its place among DataReceived and the
// other data of the room.

// ChatMessage is one chat message, sent or received.
type ChatMessage struct {
	// ID identifies the message (a UUID); an edit keeps it.
	ID string
	// Timestamp is when the message was first sent (millisecond precision).
	Timestamp time.Time
	// Message is the text.
	Message string
	// EditTimestamp is when the message was last edited; zero if never.
	EditTimestamp time.Time
	// Deleted is set by a sender that withdrew the message.
	Deleted bool
	// Generated is set for a message an agent generated (e.g. from a
	// transcription of the participant's speech).
	Generated bool
}

// ChatMessageReceived is a chat message (or an edit of one) from another
// participant.
type ChatMessageReceived struct {
	// Message is the message as received.
	Message ChatMessage
	// SenderIdentity is the sender's identity as stamped by the SFU ("" for
	// packets sent by the server API or by hidden participants).
	SenderIdentity string
	// Participant is the sender if it is currently known, else nil (see
	// DataReceived.Participant).
	Participant *RemoteParticipant
}

func (ChatMessageReceived) isEvent() {}

// ChatOptions configures SendChatMessage and EditChatMessage.
type ChatOptions struct {
	// DestinationIdentities limits delivery to these participants; empty
	// means everyone else in the room.
	DestinationIdentities []string
	// SenderIdentity, when set, is the participant an agent sends the
	// message on behalf of (for example the user whose speech it
	// transcribes): the SFU keeps it on a message from an agent, marking the
	// message generated, and the receivers see it as the sender. "" means the
	// local participant.
	SenderIdentity string
}

// SendChatMessage sends text as a new chat message (a fresh ID, stamped now)
// and returns it. It is sent on the reliable channel in call order with the
// room's other reliable data, encrypted when the room uses end-to-end
// encryption. Errors: ErrInvalidArgument (text that is not UTF-8),
// opts.SenderIdentity naming another participant when it may not (see
// SendText: ErrPublishDataNotAllowed, ErrInvalidArgument),
// then those of PublishData (ErrPacketTooLarge for a message over the packet limit,
// ErrPublishDataNotAllowed, ErrDisconnected, ctx's error).
func (lp *LocalParticipant) SendChatMessage(ctx context.Context, text string, opts ChatOptions) (ChatMessage, error) {
	msg := ChatMessage{ID: datastream.NewStreamID(), Timestamp: time.Now().Truncate(time.Millisecond), Message: text}
	return msg, lp.sendChat(ctx, msg, opts)
}

// EditChatMessage sends a new text for a message sent before: the original's
// ID and Timestamp with the new text, stamped with the edit time, and returns
// it. Errors: ErrInvalidArgument (no original ID, text or ID that is not UTF-8),
// then those of SendChatMessage.
func (lp *LocalParticipant) EditChatMessage(ctx context.Context, text string, original ChatMessage, opts ChatOptions) (ChatMessage, error) {
	if original.ID == "" {
		return ChatMessage{}, fmt.Errorf("%w: the original chat message has no ID", ErrInvalidArgument)
	}
	msg := original
	msg.Message = text
	msg.EditTimestamp = time.Now().Truncate(time.Millisecond)
	return msg, lp.sendChat(ctx, msg, opts)
}

func (lp *LocalParticipant) sendChat(ctx context.Context, msg ChatMessage, opts ChatOptions) error {
	switch {
	case !utf8.ValidString(msg.Message):
		return fmt.Errorf("%w: chat message text is not UTF-8", ErrInvalidArgument)
	case !utf8.ValidString(msg.ID):
		return fmt.Errorf("%w: chat message ID is not UTF-8", ErrInvalidArgument)
	}
	if err := lp.checkOnBehalf(opts.SenderIdentity); err != nil {
		return err
	}
	return lp.room.sendPacket(ctx, &lkpb.DataPacket{
		Kind:                  lkpb.DataPacket_RELIABLE,
		DestinationIdentities: opts.DestinationIdentities,
		ParticipantIdentity:   opts.SenderIdentity,
		Value:                 &lkpb.DataPacket_ChatMessage{ChatMessage: chatMessageToProto(msg)},
	}, true)
}

func chatMessageToProto(m ChatMessage) *lkpb.ChatMessage {
	out := &lkpb.ChatMessage{Id: m.ID, Timestamp: m.Timestamp.UnixMilli(), Message: m.Message, Deleted: m.Deleted, Generated: m.Generated}
	if !m.EditTimestamp.IsZero() {
		ts := m.EditTimestamp.UnixMilli()
		out.EditTimestamp = &ts
	}
	return out
}

func chatMessageFrom(m *lkpb.ChatMessage) ChatMessage {
	out := ChatMessage{ID: m.GetId(), Message: m.GetMessage(), Deleted: m.GetDeleted(), Generated: m.GetGenerated()}
	if m.GetTimestamp() != 0 {
		out.Timestamp = time.UnixMilli(m.GetTimestamp())
	}
	if m.EditTimestamp != nil {
		out.EditTimestamp = time.UnixMilli(m.GetEditTimestamp())
	}
	return out
}

// dispatchChat reports a received chat message (data channel goroutine;
// waits while the event queue's data budget is full, like DataReceived).
func (r *Room) dispatchChat(pkt *lkpb.DataPacket, v *lkpb.ChatMessage) {
	r.events.pushData(ChatMessageReceived{
		Message:        chatMessageFrom(v),
		SenderIdentity: pkt.GetParticipantIdentity(),
		Participant:    r.parts.remote(pkt.GetParticipantIdentity()),
	}, r.closing)
}
