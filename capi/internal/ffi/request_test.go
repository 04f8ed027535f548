package ffi

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func decodeResp(t *testing.T, out []byte) *ffipb.Response {
	t.Helper()
	resp := new(ffipb.Response)
	if err := proto.Unmarshal(out, resp); err != nil {
		t.Fatalf("response does not decode: %v", err)
	}
	return resp
}

func TestMalformedRequests(t *testing.T) {
	c := newTestClient(t, 20, nil)
	// A field number beyond Request's known kinds, as a newer host would send it.
	unknownKind := protowire.AppendTag(nil, 999, protowire.BytesType)
	unknownKind = protowire.AppendBytes(unknownKind, nil)
	valid, _ := proto.Marshal(&ffipb.Request{RequestId: 3, Message: &ffipb.Request_GetVersion{GetVersion: &ffipb.GetVersionRequest{}}})
	cases := []struct {
		name string
		in   []byte
		want ffipb.ErrorCode
	}{
		{"nil", nil, ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
		{"empty", []byte{}, ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff, 0xff}, ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
		{"truncated", valid[:len(valid)-1], ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
		{"unknown kind", unknownKind, ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED},
		{"known field, wrong wire type", protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("x")), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
		{"unknown varint field", protowire.AppendVarint(protowire.AppendTag(nil, 500, protowire.VarintType), 1), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
		{"only request id", protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 9), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
	}
	for _, tc := range cases {
		out, code := c.Request(tc.in)
		resp := decodeResp(t, out)
		if code != tc.want || resp.GetError().GetCode() != tc.want || resp.GetError().GetMessage() == "" {
			t.Errorf("%s: code %v, response %v; want %v", tc.name, code, resp, tc.want)
		}
	}
	out, code := c.Request(valid)
	if resp := decodeResp(t, out); code != ffipb.ErrorCode_ERROR_CODE_OK || resp.RequestId != 3 || resp.GetGetVersion().GetAbiVersion() != ABIVersion || resp.GetGetVersion().GetSchema() != Schema {
		t.Fatalf("get_version: %v %v", code, resp)
	}
}

func TestRequestsValidateHandlesAndIDs(t *testing.T) {
	c := newTestClient(t, 21, nil)
	room := do(t, c, &ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{
		Options: &ffipb.RoomOptions{AutoSubscribe: true, ConnectTimeoutMs: 1000},
	}}}).GetCreateRoom().GetRoom()
	if room.GetHandle() == 0 || room.GetInfo().GetConnectionState() != ffipb.ConnectionState_CONNECTION_STATE_DISCONNECTED {
		t.Fatalf("create_room: %v", room)
	}
	h := room.GetHandle()
	connect := func(id uint64, handle uint64) *ffipb.Request {
		// Nothing listens on port 1: the attempt fails at once.
		return &ffipb.Request{RequestId: id, Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: handle, Url: "ws://127.0.0.1:1", Token: "secret-token"}}}
	}
	wantRespCode(t, do(t, c, connect(0, h)), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST)
	wantRespCode(t, do(t, c, connect(1, 0)), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	wantRespCode(t, do(t, c, connect(1, h+1)), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	wantRespCode(t, do(t, c, &ffipb.Request{RequestId: 1, Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: h}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	// Accepted; the failure arrives as the completion, typed, without the token.
	wantRespCode(t, do(t, c, connect(1, h)), ffipb.ErrorCode_ERROR_CODE_OK)
	comp := nextEvent(t, c).GetCompletion()
	if comp.GetRequestId() != 1 || comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED || !comp.GetError().GetRetryable() {
		t.Fatalf("connect completion %v, want retryable CONNECTION_FAILED", comp)
	}
	if strings.Contains(comp.GetError().GetMessage(), "secret-token") {
		t.Fatal("token leaked into an error message")
	}
	// A failed attempt leaves the room connectable; requests that need a connection fail.
	if st := do(t, c, &ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: h}}}).GetGetRoomSnapshot().GetSnapshot().GetRoom().GetConnectionState(); st != ffipb.ConnectionState_CONNECTION_STATE_DISCONNECTED {
		t.Fatalf("state after failed connect: %v", st)
	}
	wantRespCode(t, do(t, c, &ffipb.Request{RequestId: 5, Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{RoomHandle: h, Payload: []byte("x")}}}), ffipb.ErrorCode_ERROR_CODE_DISCONNECTED)
	wantRespCode(t, do(t, c, &ffipb.Request{RequestId: 5, Message: &ffipb.Request_SetLocalName{SetLocalName: &ffipb.SetLocalNameRequest{RoomHandle: h, Name: "n"}}}), ffipb.ErrorCode_ERROR_CODE_DISCONNECTED)
	// A room handle where a track handle is expected.
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_DataTrackIsPublished{DataTrackIsPublished: &ffipb.DataTrackIsPublishedRequest{TrackHandle: h}}}), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_PushDataTrackFrame{PushDataTrackFrame: &ffipb.PushDataTrackFrameRequest{TrackHandle: h}}}), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: h, Credits: 1}}}), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: 77}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	// RPC methods can be registered before connecting, once per name.
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_RegisterRpcMethod{RegisterRpcMethod: &ffipb.RegisterRpcMethodRequest{RoomHandle: h, Method: "m"}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_RegisterRpcMethod{RegisterRpcMethod: &ffipb.RegisterRpcMethodRequest{RoomHandle: h, Method: "m"}}}), ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_RegisterRpcMethod{RegisterRpcMethod: &ffipb.RegisterRpcMethodRequest{RoomHandle: h}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_UnregisterRpcMethod{UnregisterRpcMethod: &ffipb.UnregisterRpcMethodRequest{RoomHandle: h, Method: "x"}}}), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_RespondRpc{RespondRpc: &ffipb.RespondRpcRequest{RoomHandle: h, InvocationId: 5}}}), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND)
	// A oneof member set to nil decodes as an empty body and is validated like one.
	wantRespCode(t, do(t, c, &ffipb.Request{RequestId: 2, Message: &ffipb.Request_Disconnect{}}), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	// E2EE options without a key are refused.
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{Options: &ffipb.RoomOptions{E2Ee: &ffipb.E2EeOptions{}}}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_SetLogLevel{SetLogLevel: &ffipb.SetLogLevelRequest{Level: 99}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
}

// The handler table and the schema agree: every request kind of the schema declares its mode
// and has a handler, and every handler names a request kind.
func TestRequestTableMatchesSchema(t *testing.T) {
	fields := requestKinds.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if _, ok := requestHandlers[f.Name()]; !ok {
			t.Errorf("request kind %s has no handler", f.Name())
		}
		if !proto.HasExtension(f.Options(), ffipb.E_RequestMode) {
			t.Errorf("request kind %s declares no (request_mode)", f.Name())
		}
		if _, ok := ffipb.RequestMode_name[int32(requestMode(f))]; !ok {
			t.Errorf("request kind %s declares an unknown mode %d", f.Name(), requestMode(f))
		}
	}
	for name := range requestHandlers {
		if fields.ByName(name) == nil {
			t.Errorf("handler %s names no field of Request.message", name)
		}
	}
}

