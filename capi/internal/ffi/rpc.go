package ffi

import (
	"context"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/rpc"
)

// RPC: methods are registered on the core room (which exists before it connects). Each
// incoming call becomes an RpcInvocation room event that the
// host answers with RespondRpcRequest; if it does not before the caller's advertised
// response timeout, the library answers 1502 RESPONSE_TIMEOUT itself.

// DefaultRPCResponseTimeout is PerformRpcRequest's default response timeout
// (RoomOptions.rpc_response_timeout_ms = 0): the core's rpc.DefaultResponseTimeout.
const DefaultRPCResponseTimeout = rpc.DefaultResponseTimeout

// rpcAnswer is the host's answer to one invocation.
type rpcAnswer struct {
	payload string
	err     error
}

// invocation is an incoming RPC waiting for the host's RespondRpcRequest.
type invocation struct {
	answer chan rpcAnswer // capacity 1; written once, by RespondRpc
}

// rpcState is a room's RPC bookkeeping, guarded by Room.mu: the methods this handle
// registered (the core's Unregister does not report an unknown name; the ABI does) and the
// invocations waiting for the host's answer.
type rpcState struct {
	methods     map[string]struct{}
	invocations map[uint64]*invocation
}

func (r *Room) rpcInit() {
	r.rpc.methods = map[string]struct{}{}
	r.rpc.invocations = map[uint64]*invocation{}
}

// rpcHandler returns the core handler of method: it hands the call to the host as an
// RpcInvocation event and waits for the answer, bounded by the caller's advertised timeout.
func (r *Room) rpcHandler(method string) rpc.Handler {
	return func(ctx context.Context, inv rpc.Invocation) (string, error) {
		// Room events (this one included) follow the connect completion.
		select {
		case <-r.eventsReady:
		case <-ctx.Done():
			return "", rpc.ErrRecipientDisconnected
		case <-r.ctx.Done():
			return "", rpc.ErrRecipientDisconnected
		}
		timeout := inv.ResponseTimeout
		if timeout <= 0 {
			timeout = DefaultRPCResponseTimeout
		}
		deadline := time.Now().Add(timeout)
		id := r.c.invocationSeq.Add(1)
		pending := &invocation{answer: make(chan rpcAnswer, 1)}
		r.mu.Lock()
		r.rpc.invocations[id] = pending
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			delete(r.rpc.invocations, id)
			r.mu.Unlock()
		}()
		ev := &ffipb.RoomEvent{RoomHandle: r.handle, Message: &ffipb.RoomEvent_RpcInvocation{RpcInvocation: &ffipb.RpcInvocation{
			InvocationId:      id,
			Method:            method,
			CallerIdentity:    inv.CallerIdentity,
			Payload:           inv.Payload,
			RpcRequestId:      inv.RequestID,
			ResponseTimeoutMs: uint32(timeout / time.Millisecond),
			DeadlineUnixMs:    deadline.UnixMilli(),
		}}}
		if err := r.c.Post(ctx, roomEvent(ev)); err != nil {
			return "", rpc.ErrRecipientDisconnected
		}
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case a := <-pending.answer:
			return a.payload, a.err
		case <-t.C:
			r.mu.Lock()
			_, unanswered := r.rpc.invocations[id]
			delete(r.rpc.invocations, id)
			r.mu.Unlock()
			if !unanswered { // RespondRpc took it just now: its answer is on the way
				a := <-pending.answer
				return a.payload, a.err
			}
			r.log.Info("RPC invocation not answered in time", "method", method, "invocation_id", id)
			return "", rpc.ErrResponseTimeout
		case <-ctx.Done():
			return "", rpc.ErrRecipientDisconnected
		case <-r.ctx.Done():
			return "", rpc.ErrRecipientDisconnected
		}
	}
}

// registerRPCMethod handles RegisterRpcMethodRequest.
func (c *Client) registerRPCMethod(m *ffipb.RegisterRpcMethodRequest, resp *ffipb.Response) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	method := m.GetMethod()
	if method == "" {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "method name is empty")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.core.RegisterRPCMethod(method, r.rpcHandler(method)); err != nil {
		return fromCore(err)
	}
	r.rpc.methods[method] = struct{}{}
	resp.Message = &ffipb.Response_RegisterRpcMethod{RegisterRpcMethod: &ffipb.RegisterRpcMethodResponse{}}
	return nil
}

