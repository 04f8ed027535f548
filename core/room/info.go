package room

import (
	"maps"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// RoomInfo is a copy of the room's state as the server last described it.
type RoomInfo struct {
	SID             string // RM_…; may be empty until the server assigns it
	Name            string
	Metadata        string
	NumParticipants uint32
	MaxParticipants uint32    // 0: no limit
	CreatedAt       time.Time // zero when the server did not say
}

// roomInfoFrom converts the server's Room message.
func roomInfoFrom(in *lkpb.Room) RoomInfo {
	out := RoomInfo{
		SID: in.GetSid(), Name: in.GetName(), Metadata: in.GetMetadata(),
		NumParticipants: in.GetNumParticipants(), MaxParticipants: in.GetMaxParticipants(),
	}
	switch {
	case in.GetCreationTimeMs() != 0:
		out.CreatedAt = time.UnixMilli(in.GetCreationTimeMs())
	case in.GetCreationTime() != 0:
		out.CreatedAt = time.Unix(in.GetCreationTime(), 0)
	}
	return out
}

// ParticipantKind is the kind of a participant.
type ParticipantKind int

// Participant kinds (the server's ParticipantInfo.kind).
const (
	ParticipantStandard  ParticipantKind = iota // a regular client
	ParticipantIngress                          // an ingress (media import)
	ParticipantEgress                           // an egress (recording)
	ParticipantSIP                              // a SIP call
	ParticipantAgent                            // an agent
	ParticipantConnector                        // a connector
	ParticipantBridge                           // a bridge
	ParticipantUnknown                          // a kind newer than this library
)

// String returns the kind's name.
func (k ParticipantKind) String() string {
	switch k {
	case ParticipantStandard:
		return "standard"
	case ParticipantIngress:
		return "ingress"
	case ParticipantEgress:
		return "egress"
	case ParticipantSIP:
		return "sip"
	case ParticipantAgent:
		return "agent"
	case ParticipantConnector:
		return "connector"
	case ParticipantBridge:
		return "bridge"
	}
	return "unknown"
}

func participantKindFrom(k lkpb.ParticipantInfo_Kind) ParticipantKind {
	switch k {
	case lkpb.ParticipantInfo_STANDARD:
		return ParticipantStandard
	case lkpb.ParticipantInfo_INGRESS:
		return ParticipantIngress
	case lkpb.ParticipantInfo_EGRESS:
		return ParticipantEgress
	case lkpb.ParticipantInfo_SIP:
		return ParticipantSIP
	case lkpb.ParticipantInfo_AGENT:
		return ParticipantAgent
	case lkpb.ParticipantInfo_CONNECTOR:
		return ParticipantConnector
	case lkpb.ParticipantInfo_BRIDGE:
		return ParticipantBridge
	}
	return ParticipantUnknown
}

// ParticipantPermission is what the server allows a participant.
type ParticipantPermission struct {
	CanSubscribe   bool
	CanPublish     bool
	CanPublishData bool
	Hidden         bool
}

// ParticipantInfo is a copy of a participant's state as the server last
// described it. The value is owned by its receiver.
type ParticipantInfo struct {
	SID        string // PA_…, new for every session
	Identity   string
	Name       string
	Metadata   string
	Attributes map[string]string // never nil
	Kind       ParticipantKind
	JoinedAt   time.Time // zero when the server did not say
	// ClientProtocol is the participant's ClientInfo.client_protocol (0 =
	// legacy, 1 = RPC over data streams, 2 = also single-packet data streams).
	ClientProtocol int32
	// Permission is nil when the server sent none.
	Permission *ParticipantPermission
}

// participantInfoFrom converts a ParticipantInfo received from the server.
func participantInfoFrom(in *lkpb.ParticipantInfo) ParticipantInfo {
	out := ParticipantInfo{
		SID: in.GetSid(), Identity: in.GetIdentity(), Name: in.GetName(), Metadata: in.GetMetadata(),
		Attributes: maps.Clone(in.GetAttributes()), Kind: participantKindFrom(in.GetKind()),
		ClientProtocol: in.GetClientProtocol(),
	}
	if out.Attributes == nil {
		out.Attributes = map[string]string{}
	}
	switch {
	case in.GetJoinedAtMs() != 0:
		out.JoinedAt = time.UnixMilli(in.GetJoinedAtMs())
	case in.GetJoinedAt() != 0:
		out.JoinedAt = time.Unix(in.GetJoinedAt(), 0)
	}
	if p := in.GetPermission(); p != nil {
		out.Permission = &ParticipantPermission{CanSubscribe: p.GetCanSubscribe(), CanPublish: p.GetCanPublish(),
			CanPublishData: p.GetCanPublishData(), Hidden: p.GetHidden()}
	}
	return out
}
