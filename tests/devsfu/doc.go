// Package devsfu is an embedded, data-only LiveKit SFU for tests and local
// development. It speaks the LiveKit signalling protocol (WebSocket
// /rtc/v1, single PeerConnection, protocol 17) the way livekit-server
// v1.13.5 was recorded doing it (shared/traces), and forwards the data plane
// only: DataPackets on _reliable/_lossy and data-track packets on
// _data_track. Audio/video m-lines in an offer are answered as rejected.
//
// Start one in-process with Start; Server.Token mints tokens for it. Fault
// injection (dropping signalling, killing ICE, delaying/reordering/dropping
// data-track packets, refusing publishes, forcing full reconnects) is
// available as methods on *Server (faults.go).
//
// Layout: server.go (HTTP, validation, lifecycle), signal.go (WebSocket
// connection), participant.go (one session and its signal requests),
// transport.go (pion PeerConnection and data channels), room.go (membership,
// participant updates, DataPacket forwarding), datatrack.go (data-track
// publications, subscriptions, packet rewriting), faults.go.
//
// Lock order: Server.mu → Room.mu → Participant.mu; the signal send path and
// transport candidate queue use leaf locks only. Nothing blocks while holding
// Room.mu except non-blocking enqueues.
package devsfu
