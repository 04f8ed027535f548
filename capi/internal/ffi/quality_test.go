package ffi

import (
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// TestE2EConnectionQuality: the server's ratings reach the host as ParticipantUpdated with
// connection_quality_changed, the rating before and the new one in info — for the local
// participant and for a publisher the host subscribes to — and snapshots carry the latest.
func TestE2EConnectionQuality(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{ConnectionQualityInterval: 50 * time.Millisecond})
	p := publishedTrackPeers(t, s, "cq")
	sub := subscribe(t, p.bob, p.br, "alice", p.remote.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_EVENTS)
	// The server rates alice to bob once his subscription is established.
	p.waitFlowing(t, sub)
	rated := func(h *host, identity string, q ffipb.ConnectionQuality) *ffipb.ParticipantUpdated {
		ev, _ := h.roomEvent(identity+" rated "+q.String(), 0, func(e *ffipb.RoomEvent) bool {
			u := e.GetParticipantUpdated()
			return u.GetConnectionQualityChanged() && u.GetInfo().GetIdentity() == identity && u.GetInfo().GetConnectionQuality() == q
		})
		return ev.GetParticipantUpdated()
	}
	snapshot := func(h *host, room uint64) *ffipb.ConnectResult {
		return h.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: room}}}).GetGetRoomSnapshot().GetSnapshot()
	}
	// Alice was rated at once as a new participant; a rating that came before her Connect
	// completed is in its snapshot rather than an event: wait for her state, then check the
	// event if there is one.
	for deadline := time.Now().Add(hangGuard); snapshot(p.alice, p.ar).GetLocalParticipant().GetConnectionQuality() != ffipb.ConnectionQuality_CONNECTION_QUALITY_EXCELLENT; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("alice never rated")
		}
	}
	for _, ev := range p.alice.s.snapshot() {
		if u := ev.GetRoom().GetParticipantUpdated(); u.GetConnectionQualityChanged() &&
			(u.GetOldConnectionQuality() != ffipb.ConnectionQuality_CONNECTION_QUALITY_UNKNOWN || u.GetNameChanged() || u.GetMetadataChanged() ||
				u.GetPermissionChanged() || len(u.GetChangedAttributes()) != 0) {
			t.Fatalf("alice's first rating %v", u)
		}
	}

	s.SetConnectionQuality("cq", "alice", lkpb.ConnectionQuality_POOR.Enum())
	// Bob was told alice's EXCELLENT if his subscription was up when the server rated him as a
	// new participant, else nothing before.
	if u := rated(p.bob, "alice", ffipb.ConnectionQuality_CONNECTION_QUALITY_POOR); u.GetOldConnectionQuality() != ffipb.ConnectionQuality_CONNECTION_QUALITY_UNKNOWN &&
		u.GetOldConnectionQuality() != ffipb.ConnectionQuality_CONNECTION_QUALITY_EXCELLENT {
		t.Fatalf("alice's rating to bob %v", u)
	}
	if u := rated(p.alice, "alice", ffipb.ConnectionQuality_CONNECTION_QUALITY_POOR); u.GetOldConnectionQuality() != ffipb.ConnectionQuality_CONNECTION_QUALITY_EXCELLENT {
		t.Fatalf("alice's own new rating %v", u)
	}
	snap := snapshot(p.bob, p.br)
	if rs := snap.GetRemoteParticipants(); len(rs) != 1 || rs[0].GetConnectionQuality() != ffipb.ConnectionQuality_CONNECTION_QUALITY_POOR {
		t.Fatalf("bob's snapshot %v", rs)
	}
	snap = snapshot(p.alice, p.ar)
	if lp := snap.GetLocalParticipant(); lp.GetConnectionQuality() != ffipb.ConnectionQuality_CONNECTION_QUALITY_POOR {
		t.Fatalf("alice's snapshot %v", lp)
	}
}
