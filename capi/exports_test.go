//go:build lkcore_testhook

package main

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// Run with: go test -tags lkcore_testhook ./capi (tests/suites/capi-hooks.sh). The tag
// compiles the hooks that panic inside each export class on a magic argument.

func getVersion(t *testing.T) []byte {
	t.Helper()
	b, err := proto.Marshal(&ffipb.Request{Message: &ffipb.Request_GetVersion{GetVersion: &ffipb.GetVersionRequest{}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantStatus(t *testing.T, what string, got int32, want ffipb.ErrorCode) {
	t.Helper()
	if got != int32(want) {
		t.Fatalf("%s: status %v, want %v", what, ffipb.ErrorCode(got), want)
	}
}

// A panic inside any export class (request, push, read, next_event, close) is recovered at
// the export: the host gets LK_ERR_INTERNAL (and, from lk_request, an INTERNAL error
// response), the process does not abort, and the client keeps working.
func TestExportsRecoverPanics(t *testing.T) {
	id := callClientNew()
	if id == 0 {
		t.Fatal("lk_client_new failed")
	}
	t.Cleanup(func() { callClientClose(id, 5000) })
	internal := ffipb.ErrorCode_ERROR_CODE_INTERNAL

	// Control: the hooks stay quiet on ordinary arguments.
	st, _ := callRequest(id, getVersion(t))
	wantStatus(t, "lk_request", st, ffipb.ErrorCode_ERROR_CODE_OK)
	wantStatus(t, "lk_data_track_push", callPush(id, 1, []byte("frame")), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)

	st, out := callRequest(id, []byte(testPanicPayload))
	wantStatus(t, "lk_request", st, internal)
	resp := new(ffipb.Response)
	if err := proto.Unmarshal(out, resp); err != nil || resp.GetError().GetCode() != internal || resp.GetError().GetMessage() == "" {
		t.Fatalf("lk_request response after a panic: %v (%v)", resp, err)
	}
	wantStatus(t, "lk_data_track_push", callPush(id, 1, []byte(testPanicPayload)), internal)
	wantStatus(t, "lk_data_track_read", callRead(id, 1, testPanicTimeout), internal)
	st, ev := callNextEvent(id, testPanicTimeout)
	wantStatus(t, "lk_client_next_event", st, internal)
	if ev != nil {
		t.Fatalf("lk_client_next_event handed out %d bytes after a panic", len(ev))
	}
	wantStatus(t, "lk_client_close", callClientClose(id, testPanicTimeout), internal)

	// The client survived every panic: it answers, its queue is empty, it closes normally.
	st, out = callRequest(id, getVersion(t))
	wantStatus(t, "lk_request after the panics", st, ffipb.ErrorCode_ERROR_CODE_OK)
	if err := proto.Unmarshal(out, resp); err != nil || resp.GetGetVersion() == nil {
		t.Fatalf("GetVersion after the panics: %v (%v)", resp, err)
	}
	st, _ = callNextEvent(id, 0)
	wantStatus(t, "lk_client_next_event after the panics", st, ffipb.ErrorCode_ERROR_CODE_TIMEOUT)
	wantStatus(t, "lk_client_close after the panics", callClientClose(id, 5000), ffipb.ErrorCode_ERROR_CODE_OK)
	st, _ = callRequest(id, getVersion(t))
	wantStatus(t, "lk_request after close", st, ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED)
}
