package devsfu

import (
	"errors"
	"fmt"

	"github.com/lkcore/lkcore/core/lkpb"
)

// moveReason is the reason the participants of the old room see for a moved participant's
// departure. LiveKit Cloud's choice is not recorded (livekit-server 1.13 does not move
// participants); PARTICIPANT_REMOVED is what its RoomService reports for a participant taken
// out of a room by the API.
const moveReason = lkpb.DisconnectReason_PARTICIPANT_REMOVED

// ErrMoveRefused is returned by MoveParticipant for a move it cannot make; the error says why.
var ErrMoveRefused = errors.New("devsfu: move refused")

// MoveParticipant moves identity's session from room from to room to (created if needed) over
// the same signalling connection and PeerConnection, as LiveKit Cloud's
// RoomService.MoveParticipant does; livekit-server 1.13 answers that API with "not
// implemented", so this follows the protocol's RoomMovedResponse and the official clients'
// handling of it:
//
//   - the participants of from see the session leave (DISCONNECTED, PARTICIPANT_REMOVED);
//   - the moved client gets room_moved: the new room, a token for it (its later resumes and
//     full reconnects join to), its own info and the other participants of to; its data-track
//     subscriptions in from end (it asks again for what it wants in to);
//   - the participants of to see it join.
//
// The session keeps its sid. devsfu does not carry published data tracks over: the move is
// refused while the participant publishes any (unpublish them first), as it is when to holds
// the same identity, from == to, or the participant is not in from.
func (s *Server) MoveParticipant(from, identity, to string) error {
	if from == to {
		return fmt.Errorf("%w: %q is already the participant's room", ErrMoveRefused, to)
	}
	a := s.existingRoom(from)
	if a == nil {
		return fmt.Errorf("%w: no room %q", ErrMoveRefused, from)
	}
	p := a.participant(identity)
	if p == nil || p.isClosed() {
		return fmt.Errorf("%w: %q is not in room %q", ErrMoveRefused, identity, from)
	}
	p.mu.Lock()
	publishing := len(p.published)
	p.mu.Unlock()
	if publishing > 0 {
		return fmt.Errorf("%w: %q publishes %d data track(s)", ErrMoveRefused, identity, publishing)
	}
	b := s.room(to)
	if b == nil {
		return fmt.Errorf("%w: the server is closed", ErrMoveRefused)
	}
	if b.participant(identity) != nil {
		return fmt.Errorf("%w: room %q already holds %q", ErrMoveRefused, to, identity)
	}

	// The grants (and so the tokens) name the new room from now on.
	old := p.grant()
	g := old.Clone()
	g.Room = to
	p.grants.Store(g)
	token, err := p.currentToken()
	if err != nil {
		p.grants.Store(old)
		return fmt.Errorf("%w: signing the token for %q: %v", ErrMoveRefused, to, err)
	}

	// Out of from: the others see the session leave; its subscriptions there end.
	a.mu.Lock()
	if a.participants[identity] != p {
		a.mu.Unlock()
		p.grants.Store(old)
		return fmt.Errorf("%w: %q left room %q", ErrMoveRefused, identity, from)
	}
	delete(a.participants, identity)
	a.reorderLocked()
	a.mu.Unlock()
	a.dropSubscriptions(p)

	p.mu.Lock()
	gone := p.departureInfoLocked(moveReason)
	p.mu.Unlock()
	a.announceDeparture(gone, true, p.hidden)

	// Into to: the moved client learns its new room first, then everyone there sees it.
	b.mu.Lock()
	b.participants[identity] = p
	b.reorderLocked()
	p.room.Store(b)
	others := make([]*lkpb.ParticipantInfo, 0, len(b.participants))
	for _, o := range b.listLocked() {
		if o != p && !o.hidden {
			others = append(others, o.info())
		}
	}
	n, pubs := b.countsLocked()
	room := b.protoLocked(n, pubs)
	b.mu.Unlock()
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_RoomMoved{RoomMoved: &lkpb.RoomMovedResponse{
		Room:              room,
		Token:             token,
		Participant:       p.info(),
		OtherParticipants: others,
	}}})
	b.broadcastInfo(p.info(), true, p.hidden)
	b.autoSubscribe(p)
	return nil
}
