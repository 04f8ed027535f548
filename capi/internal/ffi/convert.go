package ffi

import (
	"maps"
	"math"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
)

// Conversions from core values to schema messages. They copy: nothing returned aliases core
// state.

// clampUint32 is a count for a uint32 field of the schema: negative values as 0, values above
// the field's range as its largest (only possible where int is 64 bits).
func clampUint32(n int) uint32 {
	if n <= 0 {
		return 0
	}
	return uint32(min(uint64(n), math.MaxUint32))
}

// intOf is a uint32 field of a request as the core's int: the same number where int is 64
// bits; where it is 32 bits (arm, 386), values above math.MaxInt32 become math.MaxInt32 instead
// of negative numbers, so a size the core caps (every cap is far below 2^31) is still refused
// as too large rather than taken as "default" or as a small number.
func intOf(u uint32) int { return int(min(uint64(u), math.MaxInt)) }

func participantKind(k room.ParticipantKind) ffipb.ParticipantKind {
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
	case room.ParticipantConnector:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_CONNECTOR
	case room.ParticipantBridge:
		return ffipb.ParticipantKind_PARTICIPANT_KIND_BRIDGE
	}
	// Kinds added later have no schema value yet.
	return ffipb.ParticipantKind_PARTICIPANT_KIND_UNSPECIFIED
}

// kindDetails maps the core's kind details to the schema's (UNSPECIFIED for one newer than the
// schema); nil for none.
func kindDetails(ds []room.ParticipantKindDetail) []ffipb.ParticipantKindDetail {
	var out []ffipb.ParticipantKindDetail
	for _, d := range ds {
		v := ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_UNSPECIFIED
		switch d {
		case room.KindDetailCloudAgent:
			v = ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_CLOUD_AGENT
		case room.KindDetailForwarded:
			v = ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_FORWARDED
		case room.KindDetailConnectorWhatsApp:
			v = ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_CONNECTOR_WHATSAPP
		case room.KindDetailConnectorTwilio:
			v = ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_CONNECTOR_TWILIO
		case room.KindDetailBridgeRTSP:
			v = ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_BRIDGE_RTSP
		case room.KindDetailSimulation:
			v = ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_SIMULATION
		}
		out = append(out, v)
	}
	return out
}

// encryptionState is the FFI value of a core EncryptionState.
func encryptionState(s room.EncryptionState) ffipb.EncryptionState {
	switch s {
	case room.EncryptionOK:
		return ffipb.EncryptionState_ENCRYPTION_STATE_OK
	case room.EncryptionMissingKey:
		return ffipb.EncryptionState_ENCRYPTION_STATE_MISSING_KEY
	case room.EncryptionDecryptionFailed:
		return ffipb.EncryptionState_ENCRYPTION_STATE_DECRYPTION_FAILED
	}
	return ffipb.EncryptionState_ENCRYPTION_STATE_UNSPECIFIED
}