// Every request kind of the schema is routed (no kind falls through to the default case), and
// the mode it declares is what the router does: an ASYNC kind without request_id is refused
// before its handler runs, a synchronous one is not.
func TestEveryRequestKindIsRoutedByItsDeclaredMode(t *testing.T) {
	c := newTestClient(t, 22, nil)
	fields := requestKinds.Fields()
	async := 0
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		for _, id := range []uint64{0, uint64(100 + i)} {
			req := &ffipb.Request{RequestId: id}
			r := req.ProtoReflect()
			r.Set(f, r.NewField(f))
			b, _ := proto.Marshal(req)
			out, _ := c.Request(b)
			resp := decodeResp(t, out)
			if strings.Contains(resp.GetError().GetMessage(), "request kind") {
				t.Errorf("%s not routed: %v", f.Name(), resp.GetError())
			}
			if resp.RequestId != id {
				t.Errorf("%s: request id not echoed", f.Name())
			}
			refused := resp.GetError().GetCode() == ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST && resp.GetError().GetMessage() == errNeedRequestID.Msg
			declared := requestMode(f) == ffipb.RequestMode_REQUEST_MODE_ASYNC
			if want := declared && id == 0; refused != want {
				t.Errorf("%s (request_id %d, mode %v): refused for its missing request_id = %v, want %v (%v)", f.Name(), id, requestMode(f), refused, want, resp.GetError())
			}
			if declared && id == 0 {
				async++
			}
		}
	}
	if async == 0 || c.PendingOps() != 0 {
		t.Fatalf("%d ASYNC kinds, %d operations pending after requests with empty bodies", async, c.PendingOps())
	}
	// echo is ASYNC only when its body asks for it.
	echo := func(id uint64, async bool) *ffipb.Response {
		return do(t, c, &ffipb.Request{RequestId: id, Message: &ffipb.Request_Echo{Echo: &ffipb.EchoRequest{Payload: []byte("p"), Async: async}}})
	}
	wantRespCode(t, echo(0, true), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST)
	if got := echo(0, false).GetEcho().GetPayload(); string(got) != "p" {
		t.Fatalf("synchronous echo answered %q", got)
	}
	if resp := echo(7, true); resp.GetError() != nil || resp.Message != nil {
		t.Fatalf("asynchronous echo answered synchronously: %v", resp)
	}
	if comp := nextEvent(t, c).GetCompletion(); comp.GetRequestId() != 7 || string(comp.GetEcho().GetPayload()) != "p" {
		t.Fatalf("asynchronous echo completion %v", comp)
	}
}

