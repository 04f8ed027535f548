package ffi

import (
	"strings"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// TestE2EDataTrackSchemas: DefineDataTrackSchemaRequest stores a definition that another host
// reads with GetDataTrackSchemaRequest (by the publisher's identity, name and encoding); the
// core's checks and the server's refusals arrive as typed codes in the completion.
func TestE2EDataTrackSchemas(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{EnableDataBlobs: true})
	alice, ar, _ := joinHost(t, s, "schemas", "alice")
	bob, br, _ := joinHost(t, s, "schemas", "bob")
	define := func(name, encoding, def string) *ffipb.Completion {
		return alice.completion(alice.async(&ffipb.Request{Message: &ffipb.Request_DefineDataTrackSchema{DefineDataTrackSchema: &ffipb.DefineDataTrackSchemaRequest{
			RoomHandle: ar, SchemaName: name, SchemaEncoding: encoding, Definition: def}}}))
	}
	get := func(identity, name, encoding string) *ffipb.Completion {
		return bob.completion(bob.async(&ffipb.Request{Message: &ffipb.Request_GetDataTrackSchema{GetDataTrackSchema: &ffipb.GetDataTrackSchemaRequest{
			RoomHandle: br, ParticipantIdentity: identity, SchemaName: name, SchemaEncoding: encoding}}}))
	}
	const def = "syntax = \"proto3\";\nmessage Pose { double x = 1; }\n"
	if c := define("Pose", "protobuf", def); c.GetError() != nil || c.GetResult() != nil {
		t.Fatalf("define: %v", c)
	}
	if c := get("alice", "Pose", "protobuf"); c.GetError() != nil || c.GetGetDataTrackSchema().GetDefinition() != def {
		t.Fatalf("get: %v", c)
	}
	for _, c := range []struct {
		what string
		comp *ffipb.Completion
		code ffipb.ErrorCode
	}{
		{"another encoding", get("alice", "Pose", "json_schema"), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND},
		{"unknown participant", get("carol", "Pose", "protobuf"), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND},
		{"no identity", get("", "Pose", "protobuf"), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"no name", define("", "protobuf", def), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"empty definition", define("Pose", "protobuf", ""), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"definition too large", define("Pose", "protobuf", strings.Repeat("d", 50001)), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"custom encoding longer than the server allows", define("Pose", strings.Repeat("e", 33), def), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
	} {
		if got := c.comp.GetError().GetCode(); got != c.code {
			t.Fatalf("%s: %v, want %v", c.what, c.comp, c.code)
		}
	}
	define("big", "", strings.Repeat("d", 50000))
	if c := define("more", "", strings.Repeat("d", 20000)); c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_LIMIT_REACHED {
		t.Fatalf("beyond the server's total: %v", c)
	}
}

// TestE2EDataTrackSchemasNotEnabled: a server that does not store definitions (a LiveKit
// server's default) refuses with NOT_ALLOWED.
func TestE2EDataTrackSchemasNotEnabled(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "schemas", "alice")
	c := alice.completion(alice.async(&ffipb.Request{Message: &ffipb.Request_DefineDataTrackSchema{DefineDataTrackSchema: &ffipb.DefineDataTrackSchemaRequest{
		RoomHandle: ar, SchemaName: "Pose", Definition: "d"}}}))
	if c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_NOT_ALLOWED {
		t.Fatalf("%v", c)
	}
}
