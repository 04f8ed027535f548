package room_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// refusedWith checks that err is the server's refusal with the given reason.
func refusedWith(t *testing.T, what string, err error, reason room.RequestReason) {
	t.Helper()
	var re *room.RequestError
	if !errors.As(err, &re) || re.Reason != reason {
		t.Fatalf("%s: want a refusal %v, got %v", what, reason, err)
	}
}

// schemaPeers starts a server that stores definitions and joins alice and bob, who know each
// other; ctx ends with the test.
func schemaPeers(t *testing.T) (*sfu.Server, context.Context, *peer, *peer) {
	s := sfu.Start(t, devsfu.Options{EnableDataBlobs: true})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	alice := joinPeer(t, ctx, s, "schemas", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "schemas", "bob", room.Options{})
	knowEachOther(t, ctx, alice, bob)
	return s, ctx, alice, bob
}

// TestSchemaDefinitions: a publisher stores the definition of a schema and another participant
// (and the publisher itself) reads it back by identity; a second definition of the same schema
// replaces the first; name and encoding together name a schema; the server's refusals and the
// local checks are typed errors.
func TestSchemaDefinitions(t *testing.T) {
	_, ctx, alice, bob := schemaPeers(t)
	lpA, lpB := alice.r.LocalParticipant(), bob.r.LocalParticipant()

	pose := room.DataTrackSchema{Name: "pose", Encoding: "json_schema"}
	const def = `{"type":"object","properties":{"x":{"type":"number"}}}`
	if err := lpA.DefineSchema(ctx, pose, def); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*room.LocalParticipant{lpB, lpA} {
		got, err := p.GetSchema(ctx, "alice", pose)
		if err != nil || got != def {
			t.Fatalf("%s reads %q, %v", p.Identity(), got, err)
		}
	}
	// Well-known encodings are matched without regard to case, as when publishing.
	if got, err := lpB.GetSchema(ctx, "alice", room.DataTrackSchema{Name: "pose", Encoding: "JSON_SCHEMA"}); err != nil || got != def {
		t.Fatalf("upper-case encoding: %q, %v", got, err)
	}
	_, err := lpB.GetSchema(ctx, "alice", room.DataTrackSchema{Name: "pose", Encoding: "protobuf"})
	refusedWith(t, "another encoding", err, room.RequestNotFound)
	if room.KindOf(err) != room.KindNotFound {
		t.Fatalf("kind of a missing definition: %v", room.KindOf(err))
	}
	_, err = lpB.GetSchema(ctx, "carol", pose)
	refusedWith(t, "unknown participant", err, room.RequestNotFound)

	if err := lpA.DefineSchema(ctx, pose, "v2"); err != nil {
		t.Fatal(err)
	}
	if got, err := lpB.GetSchema(ctx, "alice", pose); err != nil || got != "v2" {
		t.Fatalf("after a second definition: %q, %v", got, err)
	}
	// The participant's definitions together are bounded by the server (64 000 bytes).
	big := strings.Repeat("x", room.MaxSchemaDefinitionSize)
	if err := lpA.DefineSchema(ctx, room.DataTrackSchema{Name: "big"}, big); err != nil {
		t.Fatal(err)
	}
	err = lpA.DefineSchema(ctx, room.DataTrackSchema{Name: "more"}, strings.Repeat("y", 20000))
	refusedWith(t, "beyond the server's total", err, room.RequestLimitExceeded)
	if got, err := lpB.GetSchema(ctx, "alice", room.DataTrackSchema{Name: "big"}); err != nil || got != big {
		t.Fatalf("big definition: %d bytes, %v", len(got), err)
	}

	for _, c := range []struct {
		what   string
		schema room.DataTrackSchema
		def    string
	}{
		{"no name", room.DataTrackSchema{Encoding: "protobuf"}, "d"},
		{"long name", room.DataTrackSchema{Name: strings.Repeat("n", 257)}, "d"},
		{"name not UTF-8", room.DataTrackSchema{Name: "\xff"}, "d"},
		{"encoding not UTF-8", room.DataTrackSchema{Name: "n", Encoding: "\xfe"}, "d"},
		{"empty definition", pose, ""},
		{"definition not UTF-8", pose, "\xff"},
		{"definition too large", pose, big + "x"},
	} {
		if err := lpA.DefineSchema(ctx, c.schema, c.def); !errors.Is(err, room.ErrInvalidArgument) {
			t.Fatalf("define, %s: %v", c.what, err)
		}
	}
	if _, err := lpB.GetSchema(ctx, "", pose); !errors.Is(err, room.ErrInvalidArgument) {
		t.Fatalf("get without identity: %v", err)
	}
	if _, err := lpB.GetSchema(ctx, "alice", room.DataTrackSchema{}); !errors.Is(err, room.ErrInvalidArgument) {
		t.Fatalf("get without name: %v", err)
	}

	if err := alice.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lpA.DefineSchema(ctx, pose, def); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("define after disconnect: %v", err)
	}
}