// The router enforces the declared mode on the handlers themselves: an ASYNC handler that
// starts nothing or answers synchronously, and a synchronous handler that tries to start an
// operation, are internal errors.
func TestRouterEnforcesDeclaredMode(t *testing.T) {
	c := newTestClient(t, 23, nil)
	asyncKind := requestKinds.Fields().ByName("connect")
	syncKind := requestKinds.Fields().ByName("get_version")
	noop := func(context.Context) (*ffipb.Completion, error) { return nil, nil }
	cases := []struct {
		name string
		fd   protoreflect.FieldDescriptor
		h    handler
	}{
		{"async handler that starts nothing", asyncKind, func(*call) error { return nil }},
		{"async handler with a synchronous result", asyncKind, func(k *call) error {
			k.resp.Message = &ffipb.Response_GetVersion{GetVersion: &ffipb.GetVersionResponse{}}
			return k.start(noop)
		}},
		{"async handler that starts twice", asyncKind, func(k *call) error {
			if err := k.start(noop); err != nil {
				return err
			}
			return k.start(noop)
		}},
		{"sync handler that starts an operation", syncKind, func(k *call) error { return k.start(noop) }},
	}
	for i, tc := range cases {
		req := &ffipb.Request{RequestId: uint64(50 + i)}
		err := c.runHandler(tc.fd, tc.h, &call{c: c, req: req, resp: &ffipb.Response{}})
		var fe *Error
		if !errors.As(err, &fe) || fe.Code != ffipb.ErrorCode_ERROR_CODE_INTERNAL {
			t.Errorf("%s: %v, want INTERNAL", tc.name, err)
		}
	}
	// The well-behaved forms pass.
	if err := c.runHandler(asyncKind, func(k *call) error { return k.start(noop) }, &call{c: c, req: &ffipb.Request{RequestId: 60}, resp: &ffipb.Response{}}); err != nil {
		t.Fatalf("async handler: %v", err)
	}
	// Its completion follows (after those of the rejected handlers that did start one: the
	// router reports their bug as INTERNAL, it cannot unstart an operation).
	for n := 0; ; n++ {
		if n == 3 {
			t.Fatal("no completion for the well-behaved async handler")
		}
		if nextEvent(t, c).GetCompletion().GetRequestId() == 60 {
			break
		}
	}
	if err := c.runHandler(syncKind, func(*call) error { return nil }, &call{c: c, req: &ffipb.Request{}, resp: &ffipb.Response{}}); err != nil {
		t.Fatalf("sync handler: %v", err)
	}
}

