// Package room is lkcore's public Go API for joining a LiveKit room as a
// data-only participant: Connect, the local and remote participants, ordered
// room events, and data packets.
//
// New returns a Room before it connects (register RPC methods and stream
// handlers, start reading events), Room.Connect joins it and returns a
// Snapshot; every later event is a change relative to that snapshot. The
// Connect function does both in one call. Classify sorts any error of the
// package into an ErrorKind and tells whether retrying can help.
//
//	r, err := room.Connect(ctx, "wss://my.livekit.host", token, room.Options{})
//	if err != nil { … }               // typed: errors.Is(err, room.ErrUnauthorized), …
//	defer r.Disconnect(context.Background())
//	err = r.LocalParticipant().PublishData(ctx, []byte("hi"), room.DataPublishOptions{Reliable: true, Topic: "chat"})
//	for ev := range r.Events() {
//		switch ev := ev.(type) {
//		case room.DataReceived:
//			fmt.Println(ev.SenderIdentity, ev.Topic, string(ev.Payload))
//		case room.Disconnected:
//			…
//		}
//	}
//
// # Reconnection
//
// Once connected, a lost WebSocket (any close, ping timeout), a failed
// PeerConnection, a data channel closed by the SFU, or a server
// leave{RESUME|RECONNECT} does not end the room: it emits Reconnecting, state
// StateReconnecting, and either resumes the session (same SID, ICE restart,
// unacknowledged reliable packets replayed: nothing lost or duplicated) or
// rejoins with a new session (full reconnect, new SID; who joined or left
// meanwhile is reported), with JS's backoff (10 attempts), then Reconnected.
// The Room, its LocalParticipant and all registered handlers stay valid.
// Reliable sends made meanwhile wait for the connection; lossy ones fail with
// ErrReconnecting. Giving up ends the room with ErrReconnectFailed. See
// reconnect.go.
//
// # NAT traversal
//
// The ICE servers and force_relay of the server's JoinResponse (or
// ReconnectResponse, for a resume) govern the next ICE gathering, as in the
// official clients; Options.ICEServers replaces the server's servers and
// Options.ICETransportPolicy = ICETransportPolicyRelay forces TURN relay on
// every connection. A relay-only connection that gets no relay candidate
// fails with ErrRelayUnavailable; Room.SelectedCandidatePair tells whether
// the connection is relayed. See relay.go.
//
// Every blocking call takes a context. Disconnect is idempotent and waits for
// the loop and the PeerConnection; after it, every call fails with
// ErrDisconnected. Tokens and payloads are never logged.
package room

// Notes for maintainers (not part of the package documentation).
//
// A Room has one owner goroutine, the loop (loop.go), for all signalling
// state: the session (signal client, engine, generation; session.go),
// participants, room info, pending requests, connection state, the
// reconnect state and the data-track managers. It consumes
// core/internal/signal responses and core/internal/engine notifications and
// is the only writer of that state; getters read copies under narrow locks;
// other goroutines hand it work with runOnLoop. One loop runs per join
// attempt (connect.go); the attempt that connects keeps it until the room
// ends. Data packets do not go through the loop: they are parsed,
// de-duplicated and dispatched on the data channel's read goroutine
// (Room.dispatchPacket is the single switch over DataPacket values) and
// appended to the same ordered event queue (events.go).
//
// Goroutines: the caller's (Connect, Disconnect, every API call); the loop;
// the engine's pion callbacks (they only post to the loop, or dispatch
// packets); the signal client's read and keepalive goroutines; a reconnect
// dial; the data-track writer (datatrack.go) and subscription pumps; the
// RPC and data-stream handler goroutines of core/rpc and core/datastream;
// the Events forwarder.
//
// Sub-protocols are wired one way: the room calls its adapters directly
// (dataTracks for core/datatrack, dataAPI for core/rpc and core/datastream,
// roomE2EE for core/e2ee) and they reach the room through its methods.
//
// Lock order (a lock may be taken while holding one listed before it, never
// the reverse): Room.lifeMu (life phase; never held while waiting for
// handlers or the loop) → Room.infoMu (room info, state) →
// participantTable.mu → participant.mu → dataTracks.mu → sendGate.dt →
// sendGate.mu → eventQueue.mu. The loop never waits for a goroutine that
// waits for the loop, except through channels that teardown closes
// (r.closing, the run's loopStop).
//
// Files: room.go (Room and its getters), options.go, connect.go (New,
// Connect, join attempts, Snapshot), loop.go, session.go (the engine of a
// session, applyJoin), reconnect_machine.go (the decisions) and
// reconnect.go (carrying them out), sendpath.go (send gate, data and held
// signal requests), participant.go, metadata.go, events.go and
// eventqueue.go, errors.go and errorkind.go, info.go (value types), data.go
// (data packets) with dtmf.go, chat.go and transcription.go, streams.go and rpc.go,
// datatrack.go (manager driving) with datatrack_api.go, datatrack_info.go,
// datatrack_local.go, datatrack_remote.go, datatrack_subscription.go and
// datatrack_writer.go (I/O around core/datatrack's Scheduler), subperm.go
// (subscription permissions), schema.go (schema definitions, data blobs),
// quality.go (connection quality), speakers.go (active speakers), move.go (a
// move to another room), e2ee.go and encryption_state.go, relay.go,
// snapshot.go (RequestSnapshot).
