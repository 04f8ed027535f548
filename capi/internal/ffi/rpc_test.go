package ffi

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"google.golang.org/protobuf/proto"
)

func registerRPC(t *testing.T, h *host, room uint64, method string) {
	t.Helper()
	wantRespCode(t, h.do(&ffipb.Request{Message: &ffipb.Request_RegisterRpcMethod{RegisterRpcMethod: &ffipb.RegisterRpcMethodRequest{RoomHandle: room, Method: method}}}), ffipb.ErrorCode_ERROR_CODE_OK)
}

func performRPC(h *host, room uint64, dest, method, payload string) uint64 {
	return h.async(&ffipb.Request{Message: &ffipb.Request_PerformRpc{PerformRpc: &ffipb.PerformRpcRequest{
		RoomHandle: room, DestinationIdentity: dest, Method: method, Payload: payload,
	}}})
}

func respondRPC(h *host, room, invocation uint64, payload string, rpcErr *ffipb.RpcError) *ffipb.Response {
	r := &ffipb.RespondRpcRequest{RoomHandle: room, InvocationId: invocation}
	if rpcErr != nil {
		r.Result = &ffipb.RespondRpcRequest_Error{Error: rpcErr}
	} else {
		r.Result = &ffipb.RespondRpcRequest_Payload{Payload: payload}
	}
	return h.do(&ffipb.Request{Message: &ffipb.Request_RespondRpc{RespondRpc: r}})
}

func TestE2ERPC(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	// The callee registers its methods before connecting.
	alice := newHost(t)
	ar := alice.createRoom(nil)
	registerRPC(t, alice, ar, "upper")
	registerRPC(t, alice, ar, "fail")
	alice.connect(ar, s.URL(), mintToken(t, s, "rpc", "alice"))
	bob, br, _ := joinHost(t, s, "rpc", "bob")
	alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })

	// A successful call, answered by the host.
	id := performRPC(bob, br, "alice", "upper", "hello")
	ev, from := alice.roomEvent("invocation", 0, func(e *ffipb.RoomEvent) bool { return e.GetRpcInvocation() != nil })
	inv := ev.GetRpcInvocation()
	if inv.GetMethod() != "upper" || inv.GetCallerIdentity() != "bob" || inv.GetPayload() != "hello" || inv.GetInvocationId() == 0 ||
		inv.GetRpcRequestId() == "" || inv.GetResponseTimeoutMs() < 8000 || inv.GetDeadlineUnixMs() <= time.Now().UnixMilli() {
		t.Fatalf("invocation: %v", inv)
	}
	wantRespCode(t, respondRPC(alice, ar, inv.GetInvocationId(), strings.ToUpper(inv.GetPayload()), nil), ffipb.ErrorCode_ERROR_CODE_OK)
	wantRespCode(t, respondRPC(alice, ar, inv.GetInvocationId(), "again", nil), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND)
	if c := bob.completion(id); c.GetError() != nil || c.GetPerformRpc().GetPayload() != "HELLO" {
		t.Fatalf("perform_rpc: %v", c)
	}

	// An application error travels with code, message and data.
	id = performRPC(bob, br, "alice", "fail", "x")
	ev, _ = alice.roomEvent("invocation 2", from+1, func(e *ffipb.RoomEvent) bool { return e.GetRpcInvocation() != nil })
	wantRespCode(t, respondRPC(alice, ar, ev.GetRpcInvocation().GetInvocationId(), "", &ffipb.RpcError{Code: 2001, Message: "nope", Data: "details"}), ffipb.ErrorCode_ERROR_CODE_OK)
	c := bob.completion(id)
	if e := c.GetError(); e.GetCode() != ffipb.ErrorCode_ERROR_CODE_RPC_ERROR || e.GetRpc().GetCode() != 2001 || e.GetRpc().GetMessage() != "nope" || e.GetRpc().GetData() != "details" {
		t.Fatalf("rpc error: %v", c)
	}

	// Unknown method: 1400 from the callee's core.
	c = bob.completion(performRPC(bob, br, "alice", "nope", ""))
	if c.GetError().GetRpc().GetCode() != rpc.CodeUnsupportedMethod {
		t.Fatalf("unsupported method: %v", c)
	}

	// Unregistering turns the method away; registering after connecting works.
	wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_UnregisterRpcMethod{UnregisterRpcMethod: &ffipb.UnregisterRpcMethodRequest{RoomHandle: ar, Method: "upper"}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	c = bob.completion(performRPC(bob, br, "alice", "upper", ""))
	if c.GetError().GetRpc().GetCode() != rpc.CodeUnsupportedMethod {
		t.Fatalf("after unregister: %v", c)
	}
	registerRPC(t, bob, br, "ping")
	id = performRPC(alice, ar, "bob", "ping", "p")
	ev, _ = bob.roomEvent("bob's invocation", 0, func(e *ffipb.RoomEvent) bool { return e.GetRpcInvocation() != nil })
	wantRespCode(t, respondRPC(bob, br, ev.GetRpcInvocation().GetInvocationId(), "pong", nil), ffipb.ErrorCode_ERROR_CODE_OK)
	if c := alice.completion(id); c.GetPerformRpc().GetPayload() != "pong" {
		t.Fatalf("ping: %v", c)
	}
}

