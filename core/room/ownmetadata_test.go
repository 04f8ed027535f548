package room_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// What the local participant set about itself (name, metadata, attributes) survives its own
// full reconnect: the server answers each change with a new token (refresh_token) carrying
// it, and the room rejoins with the newest token, so the new session starts with them; the
// others see the new session with them, and no change of name, metadata or attributes.
func TestOwnMetadataSurvivesFullReconnect(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "own", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "own", "bob", room.Options{})
	lp := alice.r.LocalParticipant()
	attrs := map[string]string{"role": "pilot"}
	for _, set := range []func() error{
		func() error { return lp.SetName(ctx, "Alice") },
		func() error { return lp.SetMetadata(ctx, "m1") },
		func() error { return lp.SetAttributes(ctx, attrs) },
	} {
		if err := set(); err != nil {
			t.Fatal(err)
		}
	}
	bob.wait(ctx, "alice's attributes", func(ev room.Event) bool {
		_, ok := ev.(room.ParticipantAttributesChanged)
		return ok
	})
	changes := func() int {
		return bob.count(func(ev room.Event) bool {
			switch ev.(type) {
			case room.ParticipantNameChanged, room.ParticipantMetadataChanged, room.ParticipantAttributesChanged:
				return true
			}
			return false
		})
	}
	before := changes()
	// The server sends the update (which bob saw) and the token carrying the change
	// separately; the full reconnect below must find the token.
	waitUntil(t, ctx, "a refreshed token with alice's attributes", func() bool {
		c, err := auth.Verify(room.CurrentToken(alice.r), func(string) (string, bool) { return s.APISecret(), true }, time.Now())
		return err == nil && maps.Equal(c.Attributes, attrs)
	})

	oldSID := lp.SID()
	s.SendLeave("alice", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
	alice.waitReconnected(ctx, room.ReconnectFull, 0)
	if lp.SID() == oldSID {
		t.Fatal("no new session")
	}
	if lp.Name() != "Alice" || lp.Metadata() != "m1" || !maps.Equal(lp.Attributes(), attrs) {
		t.Fatalf("after the full reconnect: name %q, metadata %q, attributes %v", lp.Name(), lp.Metadata(), lp.Attributes())
	}
	// Depending on the order of the server's updates bob sees the new session replace the old
	// one, or the old one leave and the new one join.
	bob.wait(ctx, "alice's new session", func(ev room.Event) bool {
		switch e := ev.(type) {
		case room.ParticipantInfoChanged:
			return e.OldSID == oldSID
		case room.ParticipantConnected:
			return e.Info.SID == lp.SID()
		}
		return false
	})
	ra := bob.r.RemoteParticipant("alice")
	if ra == nil || ra.Name() != "Alice" || ra.Metadata() != "m1" || !maps.Equal(ra.Attributes(), attrs) {
		t.Fatalf("bob's view of alice after her full reconnect: %+v", ra)
	}
	if n := changes(); n != before {
		t.Fatalf("bob saw %d name/metadata/attribute changes with alice's new session", n-before)
	}
}
