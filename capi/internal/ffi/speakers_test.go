package ffi

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// TestE2EActiveSpeakers: the server's speaker updates reach the host as ParticipantUpdated with
// speaking_changed and the new state in info, then ActiveSpeakersChanged naming the speakers
// loudest first; snapshots (GetRoomSnapshot and the connect result's shape) carry the list and
// each participant's state. Bob hears of alice because he subscribes to her data track.
func TestE2EActiveSpeakers(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{SpeakerUpdateInterval: 20 * time.Millisecond})
	p := publishedTrackPeers(t, s, "spk")
	sub := subscribe(t, p.bob, p.br, "alice", p.remote.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_EVENTS)
	p.waitFlowing(t, sub)
	speaking := func(h *host, identity string, on bool, level float32) *ffipb.ParticipantUpdated {
		ev, _ := h.roomEvent(identity+" speaking", 0, func(e *ffipb.RoomEvent) bool {
			u := e.GetParticipantUpdated()
			return u.GetSpeakingChanged() && u.GetInfo().GetIdentity() == identity && u.GetInfo().GetIsSpeaking() == on &&
				u.GetInfo().GetAudioLevel() == level
		})
		return ev.GetParticipantUpdated()
	}
	speakers := func(h *host, want ...string) int {
		_, i := h.roomEvent(fmt.Sprint("speakers ", want), 0, func(e *ffipb.RoomEvent) bool {
			a := e.GetActiveSpeakersChanged()
			return a != nil && slices.Equal(a.GetIdentities(), want)
		})
		return i
	}
	snapshot := func(h *host, room uint64) *ffipb.ConnectResult {
		return h.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: room}}}).GetGetRoomSnapshot().GetSnapshot()
	}

	s.SetAudioLevel("spk", "alice", 0.4) // sent as 0.5
	s.SetAudioLevel("spk", "bob", 0.2)   // sent as 0.25
	if u := speaking(p.bob, "alice", true, 0.5); u.GetNameChanged() || u.GetConnectionQualityChanged() || u.GetTrackPublished() != nil {
		t.Fatalf("alice's update to bob %v", u)
	}
	speaking(p.bob, "bob", true, 0.25)
	speakers(p.bob, "alice", "bob")
	snap := snapshot(p.bob, p.br)
	if !slices.Equal(snap.GetActiveSpeakers(), []string{"alice", "bob"}) || !snap.GetLocalParticipant().GetIsSpeaking() ||
		snap.GetLocalParticipant().GetAudioLevel() != 0.25 {
		t.Fatalf("bob's snapshot %v / %v", snap.GetActiveSpeakers(), snap.GetLocalParticipant())
	}
	if rs := snap.GetRemoteParticipants(); len(rs) != 1 || !rs[0].GetIsSpeaking() || rs[0].GetAudioLevel() != 0.5 {
		t.Fatalf("bob's snapshot %v", rs)
	}
	// Alice subscribes to nothing of bob's: she hears only of herself.
	speakers(p.alice, "alice")
	if got := snapshot(p.alice, p.ar).GetActiveSpeakers(); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("alice's list %v", got)
	}

	s.SetAudioLevel("spk", "alice", 0)
	speaking(p.bob, "alice", false, 0)
	speakers(p.bob, "bob")
	s.SetAudioLevel("spk", "bob", 0)
	speaking(p.bob, "bob", false, 0)
	if i := speakers(p.bob); i < 0 {
		t.Fatal("no empty list")
	}
	if got := snapshot(p.bob, p.br).GetActiveSpeakers(); len(got) != 0 {
		t.Fatalf("bob's list after both stopped: %v", got)
	}
}
