package devsfu

import (
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// speakerEntries returns the sid → entry of a speakers_changed message.
func speakerEntries(m *lkpb.SignalResponse) map[string]*lkpb.SpeakerInfo {
	out := map[string]*lkpb.SpeakerInfo{}
	for _, sp := range m.GetSpeakersChanged().GetSpeakers() {
		out[sp.GetSid()] = sp
	}
	return out
}

// countSpeakerUpdates counts the speakers_changed messages c received.
func countSpeakerUpdates(c *testClient) int {
	n := 0
	for _, m := range c.messages() {
		if m.GetSpeakersChanged() != nil {
			n++
		}
	}
	return n
}

// TestSpeakerUpdates: as livekit-server, a speaker's level (set through the API) is quantised
// up to eighths and told to the speaker itself and to the participants subscribed to one of its
// (data) tracks, only when it changed, and a stop is told with level 0 and active false; a
// participant subscribed to nothing of the speaker's hears nothing. Out-of-range levels and
// unknown rooms are refused.
func TestSpeakerUpdates(t *testing.T) {
	s := startServer(t, Options{SpeakerUpdateInterval: 20 * time.Millisecond})
	pub := dial(t, s, "spk", "pub", clientOpts{})
	defer pub.close()
	pub.waitServerReady(s)
	_ = pub.send(publishReq(1, "voice"))
	info := pub.wait("publish response", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil }).GetPublishDataTrackResponse().GetInfo()
	other := dial(t, s, "spk", "other", clientOpts{})
	defer other.close()
	sub := dial(t, s, "spk", "sub", clientOpts{})
	defer sub.close()
	other.waitServerReady(s)
	sub.waitServerReady(s)
	_ = sub.send(subscribeReq(info.GetSid()))
	sub.wait("handles", func(m *lkpb.SignalResponse) bool { return len(m.GetDataTrackSubscriberHandles().GetSubHandles()) == 1 })
	pubSID := pub.sid()

	for _, bad := range []float32{-0.1, 1.5} {
		if s.SetAudioLevel("spk", "pub", bad) {
			t.Fatalf("level %v accepted", bad)
		}
	}
	if s.SetAudioLevel("none", "pub", 0.5) {
		t.Fatal("an unknown room was found")
	}
	if !s.SetAudioLevel("spk", "pub", 0.3) {
		t.Fatal("room not found")
	}
	entry := func(level float32, active bool) func(*lkpb.SignalResponse) bool {
		return func(m *lkpb.SignalResponse) bool {
			e := speakerEntries(m)[pubSID]
			return e != nil && e.GetLevel() == level && e.GetActive() == active
		}
	}
	for _, c := range []*testClient{pub, sub} {
		if m := c.wait("0.3 told as 0.375", entry(0.375, true)); len(m.GetSpeakersChanged().GetSpeakers()) != 1 {
			t.Fatalf("%v", m.GetSpeakersChanged())
		}
	}
	// Unchanged: nothing more until the next change.
	time.Sleep(100 * time.Millisecond)
	s.SetAudioLevel("spk", "pub", 0)
	for _, c := range []*testClient{pub, sub} {
		c.wait("stop", entry(0, false))
		if n := countSpeakerUpdates(c); n != 2 {
			t.Fatalf("%d speaker updates, want 2", n)
		}
	}
	if n := countSpeakerUpdates(other); n != 0 {
		t.Fatalf("a participant subscribed to nothing got %d speaker updates", n)
	}
}
