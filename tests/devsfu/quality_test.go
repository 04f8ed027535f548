package devsfu

import (
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// qualities returns the sid → quality entries of a connection_quality message.
func qualities(m *lkpb.SignalResponse) map[string]lkpb.ConnectionQuality {
	out := map[string]lkpb.ConnectionQuality{}
	for _, u := range m.GetConnectionQuality().GetUpdates() {
		out[u.GetParticipantSid()] = u.GetQuality()
	}
	return out
}

func isQuality(m *lkpb.SignalResponse) bool { return m.GetConnectionQuality() != nil }

// TestConnectionQuality: as livekit-server, every participant is rated (EXCELLENT with the
// highest score without media), and told its own rating and those of the participants whose
// tracks it subscribes to — only when a participant is new or its rating changed; a rating set
// through the API reaches the participant and its subscribers, and clearing it rates it
// EXCELLENT again.
func TestConnectionQuality(t *testing.T) {
	s := startServer(t, Options{ConnectionQualityInterval: 50 * time.Millisecond})
	pub := dial(t, s, "cq", "pub", clientOpts{})
	defer pub.close()
	pub.waitServerReady(s)
	m := pub.wait("first rating", isQuality)
	if q := qualities(m); len(q) != 1 || q[pub.sid()] != lkpb.ConnectionQuality_EXCELLENT || m.GetConnectionQuality().GetUpdates()[0].GetScore() != 4.5 {
		t.Fatalf("pub's first rating %v", m.GetConnectionQuality())
	}
	_ = pub.send(publishReq(1, "sensor"))
	info := pub.wait("publish response", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil }).GetPublishDataTrackResponse().GetInfo()

	other := dial(t, s, "cq", "other", clientOpts{}) // subscribes to nothing
	defer other.close()
	sub := dial(t, s, "cq", "sub", clientOpts{})
	defer sub.close()
	other.waitServerReady(s)
	sub.waitServerReady(s)
	_ = sub.send(subscribeReq(info.GetSid()))
	sub.wait("handles", func(m *lkpb.SignalResponse) bool { return len(m.GetDataTrackSubscriberHandles().GetSubHandles()) == 1 })
	pubSID, subSID, otherSID := pub.sid(), sub.sid(), other.sid() // not inside a wait's predicate: it holds the client's lock

	if !s.SetConnectionQuality("cq", "pub", lkpb.ConnectionQuality_POOR.Enum()) {
		t.Fatal("room not found")
	}
	if s.SetConnectionQuality("none", "pub", nil) {
		t.Fatal("an unknown room was found")
	}
	rated := func(q lkpb.ConnectionQuality) func(*lkpb.SignalResponse) bool {
		return func(m *lkpb.SignalResponse) bool { // POOR is the enum's zero: look for the entry
			got, ok := qualities(m)[pubSID]
			return ok && got == q
		}
	}
	poor := rated(lkpb.ConnectionQuality_POOR)
	if q := qualities(sub.wait("pub rated poor", poor)); len(q) != 2 || q[subSID] != lkpb.ConnectionQuality_EXCELLENT {
		t.Fatalf("sub's rating with pub's %v", q)
	}
	if q := qualities(pub.wait("own poor rating", poor)); len(q) != 1 {
		t.Fatalf("pub's own rating %v", q)
	}
	// other does not subscribe to pub: it is told its own rating only.
	if q := qualities(other.wait("other's rating", isQuality)); len(q) != 1 || q[otherSID] != lkpb.ConnectionQuality_EXCELLENT {
		t.Fatalf("other's rating %v", q)
	}
	for _, m := range other.messages() {
		if _, ok := qualities(m)[pubSID]; ok {
			t.Fatalf("other, subscribed to nothing, got pub's rating: %v", m.GetConnectionQuality())
		}
	}

	// Nothing changes: no more ratings.
	time.Sleep(300 * time.Millisecond)
	n := len(sub.messages())
	time.Sleep(300 * time.Millisecond)
	for _, m := range sub.messages()[n:] {
		if isQuality(m) {
			t.Fatalf("a rating without a change: %v", m.GetConnectionQuality())
		}
	}

	s.SetConnectionQuality("cq", "pub", nil)
	excellent := rated(lkpb.ConnectionQuality_EXCELLENT)
	sub.wait("pub excellent again", excellent)
	pub.wait("own excellent again", excellent)
}
