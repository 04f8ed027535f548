package ffi

import (
	"maps"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
)

// Conversions from core values to schema messages. They copy: nothing returned aliases core
// state.

func participantKind(k lkpb.ParticipantInfo_Kind) ffipb.ParticipantKind {
	switch k {
	case lkpb.ParticipantInfo_STANDARD:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_STANDARD
	case lkpb.ParticipantInfo_INGRESS:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_INGRESS
	case lkpb.ParticipantInfo_EGRESS:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_EGRESS
	case lkpb.ParticipantInfo_SIP:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_SIP
	case lkpb.ParticipantInfo_AGENT:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_AGENT
	}
	// CONNECTOR, BRIDGE and kinds added later have no schema value yet.
	return ffipb.ParticipantKind_PARTICIPANT_KIND_UNSPECIFIED
}

// participantInfo converts a ParticipantInfo received from the server.
func participantInfo(in *lkpb.ParticipantInfo) *ffipb.ParticipantInfo {
	if in == nil {
		return nil
	}
	joined := in.GetJoinedAtMs()
	if joined == 0 {
		joined = in.GetJoinedAt() * 1000
	}
	out := &ffipb.ParticipantInfo{
		Sid:            in.GetSid(),
		Identity:       in.GetIdentity(),
		Name:           in.GetName(),
		Metadata:       in.GetMetadata(),
		Attributes:     maps.Clone(in.GetAttributes()),
		Kind:           participantKind(in.GetKind()),
		JoinedAtMs:     joined,
		ClientProtocol: in.GetClientProtocol(),
	}
	if p := in.GetPermission(); p != nil {
		out.Permission = &ffipb.ParticipantPermission{
			CanSubscribe:   p.GetCanSubscribe(),
			CanPublish:     p.GetCanPublish(),
			CanPublishData: p.GetCanPublishData(),
			Hidden:         p.GetHidden(),
		}
	}
	return out
}

// connectionState converts the core's connection state.
func connectionState(s room.ConnectionState) ffipb.ConnectionState {
	switch s {
	case room.StateConnecting:
		return ffipb.ConnectionState_CONNECTION_STATE_CONNECTING
	case room.StateConnected:
		return ffipb.ConnectionState_CONNECTION_STATE_CONNECTED
	case room.StateReconnecting:
		return ffipb.ConnectionState_CONNECTION_STATE_RECONNECTING
	}
	return ffipb.ConnectionState_CONNECTION_STATE_DISCONNECTED
}

// roomInfo converts the server's Room message.
func roomInfo(in *lkpb.Room, state ffipb.ConnectionState) *ffipb.RoomInfo {
	created := in.GetCreationTimeMs()
	if created == 0 {
		created = in.GetCreationTime() * 1000
	}
	return &ffipb.RoomInfo{
		Sid:             in.GetSid(),
		Name:            in.GetName(),
		Metadata:        in.GetMetadata(),
		NumParticipants: in.GetNumParticipants(),
		MaxParticipants: in.GetMaxParticipants(),
		CreationTimeMs:  created,
		ConnectionState: state,
	}
}

// disconnectReason converts livekit.DisconnectReason: the schema copies its numbers, so the
// value passes through (reasons newer than the schema arrive as their number; hosts treat
// unknown values as UNKNOWN).
func disconnectReason(r lkpb.DisconnectReason) ffipb.DisconnectReason {
	return ffipb.DisconnectReason(r)
}
