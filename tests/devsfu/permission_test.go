package devsfu

import (
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
)

// TestUpdateParticipantPermission: a permission change through the server API is announced
// at once to everyone, the participant itself included, with a higher version; its refreshed
// token carries it, and the server enforces it from then on (a data track publish is refused).
func TestUpdateParticipantPermission(t *testing.T) {
	s := startServer(t, Options{})
	a := dial(t, s, "perm", "alice", clientOpts{})
	defer a.close()
	b := dial(t, s, "perm", "bob", clientOpts{})
	defer b.close()
	a.waitServerReady(s)
	b.waitServerReady(s)
	before := b.joinResp().GetParticipant()
	if !before.GetPermission().GetCanPublishData() {
		t.Fatalf("bob's permission at join %v", before.GetPermission())
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
			got.GetSid() != before.GetSid() {
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
	_ = b.send(publishReq(1, "sensor"))
	if rr := b.wait("publish refused", isRR).GetRequestResponse(); rr.GetReason() != lkpb.RequestResponse_NOT_ALLOWED {
		t.Fatalf("publish after the revocation: %v", rr)
	}
}
