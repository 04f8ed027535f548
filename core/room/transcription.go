package room

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Transcriptions of the legacy kind (DataPacket.transcription): what an agent
// publishes about a participant's speech — whose speech, which of its tracks,
// and segments of text, each updated in place (same ID) until it is final.
// The official clients report them (JS and Rust: TranscriptionReceived) and
// the Rust and Python SDKs publish them; newer agents also send the text as
// text streams on the topic "lk.transcription". livekit-server forwards a
// transcription only from a participant of kind agent (it drops the others
// without a word), and DataPacket has no encrypted form of it. A received one
// is a data event: it keeps its place among DataReceived and the other data
// of the room.

// MaxTranscriptionSegments caps the segments of one PublishTranscription
// call (agents send one or a few per packet).
const MaxTranscriptionSegments = 1024

// TranscriptionSegment is one piece of transcribed text.
type TranscriptionSegment struct {
	// ID identifies the segment; updates of it (interim text, then the
	// final one) repeat the ID.
	ID string
	// Text is the segment's text so far.
	Text string
	// StartTime and EndTime place the segment in the transcribed track's
	// media, in the sender's unit (lkcore passes them unchanged; 0 when the
	// sender does not say).
	StartTime, EndTime uint64
	// Final is set on the segment's last update.
	Final bool
	// Language is the language of the text (for example "en"), "" if not
	// known.
	Language string
}

// Transcription is a batch of segments transcribing one participant's track.
type Transcription struct {
	// ParticipantIdentity is the participant whose speech was transcribed
	// (not the sender: an agent transcribes the others, or itself).
	ParticipantIdentity string
	// TrackSID is the transcribed track's SID ("" if the sender does not
	// name one).
	TrackSID string
	// Segments are the segments, in the sender's order.
	Segments []TranscriptionSegment
}

// TranscriptionReceived is a transcription from another participant
// (normally an agent).
type TranscriptionReceived struct {
	// Transcription is the transcription as received; its
	// ParticipantIdentity may be the local participant's.
	Transcription Transcription
	// SenderIdentity is the sender's identity as stamped by the SFU ("" for
	// packets sent by the server API or by hidden participants).
	SenderIdentity string
	// Participant is the sender if it is currently known, else nil (see
	// DataReceived.Participant).
	Participant *RemoteParticipant
}

func (TranscriptionReceived) isEvent() {}

// PublishTranscription sends t to everyone else in the room on the reliable
// channel, in call order with the room's other reliable data. Only an agent
// may publish transcriptions (the server drops them from anyone else), and
// they cannot be end-to-end encrypted. Errors: ErrPublishDataNotAllowed (the
// local participant is not of kind agent), ErrInvalidArgument (the room uses
// end-to-end encryption; no ParticipantIdentity; no segment or more than
// MaxTranscriptionSegments; a segment without ID; text that is not UTF-8),
// then those of PublishData (ErrPacketTooLarge, ErrPublishDataNotAllowed,
// ErrDisconnected, ctx's error).
func (lp *LocalParticipant) PublishTranscription(ctx context.Context, t Transcription) error {
	if err := validateTranscription(t); err != nil {
		return err
	}
	if lp.Kind() != ParticipantAgent {
		return fmt.Errorf("%w: livekit-server forwards transcriptions only from agents (this participant is %v)", ErrPublishDataNotAllowed, lp.Kind())
	}
	if lp.room.e2ee != nil {
		return fmt.Errorf("%w: a transcription cannot be end-to-end encrypted (DataPacket has no encrypted form of it); in an encrypted room send the text as a text stream on the topic lk.transcription", ErrInvalidArgument)
	}
	return lp.room.sendPacket(ctx, &lkpb.DataPacket{
		Kind:  lkpb.DataPacket_RELIABLE,
		Value: &lkpb.DataPacket_Transcription{Transcription: transcriptionToProto(t)},
	}, true)
}

func validateTranscription(t Transcription) error {
	switch {
	case t.ParticipantIdentity == "":
		return fmt.Errorf("%w: a transcription needs the transcribed participant's identity", ErrInvalidArgument)
	case len(t.Segments) == 0:
		return fmt.Errorf("%w: a transcription without segments", ErrInvalidArgument)
	case len(t.Segments) > MaxTranscriptionSegments:
		return fmt.Errorf("%w: %d transcription segments, at most %d", ErrInvalidArgument, len(t.Segments), MaxTranscriptionSegments)
	case !utf8.ValidString(t.ParticipantIdentity) || !utf8.ValidString(t.TrackSID):
		return fmt.Errorf("%w: transcription identity or track SID is not UTF-8", ErrInvalidArgument)
	}
	for i, s := range t.Segments {
		switch {
		case s.ID == "":
			return fmt.Errorf("%w: transcription segment %d has no ID", ErrInvalidArgument, i)
		case !utf8.ValidString(s.ID) || !utf8.ValidString(s.Text) || !utf8.ValidString(s.Language):
			return fmt.Errorf("%w: transcription segment %d is not UTF-8", ErrInvalidArgument, i)
		}
	}
	return nil
}

func transcriptionToProto(t Transcription) *lkpb.Transcription {
	out := &lkpb.Transcription{TranscribedParticipantIdentity: t.ParticipantIdentity, TrackId: t.TrackSID,
		Segments: make([]*lkpb.TranscriptionSegment, len(t.Segments))}
	for i, s := range t.Segments {
		out.Segments[i] = &lkpb.TranscriptionSegment{Id: s.ID, Text: s.Text, StartTime: s.StartTime,
			EndTime: s.EndTime, Final: s.Final, Language: s.Language}
	}
	return out
}

func transcriptionFrom(t *lkpb.Transcription) Transcription {
	out := Transcription{ParticipantIdentity: t.GetTranscribedParticipantIdentity(), TrackSID: t.GetTrackId()}
	if segs := t.GetSegments(); len(segs) > 0 {
		out.Segments = make([]TranscriptionSegment, 0, len(segs))
		for _, s := range segs {
			out.Segments = append(out.Segments, TranscriptionSegment{ID: s.GetId(), Text: s.GetText(),
				StartTime: s.GetStartTime(), EndTime: s.GetEndTime(), Final: s.GetFinal(), Language: s.GetLanguage()})
		}
	}
	return out
}

// dispatchTranscription reports a received transcription (data channel
// goroutine; waits while the event queue's data budget is full, like
// DataReceived).
func (r *Room) dispatchTranscription(pkt *lkpb.DataPacket, v *lkpb.Transcription) {
	r.events.pushData(TranscriptionReceived{
		Transcription:  transcriptionFrom(v),
		SenderIdentity: pkt.GetParticipantIdentity(),
		Participant:    r.parts.remote(pkt.GetParticipantIdentity()),
	}, r.closing)
}
