package ffi

import (
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// SetTrackSubscriptionPermissionsRequest reaches the server (bob's subscription is revoked,
// then allowed again: DataTrackSubscriptionPermissionChanged with the track's identity and
// each answer), and bad input completes with INVALID_ARGUMENT without reaching it.
func TestE2ESubscriptionPermissions(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	p := publishedTrackPeers(t, s, "perm")
	sid := p.remote.GetInfo().GetSid()
	sub := subscribe(t, p.bob, p.br, "alice", sid, ffipb.DeliveryMode_DELIVERY_MODE_EVENTS)
	set := func(all bool, perms ...*ffipb.TrackPermission) *ffipb.Completion {
		return p.alice.completion(p.alice.async(&ffipb.Request{Message: &ffipb.Request_SetTrackSubscriptionPermissions{
			SetTrackSubscriptionPermissions: &ffipb.SetTrackSubscriptionPermissionsRequest{RoomHandle: p.ar, AllParticipants: all, Permissions: perms},
		}}))
	}
	changed := func(from int) (*ffipb.DataTrackSubscriptionPermissionChanged, int) {
		ev, i := p.bob.roomEvent("permission change", from, func(e *ffipb.RoomEvent) bool {
			return e.GetDataTrackSubscriptionPermissionChanged() != nil
		})
		return ev.GetDataTrackSubscriptionPermissionChanged(), i
	}
	p.waitFlowing(t, sub) // bob's subscription is established once a frame arrives

	for _, bad := range []*ffipb.TrackPermission{{}, {TrackSids: []string{"x"}}} { // no identity
		if c := set(false, bad); c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
			t.Fatalf("%v: %v", bad, c)
		}
	}
	if c := set(false, &ffipb.TrackPermission{ParticipantIdentity: "carol", AllTracks: true}); c.GetError() != nil {
		t.Fatal(c)
	}
	ev, i := changed(0)
	if ev.GetAllowed() || ev.GetSid() != sid || ev.GetName() != "sensor" || ev.GetPublisherIdentity() != "alice" {
		t.Fatalf("revoked: %v", ev)
	}
	if c := set(true); c.GetError() != nil {
		t.Fatal(c)
	}
	if ev, _ := changed(i + 1); !ev.GetAllowed() || ev.GetSid() != sid {
		t.Fatalf("granted: %v", ev)
	}
}
