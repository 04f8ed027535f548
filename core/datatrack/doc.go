// Package datatrack implements LiveKit data tracks (docs/protocol.md, Data tracks) without any
// I/O: the packet format, the packetizer and depacketizer, the E2EE frame pipelines, bounded
// queues, and the two signalling state machines — LocalManager (publishing) and RemoteManager
// (subscribing). Wire behaviour follows livekit-client 2.23.0 and the Rust SDK against
// livekit-server v1.13; the tests replay the recorded traces in testdata.
//
// # Model
//
// A data track carries application frames (Frame: payload + optional user timestamp) from one
// publisher to any number of subscribers. A frame is optionally encrypted as a whole
// (FrameEncryptor, AES-GCM, docs/protocol.md, Data-track E2EE), split into packets of at most
// TransportMTU bytes (Packetizer, docs/protocol.md, Packetizer) and sent as one unit on the
// unordered, zero-retransmit "_data_track" data channel. Receivers parse each message
// (Packet.Unmarshal, docs/protocol.md, Packet format), route it by subscriber handle,
// reassemble (Depacketizer, docs/protocol.md, Depacketizer), decrypt (FrameDecryptor) and hand
// the frame to every local stream of the track (Subscription, bounded FrameBuffer with
// drop-oldest).
//
// Nothing here opens sockets, starts goroutines or sleeps. Managers take inputs (API calls,
// SignalResponse messages, packets, the current time) and return outputs (SignalRequests to
// send, completions, events) as small typed values. Time is always passed in; timeouts fire
// from Tick(now), and NextDeadline tells when to call it.
//
// # Wiring by the room layer
//
// Per room connection create one LocalManager and one RemoteManager
// (NewLocalManager(LocalConfig{Encryptor: …}), NewRemoteManager(RemoteConfig{LocalIdentity,
// Decryptor})). The room's signalling goroutine owns the LocalManager; the RemoteManager is
// also safe for the data-channel goroutine.
//
//   - Signalling in: pass every SignalResponse to LocalManager.HandleSignal and
//     RemoteManager.HandleSignal (join, update, publish/unpublish responses, request_response,
//     data_track_subscriber_handles, subscription_permission_update); also pass the local
//     participant's own ParticipantInfo to LocalManager.HandleLocalParticipantInfo.
//   - Outputs: send every SendRequest's Request on the WebSocket; resolve the caller waiting on
//     Publish with PublishCompleted (by Handle) and on Subscribe with SubscriptionActive /
//     SubscriptionEnded; turn RemoteTrackPublished / RemoteTrackUnpublished /
//     LocalTrackUnpublished into room events. RemoteTrackSidChanged, LocalTrackRepublishing and
//     LocalTrackRepublished are internal (no application event; docs/protocol.md,
//     Reconnection of data tracks).
//   - Timers: after each input, arm one timer at min(NextDeadline()) and call Tick(now).
//   - Sending: LocalTrack.TryPush (any goroutine, never blocks) queues whole packetized frames
//     in the track's SendQueue. One writer goroutine per room Pops frames and writes their
//     packets in order with the engine's non-blocking SendDataTrackPacket, then calls Done.
//     What may be written when is the Scheduler's decision (a pure policy: feed it the
//     channel's buffered amount on each wake-up and the bytes sent; Decide says how much may
//     go now or the buffered amount to wait for, which the writer hands to the engine's
//     buffered-amount-low wait; docs/protocol.md, Sending and pacing).
//     LocalTrack.Queue().Flush(ctx) waits for the queue to empty.
//   - Receiving: the engine's data-track receive callback calls RemoteManager.HandlePacket with
//     each message (a fresh buffer per message); PacketOutcome.Drops reports what was lost
//     (DropDecryptFailed is worth an application event), Stats counts everything.
//   - Reconnection: a quick resume sends SyncState.publish_data_tracks =
//     LocalManager.SyncStateTracks(). A full reconnect calls SessionLost(now) on both managers
//     when the old session dies and SessionRestored(now) once the new one has joined (pass its
//     JoinResponse to HandleJoin first); with LocalConfig.WaitForTransport also call
//     SetTransportReady when the data channel opens or closes.
//   - Disconnect: Close() on both managers ends every track and stream.
//
// # Deliberate choices (see docs/protocol.md, Departures)
//
// Handles are allocated 1, 2, 3, … and never reused within a connection; a republish after a
// full reconnect reuses the track's own handle (docs/protocol.md, Concepts). Frames needing
// more than 128 packets are refused with ErrFrameTooLarge at push. The subscriber-handle
// message replaces the route table. Publish errors keep the server's reason and message
// (*PublishError). Every drop is counted: TryPush refusals (ErrQueueFull), queue evictions and
// discards, depacketizer and decryption drops, and slow-subscriber drops
// (Subscription.Dropped).
package datatrack
