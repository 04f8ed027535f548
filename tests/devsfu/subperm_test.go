package devsfu

import (
	"testing"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
)

// The server's order when a publisher's subscription permissions change (subperm.go): a
// revoked subscriber gets a handle snapshot without the track, then allowed=false; allowed
// again, allowed=true, then a snapshot with a new handle. A participant named by SID is
// resolved to its identity; recorders are never refused.
func TestSubscriptionPermissionWireOrder(t *testing.T) {
	s := startServer(t, Options{})
	pub := dial(t, s, "sp", "pub", clientOpts{})
	defer pub.close()
	pub.waitServerReady(s)
	_ = pub.send(publishReq(1, "t"))
	sid := pub.wait("publish", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil }).
		GetPublishDataTrackResponse().GetInfo().GetSid()

	sub := dial(t, s, "sp", "sub", clientOpts{})
	defer sub.close()
	sub.waitServerReady(s)
	_ = sub.send(subscribeReq(sid))
	handleOf := func(m *lkpb.SignalResponse) uint32 {
		for h, p := range m.GetDataTrackSubscriberHandles().GetSubHandles() {
			if p.GetTrackSid() == sid {
				return h
			}
		}
		return 0
	}
	first := handleOf(sub.wait("handle", func(m *lkpb.SignalResponse) bool { return handleOf(m) != 0 }))

	// next waits for sub's next message matching pred, then returns its messages from index from.
	next := func(from int, what string, pred func(*lkpb.SignalResponse) bool) ([]*lkpb.SignalResponse, int) {
		t.Helper()
		sub.wait(what, pred)
		ms := sub.messages()
		return ms[from:], len(ms)
	}
	setPerm := func(sp *lkpb.SubscriptionPermission) {
		_ = pub.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_SubscriptionPermission{SubscriptionPermission: sp}})
	}
	isPerm := func(allowed bool) func(*lkpb.SignalResponse) bool {
		return func(m *lkpb.SignalResponse) bool {
			u := m.GetSubscriptionPermissionUpdate()
			return u != nil && u.GetTrackSid() == sid && u.GetAllowed() == allowed
		}
	}

	mark := len(sub.messages())
	setPerm(&lkpb.SubscriptionPermission{TrackPermissions: []*lkpb.TrackPermission{{ParticipantIdentity: "someone", AllTracks: true}}})
	ms, mark := next(mark, "revocation", isPerm(false))
	snap, perm := -1, -1
	for i, m := range ms {
		switch {
		case m.GetDataTrackSubscriberHandles() != nil && snap < 0:
			snap = i
			if handleOf(m) != 0 {
				t.Fatalf("snapshot after the revocation still maps the track: %v", m)
			}
		case isPerm(false)(m):
			perm = i
		}
	}
	if snap < 0 || perm < snap {
		t.Fatalf("want the snapshot without the track, then allowed=false: %v", ms)
	}

	// Allowed again, by SID: allowed=true, then a snapshot with a handle.
	setPerm(&lkpb.SubscriptionPermission{TrackPermissions: []*lkpb.TrackPermission{{ParticipantSid: sub.sid(), TrackSids: []string{sid}}}})
	ms, _ = next(mark, "new handle", func(m *lkpb.SignalResponse) bool { return handleOf(m) != 0 })
	granted, mapped := -1, -1
	for i, m := range ms {
		if isPerm(true)(m) && granted < 0 {
			granted = i
		}
		if handleOf(m) != 0 && mapped < 0 {
			mapped = i
		}
	}
	if granted < 0 || mapped < granted {
		t.Fatalf("want allowed=true, then the snapshot with a handle: %v", ms)
	}
	if h := handleOf(ms[mapped]); h == first {
		t.Fatalf("the new down track reuses handle %d", h)
	}

	// Nobody allowed: a recorder still subscribes.
	setPerm(&lkpb.SubscriptionPermission{})
	rec := dial(t, s, "sp", "rec", clientOpts{tokenOpts: []auth.TokenOption{auth.WithGrant(func(g *auth.VideoGrant) {
		g.Recorder = true
	})}})
	defer rec.close()
	rec.waitServerReady(s)
	_ = rec.send(subscribeReq(sid))
	rec.wait("recorder's handle", func(m *lkpb.SignalResponse) bool { return handleOf(m) != 0 })
}