// The callee side answers 1502 itself when the host does not respond before the caller's
// advertised timeout; a late response is NOT_FOUND. (Driven directly: over the network the
// caller advertises at least 8 s.)
func TestRPCCalleeTimeout(t *testing.T) {
	h := newHost(t)
	rh := h.createRoom(nil)
	r, err := h.c.room(rh)
	if err != nil {
		t.Fatal(err)
	}
	close(r.eventsReady) // as after a connect completion
	handler := r.rpcHandler("m")
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := handler(context.Background(), rpc.Invocation{RequestID: "req-1", CallerIdentity: "bob", Payload: "p", ResponseTimeout: 50 * time.Millisecond})
		done <- result{out, err}
	}()
	ev, _ := h.roomEvent("invocation", 0, func(e *ffipb.RoomEvent) bool { return e.GetRpcInvocation() != nil })
	if ev.GetRoomHandle() != rh || ev.GetRpcInvocation().GetResponseTimeoutMs() != 50 {
		t.Fatalf("invocation event: %v", ev)
	}
	res := <-done
	var re *rpc.RpcError
	if !errors.As(res.err, &re) || re.Code != rpc.CodeResponseTimeout {
		t.Fatalf("handler returned %q, %v; want 1502", res.out, res.err)
	}
	wantRespCode(t, respondRPC(h, rh, ev.GetRpcInvocation().GetInvocationId(), "late", nil), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND)

	// Answered in time: the handler returns the host's answer.
	go func() {
		out, err := handler(context.Background(), rpc.Invocation{RequestID: "req-2", ResponseTimeout: time.Minute})
		done <- result{out, err}
	}()
	ev, _ = h.roomEvent("second invocation", 0, func(e *ffipb.RoomEvent) bool {
		return e.GetRpcInvocation().GetRpcRequestId() == "req-2"
	})
	wantRespCode(t, respondRPC(h, rh, ev.GetRpcInvocation().GetInvocationId(), "ok", nil), ffipb.ErrorCode_ERROR_CODE_OK)
	if res := <-done; res.out != "ok" || res.err != nil {
		t.Fatalf("answered: %q %v", res.out, res.err)
	}
}

// A handler's answer that cannot be decoded (its payload is not valid UTF-8, which protobuf
// refuses) is INVALID_REQUEST for the host, and the caller is answered at once with 1500
// APPLICATION_ERROR instead of waiting for its response timeout; the invocation is then
// answered (a second RespondRpc is NOT_FOUND). A malformed request that names no pending
// invocation answers nothing.
func TestE2ERPCUndecodableAnswerFailsTheCallerAtOnce(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice := newHost(t)
	ar := alice.createRoom(nil)
	registerRPC(t, alice, ar, "echo")
	alice.connect(ar, s.URL(), mintToken(t, s, "rpc-bad-answer", "alice"))
	bob, br, _ := joinHost(t, s, "rpc-bad-answer", "bob")
	alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })

	id := performRPC(bob, br, "alice", "echo", "hello")
	ev, _ := alice.roomEvent("invocation", 0, func(e *ffipb.RoomEvent) bool { return e.GetRpcInvocation() != nil })
	inv := ev.GetRpcInvocation().GetInvocationId()
	// Encode a valid answer, then make its payload invalid UTF-8 in place.
	raw, err := proto.Marshal(&ffipb.Request{Message: &ffipb.Request_RespondRpc{RespondRpc: &ffipb.RespondRpcRequest{
		RoomHandle: ar, InvocationId: inv, Result: &ffipb.RespondRpcRequest_Payload{Payload: "@@@@"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Replace(raw, []byte("@@@@"), []byte{0xff, 0xfe, 0xfd, 0xfc}, 1)
	out, code := alice.c.Request(raw)
	resp := new(ffipb.Response)
	if err := proto.Unmarshal(out, resp); err != nil || code != ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST ||
		!strings.Contains(resp.GetError().GetMessage(), "1500") {
		t.Fatalf("undecodable answer: %v %v (%v)", code, resp, err)
	}
	c := bob.completion(id) // bounded by the helper's guard, far below the 10 s response timeout
	if e := c.GetError(); e.GetCode() != ffipb.ErrorCode_ERROR_CODE_RPC_ERROR || e.GetRpc().GetCode() != rpc.CodeApplicationError {
		t.Fatalf("caller got %v, want 1500", c)
	}
	wantRespCode(t, respondRPC(alice, ar, inv, "late", nil), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND)

	// Undecodable bytes that are no answer, or name no pending invocation, change nothing.
	for _, b := range [][]byte{raw, {0xff, 0xff}} {
		out, code = alice.c.Request(b)
		if err := proto.Unmarshal(out, resp); err != nil || code != ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST ||
			strings.Contains(resp.GetError().GetMessage(), "1500") {
			t.Fatalf("undecodable request %x: %v %v (%v)", b, code, resp, err)
		}
	}
}