// participantInfo converts the core's participant state.
func participantInfo(in room.ParticipantInfo) *ffipb.ParticipantInfo {
	out := &ffipb.ParticipantInfo{
		Sid:               in.SID,
		Identity:          in.Identity,
		Name:              in.Name,
		Metadata:          in.Metadata,
		Attributes:        maps.Clone(in.Attributes),
		Kind:              participantKind(in.Kind),
		KindDetails:       kindDetails(in.KindDetails),
		ClientProtocol:    in.ClientProtocol,
		ConnectionQuality: connectionQuality(in.ConnectionQuality),
		IsSpeaking:        in.Speaking,
		AudioLevel:        in.AudioLevel,
	}
	out.JoinedAtMs = unixMillis(in.JoinedAt)
	for _, t := range in.Tracks {
		out.Tracks = append(out.Tracks, trackPublication(t))
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

// trackPublication converts the core's description of a media track.
func trackPublication(t room.TrackPublicationInfo) *ffipb.TrackPublicationInfo {
	out := &ffipb.TrackPublicationInfo{
		Sid: t.SID, Name: t.Name, Muted: t.Muted, MimeType: t.MimeType,
		Width: t.Width, Height: t.Height, Simulcast: t.Simulcast, Encrypted: t.Encrypted,
	}
	if t.Kind == room.TrackVideo {
		out.Kind = ffipb.TrackKind_TRACK_KIND_VIDEO
	}
	switch t.Source {
	case room.SourceCamera:
		out.Source = ffipb.TrackSource_TRACK_SOURCE_CAMERA
	case room.SourceMicrophone:
		out.Source = ffipb.TrackSource_TRACK_SOURCE_MICROPHONE
	case room.SourceScreenShare:
		out.Source = ffipb.TrackSource_TRACK_SOURCE_SCREEN_SHARE
	case room.SourceScreenShareAudio:
		out.Source = ffipb.TrackSource_TRACK_SOURCE_SCREEN_SHARE_AUDIO
	}
	return out
}

// connectionQuality converts the core's connection quality.
func connectionQuality(q room.ConnectionQuality) ffipb.ConnectionQuality {
	switch q {
	case room.ConnectionPoor:
		return ffipb.ConnectionQuality_CONNECTION_QUALITY_POOR
	case room.ConnectionGood:
		return ffipb.ConnectionQuality_CONNECTION_QUALITY_GOOD
	case room.ConnectionExcellent:
		return ffipb.ConnectionQuality_CONNECTION_QUALITY_EXCELLENT
	case room.ConnectionLost:
		return ffipb.ConnectionQuality_CONNECTION_QUALITY_LOST
	default:
		return ffipb.ConnectionQuality_CONNECTION_QUALITY_UNKNOWN
	}
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

// roomInfo converts the core's room state.
func roomInfo(in room.RoomInfo, state ffipb.ConnectionState) *ffipb.RoomInfo {
	out := &ffipb.RoomInfo{
		Sid:             in.SID,
		Name:            in.Name,
		Metadata:        in.Metadata,
		NumParticipants: in.NumParticipants,
		MaxParticipants: in.MaxParticipants,
		ConnectionState: state,
		NumPublishers:   in.NumPublishers,
		ActiveRecording: in.ActiveRecording,
		// Whole seconds from the server.
		EmptyTimeoutSeconds:     uint32(in.EmptyTimeout / time.Second),
		DepartureTimeoutSeconds: uint32(in.DepartureTimeout / time.Second),
		CreationTimeMs:          unixMillis(in.CreatedAt),
		Server: &ffipb.ServerInfo{
			Edition:  serverEdition(in.Server.Edition),
			Version:  in.Server.Version,
			Protocol: in.Server.Protocol,
			Region:   in.Server.Region,
			NodeId:   in.Server.NodeID,
		},
	}
	return out
}

// serverEdition converts the core's ServerEdition.
func serverEdition(e room.ServerEdition) ffipb.ServerEdition {
	if e == room.ServerCloud {
		return ffipb.ServerEdition_SERVER_EDITION_CLOUD
	}
	return ffipb.ServerEdition_SERVER_EDITION_STANDARD
}

// disconnectReason converts the core's DisconnectReason: both copy livekit's numbers, so the
// value passes through (reasons newer than the schema arrive as their number; hosts treat
// unknown values as UNKNOWN).
func disconnectReason(r room.DisconnectReason) ffipb.DisconnectReason {
	return ffipb.DisconnectReason(r)
}

// chatMessage converts a core chat message (zero times as 0).
func chatMessage(m room.ChatMessage) *ffipb.ChatMessage {
	return &ffipb.ChatMessage{Id: m.ID, TimestampMs: unixMillis(m.Timestamp), Message: m.Message,
		EditTimestampMs: unixMillis(m.EditTimestamp), Deleted: m.Deleted, Generated: m.Generated}
}

// chatMessageFromProto converts a host's chat message (0 times as zero).
func chatMessageFromProto(m *ffipb.ChatMessage) room.ChatMessage {
	out := room.ChatMessage{ID: m.GetId(), Message: m.GetMessage(), Deleted: m.GetDeleted(), Generated: m.GetGenerated()}
	if ms := m.GetTimestampMs(); ms != 0 {
		out.Timestamp = time.UnixMilli(ms)
	}
	if ms := m.GetEditTimestampMs(); ms != 0 {
		out.EditTimestamp = time.UnixMilli(ms)
	}
	return out
}

// transcription converts a core transcription.
func transcription(t room.Transcription) *ffipb.Transcription {
	out := &ffipb.Transcription{ParticipantIdentity: t.ParticipantIdentity, TrackSid: t.TrackSID,
		Segments: make([]*ffipb.TranscriptionSegment, len(t.Segments))}
	for i, s := range t.Segments {
		out.Segments[i] = &ffipb.TranscriptionSegment{Id: s.ID, Text: s.Text, StartTime: s.StartTime,
			EndTime: s.EndTime, Final: s.Final, Language: s.Language}
	}
	return out
}

// transcriptionFromProto converts a host's transcription (the core checks it).
func transcriptionFromProto(t *ffipb.Transcription) room.Transcription {
	out := room.Transcription{ParticipantIdentity: t.GetParticipantIdentity(), TrackSID: t.GetTrackSid(),
		Segments: make([]room.TranscriptionSegment, len(t.GetSegments()))}
	for i, s := range t.GetSegments() {
		out.Segments[i] = room.TranscriptionSegment{ID: s.GetId(), Text: s.GetText(), StartTime: s.GetStartTime(),
			EndTime: s.GetEndTime(), Final: s.GetFinal(), Language: s.GetLanguage()}
	}
	return out
}

// unixMillis is t in Unix milliseconds, 0 for the zero time (the schema's "not known").
func unixMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
