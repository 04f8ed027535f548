package room

import (
	"context"
	"fmt"

	"github.com/lkcore/lkcore/core/lkpb"
)

// DTMF (telephone keypad tones) travels between participants as a data packet
// of its own (DataPacket.sip_dtmf) on the reliable channel. A SIP participant
// (a phone call bridged into the room) publishes one for each key the caller
// presses, and plays the digits of any it receives to the caller; any
// participant may send them. Unlike user packets, DTMF is never end-to-end
// encrypted: the SIP bridge, which cannot decrypt, must read it (the official
// clients send it in clear too; core/e2ee leaves the value as it is).

// MaxDTMFDigitBytes caps the digit text of one PublishDTMF call. A SIP bridge
// plays each character as one tone (a few hundred milliseconds), so a longer
// sequence is a mistake rather than a dial string.
const MaxDTMFDigitBytes = 256

// MaxDTMFCode is the largest event code of a telephone-event (RFC 4733: one
// byte; 0–9 are the digits, 10 '*', 11 '#', 12–15 'A'–'D').
const MaxDTMFCode = 255

// SipDTMFReceived is a DTMF packet from another participant, typically a SIP
// participant relaying a key its caller pressed. It is a data event: it keeps
// its place among DataReceived and the other data of the room.
type SipDTMFReceived struct {
	// Code is the telephone-event code (0–9 digits, 10 '*', 11 '#', 12–15
	// 'A'–'D'), as the sender set it.
	Code uint32
	// Digit is the key as text ("5", "#"; a sender may put several); ""
	// when the sender set only the code.
	Digit string
	// SenderIdentity is the sender's identity as stamped by the SFU ("" for
	// packets sent by the server API or by hidden participants).
	SenderIdentity string
	// Participant is the sender if it is currently known, else nil (see
	// DataReceived.Participant).
	Participant *RemoteParticipant
}

func (SipDTMFReceived) isEvent() {}

// DTMFOptions configures LocalParticipant.PublishDTMF.
type DTMFOptions struct {
	// DestinationIdentities limits delivery to these participants (for
	// example the SIP participant of one call); empty means everyone else in
	// the room.
	DestinationIdentities []string
}

// PublishDTMF sends one DTMF packet on the reliable channel: code is the
// telephone-event code (0 … MaxDTMFCode) and digit the key as text (what a
// SIP participant plays to its caller, one tone per character: "0"–"9",
// "*", "#", "A"–"D"). Packets are sent in call order with the room's other
// reliable data, and never encrypted (see above). Errors: ErrInvalidArgument
// (a code above MaxDTMFCode; a digit that is empty, not UTF-8 or longer than
// MaxDTMFDigitBytes), then those of PublishData (ErrPublishDataNotAllowed,
// ErrDisconnected, ctx's error while the channel is backed up or the room
// reconnects).
func (lp *LocalParticipant) PublishDTMF(ctx context.Context, code uint32, digit string, opts DTMFOptions) error {
	if err := validateDTMF(code, digit); err != nil {
		return err
	}
	return lp.room.sendPacket(ctx, buildDTMFPacket(code, digit, opts), true)
}

func validateDTMF(code uint32, digit string) error {
	if code > MaxDTMFCode {
		return fmt.Errorf("%w: DTMF code %d, at most %d", ErrInvalidArgument, code, MaxDTMFCode)
	}
	return checkText("DTMF digit", digit, MaxDTMFDigitBytes)
}

// buildDTMFPacket builds the DataPacket for PublishDTMF: the value and the
// top-level destinations, as the official clients send it.
func buildDTMFPacket(code uint32, digit string, opts DTMFOptions) *lkpb.DataPacket {
	return &lkpb.DataPacket{
		Kind:                  lkpb.DataPacket_RELIABLE,
		DestinationIdentities: opts.DestinationIdentities,
		Value:                 &lkpb.DataPacket_SipDtmf{SipDtmf: &lkpb.SipDTMF{Code: code, Digit: digit}},
	}
}

// dispatchDTMF reports a received DTMF packet (data channel goroutine; waits
// while the event queue's data budget is full, like DataReceived).
func (r *Room) dispatchDTMF(pkt *lkpb.DataPacket, v *lkpb.SipDTMF) {
	r.events.pushData(SipDTMFReceived{
		Code:           v.GetCode(),
		Digit:          v.GetDigit(),
		SenderIdentity: pkt.GetParticipantIdentity(),
		Participant:    r.parts.remote(pkt.GetParticipantIdentity()),
	}, r.closing)
}
