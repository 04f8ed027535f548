// Package devsfu is an embedded, data-only LiveKit SFU for tests and local
// development. It speaks the LiveKit signalling protocol (WebSocket
// /rtc/v1, single PeerConnection, protocol 17) the way livekit-server
// v1.13.5 was recorded doing it (testdata/README.md), and forwards the data plane
// only: DataPackets on _reliable/_lossy and data-track packets on
// _data_track. Audio/video m-lines in an offer are accepted as the server does (port 9,
// sendonly) but carry no media.
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
// publications, subscriptions, packet rewriting), subperm.go (publishers'
// subscription permissions), faults.go.
//
// Where the recordings (v1.13.5), the specs (written against v1.13.11) and
// the brief disagree, devsfu follows the recordings (docs/protocol.md,
// Departures from the official SDKs):
//   - ServerInfo.protocol is 17 (v1.13.11's source says 18).
//   - Subscriber handles start at a random value in [1,256] per subscriber
//     (v1.13.5 seeds with rand.Intn(256)); v1.13.11's source starts at 1
//     (Options.DeterministicHandles gives 1).
//   - Forwarded data-track packets are byte-identical except the handle:
//     no participant-SID extension is added (the recorded forwarded packets
//     show it; the server source agrees). Options.AddParticipantSIDExtension adds it.
//   - DISCONNECTED updates of non-publishers are batched like other
//     updates (traces 2b/1c show none within 24–30 ms; only publishers'
//     departures are immediate), although the recordings' notes say all
//     DISCONNECTED updates go out at once.
//   - After an unpublish or a publisher's departure the new handle
//     snapshot comes at the next reconcile pass, twice (as recorded); a
//     departure is announced before its tracks are removed, so the
//     snapshot never precedes the DISCONNECTED update.
//   - The 401 body for a token that fails verification does not echo the
//     token (the real server does: "invalid token: <jwt>, error: …").
//   - ICE servers are empty (loopback only; the real server lists STUN),
//     unless Options.TURN runs the embedded TURN server (turn.go).
//
// Not implemented: dual-PC (/rtc without join_request → 400), protocol-18
// negotiated channels, media, data blobs (answered NOT_ALLOWED "data blob
// not enabled" as with the server default), subscription permissions of
// media tracks (there are none), connection_quality, server-originated
// RPC, agent stream-header identity passthrough.
//
// Lock order: Server.mu → Room.mu → Participant.mu; the signal send path and
// transport candidate queue use leaf locks only. Nothing blocks while holding
// Room.mu except non-blocking enqueues.
package devsfu