func TestPanicRecovery(t *testing.T) {
	s := newSink()
	c := newTestClient(t, 23, s.deliver)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_SetLogLevel{SetLogLevel: &ffipb.SetLogLevelRequest{Level: ffipb.LogLevel_LOG_LEVEL_ERROR}}}), ffipb.ErrorCode_ERROR_CODE_OK)

	// In a request handler.
	c.testHookRequest = func(r *ffipb.Request) {
		if r.GetEcho() != nil && string(r.GetEcho().GetPayload()) == "boom" {
			panic("handler bug")
		}
	}
	resp := do(t, c, &ffipb.Request{RequestId: 4, Message: &ffipb.Request_Echo{Echo: &ffipb.EchoRequest{Payload: []byte("boom")}}})
	wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_INTERNAL)
	if resp.RequestId != 4 || resp.Message != nil {
		t.Fatalf("panic response %v", resp)
	}
	s.waitFor(t, "panic log record", func(evs []*ffipb.Event) bool {
		for _, ev := range evs {
			if l := ev.GetLog(); l != nil && l.Level == ffipb.LogLevel_LOG_LEVEL_ERROR && strings.Contains(l.Message, "panic recovered") {
				return true
			}
		}
		return false
	})
	// The client keeps working.
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_Echo{Echo: &ffipb.EchoRequest{Payload: []byte("ok")}}}), ffipb.ErrorCode_ERROR_CODE_OK)

	// In an asynchronous operation: INTERNAL completion.
	if err := c.StartOp(9, 0, func(context.Context) (*ffipb.Completion, error) { panic("op bug") }); err != nil {
		t.Fatal(err)
	}
	evs := s.waitFor(t, "op completion", func(e []*ffipb.Event) bool { return completions(e)[9] != nil })
	if code := completions(evs)[9].GetError().GetCode(); code != ffipb.ErrorCode_ERROR_CODE_INTERNAL {
		t.Fatalf("op panic completion code %v", code)
	}

	// In a handle release: the drop succeeds, close still completes.
	h, _ := c.Handles().Insert(KindRoom, nil, 0, func(context.Context) { panic("release bug") })
	if err := c.DropHandle(h); err != nil {
		t.Fatal(err)
	}
	h2, _ := c.Handles().Insert(KindRoom, nil, 0, func(context.Context) { panic("release bug at close") })
	_ = h2
}

