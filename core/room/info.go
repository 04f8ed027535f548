package room

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
)

// RoomInfo is a copy of the room's state as the server last described it.
type RoomInfo struct {
	SID             string // RM_…; may be empty until the server assigns it
	Name            string
	Metadata        string
	NumParticipants uint32
	NumPublishers   uint32    // participants publishing something (data tracks included)
	MaxParticipants uint32    // 0: no limit
	CreatedAt       time.Time // zero when the server did not say
	// ActiveRecording: an egress (recording) of the room is running.
	ActiveRecording bool
	// EmptyTimeout is how long the server keeps a room that no one joined,
	// DepartureTimeout how long it keeps one after its last participant left
	// (whole seconds; 0 when the server did not say).
	EmptyTimeout     time.Duration
	DepartureTimeout time.Duration
	// Server is the server the session is connected to; it changes only
	// with a full reconnect (reported as RoomInfoChanged).
	Server ServerInfo
}

// equal reports whether i and o hold the same values.
func (i RoomInfo) equal(o RoomInfo) bool {
	return i.SID == o.SID && i.Name == o.Name && i.Metadata == o.Metadata &&
		i.NumParticipants == o.NumParticipants && i.NumPublishers == o.NumPublishers &&
		i.MaxParticipants == o.MaxParticipants && i.CreatedAt.Equal(o.CreatedAt) &&
		i.ActiveRecording == o.ActiveRecording && i.EmptyTimeout == o.EmptyTimeout &&
		i.DepartureTimeout == o.DepartureTimeout && i.Server == o.Server
}

// ServerInfo describes a LiveKit server as its JoinResponse does.
type ServerInfo struct {
	Edition  ServerEdition
	Version  string // e.g. "1.13.5"
	Protocol int32  // the signalling protocol version it speaks
	// Region is the server's region: LiveKit Cloud's region the session
	// lives in ("" for a self-hosted server without one configured).
	Region string
	NodeID string // the node within the deployment (ND_…)
}

// ServerEdition is the kind of LiveKit deployment.
type ServerEdition int

// Server editions (the server's ServerInfo.edition).
const (
	ServerStandard ServerEdition = iota // open-source livekit-server
	ServerCloud                         // LiveKit Cloud
)

// String returns "standard" or "cloud".
func (e ServerEdition) String() string {
	switch e {
	case ServerStandard:
		return "standard"
	case ServerCloud:
		return "cloud"
	}
	return fmt.Sprintf("ServerEdition(%d)", int(e))
}

// serverInfoFrom converts the server's ServerInfo message (an edition newer
// than this library is reported as standard).
func serverInfoFrom(in *lkpb.ServerInfo) ServerInfo {
	out := ServerInfo{Version: in.GetVersion(), Protocol: in.GetProtocol(), Region: in.GetRegion(), NodeID: in.GetNodeId()}
	if in.GetEdition() == lkpb.ServerInfo_Cloud {
		out.Edition = ServerCloud
	}
	return out
}

