package ffi

import (
	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
)

// The room's state as ConnectResult: the core's Snapshot (connect completion) or its current
// state (GetRoomSnapshotRequest). They copy: nothing returned aliases core state.

// connectResult converts the snapshot Connect returned.
func connectResult(s room.Snapshot, state ffipb.ConnectionState) *ffipb.ConnectResult {
	out := &ffipb.ConnectResult{
		Room:             roomInfo(s.Room, state),
		LocalParticipant: participantInfo(s.LocalParticipant),
	}
	for _, p := range s.RemoteParticipants {
		out.RemoteParticipants = append(out.RemoteParticipants, participantInfo(p))
	}
	for _, t := range s.RemoteDataTracks {
		out.RemoteDataTracks = append(out.RemoteDataTracks, &ffipb.RemoteDataTrackInfo{
			PublisherIdentity: t.Info.PublisherIdentity, Info: dataTrackInfo(t.Info),
			SubscriptionRevoked: t.SubscriptionRevoked,
		})
	}
	out.ActiveSpeakers = append(out.ActiveSpeakers, s.ActiveSpeakers...)
	return out
}

// currentSnapshot describes the room now (GetRoomSnapshotRequest), in ConnectResult's shape:
// the room info and, once the room has connected (joined), its participants and tracks.
func currentSnapshot(rm *room.Room, joined bool) *ffipb.ConnectResult {
	res := &ffipb.ConnectResult{Room: roomInfo(rm.Info(), connectionState(rm.State()))}
	if !joined {
		return res
	}
	res.LocalParticipant = participantInfo(rm.LocalParticipant().Info())
	for _, p := range rm.RemoteParticipants() {
		res.RemoteParticipants = append(res.RemoteParticipants, participantInfo(p.Info()))
		for _, t := range p.DataTracks() {
			res.RemoteDataTracks = append(res.RemoteDataTracks, remoteTrackInfo(t))
		}
	}
	for _, p := range rm.ActiveSpeakers() {
		res.ActiveSpeakers = append(res.ActiveSpeakers, p.Identity())
	}
	return res
}
