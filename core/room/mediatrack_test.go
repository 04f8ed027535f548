package room

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
)

func TestMediaTracksFrom(t *testing.T) {
	in := []*lkpb.TrackInfo{
		{Sid: "TR_a", Type: lkpb.TrackType_AUDIO, Name: "mic", Source: lkpb.TrackSource_MICROPHONE, Muted: true, MimeType: "audio/opus", Encryption: lkpb.Encryption_GCM},
		{Sid: "TR_d", Type: lkpb.TrackType_DATA},  // a legacy data track: not media
		{Sid: "", Type: lkpb.TrackType_AUDIO},     // no sid
		{Sid: "TR_a", Type: lkpb.TrackType_VIDEO}, // listed twice
		{Sid: "TR_v", Type: lkpb.TrackType_VIDEO, Source: lkpb.TrackSource_SCREEN_SHARE, Width: 1920, Height: 1080, Simulcast: true},
		{Sid: "TR_x", Type: lkpb.TrackType_AUDIO, Source: lkpb.TrackSource(42)},
	}
	want := []TrackPublicationInfo{
		{SID: "TR_a", Name: "mic", Kind: TrackAudio, Source: SourceMicrophone, Muted: true, MimeType: "audio/opus", Encrypted: true},
		{SID: "TR_v", Kind: TrackVideo, Source: SourceScreenShare, Width: 1920, Height: 1080, Simulcast: true},
		{SID: "TR_x", Kind: TrackAudio, Source: SourceUnknown},
	}
	if got := mediaTracksFrom(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	var many []*lkpb.TrackInfo
	for i := range maxMediaTracks + 5 {
		many = append(many, &lkpb.TrackInfo{Sid: fmt.Sprintf("TR_%d", i), Type: lkpb.TrackType_AUDIO})
	}
	if got := mediaTracksFrom(many); len(got) != maxMediaTracks || got[maxMediaTracks-1].SID != fmt.Sprintf("TR_%d", maxMediaTracks-1) {
		t.Fatalf("%d tracks kept of %d", len(got), len(many))
	}
}

// TestMediaTrackEvents follows a participant's media tracks through the participant table:
// each publication, mute, unmute and unpublication has its event with the track and the info
// after it, a joining participant's tracks follow its ParticipantConnected, a leaving one's
// precede its ParticipantDisconnected, and a change the events do not name is a
// ParticipantInfoChanged.
func TestMediaTrackEvents(t *testing.T) {
	local := &LocalParticipant{}
	local.store(info("me", "PA_me", 1, nil))
	tab := newParticipantTable(local)
	mic := func(muted bool) *lkpb.TrackInfo {
		return &lkpb.TrackInfo{Sid: "TR_mic", Type: lkpb.TrackType_AUDIO, Source: lkpb.TrackSource_MICROPHONE, Muted: muted}
	}
	cam := func(w uint32) *lkpb.TrackInfo {
		return &lkpb.TrackInfo{Sid: "TR_cam", Type: lkpb.TrackType_VIDEO, Source: lkpb.TrackSource_CAMERA, Width: w}
	}
	alice := func(v uint32, tracks ...*lkpb.TrackInfo) *lkpb.ParticipantInfo {
		return info("alice", "PA_a", v, func(i *lkpb.ParticipantInfo) { i.Tracks = tracks })
	}
	// describe renders each event as "Type sid muted [tracks of its info]".
	describe := func(evs []Event) string {
		var b strings.Builder
		for _, ev := range evs {
			var tr TrackPublicationInfo
			var in ParticipantInfo
			switch e := ev.(type) {
			case TrackPublished:
				tr, in = e.Track, e.Info
			case TrackUnpublished:
				tr, in = e.Track, e.Info
			case TrackMuteChanged:
				tr, in = e.Track, e.Info
			case ParticipantConnected:
				in = e.Info
			case ParticipantInfoChanged:
				in = e.Info
			case ParticipantDisconnected:
			default:
				t.Fatalf("unexpected %T", ev)
			}
			var sids []string
			for _, x := range in.Tracks {
				sids = append(sids, x.SID)
			}
			fmt.Fprintf(&b, "%s %s %v %v; ", reflect.TypeOf(ev).Name(), tr.SID, tr.Muted, sids)
		}
		return b.String()
	}
	steps := []struct {
		name   string
		update *lkpb.ParticipantInfo
		want   string
	}{
		{"joins with a microphone", alice(1, mic(false)),
			"ParticipantConnected  false [TR_mic]; TrackPublished TR_mic false [TR_mic]; "},
		{"publishes a camera", alice(2, mic(false), cam(640)),
			"TrackPublished TR_cam false [TR_mic TR_cam]; "},
		{"mutes the microphone", alice(3, mic(true), cam(640)),
			"TrackMuteChanged TR_mic true [TR_mic TR_cam]; "},
		{"the camera's size changes", alice(4, mic(true), cam(1280)),
			"ParticipantInfoChanged  false [TR_mic TR_cam]; "},
		{"unmutes, and unpublishes the camera", alice(5, mic(false)),
			"TrackUnpublished TR_cam false [TR_mic]; TrackMuteChanged TR_mic false [TR_mic]; "},
		{"nothing changed", alice(6, mic(false)), ""},
		{"republishes the camera", alice(7, mic(false), cam(1280)),
			"TrackPublished TR_cam false [TR_mic TR_cam]; "},
		{"leaves", info("alice", "PA_a", 8, func(i *lkpb.ParticipantInfo) { i.State = lkpb.ParticipantInfo_DISCONNECTED }),
			"TrackUnpublished TR_mic false [TR_cam]; TrackUnpublished TR_cam false []; ParticipantDisconnected  false []; "},
	}
	for _, s := range steps {
		evs, _ := tab.apply([]*lkpb.ParticipantInfo{s.update})
		if got := describe(evs); got != s.want {
			t.Fatalf("%s: events\n%s\nwant\n%s", s.name, got, s.want)
		}
	}

	// A full reconnect that no longer finds a participant: its tracks go before it.
	tab.apply([]*lkpb.ParticipantInfo{info("bob", "PA_b", 1, func(i *lkpb.ParticipantInfo) { i.Tracks = []*lkpb.TrackInfo{mic(true)} })})
	if got, want := describe(tab.retain(nil)), "TrackUnpublished TR_mic true []; ParticipantDisconnected  false []; "; got != want {
		t.Fatalf("retain: %s, want %s", got, want)
	}
}
