package rpc

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
)

// PerformParams describes one call.
type PerformParams struct {
	// Destination is the identity of the callee.
	Destination string
	// Method is the method name registered at the callee.
	Method string
	// Payload is the request payload (UTF-8).
	Payload string
	// ResponseTimeout bounds the wait for the response, measured from the end
	// of the send; 0 = DefaultResponseTimeout. The callee is told
	// max(ResponseTimeout, MinAdvertisedTimeout).
	ResponseTimeout time.Duration
}

// call is one pending outgoing call. All fields after done are guarded by
// Manager.mu.
type call struct {
	id, dest  string
	done      chan result // capacity 1, written once by finishLocked
	acked     bool
	ackSID    string // the session that acknowledged it (the packet's participant_sid), if stamped
	finished  bool
	ackTimer  Timer
	respTimer Timer
}

type result struct {
	payload string
	err     error
}

// finishLocked completes c once; later completions are ignored.
func (m *Manager) finishLocked(c *call, payload string, err error) {
	if c.finished {
		return
	}
	c.finished = true
	delete(m.pending, c.id)
	if c.ackTimer != nil {
		c.ackTimer.Stop()
	}
	if c.respTimer != nil {
		c.respTimer.Stop()
	}
	c.done <- result{payload, err}
}

func (m *Manager) finish(c *call, payload string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finishLocked(c, payload, err)
}

// PerformRPC calls p.Method at p.Destination and returns the response
// payload. Failures are *RpcError values (errors.As), except a cancelled or
// expired ctx, which returns ctx.Err() and forgets the call.
func (m *Manager) PerformRPC(ctx context.Context, p PerformParams) (string, error) {
	if p.Method == "" || p.Destination == "" {
		return "", ErrInvalidArgument
	}
	if sv, ok := m.t.(ServerVersioner); ok {
		if v := strings.TrimPrefix(sv.ServerVersion(), "v"); v != "" && v[0] >= '0' && v[0] <= '9' && versionLess(v, minServerVersion) {
			return "", builtin(CodeUnsupportedServer, "", nil)
		}
	}
	timeout := p.ResponseTimeout
	if timeout <= 0 {
		timeout = DefaultResponseTimeout
	}
	advertised := uint32(min(max(timeout, MinAdvertisedTimeout).Milliseconds(), int64(^uint32(0))))
	v2 := m.protocolOf(p.Destination) >= datastream.ClientProtocolDataStreamRPC
	if !v2 && len(p.Payload) > MaxV1PayloadBytes {
		return "", builtin(CodeRequestPayloadTooLarge, "", nil)
	}

	c := &call{id: m.newID(), dest: p.Destination, done: make(chan result, 1)}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", builtin(CodeRecipientDisconnected, "", ErrClosed)
	}
	m.pending[c.id] = c
	// The ack timer runs from the hand-over to the transport
	// (docs/protocol.md, RPC); registering before sending lets
	// an early ack/response be honoured.
	c.ackTimer = m.clock.AfterFunc(m.ackTO, func() { m.onAckTimeout(c) })
	m.mu.Unlock()

	sendCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(m.closeCtx, cancel)
	var err error
	if v2 {
		_, err = m.ds.SendText(sendCtx, p.Payload, datastream.SendTextOptions{
			Topic:                 datastream.RPCRequestTopic,
			DestinationIdentities: []string{p.Destination},
			Attributes: map[string]string{
				attrRequestID:       c.id,
				attrMethod:          p.Method,
				attrResponseTimeout: strconv.FormatUint(uint64(advertised), 10),
				attrVersion:         strconv.Itoa(versionV2),
			},
		})
	} else {
		err = m.send(sendCtx, &lkpb.DataPacket{
			Kind:                  lkpb.DataPacket_RELIABLE,
			DestinationIdentities: []string{p.Destination},
			Value: &lkpb.DataPacket_RpcRequest{RpcRequest: &lkpb.RpcRequest{
				Id: c.id, Method: p.Method, Payload: p.Payload, ResponseTimeoutMs: advertised, Version: versionV1,
			}},
		})
	}
	stop()
	cancel()

	m.mu.Lock()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			m.finishLocked(c, "", ctx.Err())
		case m.closed:
			m.finishLocked(c, "", builtin(CodeRecipientDisconnected, "", ErrClosed))
		default:
			m.finishLocked(c, "", builtin(CodeSendFailed, "", err))
		}
	} else if !c.finished {
		c.respTimer = m.clock.AfterFunc(timeout, func() { m.finish(c, "", builtin(CodeResponseTimeout, "", nil)) })
	}
	m.mu.Unlock()

	select {
	case r := <-c.done:
		return r.payload, r.err
	case <-ctx.Done():
		m.finish(c, "", ctx.Err())
		r := <-c.done
		return r.payload, r.err
	}
}

