package ffi

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
)

// coreRoomErrors names every exported error variable of core/room with the code it must
// map to. TestCoreErrorTableIsComplete fails when core/room gains one that is not here.
var coreRoomErrors = map[string]struct {
	err  error
	code ffipb.ErrorCode
}{
	"ErrDisconnected":          {room.ErrDisconnected, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED},
	"ErrInvalidArgument":       {room.ErrInvalidArgument, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
	"ErrPeerConnectionFailed":  {room.ErrPeerConnectionFailed, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED},
	"ErrRelayUnavailable":      {room.ErrRelayUnavailable, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED},
	"ErrSignalLost":            {room.ErrSignalLost, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED},
	"ErrPacketTooLarge":        {room.ErrPacketTooLarge, ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE},
	"ErrSignalRequestTooLarge": {room.ErrSignalRequestTooLarge, ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE},
	"ErrPublishDataNotAllowed": {room.ErrPublishDataNotAllowed, ffipb.ErrorCode_ERROR_CODE_NOT_ALLOWED},
	"ErrInvalidURL":            {room.ErrInvalidURL, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
	"ErrUnauthorized":          {room.ErrUnauthorized, ffipb.ErrorCode_ERROR_CODE_UNAUTHORIZED},
	"ErrRoomNotFound":          {room.ErrRoomNotFound, ffipb.ErrorCode_ERROR_CODE_NOT_FOUND},
	"ErrServiceNotFound":       {room.ErrServiceNotFound, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED},
	"ErrBadRequest":            {room.ErrBadRequest, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED},
	"ErrServerError":           {room.ErrServerError, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED},
	"ErrServerUnreachable":     {room.ErrServerUnreachable, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED},
	"ErrJoinRefused":           {room.ErrJoinRefused, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED},
	"ErrRequestFailed":         {&room.RequestError{Reason: room.RequestNotAllowed}, ffipb.ErrorCode_ERROR_CODE_NOT_ALLOWED},
	"ErrQueueFull":             {room.ErrQueueFull, ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL},
	"ErrDataTrackTimeout":      {room.ErrDataTrackTimeout, ffipb.ErrorCode_ERROR_CODE_TIMEOUT},
	"ErrDuplicateTrackName":    {room.ErrDuplicateTrackName, ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS},
	"ErrDataTrackNotAllowed":   {room.ErrDataTrackNotAllowed, ffipb.ErrorCode_ERROR_CODE_NOT_ALLOWED},
	"ErrInvalidTrackName":      {room.ErrInvalidTrackName, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
	"ErrTrackUnpublished":      {room.ErrTrackUnpublished, ffipb.ErrorCode_ERROR_CODE_TRACK_UNPUBLISHED},
	"ErrFrameTooLarge":         {room.ErrFrameTooLarge, ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE},
	"ErrE2EENoKeys":            {room.ErrE2EENoKeys, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR},
	"ErrUnknownDataTrack":      {room.ErrUnknownDataTrack, ffipb.ErrorCode_ERROR_CODE_NOT_FOUND},
	"ErrStreamEnded":           {room.ErrStreamEnded, ffipb.ErrorCode_ERROR_CODE_END_OF_STREAM},
	"ErrE2EENotConfigured":     {room.ErrE2EENotConfigured, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR},
	"ErrEncryptionFailed":      {room.ErrEncryptionFailed, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR},
	"ErrReconnecting":          {room.ErrReconnecting, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED},
	"ErrReconnectFailed":       {room.ErrReconnectFailed, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED},
	"ErrAlreadyConnected":      {room.ErrAlreadyConnected, ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION},
	"ErrRoomEnded":             {room.ErrRoomEnded, ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION},
}

func TestCoreErrorMapping(t *testing.T) {
	for name, want := range coreRoomErrors {
		wrapped := fmt.Errorf("context: %w", want.err)
		got := ToProto(fromCore(wrapped))
		if got.GetCode() != want.code {
			t.Errorf("%s: code %v, want %v", name, got.GetCode(), want.code)
		}
		if got.GetMessage() != wrapped.Error() {
			t.Errorf("%s: message %q, want the core's %q", name, got.GetMessage(), wrapped.Error())
		}
	}
	more := []struct {
		err       error
		code      ffipb.ErrorCode
		retryable bool
	}{
		{nil, ffipb.ErrorCode_ERROR_CODE_OK, false},
		{&room.HTTPError{StatusCode: 401}, ffipb.ErrorCode_ERROR_CODE_UNAUTHORIZED, false},
		{&room.HTTPError{StatusCode: 503}, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED, true},
		{&room.RequestError{Reason: room.RequestLimitExceeded}, ffipb.ErrorCode_ERROR_CODE_LIMIT_REACHED, false},
		{&room.RequestError{Reason: room.RequestReason(99)}, ffipb.ErrorCode_ERROR_CODE_INTERNAL, false},
		{fmt.Errorf("%w: x", room.ErrQueueFull), ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL, true},
		{fmt.Errorf("%w: x", room.ErrDisconnected), ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, false},
		{context.DeadlineExceeded, ffipb.ErrorCode_ERROR_CODE_TIMEOUT, true},
		{context.Canceled, ffipb.ErrorCode_ERROR_CODE_CANCELLED, false},
		{ErrNotFound, ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, false},
		{fmt.Errorf("unknown"), ffipb.ErrorCode_ERROR_CODE_INTERNAL, false},
	}
	for _, tc := range more {
		got := ToProto(fromCore(tc.err))
		if got.GetCode() != tc.code || got.GetRetryable() != tc.retryable {
			t.Errorf("%v: %v, want %v retryable=%v", tc.err, got, tc.code, tc.retryable)
		}
	}
}

// Every exported Err* variable declared in core/room's sources has a row above.
func TestCoreErrorTableIsComplete(t *testing.T) {
	files, err := filepath.Glob("../../../core/room/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("core/room sources not found: %v", err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if n.IsExported() && strings.HasPrefix(n.Name, "Err") {
						if _, ok := coreRoomErrors[n.Name]; !ok {
							t.Errorf("room.%s (%s) has no FFI error code: classify it in core/room (errorkind.go) and add it to this test", n.Name, filepath.Base(f))
						}
					}
				}
			}
		}
	}
}

