package room

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
)

// DataPublishOptions configures LocalParticipant.PublishData.
type DataPublishOptions struct {
	// Reliable selects the ordered, retransmitted `_reliable` channel; false
	// (the JS default) selects `_lossy` (unordered, no retransmissions).
	Reliable bool
	// Topic is an optional application topic delivered with the packet.
	Topic string
	// DestinationIdentities limits delivery to these participants; empty
	// means everyone else in the room. Unknown identities are silently
	// skipped by the SFU.
	DestinationIdentities []string
}

// PublishData sends payload as a user data packet. The serialised packet
// (payload + topic + destinations + envelope) must fit in 64 000 bytes, else
// the call fails with ErrPacketTooLarge (its message gives
// the size); larger payloads are the job of data streams. When the channel
// is backed up (bufferedAmount above its high-water mark) the call waits for
// it to drain, bounded by ctx; it never buffers without bound. Returns
// ErrDisconnected after the room has disconnected, ErrPublishDataNotAllowed
// when the server denies this participant publishing data (the server would
// drop the packet). While the room is
// reconnecting, a reliable publish waits for the connection to come back
// (bounded by ctx) and a lossy one fails with ErrReconnecting.
func (lp *LocalParticipant) PublishData(ctx context.Context, payload []byte, opts DataPublishOptions) error {
	return lp.room.sendPacket(ctx, buildUserPacket(lp.Identity(), payload, opts), opts.Reliable)
}

// buildUserPacket builds the DataPacket for PublishData.
func buildUserPacket(identity string, payload []byte, opts DataPublishOptions) *lkpb.DataPacket {
	kind := lkpb.DataPacket_LOSSY
	if opts.Reliable {
		kind = lkpb.DataPacket_RELIABLE
	}
	user := &lkpb.UserPacket{
		Payload: payload,
		// JS puts the sender identity and the destinations inside the
		// UserPacket; the SFU overwrites the identity anyway.
		ParticipantIdentity:   identity,
		DestinationIdentities: opts.DestinationIdentities,
	}
	if opts.Topic != "" {
		topic := opts.Topic
		user.Topic = &topic
	}
	return &lkpb.DataPacket{
		Kind: kind,
		// Top-level destinations are honoured for every value type (and stay
		// visible when E2EE wraps the value); mirrored in UserPacket for
		// servers that only read the deprecated field
		// (docs/protocol.md, Data packets).
		DestinationIdentities: opts.DestinationIdentities,
		Value:                 &lkpb.DataPacket_User{User: user},
	}
}

// sendPacket is the low-level send used by PublishData and by the RPC,
// data-stream and E2EE layers: pkt must be fully built (value, destinations);
// sendPacket stamps the reliable sequence number (pkt.Sequence, per session
// from 1; 0 on lossy), enforces the 64 000-byte cap and applies channel
// backpressure bounded by ctx. Reliable packets are kept for replay after a
// resume. pkt must not be modified concurrently; it is not retained.
//
// While the room is connecting or reconnecting, reliable packets wait
// (bounded by ctx) and go out once the connection is back — after a resume
// in order behind the replay of older packets, after a full reconnect on the
// new session — and are never dropped silently; lossy packets fail at once
// with ErrReconnecting during a reconnect (they wait while connecting). See
// Room.sendData.
func (r *Room) sendPacket(ctx context.Context, pkt *lkpb.DataPacket, reliable bool) error {
	select {
	case <-r.closing:
		return ErrDisconnected
	default:
	}
	if !r.everConnected() {
		r.lifeMu.Lock()
		connecting := r.life == lifeConnecting
		r.lifeMu.Unlock()
		if !connecting {
			return errNotConnected
		}
	}
	select {
	case <-r.connected:
	case <-r.closing:
		return ErrDisconnected
	case <-ctx.Done():
		return ctx.Err()
	}
	if p := r.local.load().GetPermission(); p != nil && !p.GetCanPublishData() {
		return ErrPublishDataNotAllowed // the server would drop it silently
	}
	// E2EE: encrypt pkt's value before sequencing (the sequence is stamped
	// on the outer packet; docs/protocol.md, End-to-end encryption).
	if err := r.encryptPacket(pkt); err != nil {
		return err
	}
	return r.sendData(ctx, pkt, reliable)
}

