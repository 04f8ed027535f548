package room

import (
	"context"

	"github.com/lkcore/lkcore/core/rpc"
)

// RPC (docs/protocol.md, RPC): v2 over data streams to peers
// that advertise client_protocol ≥ 1, v1 packets otherwise; see core/rpc for
// the timing and version rules.

// PerformRPC calls p.Method on the participant p.Destination and returns its
// response payload. It blocks until the response, an error response, a
// timeout (1501 no ack within 7 s, 1502 no response within
// p.ResponseTimeout), the callee leaving the room (1503) or ctx ends.
//
// Failures are *rpc.RpcError values (errors.As; errors.Is against the rpc
// sentinels such as rpc.ErrUnsupportedMethod matches by code), except a
// cancelled or expired ctx, which returns ctx.Err(). When the room
// disconnects before or during the call the error is the 1503 *rpc.RpcError
// and also matches ErrDisconnected.
func (lp *LocalParticipant) PerformRPC(ctx context.Context, p rpc.PerformParams) (string, error) {
	out, err := lp.room.dapi.rpc.PerformRPC(ctx, p)
	return out, lp.room.closedErr(err)
}

// RegisterRPCMethod installs h as the handler of method for calls from any
// participant. Each invocation runs on its own goroutine. Returning an
// *rpc.RpcError sends it to the caller as-is; any other error, or a panic,
// sends 1500 APPLICATION_ERROR. h's ctx is cancelled when the room
// disconnects, and Disconnect waits for running handlers, so handlers must
// honour it.
//
// A Room exists only once Connect returned: calls that arrive before the
// method is registered are answered with 1400 UNSUPPORTED_METHOD (as in JS
// when a method is registered late). Options.RPCMethods registers methods
// while joining, before anything can arrive. Errors: rpc.ErrMethodAlreadyRegistered,
// rpc.ErrInvalidArgument (empty method or nil handler), ErrDisconnected after
// disconnect.
func (r *Room) RegisterRPCMethod(method string, h rpc.Handler) error {
	if r.isClosing() {
		return ErrDisconnected
	}
	return r.dapi.rpc.RegisterMethod(method, h)
}

// UnregisterRPCMethod removes the handler of method (no error if there is
// none). Invocations already running are not interrupted.
func (r *Room) UnregisterRPCMethod(method string) {
	r.dapi.rpc.UnregisterMethod(method)
}
