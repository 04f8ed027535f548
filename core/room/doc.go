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
// # Architecture
//
// A Room has one owner goroutine (the loop) for all signalling state:
// participants, room info, pending requests, connection state. It consumes
// core/internal/signal responses and core/internal/engine notifications and is the only writer
// of that state; getters read snapshots under narrow locks. Data packets do
// not go through the loop: they are parsed, de-duplicated and dispatched on
// the data channel's read goroutine (Room.dispatchPacket is the single switch
// over DataPacket values) and appended to the same ordered event queue.
//
// # Reconnection
//
// Once connected, a lost WebSocket (any close, ping timeout), a failed
// PeerConnection, a data channel closed by the SFU, or a server
// leave{RESUME|RECONNECT} does not end the room: it emits Reconnecting, state
// StateReconnecting, and either resumes the session (same SID, ICE restart,
// unacknowledged reliable packets replayed: nothing lost or duplicated) or
// rejoins with a new session (full reconnect, new SID, participants
// re-announced), with JS's backoff (10 attempts), then Reconnected. The Room,
// its LocalParticipant and all registered handlers stay valid. Reliable sends
// made meanwhile wait for the connection; lossy ones fail with
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
