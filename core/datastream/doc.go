// Package datastream implements LiveKit data streams (text and byte streams,
// versions 1 and 2) on top of reliable DataPackets, exactly as livekit-client
// 2.23.0 and the Rust SDK put them on the wire (docs/protocol.md, Data
// streams).
//
// # Wiring
//
// The package does not know about rooms, engines or data channels. The room
// layer creates one [Manager] per room with a [Transport] (its own view of
// the session) and then:
//
//   - passes every received DataPacket whose value is stream_header,
//     stream_chunk or stream_trailer to [Manager.HandlePacket] (or, when the
//     packet arrived inside an E2EE wrapper and was decrypted, to
//     [Manager.HandlePacketWithEncryption] with the wrapper's
//     encryption_type), in arrival order, from one goroutine;
//   - calls [Manager.HandleParticipantDisconnected] with the participant's
//     identity and session sid when a remote participant leaves, and
//     [Manager.HandleParticipantSessionEnded] when a full reconnect replaced
//     its session, so that the unfinished incoming streams that session was
//     sending (by the headers' participant_sid) fail cleanly;
//   - calls [Manager.Close] when the room is closed: every open reader fails
//     with [ErrAbnormalEnd], every blocked send returns, and Close waits for
//     the goroutines the manager started (stream handler invocations).
//
// Outgoing packets are handed to [Transport.SendPacket] fully built
// (destination identities set on every packet, kind RELIABLE); the room
// stamps the reliable sequence number and applies E2EE. The sender decides
// per destination set whether a stream may be sent inline (single packet)
// and deflate-raw compressed, from the client protocol and capabilities the
// transport reports for each remote participant.
//
// # Receiving
//
// Handlers are registered per topic, separately for text and byte streams.
// A stream whose topic has no handler is dropped (JS behaviour). Each handler
// runs in its own goroutine with a reader; the reader decodes lazily on the
// reading goroutine (inflating compressed streams, re-framing text on UTF-8
// boundaries and enforcing length and payload caps). Every limit on remote
// input is in limits.go ([Limits]); a reader that does not keep up is failed
// with [ErrBufferOverflow] once [Limits.MaxBufferedBytes] of undelivered wire
// bytes are queued for it, so memory stays bounded.
//
// The two RPC topics (lk.rpc_request, lk.rpc_response) are reserved: users
// cannot register them; core/rpc installs its handlers with
// [Manager.RegisterReservedTextStreamHandler].
package datastream