func (m *Manager) onAckTimeout(c *call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !c.acked {
		m.finishLocked(c, "", builtin(CodeConnectionTimeout, "", nil))
	}
}

// lookupLocked returns the pending call id expects from sender, or nil.
func (m *Manager) lookupLocked(id, sender, what string) *call {
	c := m.pending[id]
	if c == nil {
		m.log.Debug("rpc: ignoring "+what+" for an unknown or finished request", "request_id", id)
		return nil
	}
	if c.dest != sender {
		// Stricter than JS/Rust for packets
		// (docs/protocol.md, Departures); the server stamps identities,
		// so only a misbehaving peer is affected.
		m.log.Warn("rpc: ignoring "+what+" from a participant the request was not sent to", "request_id", id, "sender", sender)
		return nil
	}
	return c
}

func (m *Manager) handleAck(id, sender, senderSID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.lookupLocked(id, sender, "ack"); c != nil {
		c.acked = true
		c.ackSID = senderSID
		if c.ackTimer != nil {
			c.ackTimer.Stop()
		}
	}
}

func (m *Manager) handleResponsePacket(r *lkpb.RpcResponse, sender string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.lookupLocked(r.GetRequestId(), sender, "response")
	if c == nil {
		return
	}
	switch v := r.GetValue().(type) {
	case *lkpb.RpcResponse_Payload:
		m.finishLocked(c, v.Payload, nil)
	case *lkpb.RpcResponse_Error:
		e := v.Error
		m.finishLocked(c, "", &RpcError{Code: e.GetCode(), Message: truncateUTF8(e.GetMessage(), MaxErrorMessageBytes), Data: truncateUTF8(e.GetData(), MaxErrorDataBytes)})
	default:
		// compressed_payload is in the schema but no client sends or
		// understands it: fail rather than resolve with "".
		m.finishLocked(c, "", builtin(CodeApplicationError, "unsupported RPC response encoding", nil))
	}
}

// onResponseStream receives lk.rpc_response streams (caller side).
func (m *Manager) onResponseStream(r *datastream.TextStreamReader, sender string) {
	if !m.track() {
		_ = r.Close()
		return
	}
	defer m.wg.Done()
	id := r.Info().Attributes[attrRequestID]
	if id == "" {
		m.log.Warn("rpc: ignoring response stream without request id", "sender", sender)
		_ = r.Close()
		return
	}
	m.mu.Lock()
	c := m.lookupLocked(id, sender, "response stream")
	m.mu.Unlock()
	if c == nil {
		_ = r.Close()
		return
	}
	payload, err := readPayload(m.closeCtx, r, m.limits.MaxPayloadBytes)
	if err != nil {
		m.finish(c, "", builtin(CodeApplicationError, "Error reading RPC response payload: "+err.Error(), err))
		return
	}
	m.finish(c, payload, nil)
}

// errPayloadTooLarge is the cause when a stream payload exceeds the RPC cap.
var errPayloadTooLarge = errors.New("rpc: payload exceeds the configured maximum")

// readPayload reads a whole text stream, refusing more than limit bytes.
func readPayload(ctx context.Context, r *datastream.TextStreamReader, limit uint64) (string, error) {
	s := r.Info().Size
	if s != nil && *s > limit {
		_ = r.Close()
		return "", errPayloadTooLarge
	}
	if s != nil && *s > 0 {
		// A declared non-zero length is enforced by the reader (more data
		// fails the stream), and it is within limit: ReadAll sizes its buffer
		// once and copies each piece once (no string per piece, no
		// regrowth).
		return r.ReadAll(ctx)
	}
	var sb strings.Builder
	for {
		piece, err := r.Next(ctx)
		if err == io.EOF {
			return sb.String(), nil
		}
		if err != nil {
			return "", err
		}
		if uint64(sb.Len()+len(piece)) > limit {
			_ = r.Close()
			return "", errPayloadTooLarge
		}
		sb.WriteString(piece)
	}
}

// versionLess compares dotted numeric versions leniently: each component's
// leading digits are compared; missing or non-numeric components count as 0
// (never fail on a malformed version). PerformRPC skips the check
// for versions that do not start with a digit (unknown).
func versionLess(a, b string) bool {
	pa, pb := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		x, y := leadingInt(pa, i), leadingInt(pb, i)
		if x != y {
			return x < y
		}
	}
	return false
}

func leadingInt(parts []string, i int) int {
	if i >= len(parts) {
		return 0
	}
	s := parts[i]
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	v, _ := strconv.Atoi(s[:n])
	return v
}
