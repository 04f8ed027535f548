package engine

import (
	"fmt"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
)

// This file holds what the room's reconnection needs from the engine
// (docs/protocol.md, Reconnection): the state for SyncState, the check
// that an ICE restart has completed, and the replay of the reliable resend
// buffer. The ICE restart offer itself is CreateOffer(true).

// TransportConnected reports whether the PeerConnection is connected over a
// selected ICE candidate pair. After CreateOffer(true) it is false until ICE
// has selected a pair for the new credentials: pion's ICE restart clears the
// selected pair synchronously inside CreateOffer, while the
// PeerConnectionState it reports may still say "connected" for a moment, so
// the pair is the reliable signal that the restart has completed.
func (e *Engine) TransportConnected() bool {
	if e.isClosed() || e.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		return false
	}
	sctp := e.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return false
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	return err == nil && pair != nil
}

// DataChannelsOpen reports whether `_reliable` and `_lossy` are both open
// now (DataReady only tells that they opened once).
func (e *Engine) DataChannelsOpen() bool {
	return !e.isClosed() &&
		e.reliable.dc.ReadyState() == webrtc.DataChannelStateOpen &&
		e.lossy.dc.ReadyState() == webrtc.DataChannelStateOpen
}

// SyncDescriptions returns the current local offer and remote answer of the
// PeerConnection for SyncState.offer / SyncState.answer (JS sends them
// without an id, as recorded in trace 1d). Either is nil when not set.
// Call it before CreateOffer(true): the restart offer replaces the local
// description.
func (e *Engine) SyncDescriptions() (offer, answer *lkpb.SessionDescription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ld := e.pc.LocalDescription(); ld != nil {
		offer = &lkpb.SessionDescription{Type: ld.Type.String(), Sdp: ld.SDP}
	}
	if rd := e.pc.RemoteDescription(); rd != nil {
		answer = &lkpb.SessionDescription{Type: rd.Type.String(), Sdp: rd.SDP}
	}
	return offer, answer
}

// LastOfferID is the id of the last offer created (1 for the join offer,
// then 2, 3, … for ICE restarts).
func (e *Engine) LastOfferID() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.offerID
}

// PendingReliable is the number of reliable packets that may not have
// reached the server yet (the resend buffer after trimming against the
// channel's unacknowledged bytes). A full reconnect discards them
// (docs/protocol.md, Data packets).
func (e *Engine) PendingReliable() int {
	e.reliable.sendMu.Lock()
	defer e.reliable.sendMu.Unlock()
	e.resend.Align(e.reliable.dc.BufferedAmount())
	return e.resend.Len()
}

// ReplayReliable implements the resume replay (docs/protocol.md, Data
// packets): it drops every
// buffered reliable packet with sequence <= lastSeq (the server's
// ReconnectResponse.last_message_seq, i.e. the last one it accepted from
// us) and sends the others again, unchanged (same bytes, same sequence) and
// in order, holding the reliable send lock so that no newer packet
// interleaves. The server drops any copy whose sequence it has already seen
// and receivers suppress duplicates by (participant_sid, sequence), so the
// replay cannot duplicate anything; it recovers packets that did not reach
// the server. The replayed packets stay buffered until acknowledged.
// It returns how many packets were sent again.
func (e *Engine) ReplayReliable(lastSeq uint32) (int, error) {
	ch := e.reliable
	ch.sendMu.Lock()
	defer ch.sendMu.Unlock()
	if e.isClosed() {
		return 0, ErrClosed
	}
	e.resend.DropThrough(lastSeq)
	entries := e.resend.Entries()
	for i, en := range entries {
		if err := ch.dc.Send(en.Data); err != nil {
			return i, fmt.Errorf("engine: replay of sequence %d: %w", en.Sequence, e.sendError(err))
		}
	}
	return len(entries), nil
}
