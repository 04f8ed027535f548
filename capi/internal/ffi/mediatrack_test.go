package ffi

import (
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"google.golang.org/protobuf/proto"
)

// TestE2EMediaTrackPublications (ABI 1.25): another participant's media tracks, as the server
// describes them, reach the host as ParticipantUpdated with track_published, track_mute_changed
// and track_unpublished and the info after each; a participant that joins later finds them in
// its connect snapshot; a leaving participant's tracks are unpublished before it is reported
// gone.
func TestE2EMediaTrackPublications(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "media", "alice")
	bob, br, _ := joinHost(t, s, "media", "bob")
	mic := &lkpb.TrackInfo{Sid: "TR_mic", Name: "mic", Type: lkpb.TrackType_AUDIO, Source: lkpb.TrackSource_MICROPHONE, MimeType: "audio/opus"}
	cam := &lkpb.TrackInfo{Sid: "TR_cam", Type: lkpb.TrackType_VIDEO, Source: lkpb.TrackSource_CAMERA, Width: 1280, Height: 720, Simulcast: true, Encryption: lkpb.Encryption_GCM}
	micPB := &ffipb.TrackPublicationInfo{Sid: "TR_mic", Name: "mic", Kind: ffipb.TrackKind_TRACK_KIND_AUDIO, Source: ffipb.TrackSource_TRACK_SOURCE_MICROPHONE, MimeType: "audio/opus"}
	mutedPB := proto.Clone(micPB).(*ffipb.TrackPublicationInfo)
	mutedPB.Muted = true
	camPB := &ffipb.TrackPublicationInfo{Sid: "TR_cam", Kind: ffipb.TrackKind_TRACK_KIND_VIDEO, Source: ffipb.TrackSource_TRACK_SOURCE_CAMERA, Width: 1280, Height: 720, Simulcast: true, Encrypted: true}

	// update waits for bob's next ParticipantUpdated about alice with a track flag after from,
	// checks it names want in the field field() reads and that alice's info then lists tracks.
	from := 0
	update := func(what string, field func(*ffipb.ParticipantUpdated) *ffipb.TrackPublicationInfo, want *ffipb.TrackPublicationInfo, tracks ...*ffipb.TrackPublicationInfo) {
		t.Helper()
		ev, i := bob.roomEvent(what, from, func(e *ffipb.RoomEvent) bool {
			u := e.GetParticipantUpdated()
			return u.GetInfo().GetIdentity() == "alice" && (u.GetTrackPublished() != nil || u.GetTrackUnpublished() != nil || u.GetTrackMuteChanged() != nil)
		})
		from = i + 1
		u := ev.GetParticipantUpdated()
		if !proto.Equal(field(u), want) {
			t.Fatalf("%s: %v", what, u)
		}
		if n := boolCount(u.GetTrackPublished() != nil, u.GetTrackUnpublished() != nil, u.GetTrackMuteChanged() != nil,
			u.GetNameChanged(), u.GetMetadataChanged(), u.GetPermissionChanged(), len(u.GetChangedAttributes()) > 0); n != 1 {
			t.Fatalf("%s: %d changes in %v", what, n, u)
		}
		if got := u.GetInfo().GetTracks(); len(got) != len(tracks) {
			t.Fatalf("%s: alice's tracks %v, want %v", what, got, tracks)
		}
		for k, tr := range tracks {
			if !proto.Equal(u.GetInfo().GetTracks()[k], tr) {
				t.Fatalf("%s: alice's tracks %v, want %v", what, u.GetInfo().GetTracks(), tracks)
			}
		}
	}
	published := (*ffipb.ParticipantUpdated).GetTrackPublished
	unpublished := (*ffipb.ParticipantUpdated).GetTrackUnpublished
	muted := (*ffipb.ParticipantUpdated).GetTrackMuteChanged

	if !s.SetMediaTrack("media", "alice", mic) {
		t.Fatal("SetMediaTrack")
	}
	update("microphone published", published, micPB, micPB)
	mic.Muted = true
	s.SetMediaTrack("media", "alice", mic)
	update("microphone muted", muted, mutedPB, mutedPB)
	s.SetMediaTrack("media", "alice", cam)
	update("camera published", published, camPB, mutedPB, camPB)

	// A participant joining now finds both in its connect snapshot.
	_, _, cres := joinHost(t, s, "media", "carol")
	var seen []*ffipb.TrackPublicationInfo
	for _, p := range cres.GetRemoteParticipants() {
		if p.GetIdentity() == "alice" {
			seen = p.GetTracks()
		}
	}
	if len(seen) != 2 || !proto.Equal(seen[0], mutedPB) || !proto.Equal(seen[1], camPB) {
		t.Fatalf("carol's snapshot of alice's tracks: %v", seen)
	}

	s.RemoveMediaTrack("media", "alice", "TR_cam")
	update("camera unpublished", unpublished, camPB, mutedPB)
	snap := bob.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: br}}}).GetGetRoomSnapshot().GetSnapshot()
	for _, p := range snap.GetRemoteParticipants() {
		if p.GetIdentity() == "alice" && (len(p.GetTracks()) != 1 || !proto.Equal(p.GetTracks()[0], mutedPB)) {
			t.Fatalf("bob's snapshot of alice's tracks: %v", p.GetTracks())
		}
	}

	// Alice leaves: her microphone is unpublished before she is reported gone.
	alice.call(&ffipb.Request{Message: &ffipb.Request_Disconnect{Disconnect: &ffipb.DisconnectRequest{RoomHandle: ar}}})
	update("alice's microphone unpublished as she leaves", unpublished, mutedPB)
	bob.roomEvent("alice gone after her tracks", from, func(e *ffipb.RoomEvent) bool {
		return e.GetParticipantDisconnected().GetIdentity() == "alice"
	})
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
