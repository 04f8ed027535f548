package room

import "github.com/lkcore/lkcore/core/lkpb"

// RoomMoved reports that the server moved this session to another room (LiveKit Cloud's
// RoomService.MoveParticipant; livekit-server 1.13 does not move participants). The session,
// its connection and the local data tracks stay; everything else follows the new room, and the
// events around this one say how:
//
//   - first, the speakers are forgotten (SpeakingChanged for each that was speaking, then
//     ActiveSpeakersChanged; the new room's server reports them anew);
//   - before it, the remote participants who are not in the new room leave as usual: the
//     DataTrackUnpublished of each of their tracks, then ParticipantDisconnected (their RPCs
//     and incoming streams end as for any departure);
//   - then RoomMoved, with Room.Info already the new room's;
//   - after it, the local participant's changes (ParticipantInfoChanged for a new sid, its
//     name, metadata, attributes or permission), ParticipantConnected for each participant of
//     the new room and DataTrackPublished for their tracks (auto-subscribed with
//     Options.AutoSubscribe). A participant in both rooms keeps its RemoteParticipant.
//
// Subscriptions to tracks that are in the new room too are asked for again there; the token
// the server sent with the move replaces the room's, so a later reconnection joins the new
// room.
type RoomMoved struct {
	// OldName is the name of the room the session was moved out of.
	OldName string
	// Info is the new room.
	Info RoomInfo
}

func (RoomMoved) isEvent() {}

// applyMove applies room_moved (loop). The order of its steps is the order of the events
// RoomMoved documents: the departures of who is not in the new room (their tracks first),
// the room's new info and RoomMoved, then the local participant, the arrivals and their
// tracks, and the renewed subscriptions. Like a full reconnect's join (applyJoin), the list
// of other participants is the whole new room.
func (r *Room) applyMove(mv *lkpb.RoomMovedResponse) {
	if t := mv.GetToken(); t != "" {
		r.token.Store(&t)
	}
	others := make([]*lkpb.ParticipantInfo, 0, len(mv.GetOtherParticipants()))
	for _, info := range mv.GetOtherParticipants() {
		if info.GetIdentity() != "" && info.GetIdentity() != r.local.Identity() && info.GetState() != lkpb.ParticipantInfo_DISCONNECTED {
			others = append(others, info)
		}
	}
	r.events.push(r.parts.forgetSpeakers()...) // the new room's server reports them anew
	left := r.parts.retain(others)
	r.sessionsEnded(left, nil)
	var kept []*lkpb.ParticipantInfo
	for _, info := range others {
		if r.parts.remote(info.GetIdentity()) != nil {
			kept = append(kept, info)
		}
	}
	r.dt.rejoined(kept) // the old room's handles are void; the tracks of who left go
	r.events.push(left...)

	oldName := r.Info().Name
	if room := mv.GetRoom(); room != nil {
		r.setRoomInfo(room, nil, false)
	}
	r.events.push(RoomMoved{OldName: oldName, Info: r.Info()})

	if p := mv.GetParticipant(); p != nil && p.GetIdentity() == r.local.Identity() {
		old := r.local.load()
		r.local.store(p)
		r.events.push(diffInfo(r.local, old, p, true)...)
		r.checkPending(nil)
	}
	evs, _ := r.parts.apply(others)
	r.sessionsEnded(evs, nil) // who is in both rooms with another session: its old one's streams
	r.events.push(evs...)
	r.dt.movedIn(others)
}