// The schema's DisconnectReason copies livekit.DisconnectReason number for number.
func TestDisconnectReasonNumbersMatch(t *testing.T) {
	for num, name := range ffipb.DisconnectReason_name {
		lk := lkpb.DisconnectReason_name[num]
		want := strings.TrimPrefix(name, "DISCONNECT_REASON_")
		if want == "UNKNOWN" {
			want = "UNKNOWN_REASON"
		}
		if lk != want {
			t.Errorf("DisconnectReason %d: schema %s, livekit %s", num, name, lk)
		}
	}
	for num, name := range lkpb.DisconnectReason_name {
		if _, ok := ffipb.DisconnectReason_name[num]; !ok {
			t.Errorf("livekit DisconnectReason %s (%d) missing from the schema", name, num)
		}
	}
}

// Every core room event type is translated (or deliberately dropped) by Room.translate: a
// new event type in core/room fails this test until room.go names it.
func TestEveryCoreEventIsTranslated(t *testing.T) {
	files, err := filepath.Glob("../../../core/room/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("core/room sources not found: %v", err)
	}
	translate, err := os.ReadFile("room.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Name.Name != "isEvent" || fd.Recv == nil {
				continue
			}
			id, ok := fd.Recv.List[0].Type.(*ast.Ident)
			if !ok {
				continue
			}
			n++
			if !strings.Contains(string(translate), "case room."+id.Name+":") {
				t.Errorf("room.%s is not handled by Room.translate", id.Name)
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d event types in core/room", n)
	}
}
