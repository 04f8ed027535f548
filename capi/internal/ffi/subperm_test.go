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
	// Since ABI 1.23 the state is in bob's snapshots too: the current one (GetRoomSnapshot) and
	// one taken at its place among the events (RoomSnapshotTaken).
	revoked := func(when string, want bool, from int) {
		t.Helper()
		cur := p.bob.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: p.br}}}).GetGetRoomSnapshot().GetSnapshot()
		wantRespCode(t, p.bob.do(&ffipb.Request{Message: &ffipb.Request_RequestRoomSnapshot{RequestRoomSnapshot: &ffipb.RequestRoomSnapshotRequest{RoomHandle: p.br}}}), ffipb.ErrorCode_ERROR_CODE_OK)
		ev, _ := p.bob.roomEvent("snapshot taken", from, func(e *ffipb.RoomEvent) bool { return e.GetSnapshotTaken() != nil })
		for _, snap := range []*ffipb.ConnectResult{cur, ev.GetSnapshotTaken().GetSnapshot()} {
			if ts := snap.GetRemoteDataTracks(); len(ts) != 1 || ts[0].GetSubscriptionRevoked() != want {
				t.Fatalf("%s: remote tracks %v", when, ts)
			}
		}
	}
	revoked("subscribed", false, 0)

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
	revoked("revoked", true, i+1)
	if c := set(true); c.GetError() != nil {
		t.Fatal(c)
	}
	ev, i = changed(i + 1)
	if !ev.GetAllowed() || ev.GetSid() != sid {
		t.Fatalf("granted: %v", ev)
	}
	revoked("granted", false, i+1)
}