func TestPanicInDeliverDoesNotStopDispatcher(t *testing.T) {
	var n atomic.Int32
	got := make(chan struct{})
	c := newTestClient(t, 24, func([]byte) {
		if n.Add(1) == 1 {
			panic("deliver bug")
		}
		close(got)
	})
	for i := 0; i < 2; i++ {
		if err := c.Post(context.Background(), &ffipb.Event{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-got:
	case <-time.After(hangGuard):
		t.Fatal("dispatcher stopped after a panic")
	}
}

func TestLogForwardingLevelsAndDropCount(t *testing.T) {
	c, err := NewClient(Options{ID: 25, QueueCapacity: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(hangGuard, false); err != nil {
			t.Error(err)
		}
	}()
	log := c.Logger().With("room", "r1").WithGroup("dt")
	log.Info("below default level") // default WARN: not forwarded
	if _, err := c.NextEvent(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("info record forwarded at WARN: %v", err)
	}
	for i := 0; i < 5; i++ { // queue holds 2: 3 are dropped
		log.Warn("w", "i", i)
	}
	read := func() *ffipb.LogRecord {
		b, err := c.NextEvent(0)
		if err != nil {
			t.Fatal(err)
		}
		ev := new(ffipb.Event)
		if err := proto.Unmarshal(b, ev); err != nil {
			t.Fatal(err)
		}
		return ev.GetLog()
	}
	first := read()
	if first.Level != ffipb.LogLevel_LOG_LEVEL_WARN || first.Message != "w" || first.Attributes["room"] != "r1" || first.Attributes["dt.i"] != "0" || first.TimeUnixMs == 0 {
		t.Fatalf("record %v", first)
	}
	read()
	log.Error("after drops")
	last := read()
	if last.DroppedBefore != 3 || last.Level != ffipb.LogLevel_LOG_LEVEL_ERROR {
		t.Fatalf("dropped_before %d (want 3), record %v", last.DroppedBefore, last)
	}
	if err := c.SetLogLevel(ffipb.LogLevel_LOG_LEVEL_OFF); err != nil {
		t.Fatal(err)
	}
	log.Error("off")
	if _, err := c.NextEvent(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("record forwarded with logging off: %v", err)
	}
}

type fakeTrack struct {
	got  []byte
	ts   uint64
	has  bool
	fail error
}

func (f *fakeTrack) PushFrame(p []byte, ts uint64, has bool, _ bool) error {
	if f.fail != nil {
		return f.fail
	}
	f.got, f.ts, f.has = append([]byte(nil), p...), ts, has
	return nil
}

type fakeSub struct {
	frames   chan Frame
	blocking chan struct{} // if non-nil (buffered), signalled when a read is about to block
}

func (f *fakeSub) ReadFrame(ctx context.Context) (Frame, error) {
	select {
	case fr, ok := <-f.frames:
		if !ok {
			return Frame{}, Errorf(ffipb.ErrorCode_ERROR_CODE_END_OF_STREAM, "ended")
		}
		return fr, nil
	default:
	}
	if f.blocking != nil {
		select {
		case f.blocking <- struct{}{}:
		default:
		}
	}
	select {
	case fr, ok := <-f.frames:
		if !ok {
			return Frame{}, Errorf(ffipb.ErrorCode_ERROR_CODE_END_OF_STREAM, "ended")
		}
		return fr, nil
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
}

func TestFastPathRouting(t *testing.T) {
	c := newTestClient(t, 26, nil)
	tr := &fakeTrack{}
	th, _ := c.Handles().Insert(KindLocalDataTrack, tr, 0, nil)
	if err := c.PushFrame(th, []byte("abc"), 77, true); err != nil {
		t.Fatal(err)
	}
	if string(tr.got) != "abc" || tr.ts != 77 || !tr.has {
		t.Fatalf("pushed %+v", tr)
	}
	tr.fail = &Error{Code: ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL, Msg: "full", Retryable: true}
	resp := do(t, c, &ffipb.Request{Message: &ffipb.Request_PushDataTrackFrame{PushDataTrackFrame: &ffipb.PushDataTrackFrameRequest{TrackHandle: th, Payload: []byte("x")}}})
	wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL)
	if !resp.GetError().GetRetryable() {
		t.Fatal("QUEUE_FULL must be retryable")
	}
	// A local track without a pusher (not yet wired) answers UNIMPLEMENTED.
	bare, _ := c.Handles().Insert(KindLocalDataTrack, struct{}{}, 0, nil)
	wantCode(t, c.PushFrame(bare, nil, 0, false), ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED)

	sub := &fakeSub{frames: make(chan Frame, 2)}
	sh, _ := c.Handles().Insert(KindDataTrackSubscription, sub, 0, nil)
	wantCode(t, c.PushFrame(sh, nil, 0, false), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	_, err := c.ReadFrame(th, 0)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	_, err = c.ReadFrame(sh, 0)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_TIMEOUT)
	sub.frames <- Frame{Payload: []byte("f1"), UserTimestamp: 5, HasUserTimestamp: true}
	f, err := c.ReadFrame(sh, 0) // buffered frame is returned by a poll
	if err != nil || string(f.Payload) != "f1" || f.UserTimestamp != 5 || !f.HasUserTimestamp {
		t.Fatalf("read %+v %v", f, err)
	}
	close(sub.frames)
	_, err = c.ReadFrame(sh, -1)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_END_OF_STREAM)
}

func TestReadFrameWokenByClose(t *testing.T) {
	c, err := NewClient(Options{ID: 27})
	if err != nil {
		t.Fatal(err)
	}
	sub := &fakeSub{frames: make(chan Frame), blocking: make(chan struct{}, 1)}
	sh, _ := c.Handles().Insert(KindDataTrackSubscription, sub, 0, nil)
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadFrame(sh, -1)
		done <- err
	}()
	select { // the reader is blocked in the subscription when the client closes
	case <-sub.blocking:
	case <-time.After(hangGuard):
		t.Fatal("reader never blocked")
	}
	closeWakes(t, c, done, "reader")
}

func TestErrorMapping(t *testing.T) {
	if CodeOf(nil) != ffipb.ErrorCode_ERROR_CODE_OK || ToProto(nil) != nil {
		t.Fatal("nil error")
	}
	if CodeOf(context.DeadlineExceeded) != ffipb.ErrorCode_ERROR_CODE_TIMEOUT || CodeOf(context.Canceled) != ffipb.ErrorCode_ERROR_CODE_CANCELLED {
		t.Fatal("context errors")
	}
	if CodeOf(errors.New("x")) != ffipb.ErrorCode_ERROR_CODE_INTERNAL {
		t.Fatal("plain error")
	}
	wrapped := errors.Join(errors.New("ctx"), Errorf(ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, "gone"))
	if CodeOf(wrapped) != ffipb.ErrorCode_ERROR_CODE_NOT_FOUND || !errors.Is(wrapped, ErrNotFound) {
		t.Fatal("wrapped *Error")
	}
	rpc := &Error{Code: ffipb.ErrorCode_ERROR_CODE_RPC_ERROR, Msg: "app", RPC: &ffipb.RpcError{Code: 1500, Message: "app"}}
	if p := ToProto(rpc); p.Rpc.GetCode() != 1500 || p.Code != ffipb.ErrorCode_ERROR_CODE_RPC_ERROR {
		t.Fatalf("rpc error %v", p)
	}
}

// FuzzRequest: no input makes Request panic, return an undecodable response, or report a
// status different from the response's error code.
func FuzzRequest(f *testing.F) {
	seeds := []*ffipb.Request{
		{Message: &ffipb.Request_Echo{Echo: &ffipb.EchoRequest{Payload: []byte("x")}}},
		{RequestId: 1, Message: &ffipb.Request_Echo{Echo: &ffipb.EchoRequest{Async: true}}},
		{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{Options: &ffipb.RoomOptions{E2Ee: &ffipb.E2EeOptions{SharedKey: []byte("k")}}}}},
		{RequestId: 2, Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: 1 << 56}}},
		{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: 5, Credits: 1}}},
		{Message: &ffipb.Request_Cancel{Cancel: &ffipb.CancelRequest{TargetRequestId: 1}}},
	}
	for _, s := range seeds {
		b, _ := proto.Marshal(s)
		f.Add(b)
	}
	f.Add([]byte{0xff, 0x01})
	c, err := NewClient(Options{ID: 30, QueueCapacity: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close(hangGuard, false) })
	f.Fuzz(func(t *testing.T, in []byte) {
		out, code := c.Request(in)
		resp := new(ffipb.Response)
		if err := proto.Unmarshal(out, resp); err != nil {
			t.Fatalf("undecodable response: %v", err)
		}
		if resp.GetError().GetCode() != code {
			t.Fatalf("status %v, response %v", code, resp.GetError())
		}
		if code == ffipb.ErrorCode_ERROR_CODE_INTERNAL {
			t.Fatalf("internal error for input %x: %v", in, resp.GetError())
		}
		_ = c.CancelOp(resp.RequestId) // keep pending echo ops from piling up
	})
}
