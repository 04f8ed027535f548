// Package rpc implements LiveKit RPC between participants: version 1 (one
// RpcRequest / RpcAck / RpcResponse DataPacket each, 15 360-byte payloads)
// and version 2 (request and success response carried as text data streams
// through core/datastream, inline and compressed when possible, no size
// limit), exactly as livekit-client 2.23.0 and the Rust SDK speak them
// (docs/protocol.md, RPC).
//
// # Wiring
//
// The room creates, per room and after its datastream.Manager:
//
//	ds := datastream.NewManager(transport, dsOpts)
//	rpcm, err := rpc.New(transport, ds, rpc.Options{})
//
// New registers the reserved lk.rpc_request / lk.rpc_response text-stream
// handlers on ds. The room then passes every received DataPacket whose value
// is rpc_request, rpc_ack or rpc_response to [Manager.HandlePacket] (after
// E2EE decryption; the caller identity is pkt.ParticipantIdentity as stamped
// by the SFU), calls [Manager.HandleParticipantDisconnected] when a remote
// participant leaves (pending calls to it fail with 1503), and calls
// [Manager.Close] before closing ds. If the transport also implements
// [ServerVersioner], calls fail locally with 1403 against servers older than
// 1.8.0.
//
// # Version choice
//
// A call to a destination whose advertised client protocol is ≥ 1 goes out
// as a v2 request stream; otherwise as a v1 packet (payloads above 15 360
// bytes then fail with 1402 before anything is sent). As a callee this
// package answers in the version of the request (v1 packet for a v1 request,
// response stream for a v2 request), which works with every caller including
// server-originated calls; errors always travel as RpcResponse packets.
//
// # Timeouts
//
// The ack timer (7 s by default) starts when the request is handed to the
// transport; the response timer (the caller's ResponseTimeout, default 15 s)
// starts when the send completes; both run concurrently and the first to
// fire ends the call (JS 2.23.0 rule). The advertised timeout is
// max(ResponseTimeout, 8 s). Pending calls fail with 1503 wrapping ErrClosed
// when the manager closes.
package rpc