// TestSchemaDefinitionsNotEnabled: a LiveKit server stores definitions only when data blobs
// are enabled (off by default): the refusal is NOT_ALLOWED.
func TestSchemaDefinitionsNotEnabled(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "schemas", "alice", room.Options{})
	err := alice.r.LocalParticipant().DefineSchema(ctx, room.DataTrackSchema{Name: "pose"}, "d")
	refusedWith(t, "not enabled", err, room.RequestNotAllowed)
	if room.KindOf(err) != room.KindNotAllowed {
		t.Fatalf("kind %v", room.KindOf(err))
	}
}

// TestSchemaDefinitionsAcrossReconnects: the server forgets a participant's definitions with
// its session; after a full reconnect the room stores them again by itself. A request whose
// answer was lost with the connection is sent again once the room has resumed.
func TestSchemaDefinitionsAcrossReconnects(t *testing.T) {
	s, ctx, alice, bob := schemaPeers(t)
	lpA, lpB := alice.r.LocalParticipant(), bob.r.LocalParticipant()
	pose := room.DataTrackSchema{Name: "pose", Encoding: "protobuf"}
	imu := room.DataTrackSchema{Name: "imu", Encoding: "ros2_msg"}
	for _, sc := range []room.DataTrackSchema{pose, imu} {
		if err := lpA.DefineSchema(ctx, sc, "def of "+sc.Name); err != nil {
			t.Fatal(err)
		}
	}

	s.SendLeave("alice", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_STATE_MISMATCH)
	alice.waitReconnected(ctx, room.ReconnectFull, 0)
	for _, sc := range []room.DataTrackSchema{pose, imu} {
		var got string
		waitUntil(t, ctx, sc.Name+" stored again", func() bool {
			var err error
			got, err = lpB.GetSchema(ctx, "alice", sc)
			return err == nil
		})
		if got != "def of "+sc.Name {
			t.Fatalf("%s after the full reconnect: %q", sc.Name, got)
		}
	}

	// The server ignores alice's requests for a while: her request goes unanswered. Her
	// signalling connection then breaks; once resumed, the room sends it again.
	s.PauseSignal("alice", true)
	done := make(chan error, 1)
	go func() { done <- lpA.DefineSchema(ctx, room.DataTrackSchema{Name: "late"}, "late def") }()
	time.Sleep(300 * time.Millisecond) // lets the request reach the paused server (ordering only)
	select {
	case err := <-done:
		t.Fatalf("answered while the server ignored the request: %v", err)
	default:
	}
	s.PauseSignal("alice", false)
	s.DropSignal("alice")
	if err := <-done; err != nil {
		t.Fatalf("the request sent again after the resume: %v", err)
	}
	alice.waitReconnected(ctx, room.ReconnectResume, 0)
	if got, err := lpB.GetSchema(ctx, "alice", room.DataTrackSchema{Name: "late"}); err != nil || got != "late def" {
		t.Fatalf("late: %q, %v", got, err)
	}
}

// TestSchemaRequestTooLarge: a read naming an identity larger than a LiveKit server reads in
// one signalling message is refused before anything is sent or kept.
func TestSchemaRequestTooLarge(t *testing.T) {
	_, ctx, alice, _ := schemaPeers(t)
	_, err := alice.r.LocalParticipant().GetSchema(ctx, strings.Repeat("i", 3<<20), room.DataTrackSchema{Name: "pose"})
	if !errors.Is(err, room.ErrSignalRequestTooLarge) {
		t.Fatalf("%v", err)
	}
}
