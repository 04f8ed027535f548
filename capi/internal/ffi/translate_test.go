package ffi

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
	"google.golang.org/protobuf/proto"
)

// The pump translates the core's events one to one, with the values the event carries (not
// the room's current ones): old and new metadata and names (ABI 1.3), the room's counts, the local participant
// after a full reconnect, the reconnect attempt the core numbered, the reliable packets a
// reconnect discarded or replayed (ABI 1.28).
func TestTranslateCarriesTheEventsValues(t *testing.T) {
	r := &Room{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	created := time.UnixMilli(1_700_000_000_000)
	alice := room.ParticipantInfo{SID: "PA_1", Identity: "alice", Name: "Alice 2", Metadata: "m2", Attributes: map[string]string{"a": "1"}, Kind: room.ParticipantAgent, JoinedAt: created}
	reconnecting := ffipb.ConnectionState_CONNECTION_STATE_RECONNECTING
	mic := room.TrackPublicationInfo{SID: "TR_m", Name: "mic", Kind: room.TrackAudio, Source: room.SourceMicrophone, Muted: true, MimeType: "audio/opus", Encrypted: true}
	cam := room.TrackPublicationInfo{SID: "TR_c", Kind: room.TrackVideo, Source: room.SourceScreenShare, Width: 1920, Height: 1080, Simulcast: true}
	micPB := &ffipb.TrackPublicationInfo{Sid: "TR_m", Name: "mic", Kind: ffipb.TrackKind_TRACK_KIND_AUDIO, Source: ffipb.TrackSource_TRACK_SOURCE_MICROPHONE, Muted: true, MimeType: "audio/opus", Encrypted: true}
	camPB := &ffipb.TrackPublicationInfo{Sid: "TR_c", Kind: ffipb.TrackKind_TRACK_KIND_VIDEO, Source: ffipb.TrackSource_TRACK_SOURCE_SCREEN_SHARE, Width: 1920, Height: 1080, Simulcast: true}
	withTracks := alice
	withTracks.Tracks = []room.TrackPublicationInfo{mic, cam}
	cases := []struct {
		name string
		ev   room.Event
		want *ffipb.RoomEvent
	}{
		{"room metadata", room.RoomMetadataChanged{OldMetadata: "old", NewMetadata: "new", Info: room.RoomInfo{SID: "RM_1", Name: "r", Metadata: "new", NumParticipants: 2, CreatedAt: created}},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_RoomUpdated{RoomUpdated: &ffipb.RoomUpdated{
				Info:            &ffipb.RoomInfo{Sid: "RM_1", Name: "r", Metadata: "new", NumParticipants: 2, CreationTimeMs: created.UnixMilli(), ConnectionState: reconnecting, Server: &ffipb.ServerInfo{}},
				MetadataChanged: true, OldMetadata: "old",
			}}}},
		{"room counts", room.RoomInfoChanged{Info: room.RoomInfo{SID: "RM_1", Name: "r", Metadata: "m", NumParticipants: 3, NumPublishers: 2, MaxParticipants: 9, CreatedAt: created,
			ActiveRecording: true, EmptyTimeout: 300 * time.Second, DepartureTimeout: 20 * time.Second,
			Server: room.ServerInfo{Edition: room.ServerCloud, Version: "1.9.1", Protocol: 16, Region: "eu-central", NodeID: "ND_2"}}},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_RoomUpdated{RoomUpdated: &ffipb.RoomUpdated{
				Info: &ffipb.RoomInfo{Sid: "RM_1", Name: "r", Metadata: "m", NumParticipants: 3, NumPublishers: 2, MaxParticipants: 9, CreationTimeMs: created.UnixMilli(), ConnectionState: reconnecting,
					ActiveRecording: true, EmptyTimeoutSeconds: 300, DepartureTimeoutSeconds: 20,
					Server: &ffipb.ServerInfo{Edition: ffipb.ServerEdition_SERVER_EDITION_CLOUD, Version: "1.9.1", Protocol: 16, Region: "eu-central", NodeId: "ND_2"}},
			}}}},
		{"room moved", room.RoomMoved{OldName: "a", Info: room.RoomInfo{SID: "RM_2", Name: "b", Metadata: "mb", NumParticipants: 2, CreatedAt: created}},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_RoomMoved{RoomMoved: &ffipb.RoomMoved{
				Info:        &ffipb.RoomInfo{Sid: "RM_2", Name: "b", Metadata: "mb", NumParticipants: 2, CreationTimeMs: created.UnixMilli(), ConnectionState: reconnecting, Server: &ffipb.ServerInfo{}},
				OldRoomName: "a",
			}}}},
		{"DTMF", room.SipDTMFReceived{Code: 11, Digit: "#", SenderIdentity: "sip_1"},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_SipDtmfReceived{SipDtmfReceived: &ffipb.SipDtmfReceived{
				ParticipantIdentity: "sip_1", Code: 11, Digit: "#",
			}}}},
		{"participant name", room.ParticipantNameChanged{OldName: "Alice", NewName: "Alice 2", Info: alice},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: &ffipb.ParticipantUpdated{
				Info: participantInfo(alice), NameChanged: true, OldName: "Alice",
			}}}},
		{"participant metadata", room.ParticipantMetadataChanged{OldMetadata: "m1", NewMetadata: "m2", Info: alice},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: &ffipb.ParticipantUpdated{
				Info: participantInfo(alice), MetadataChanged: true, OldMetadata: "m1",
			}}}},
		{"participant attributes", room.ParticipantAttributesChanged{Changed: map[string]string{"b": "", "a": "1"}, Info: alice},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: &ffipb.ParticipantUpdated{
				Info: participantInfo(alice), ChangedAttributes: []string{"a", "b"},
			}}}},
		{"participant permission", room.ParticipantPermissionsChanged{OldPermission: &room.ParticipantPermission{CanSubscribe: true}, Info: alice},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: &ffipb.ParticipantUpdated{
				Info: participantInfo(alice), PermissionChanged: true,
			}}}},
		{"remote participant's new session", room.ParticipantInfoChanged{OldSID: "PA_0", Info: alice},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: &ffipb.ParticipantUpdated{Info: participantInfo(alice)}}}},
		{"local participant after a full reconnect", room.LocalParticipantRejoined{OldSID: "PA_0", Info: alice},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: &ffipb.ParticipantUpdated{Info: participantInfo(alice)}}}},
		{"media track published", room.TrackPublished{Track: cam, Info: withTracks},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: &ffipb.ParticipantUpdated{
				Info: participantInfo(withTracks), TrackPublished: camPB,
			}}}},
		{"media track unpublished", room.TrackUnpublished{Track: mic, Info: alice},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: &ffipb.ParticipantUpdated{
				Info: participantInfo(alice), TrackUnpublished: micPB,
			}}}},
		{"media track muted", room.TrackMuteChanged{Track: mic, Info: withTracks},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: &ffipb.ParticipantUpdated{
				Info: participantInfo(withTracks), TrackMuteChanged: micPB,
			}}}},
		{"reconnecting", room.Reconnecting{Kind: room.ReconnectFull, Attempt: 2},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_Reconnecting{Reconnecting: &ffipb.Reconnecting{Kind: ffipb.ReconnectKind_RECONNECT_KIND_FULL, Attempt: 2}}}},
		{"full reconnect, reliable packets discarded (ABI 1.28)", room.Reconnected{Kind: room.ReconnectFull, DiscardedPackets: 7},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_Reconnected{Reconnected: &ffipb.Reconnected{Kind: ffipb.ReconnectKind_RECONNECT_KIND_FULL, DiscardedPackets: 7}}}},
		{"resume, reliable packets replayed (ABI 1.28)", room.Reconnected{Kind: room.ReconnectResume, ReplayedPackets: 12},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_Reconnected{Reconnected: &ffipb.Reconnected{Kind: ffipb.ReconnectKind_RECONNECT_KIND_RESUME, ReplayedPackets: 12}}}},
		{"connection state", room.ConnectionStateChanged{State: room.StateReconnecting},
			&ffipb.RoomEvent{Message: &ffipb.RoomEvent_ConnectionStateChanged{ConnectionStateChanged: &ffipb.ConnectionStateChanged{State: reconnecting}}}},
	}
	for _, tc := range cases {
		if got := r.translate(tc.ev, reconnecting); !proto.Equal(got, tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, got, tc.want)
		}
	}
	if got := participantInfo(withTracks).GetTracks(); len(got) != 2 || !proto.Equal(got[0], micPB) || !proto.Equal(got[1], camPB) {
		t.Fatalf("tracks %v", got)
	}
	for src, want := range map[room.TrackSource]ffipb.TrackSource{room.SourceUnknown: ffipb.TrackSource_TRACK_SOURCE_UNKNOWN, room.SourceCamera: ffipb.TrackSource_TRACK_SOURCE_CAMERA,
		room.SourceMicrophone: ffipb.TrackSource_TRACK_SOURCE_MICROPHONE, room.SourceScreenShare: ffipb.TrackSource_TRACK_SOURCE_SCREEN_SHARE,
		room.SourceScreenShareAudio: ffipb.TrackSource_TRACK_SOURCE_SCREEN_SHARE_AUDIO} {
		if got := trackPublication(room.TrackPublicationInfo{Source: src}).GetSource(); got != want {
			t.Errorf("source %v: %v, want %v", src, got, want)
		}
	}
	if u := participantInfo(alice); u.GetKind() != ffipb.ParticipantKind_PARTICIPANT_KIND_AGENT || u.GetJoinedAtMs() != created.UnixMilli() || u.GetAttributes()["a"] != "1" {
		t.Fatalf("participant info %v", u)
	}
	// Every kind and kind detail of the core has its schema value; a newer one is UNSPECIFIED.
	kinds := map[room.ParticipantKind]ffipb.ParticipantKind{
		room.ParticipantStandard: ffipb.ParticipantKind_PARTICIPANT_KIND_STANDARD, room.ParticipantIngress: ffipb.ParticipantKind_PARTICIPANT_KIND_INGRESS,
		room.ParticipantEgress: ffipb.ParticipantKind_PARTICIPANT_KIND_EGRESS, room.ParticipantSIP: ffipb.ParticipantKind_PARTICIPANT_KIND_SIP,
		room.ParticipantAgent: ffipb.ParticipantKind_PARTICIPANT_KIND_AGENT, room.ParticipantConnector: ffipb.ParticipantKind_PARTICIPANT_KIND_CONNECTOR,
		room.ParticipantBridge: ffipb.ParticipantKind_PARTICIPANT_KIND_BRIDGE, room.ParticipantUnknown: ffipb.ParticipantKind_PARTICIPANT_KIND_UNSPECIFIED,
	}
	for k, want := range kinds {
		if got := participantKind(k); got != want {
			t.Errorf("kind %v: %v, want %v", k, got, want)
		}
	}
	details := []room.ParticipantKindDetail{room.KindDetailCloudAgent, room.KindDetailForwarded, room.KindDetailConnectorWhatsApp,
		room.KindDetailConnectorTwilio, room.KindDetailBridgeRTSP, room.KindDetailSimulation, 99}
	want := []ffipb.ParticipantKindDetail{ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_CLOUD_AGENT,
		ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_FORWARDED, ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_CONNECTOR_WHATSAPP,
		ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_CONNECTOR_TWILIO, ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_BRIDGE_RTSP,
		ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_SIMULATION, ffipb.ParticipantKindDetail_PARTICIPANT_KIND_DETAIL_UNSPECIFIED}
	if got := participantInfo(room.ParticipantInfo{KindDetails: details}).GetKindDetails(); !slices.Equal(got, want) {
		t.Errorf("kind details %v, want %v", got, want)
	}
}