// roomInfoFrom converts the server's Room message and the session's
// ServerInfo.
func roomInfoFrom(in *lkpb.Room, srv *lkpb.ServerInfo) RoomInfo {
	out := RoomInfo{
		SID: in.GetSid(), Name: in.GetName(), Metadata: in.GetMetadata(),
		NumParticipants: in.GetNumParticipants(), NumPublishers: in.GetNumPublishers(),
		MaxParticipants: in.GetMaxParticipants(), ActiveRecording: in.GetActiveRecording(),
		EmptyTimeout:     time.Duration(in.GetEmptyTimeout()) * time.Second,
		DepartureTimeout: time.Duration(in.GetDepartureTimeout()) * time.Second,
		Server:           serverInfoFrom(srv),
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

// ParticipantKindDetail refines a participant's kind (the server's
// ParticipantInfo.kind_details, from its token's "kindDetails"). The values
// are LiveKit's numbers; details newer than this library arrive as their
// number.
type ParticipantKindDetail int32

// Participant kind details.
const (
	KindDetailCloudAgent        ParticipantKindDetail = 0 // an agent hosted by LiveKit Cloud
	KindDetailForwarded         ParticipantKindDetail = 1 // a participant forwarded from another room
	KindDetailConnectorWhatsApp ParticipantKindDetail = 2 // a WhatsApp connector
	KindDetailConnectorTwilio   ParticipantKindDetail = 3 // a Twilio connector
	KindDetailBridgeRTSP        ParticipantKindDetail = 4 // an RTSP bridge
	KindDetailSimulation        ParticipantKindDetail = 5 // a simulated participant (agent evaluation)
)

// String returns the detail's name (the server's, in lower case), or its
// number for a detail newer than this library.
func (d ParticipantKindDetail) String() string {
	if n, ok := lkpb.ParticipantInfo_KindDetail_name[int32(d)]; ok {
		return strings.ToLower(n)
	}
	return strconv.Itoa(int(d))
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
	// KindDetails refine Kind (a forwarded participant, a Cloud agent, a
	// connector's service, ...); nil when the server sent none.
	KindDetails []ParticipantKindDetail
	JoinedAt    time.Time // zero when the server did not say
	// ClientProtocol is the participant's ClientInfo.client_protocol (0 =
	// legacy, 1 = RPC over data streams, 2 = also single-packet data streams).
	ClientProtocol int32
	// Permission is nil when the server sent none.
	Permission *ParticipantPermission
	// ConnectionQuality is the latest quality the server reported
	// (ConnectionQualityUnknown until it reports one; a ParticipantConnected's
	// Info has none yet). ConnectionQualityChanged reports each change.
	ConnectionQuality ConnectionQuality
	// Speaking and AudioLevel are the server's latest speaker update about
	// the participant (false and 0 until it sends one; AudioLevel is 0 when
	// not speaking). SpeakingChanged reports each change.
	Speaking   bool
	AudioLevel float32
	// Tracks are the participant's media tracks (audio, video) in the
	// server's order; nil when it publishes none. Data tracks are not among
	// them.
	Tracks []TrackPublicationInfo
}

// samePermission reports whether a and b grant the same (nil: none sent).
func samePermission(a, b *ParticipantPermission) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// equal reports whether i and o hold the same values.
func (i ParticipantInfo) equal(o ParticipantInfo) bool {
	return i.SID == o.SID && i.Identity == o.Identity && i.Name == o.Name && i.Metadata == o.Metadata &&
		maps.Equal(i.Attributes, o.Attributes) && i.Kind == o.Kind && slices.Equal(i.KindDetails, o.KindDetails) &&
		i.JoinedAt.Equal(o.JoinedAt) &&
		i.ClientProtocol == o.ClientProtocol && samePermission(i.Permission, o.Permission) &&
		i.ConnectionQuality == o.ConnectionQuality && i.Speaking == o.Speaking && i.AudioLevel == o.AudioLevel &&
		slices.Equal(i.Tracks, o.Tracks)
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
	for _, d := range in.GetKindDetails() {
		out.KindDetails = append(out.KindDetails, ParticipantKindDetail(d))
	}
	switch {
	case in.GetJoinedAtMs() != 0:
		out.JoinedAt = time.UnixMilli(in.GetJoinedAtMs())
	case in.GetJoinedAt() != 0:
		out.JoinedAt = time.Unix(in.GetJoinedAt(), 0)
	}
	out.Permission = permissionFrom(in.GetPermission())
	out.Tracks = mediaTracksFrom(in.GetTracks())
	return out
}

// permissionFrom converts the server's permission (nil when it sent none).
func permissionFrom(p *lkpb.ParticipantPermission) *ParticipantPermission {
	if p == nil {
		return nil
	}
	return &ParticipantPermission{CanSubscribe: p.GetCanSubscribe(), CanPublish: p.GetCanPublish(),
		CanPublishData: p.GetCanPublishData(), Hidden: p.GetHidden()}
}

// DisconnectReason says why a participant or the room's session ended. The
// values are LiveKit's DisconnectReason numbers; reasons newer than this
// library arrive as their number.
type DisconnectReason int32

// Disconnect reasons.
const (
	DisconnectUnknown            DisconnectReason = 0
	DisconnectClientInitiated    DisconnectReason = 1  // the client left (Disconnect)
	DisconnectDuplicateIdentity  DisconnectReason = 2  // another client joined with the same identity
	DisconnectServerShutdown     DisconnectReason = 3  // the server is shutting down
	DisconnectParticipantRemoved DisconnectReason = 4  // removed through the server API
	DisconnectRoomDeleted        DisconnectReason = 5  // the room was deleted
	DisconnectStateMismatch      DisconnectReason = 6  // the server lost the session's state
	DisconnectJoinFailure        DisconnectReason = 7  // the join did not complete
	DisconnectMigration          DisconnectReason = 8  // moved to another server
	DisconnectSignalClose        DisconnectReason = 9  // the signalling connection closed
	DisconnectRoomClosed         DisconnectReason = 10 // the room was closed
	DisconnectUserUnavailable    DisconnectReason = 11 // SIP: the callee is unavailable
	DisconnectUserRejected       DisconnectReason = 12 // SIP: the callee rejected the call
	DisconnectSIPTrunkFailure    DisconnectReason = 13 // SIP: the trunk failed
	DisconnectConnectionTimeout  DisconnectReason = 14 // the connection timed out
	DisconnectMediaFailure       DisconnectReason = 15 // media could not flow
	DisconnectAgentError         DisconnectReason = 16 // an agent failed
)

// String returns LiveKit's name of the reason (e.g. "CLIENT_INITIATED").
func (r DisconnectReason) String() string { return lkpb.DisconnectReason(r).String() }

// RequestReason is why the server refused a signalling request (the values
// are LiveKit's RequestResponse.Reason numbers).
type RequestReason int32

// Request refusal reasons.
const (
	RequestNotFound        RequestReason = 1
	RequestNotAllowed      RequestReason = 2  // e.g. no canUpdateOwnMetadata grant
	RequestLimitExceeded   RequestReason = 3  // e.g. a name or metadata too long
	RequestUnsupportedType RequestReason = 5  // the server does not know the request
	RequestUnclassified    RequestReason = 6  // any other failure
	RequestInvalidHandle   RequestReason = 7  // data tracks
	RequestInvalidName     RequestReason = 8  // data tracks
	RequestDuplicateHandle RequestReason = 9  // data tracks
	RequestDuplicateName   RequestReason = 10 // data tracks
	RequestInvalidRequest  RequestReason = 11
)

// String returns LiveKit's name of the reason (e.g. "NOT_ALLOWED").
func (r RequestReason) String() string { return lkpb.RequestResponse_Reason(r).String() }

// Capability is a client capability a participant advertises.
type Capability int32

// Capabilities.
const (
	// CapabilityPacketTrailer: media frames may carry a packet trailer.
	CapabilityPacketTrailer Capability = 1
	// CapabilityDeflateRaw: the client inflates deflate-raw compressed data streams.
	CapabilityDeflateRaw Capability = 2
)

// String returns LiveKit's name of the capability.
func (c Capability) String() string { return lkpb.ClientInfo_Capability(c).String() }

// CandidatePair is the ICE candidate pair a connection sends on.
type CandidatePair struct {
	Local, Remote Candidate
}

// Candidate is one end of a CandidatePair.
type Candidate struct {
	// Type is host, srflx, prflx or relay.
	Type webrtc.ICECandidateType
	// Protocol is the candidate's transport, "udp" or "tcp".
	Protocol string
	// IP and Port are the candidate's address (for a local relay candidate:
	// the address the TURN server relays from).
	IP   string
	Port int
	// RelayProtocol is, for a local relay candidate, the transport between
	// this client and the TURN server ("udp", "tcp", "tls"); "" otherwise.
	RelayProtocol string
}

func candidateFrom(c engine.Candidate) Candidate {
	return Candidate{Type: c.Type, Protocol: c.Protocol, IP: c.IP, Port: c.Port, RelayProtocol: c.RelayProtocol}
}
