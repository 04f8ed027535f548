// Package engine owns the WebRTC side of a LiveKit session for a data-only
// client: one pion PeerConnection in single-PC mode (the client offers, the
// server answers), the three in-band data channels `_reliable` (ordered),
// `_lossy` and `_data_track` (unordered, maxRetransmits 0), trickle ICE with
// queueing of early remote candidates, offer ids, DataPacket sending with
// reliable sequence numbers, the 64 000-byte cap, bufferedAmount backpressure,
// the reliable resend buffer kept for resume, and receive-side duplicate
// suppression.
//
// The engine does no signalling I/O: it produces offers and local candidates
// and consumes answers and remote candidates, which core/room carries over
// core/signal. Callbacks run on pion goroutines and must not block for long
// (except OnPacket, whose blocking is the receive backpressure; see Config).
//
// Reconnection is driven by core/room (room/reconnect.go) and only needs a
// few things from the engine (engine/reconnect.go): a resume keeps the
// Engine — CreateOffer(true) is the ICE-restart offer, TransportConnected
// tells when ICE has selected a pair again, SyncDescriptions/
// DataChannelInfos/ReceiveStates fill SyncState, ReplayReliable re-sends the
// resend buffer after last_message_seq — and a full reconnect closes it and
// builds a new Engine (sequences from 1, fresh dedup state). OnDataChannelClosed
// and OnConnectionState are the transport-failure triggers.
//
// The engine notifies instead of being polled (notify.go). StateChanged
// returns a channel closed at the next transport change (PeerConnection or
// ICE state, selected candidate pair, a data channel opening or closing,
// Close): take it, read TransportConnected / DataChannelsOpen /
// DataTrackReady, and wait on it if the state is not the one wanted — a
// reconnect attempt waits for "answer applied, TransportConnected and
// DataChannelsOpen" this way, taking a fresh StateChanged before each check,
// instead of re-checking on a timer. DataTrackBelow(level) wakes the
// data-track writer when `_data_track` holds at most level bytes (the level
// is the writer's policy, core/datatrack.Scheduler; the engine only keeps
// pion's buffered-amount-low threshold at the highest level waited for);
// DataTrackBelow(0) also tells when every packet already written was
// acknowledged. WaitDataTrackOpen and DataReady wait for the channels to
// open; Close ends every wait. Blocked reliable and
// lossy sends and Flush wait on the same buffered-amount-low mechanism.
//
// SetICEServers applies a JoinResponse's or ReconnectResponse's ICE servers
// and force_relay to the next ICE gathering; policy.go explains how the
// relay-only policy is enforced in pion and reports the selected candidate
// pair (SelectedCandidatePair).
package engine
