package rpc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Invocation is what a method handler receives.
type Invocation struct {
	// RequestID identifies the call.
	RequestID string
	// CallerIdentity is the caller as stamped by the SFU (for
	// server-originated calls, the request id itself).
	CallerIdentity string
	// Payload is the request payload.
	Payload string
	// ResponseTimeout is the timeout the caller advertised. It is not
	// enforced here; a late response is ignored by the caller.
	ResponseTimeout time.Duration
}

// Handler implements a method. Returning an *RpcError (or an error wrapping
// one) sends it to the caller as-is; any other error, or a panic, sends 1500
// APPLICATION_ERROR with data "Uncaught error: <error text>". ctx is
// cancelled when the manager closes. Handlers run concurrently, each on its
// own goroutine.
type Handler func(ctx context.Context, inv Invocation) (string, error)

// RegisterMethod installs h for method. A second registration of the same
// method fails with ErrMethodAlreadyRegistered (JS behaviour).
func (m *Manager) RegisterMethod(method string, h Handler) error {
	if method == "" || h == nil {
		return ErrInvalidArgument
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.methods[method]; dup {
		return fmt.Errorf("%w: %q", ErrMethodAlreadyRegistered, method)
	}
	m.methods[method] = h
	return nil
}

// UnregisterMethod removes the handler of method (no error if absent).
func (m *Manager) UnregisterMethod(method string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.methods, method)
}

func (m *Manager) handler(method string) Handler {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.methods[method]
}

// admit decides how an incoming request is served: run (0), reject with
// 1500 (1) or drop (2). Admitted work is tracked by wg; the caller must call
// m.release() when done.
func (m *Manager) admit() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 2
	}
	mode := 2
	switch {
	case m.inFlight < m.limits.MaxConcurrentInvocations:
		mode = 0
	case m.inFlight < 2*m.limits.MaxConcurrentInvocations:
		mode = 1
	default:
		return mode
	}
	if m.inFlight == 0 {
		m.idle = make(chan struct{})
	}
	m.inFlight++
	m.wg.Add(1)
	return mode
}

func (m *Manager) release() {
	m.mu.Lock()
	m.inFlight--
	if m.inFlight == 0 {
		close(m.idle)
	}
	m.mu.Unlock()
	m.wg.Done()
}

var errTooBusy = "too many concurrent RPC invocations"

// handleRequestPacket serves a v1 request.
func (m *Manager) handleRequestPacket(req *lkpb.RpcRequest, caller string) {
	if caller == "" {
		m.log.Debug("rpc: ignoring request without caller identity", "request_id", req.GetId())
		return
	}
	mode := m.admit()
	if mode == 2 {
		m.log.Warn("rpc: dropping request, too many in flight", "request_id", req.GetId())
		return
	}
	go func() {
		defer m.release()
		ctx := m.closeCtx
		id := req.GetId()
		if err := m.send(ctx, ackPacket(caller, id)); err != nil {
			m.log.Debug("rpc: sending ack failed", "request_id", id, "err", err)
			return
		}
		reply := func(e *RpcError) { m.sendError(ctx, caller, id, e) }
		switch {
		case mode == 1:
			reply(builtin(CodeApplicationError, errTooBusy, nil))
			return
		case req.GetVersion() != versionV1:
			reply(builtin(CodeUnsupportedVersion, "", nil))
			return
		}
		h := m.handler(req.GetMethod())
		if h == nil {
			reply(builtin(CodeUnsupportedMethod, "", nil))
			return
		}
		out, rerr := m.invoke(ctx, h, Invocation{RequestID: id, CallerIdentity: caller, Payload: req.GetPayload(),
			ResponseTimeout: time.Duration(req.GetResponseTimeoutMs()) * time.Millisecond})
		if rerr != nil {
			reply(rerr)
			return
		}
		if len(out) > MaxV1PayloadBytes {
			reply(builtin(CodeResponsePayloadTooLarge, "", nil))
			return
		}
		if err := m.send(ctx, payloadPacket(caller, id, out)); err != nil {
			m.log.Debug("rpc: sending response failed", "request_id", id, "err", err)
		}
	}()
}

