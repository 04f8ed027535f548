package ffi

import (
	"maps"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
)

// Conversions of the core's room-owned value types (room.Snapshot, room.RoomInfo,
// room.ParticipantInfo) to schema messages. They copy: nothing returned aliases core state.

// connectResult converts the snapshot Connect returned.
func connectResult(s room.Snapshot, state ffipb.ConnectionState) *ffipb.ConnectResult {
	out := &ffipb.ConnectResult{
		Room:             roomInfoValue(s.Room, state),
		LocalParticipant: participantInfoValue(s.LocalParticipant),
	}
	for _, p := range s.RemoteParticipants {
		out.RemoteParticipants = append(out.RemoteParticipants, participantInfoValue(p))
	}
	for _, t := range s.RemoteDataTracks {
		out.RemoteDataTracks = append(out.RemoteDataTracks, &ffipb.RemoteDataTrackInfo{
			PublisherIdentity: t.Info.PublisherIdentity, Info: dataTrackInfo(t.Info),
		})
	}
	return out
}

// currentSnapshot describes the room now (GetRoomSnapshotRequest), in ConnectResult's shape.
func currentSnapshot(rm *room.Room) *ffipb.ConnectResult {
	state := connectionState(rm.State())
	res := &ffipb.ConnectResult{Room: roomInfo(rm.Info(), state)}
	if state == ffipb.ConnectionState_CONNECTION_STATE_DISCONNECTED || state == ffipb.ConnectionState_CONNECTION_STATE_CONNECTING {
		return res
	}
	res.LocalParticipant = participantInfo(rm.LocalParticipant().Info())
	for _, p := range rm.RemoteParticipants() {
		res.RemoteParticipants = append(res.RemoteParticipants, participantInfo(p.Info()))
		for _, t := range p.DataTracks() {
			res.RemoteDataTracks = append(res.RemoteDataTracks, remoteTrackInfo(t))
		}
	}
	return res
}

func roomInfoValue(in room.RoomInfo, state ffipb.ConnectionState) *ffipb.RoomInfo {
	out := &ffipb.RoomInfo{
		Sid:             in.SID,
		Name:            in.Name,
		Metadata:        in.Metadata,
		NumParticipants: in.NumParticipants,
		MaxParticipants: in.MaxParticipants,
		ConnectionState: state,
	}
	if !in.CreatedAt.IsZero() {
		out.CreationTimeMs = in.CreatedAt.UnixMilli()
	}
	return out
}

func participantInfoValue(in room.ParticipantInfo) *ffipb.ParticipantInfo {
	out := &ffipb.ParticipantInfo{
		Sid:            in.SID,
		Identity:       in.Identity,
		Name:           in.Name,
		Metadata:       in.Metadata,
		Attributes:     maps.Clone(in.Attributes),
		Kind:           participantKindValue(in.Kind),
		ClientProtocol: in.ClientProtocol,
	}
	if !in.JoinedAt.IsZero() {
		out.JoinedAtMs = in.JoinedAt.UnixMilli()
	}
	if p := in.Permission; p != nil {
		out.Permission = &ffipb.ParticipantPermission{
			CanSubscribe:   p.CanSubscribe,
			CanPublish:     p.CanPublish,
			CanPublishData: p.CanPublishData,
			Hidden:         p.Hidden,
		}
	}
	return out
}

func participantKindValue(k room.ParticipantKind) ffipb.ParticipantKind {
	switch k {
	case room.ParticipantStandard:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_STANDARD
	case room.ParticipantIngress:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_INGRESS
	case room.ParticipantEgress:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_EGRESS
	case room.ParticipantSIP:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_SIP
	case room.ParticipantAgent:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_AGENT
	}
	// Connector, bridge and kinds added later have no schema value yet.
	return ffipb.ParticipantKind_PARTICIPANT_KIND_UNSPECIFIED
}