func (r *Room) isClosing() bool {
	select {
	case <-r.closing:
		return true
	default:
		return false
	}
}

// handlePacket runs on a data channel's read goroutine for every DataPacket
// that survived duplicate suppression. It applies the JS compatibility rule
// (identity and destinations from the UserPacket when the envelope has none)
// and dispatches.
func (r *Room) handlePacket(pkt *lkpb.DataPacket, reliable bool) {
	// E2EE: decrypt first (a failure is reported as DecryptionFailed and
	// the packet dropped); enc is what the sender used (e2ee.go).
	enc, ok := r.decryptPacket(pkt)
	if !ok {
		return
	}
	if u := pkt.GetUser(); u != nil {
		if pkt.ParticipantIdentity == "" {
			pkt.ParticipantIdentity = u.GetParticipantIdentity()
		}
		if len(pkt.DestinationIdentities) == 0 {
			pkt.DestinationIdentities = u.GetDestinationIdentities()
		}
	}
	r.dispatchPacket(pkt, reliable, enc)
}

// dispatchPacket is the single switch over incoming DataPacket values. It
// runs on the data channel's read goroutine; blocking here holds back that
// channel (backpressure), so handlers must hand work off quickly. enc is
// the encryption the packet arrived with (NONE, or GCM for a value that was
// decrypted by handlePacket).
func (r *Room) dispatchPacket(pkt *lkpb.DataPacket, reliable bool, enc lkpb.Encryption_Type) {
	switch v := pkt.GetValue().(type) {
	case *lkpb.DataPacket_User:
		ev := DataReceived{
			Payload:        v.User.GetPayload(),
			Topic:          v.User.GetTopic(),
			SenderIdentity: pkt.GetParticipantIdentity(),
			Participant:    r.parts.remote(pkt.GetParticipantIdentity()),
			Reliable:       reliable,
			Encrypted:      enc != lkpb.Encryption_NONE,
		}
		r.events.pushData(ev, r.closing)
	case *lkpb.DataPacket_EncryptedPacket:
		// Unreachable: handlePacket decrypts (or drops) encrypted packets.
		r.log.Debug("room: dropping undecrypted data packet", "sender", pkt.GetParticipantIdentity())
	case *lkpb.DataPacket_RpcRequest, *lkpb.DataPacket_RpcAck, *lkpb.DataPacket_RpcResponse,
		*lkpb.DataPacket_StreamHeader, *lkpb.DataPacket_StreamChunk, *lkpb.DataPacket_StreamTrailer:
		// core/rpc and core/datastream (streams.go). A decrypted E2EE value
		// goes to handleStreamOrRPCPacket with the wrapper's encryption_type.
		r.handleStreamOrRPCPacket(pkt, enc)
	case *lkpb.DataPacket_SipDtmf:
		r.dispatchDTMF(pkt, v.SipDtmf) // dtmf.go
	case *lkpb.DataPacket_ChatMessage:
		r.dispatchChat(pkt, v.ChatMessage) // chat.go
	case *lkpb.DataPacket_Transcription:
		r.dispatchTranscription(pkt, v.Transcription) // transcription.go
	case *lkpb.DataPacket_Metrics, *lkpb.DataPacket_Speaker:
		// Not part of the data API; tolerated and ignored.
	default:
		r.log.Debug("room: ignoring data packet with unknown value", "sender", pkt.GetParticipantIdentity())
	}
}

// sendDataTrackPacket sends one raw data-track packet on `_data_track`
// without waiting; it fails with engine.ErrDataTrackBackedUp when the channel
// holds more than engine.DataTrackHighWater unacknowledged bytes, and with
// ErrDisconnected after disconnect.
func (r *Room) sendDataTrackPacket(b []byte) error {
	if r.isClosing() {
		return ErrDisconnected
	}
	err := r.send.dataTrackSend(func() error { return r.eng.Load().SendDataTrackPacket(b) })
	if errors.Is(err, engine.ErrClosed) {
		return ErrDisconnected
	}
	return err
}

func marshalCandidate(c webrtc.ICECandidateInit) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}