func (m *Manager) sendError(ctx context.Context, to, id string, e *RpcError) {
	if err := m.send(ctx, errorPacket(to, id, e)); err != nil {
		m.log.Debug("rpc: sending error response failed", "request_id", id, "err", err)
	}
}

// invoke runs h, converting errors and panics into *RpcError.
func (m *Manager) invoke(ctx context.Context, h Handler, inv Invocation) (out string, rerr *RpcError) {
	defer func() {
		if p := recover(); p != nil {
			m.log.Error("rpc: method handler panicked", "request_id", inv.RequestID)
			out, rerr = "", builtin(CodeApplicationError, "Uncaught error: "+fmt.Sprint(p), nil)
		}
	}()
	res, err := h(ctx, inv)
	if err != nil {
		return "", toRpcError(err)
	}
	return res, nil
}

func toRpcError(err error) *RpcError {
	var re *RpcError
	if errors.As(err, &re) && re != nil {
		return NewRpcError(re.Code, re.Message, re.Data)
	}
	return builtin(CodeApplicationError, "Uncaught error: "+err.Error(), nil)
}

// onRequestStream serves a v2 request (lk.rpc_request text stream).
func (m *Manager) onRequestStream(r *datastream.TextStreamReader, caller string) {
	attrs := r.Info().Attributes
	id, method := attrs[attrRequestID], attrs[attrMethod]
	timeoutMs, errT := strconv.ParseUint(attrs[attrResponseTimeout], 10, 32)
	version, errV := strconv.Atoi(attrs[attrVersion])
	if caller == "" {
		_ = r.Close()
		return
	}
	mode := m.admit()
	if mode == 2 {
		_ = r.Close()
		m.log.Warn("rpc: dropping request stream, too many in flight", "request_id", id)
		return
	}
	defer m.release()
	ctx := m.closeCtx
	if id == "" || method == "" || errT != nil || errV != nil {
		// JS 2.23.0: no ack, 1500 "RPC data stream malformed".
		_ = r.Close()
		m.sendError(ctx, caller, id, builtin(CodeApplicationError, "RPC data stream malformed", nil))
		return
	}
	if err := m.send(ctx, ackPacket(caller, id)); err != nil {
		_ = r.Close()
		return
	}
	if mode == 1 {
		_ = r.Close()
		m.sendError(ctx, caller, id, builtin(CodeApplicationError, errTooBusy, nil))
		return
	}
	if version != versionV2 {
		_ = r.Close()
		m.sendError(ctx, caller, id, builtin(CodeUnsupportedVersion, "", nil))
		return
	}
	h := m.handler(method)
	if h == nil {
		// Checked before reading (the protocol allows it); the reader is
		// cancelled so the payload is not buffered.
		_ = r.Close()
		m.sendError(ctx, caller, id, builtin(CodeUnsupportedMethod, "", nil))
		return
	}
	payload, err := readPayload(ctx, r, m.limits.MaxPayloadBytes)
	if err != nil {
		m.sendError(ctx, caller, id, builtin(CodeApplicationError, "Error reading RPC request payload: "+err.Error(), nil))
		return
	}
	out, rerr := m.invoke(ctx, h, Invocation{RequestID: id, CallerIdentity: caller, Payload: payload,
		ResponseTimeout: time.Duration(timeoutMs) * time.Millisecond})
	if rerr != nil {
		m.sendError(ctx, caller, id, rerr)
		return
	}
	// Answer a v2 request with a v2 response stream
	// (docs/protocol.md, RPC; confirmed necessary by 2b-rpc-js phase 1,
	// where the JS callee answered a v2 request from a not-yet-announced
	// caller with a v1 packet and failed 1504 on a 51 200-byte echo).
	if _, err := m.ds.SendText(ctx, out, datastream.SendTextOptions{
		Topic:                 datastream.RPCResponseTopic,
		DestinationIdentities: []string{caller},
		Attributes:            map[string]string{attrRequestID: id},
	}); err != nil && ctx.Err() == nil {
		m.sendError(ctx, caller, id, builtin(CodeSendFailed, "", nil))
	}
}