// unregisterRPCMethod handles UnregisterRpcMethodRequest (NOT_FOUND if not registered).
// Invocations already delivered can still be answered.
func (c *Client) unregisterRPCMethod(m *ffipb.UnregisterRpcMethodRequest, resp *ffipb.Response) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	method := m.GetMethod()
	r.mu.Lock()
	if _, ok := r.rpc.methods[method]; !ok {
		r.mu.Unlock()
		return Errorf(ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, "RPC method %q is not registered", method)
	}
	delete(r.rpc.methods, method)
	r.core.UnregisterRPCMethod(method)
	r.mu.Unlock()
	resp.Message = &ffipb.Response_UnregisterRpcMethod{UnregisterRpcMethod: &ffipb.UnregisterRpcMethodResponse{}}
	return nil
}

// respondRPC handles RespondRpcRequest. NOT_FOUND when the invocation was answered already,
// timed out, or never existed.
func (c *Client) respondRPC(m *ffipb.RespondRpcRequest, resp *ffipb.Response) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	var a rpcAnswer
	switch res := m.GetResult().(type) {
	case *ffipb.RespondRpcRequest_Payload:
		a.payload = res.Payload
	case *ffipb.RespondRpcRequest_Error:
		a.err = rpc.NewRpcError(res.Error.GetCode(), res.Error.GetMessage(), res.Error.GetData())
	default:
		a.payload = "" // an empty successful response
	}
	r.mu.Lock()
	inv := r.rpc.invocations[m.GetInvocationId()]
	delete(r.rpc.invocations, m.GetInvocationId())
	r.mu.Unlock()
	if inv == nil {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, "no pending RPC invocation %d (answered, timed out or unknown)", m.GetInvocationId())
	}
	inv.answer <- a
	resp.Message = &ffipb.Response_RespondRpc{RespondRpc: &ffipb.RespondRpcResponse{}}
	return nil
}

// failUndecodableRPCAnswer answers an RPC caller whose handler's RespondRpcRequest could not be
// decoded (typically a payload that is not valid UTF-8): it finds the room handle and the
// invocation id in the raw request and ends that invocation with 1500 APPLICATION_ERROR, so
// the caller learns at once that the handler failed instead of waiting for its response
// timeout. It reports whether an invocation was answered. A request that is not a
// RespondRpcRequest, or names no pending invocation, is left alone.
func (c *Client) failUndecodableRPCAnswer(b []byte) bool {
	field := func(m proto.Message, name protoreflect.Name) protowire.Number {
		return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
	}
	body := lastBytesField(b, field(&ffipb.Request{}, "respond_rpc"))
	if body == nil {
		return false
	}
	roomHandle, okRoom := lastVarintField(body, field(&ffipb.RespondRpcRequest{}, "room_handle"))
	invocationID, okInv := lastVarintField(body, field(&ffipb.RespondRpcRequest{}, "invocation_id"))
	if !okRoom || !okInv {
		return false
	}
	r, err := c.room(roomHandle)
	if err != nil {
		return false
	}
	r.mu.Lock()
	inv := r.rpc.invocations[invocationID]
	delete(r.rpc.invocations, invocationID)
	r.mu.Unlock()
	if inv == nil {
		return false
	}
	inv.answer <- rpcAnswer{err: rpc.NewRpcError(rpc.CodeApplicationError, "the handler's response could not be decoded", "")}
	return true
}

// performRPC handles PerformRpcRequest (ASYNC).
func (c *Client) performRPC(k *call, m *ffipb.PerformRpcRequest) error {
	r, rm, err := c.connectedRoom(m.GetRoomHandle())
	if err != nil {
		return err
	}
	if m.GetDestinationIdentity() == "" || m.GetMethod() == "" {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "perform_rpc needs destination_identity and method")
	}
	timeout := time.Duration(m.GetResponseTimeoutMs()) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Duration(r.options.GetRpcResponseTimeoutMs()) * time.Millisecond
	}
	if timeout <= 0 {
		timeout = DefaultRPCResponseTimeout
	}
	p := rpc.PerformParams{Destination: m.GetDestinationIdentity(), Method: m.GetMethod(), Payload: m.GetPayload(), ResponseTimeout: timeout}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		out, err := rm.LocalParticipant().PerformRPC(ctx, p)
		if err != nil {
			return nil, fromCore(err)
		}
		return &ffipb.Completion{Result: &ffipb.Completion_PerformRpc{PerformRpc: &ffipb.PerformRpcResult{Payload: out}}}, nil
	})
}
