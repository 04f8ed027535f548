package devsfu

import (
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
)

// TestUpdateParticipantPermission: a permission change through the server API is announced
// at once to everyone, the participant itself included, with a higher version and, publish-data
// revoked, without the participant's data tracks (the publisher gets no unpublish response);
// its refreshed token carries it, and the server enforces it from then on (a data track publish
// is refused).
func TestUpdateParticipantPermission(t *testing.T) {
	s := startServer(t, Options{})
	a, b := dialPair(t, s, "perm", "alice", "bob")
	_ = b.send(publishReq(1, "sensor"))
	b.wait("publish response", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil })
	var before *lkpb.ParticipantInfo
	a.wait("bob's track", func(m *lkpb.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.GetIdentity() == "bob" && len(p.GetDataTracks()) == 1 {
				before = p
			}
		}
		return before != nil
	})
	if !before.GetPermission().GetCanPublishData() {
		t.Fatalf("bob's permission before %v", before.GetPermission())
	}

	if !s.UpdateParticipantPermission("perm", "bob", &lkpb.ParticipantPermission{CanSubscribe: true}) {
		t.Fatal("bob not found")
	}
	if s.UpdateParticipantPermission("perm", "nobody", &lkpb.ParticipantPermission{}) || s.UpdateParticipantPermission("none", "bob", &lkpb.ParticipantPermission{}) {
		t.Fatal("an unknown participant or room was found")
	}
	revoked := func(m *lkpb.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.GetIdentity() == "bob" && p.GetPermission() != nil && !p.GetPermission().GetCanPublishData() {
				return true
			}
		}
		return false
	}
	for _, c := range []*testClient{a, b} {
		var got *lkpb.ParticipantInfo
		for _, p := range c.wait("bob's new permission", revoked).GetUpdate().GetParticipants() {
			if p.GetIdentity() == "bob" {
				got = p
			}
		}
		if got.GetVersion() <= before.GetVersion() || got.GetPermission().GetCanPublish() || !got.GetPermission().GetCanSubscribe() ||
			got.GetSid() != before.GetSid() || len(got.GetDataTracks()) != 0 {
			t.Fatalf("bob's update %v after %v", got, before)
		}
	}
	tok := b.wait("refreshed token", func(m *lkpb.SignalResponse) bool { return m.GetRefreshToken() != "" }).GetRefreshToken()
	claims, err := auth.Verify(tok, func(string) (string, bool) { return s.opts.APISecret, true }, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if claims.Video.EffectiveCanPublishData() || !claims.Video.EffectiveCanSubscribe() {
		t.Fatalf("refreshed token's grants %+v", claims.Video)
	}
	for _, m := range b.messages() {
		if m.GetUnpublishDataTrackResponse() != nil {
			t.Fatal("the publisher was sent an unpublish response")
		}
	}
	_ = b.send(publishReq(2, "sensor2"))
	if rr := b.wait("publish refused", isRR).GetRequestResponse(); rr.GetReason() != lkpb.RequestResponse_NOT_ALLOWED {
		t.Fatalf("publish after the revocation: %v", rr)
	}
}
