package e2ee

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Encryptable reports whether the value of pkt is encrypted when E2EE is on:
// user, chat_message, rpc_request, rpc_ack, rpc_response, stream_header,
// stream_chunk and stream_trailer. sip_dtmf, metrics, speaker and
// transcription always travel in clear (JS asEncryptablePacket), as do
// packets without a value and packets that are already encrypted.
func Encryptable(pkt *lkpb.DataPacket) bool {
	return toPayload(pkt.GetValue()) != nil
}

// toPayload maps an eligible DataPacket value to the EncryptedPacketPayload
// value (different field numbers: user 1, chat_message 3, rpc_request 4,
// rpc_ack 5, rpc_response 6, stream_header 7, stream_chunk 8,
// stream_trailer 9). nil for values that stay in clear.
func toPayload(v any) *lkpb.EncryptedPacketPayload {
	switch v := v.(type) {
	case *lkpb.DataPacket_User:
		return &lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_User{User: v.User}}
	case *lkpb.DataPacket_ChatMessage:
		return &lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_ChatMessage{ChatMessage: v.ChatMessage}}
	case *lkpb.DataPacket_RpcRequest:
		return &lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_RpcRequest{RpcRequest: v.RpcRequest}}
	case *lkpb.DataPacket_RpcAck:
		return &lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_RpcAck{RpcAck: v.RpcAck}}
	case *lkpb.DataPacket_RpcResponse:
		return &lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_RpcResponse{RpcResponse: v.RpcResponse}}
	case *lkpb.DataPacket_StreamHeader:
		return &lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_StreamHeader{StreamHeader: v.StreamHeader}}
	case *lkpb.DataPacket_StreamChunk:
		return &lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_StreamChunk{StreamChunk: v.StreamChunk}}
	case *lkpb.DataPacket_StreamTrailer:
		return &lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_StreamTrailer{StreamTrailer: v.StreamTrailer}}
	}
	return nil
}

// setFromPayload stores the decrypted payload value into pkt.Value and
// reports whether the payload carried a known value.
func setFromPayload(pkt *lkpb.DataPacket, p *lkpb.EncryptedPacketPayload) bool {
	switch v := p.GetValue().(type) {
	case *lkpb.EncryptedPacketPayload_User:
		pkt.Value = &lkpb.DataPacket_User{User: v.User}
	case *lkpb.EncryptedPacketPayload_ChatMessage:
		pkt.Value = &lkpb.DataPacket_ChatMessage{ChatMessage: v.ChatMessage}
	case *lkpb.EncryptedPacketPayload_RpcRequest:
		pkt.Value = &lkpb.DataPacket_RpcRequest{RpcRequest: v.RpcRequest}
	case *lkpb.EncryptedPacketPayload_RpcAck:
		pkt.Value = &lkpb.DataPacket_RpcAck{RpcAck: v.RpcAck}
	case *lkpb.EncryptedPacketPayload_RpcResponse:
		pkt.Value = &lkpb.DataPacket_RpcResponse{RpcResponse: v.RpcResponse}
	case *lkpb.EncryptedPacketPayload_StreamHeader:
		pkt.Value = &lkpb.DataPacket_StreamHeader{StreamHeader: v.StreamHeader}
	case *lkpb.EncryptedPacketPayload_StreamChunk:
		pkt.Value = &lkpb.DataPacket_StreamChunk{StreamChunk: v.StreamChunk}
	case *lkpb.EncryptedPacketPayload_StreamTrailer:
		pkt.Value = &lkpb.DataPacket_StreamTrailer{StreamTrailer: v.StreamTrailer}
	default:
		return false
	}
	return true
}

// EncryptPacket replaces an eligible value of pkt (see [Encryptable]) by
// encrypted_packet = EncryptedPacket{encryption_type GCM, iv (12 bytes),
// key_index (local current index), encrypted_value = AES-GCM of the
// serialised EncryptedPacketPayload ‖ tag}. Everything else in the envelope
// (kind, destination_identities, identities, sequence) is left as is; call
// it before stamping the sequence. Values that stay in clear and packets
// already encrypted are left unchanged and nil is returned. On error pkt is
// unchanged; the error matches ErrNoKey when the local key is missing.
//
// Note for callers: JS keeps user-packet destinations inside UserPacket, so
// they are hidden by encryption; set DataPacket.destination_identities on the
// envelope for the SFU to route.
func (c *Cryptor) EncryptPacket(pkt *lkpb.DataPacket) error {
	payload := toPayload(pkt.GetValue())
	if payload == nil {
		return nil
	}
	k, idx, err := c.sendKey()
	if err != nil {
		return err
	}
	opts := proto.MarshalOptions{}
	buf := make([]byte, 0, opts.Size(payload)+TagSize)
	buf, err = opts.MarshalAppend(buf, payload)
	if err != nil {
		return fmt.Errorf("e2ee: marshal payload: %w", err)
	}
	iv := c.nextIV()
	sealed := k.aead.Seal(buf[:0], iv[:], buf, nil)
	pkt.Value = &lkpb.DataPacket_EncryptedPacket{EncryptedPacket: &lkpb.EncryptedPacket{
		// JS 2.23.0 leaves this at NONE; Rust and server-sdk-go send GCM,
		// which is what senders should do
		// (docs/protocol.md, End-to-end encryption).
		EncryptionType: lkpb.Encryption_GCM,
		Iv:             iv[:],
		KeyIndex:       uint32(idx),
		EncryptedValue: sealed,
	}}
	return nil
}

// DecryptPacket decrypts pkt.encrypted_packet with the key ring of
// pkt.ParticipantIdentity (the server-set sender identity; ignored by
// shared-key providers) at its key_index, ratcheting if configured, and
// replaces it by the inner value. The envelope (kind, identities,
// destinations, sequence) is kept; unlike JS the outer kind is not reset.
// encryption_type is not checked: JS 2.23.0 sends NONE (0) inside the
// wrapper. Callers that report the packet's encryption type (data streams)
// should read pkt.GetEncryptedPacket().GetEncryptionType() before calling.
//
// Errors: ErrNotEncrypted (plain packet, unchanged: deliver it as is), or a
// *DecryptError wrapping ErrNoKey, ErrDecrypt or ErrMalformed with the
// sender identity and key index; on error pkt is unchanged.
func (c *Cryptor) DecryptPacket(pkt *lkpb.DataPacket) error {
	ep := pkt.GetEncryptedPacket()
	if ep == nil {
		return ErrNotEncrypted
	}
	fail := func(err error) error {
		return &DecryptError{Identity: pkt.GetParticipantIdentity(), KeyIndex: ep.GetKeyIndex(), Err: err}
	}
	if len(ep.GetIv()) == 0 || ep.GetKeyIndex() > math.MaxUint8 {
		return fail(ErrMalformed)
	}
	ct := ep.GetEncryptedValue()
	var dst []byte
	if len(ct) >= TagSize {
		dst = make([]byte, 0, len(ct)-TagSize)
	}
	plain, err := c.open(dst, pkt.GetParticipantIdentity(), uint8(ep.GetKeyIndex()), ep.GetIv(), ct)
	if err != nil {
		return fail(err)
	}
	var payload lkpb.EncryptedPacketPayload
	if err := proto.Unmarshal(plain, &payload); err != nil {
		return fail(ErrMalformed)
	}
	if !setFromPayload(pkt, &payload) {
		return fail(ErrMalformed)
	}
	return nil
}
