package rpc

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
)

// ServerVersioner is optionally implemented by the transport to report the
// server version from JoinResponse.server_info ("" when unknown).
type ServerVersioner interface {
	// ServerVersion is JoinResponse.server_info.version, "" if unknown.
	ServerVersion() string
}

// Options configures a Manager. The zero value is usable.
type Options struct {
	// Clock drives the ack and response timers; nil = the system clock.
	Clock Clock
	// Logger receives debug/warn records (never payloads); nil discards.
	Logger *slog.Logger
	// AckTimeout is the caller's wait for an ack; 0 = DefaultAckTimeout.
	AckTimeout time.Duration
	// NewID generates request ids; nil = UUID v4.
	NewID func() string
	// Limits bounds remote input; zero fields take defaults.
	Limits Limits
}

// Manager is the RPC client and server of one room. It is safe for
// concurrent use. Create it with New, stop it with Close.
type Manager struct {
	t      datastream.Transport
	ds     *datastream.Manager
	clock  Clock
	log    *slog.Logger
	ackTO  time.Duration
	newID  func() string
	limits Limits

	closeCtx context.Context
	closeFn  context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	pending  map[string]*call
	methods  map[string]Handler
	inFlight int           // running handler invocations (and rejections)
	idle     chan struct{} // closed while inFlight == 0 (WaitIdle)
}

// New creates the RPC manager of a room and registers its reserved stream
// handlers on ds. It fails if they are already registered.
func New(t datastream.Transport, ds *datastream.Manager, opts Options) (*Manager, error) {
	m := &Manager{
		t: t, ds: ds, clock: opts.Clock, log: opts.Logger, ackTO: opts.AckTimeout, newID: opts.NewID,
		limits: opts.Limits.withDefaults(), pending: map[string]*call{}, methods: map[string]Handler{},
	}
	if m.clock == nil {
		m.clock = systemClock{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.ackTO <= 0 {
		m.ackTO = DefaultAckTimeout
	}
	if m.newID == nil {
		m.newID = datastream.NewStreamID
	}
	m.idle = make(chan struct{})
	close(m.idle)
	m.closeCtx, m.closeFn = context.WithCancel(context.Background())
	if err := ds.RegisterReservedTextStreamHandler(datastream.RPCRequestTopic, m.onRequestStream); err != nil {
		return nil, err
	}
	if err := ds.RegisterReservedTextStreamHandler(datastream.RPCResponseTopic, m.onResponseStream); err != nil {
		_ = ds.RegisterReservedTextStreamHandler(datastream.RPCRequestTopic, nil)
		return nil, err
	}
	return m, nil
}

// HandlePacket processes a received DataPacket; values other than
// rpc_request, rpc_ack and rpc_response are ignored. The sender is
// pkt.ParticipantIdentity. It never blocks: handlers run on their own
// goroutines.
func (m *Manager) HandlePacket(pkt *lkpb.DataPacket) {
	if pkt == nil {
		return
	}
	sender := pkt.GetParticipantIdentity()
	switch v := pkt.GetValue().(type) {
	case *lkpb.DataPacket_RpcRequest:
		if v.RpcRequest != nil {
			m.handleRequestPacket(v.RpcRequest, sender)
		}
	case *lkpb.DataPacket_RpcAck:
		if v.RpcAck != nil {
			m.handleAck(v.RpcAck.GetRequestId(), sender, pkt.GetParticipantSid())
		}
	case *lkpb.DataPacket_RpcResponse:
		if v.RpcResponse != nil {
			m.handleResponsePacket(v.RpcResponse, sender)
		}
	}
}

// HandleParticipantDisconnected fails every pending call to identity with
// 1503 RECIPIENT_DISCONNECTED.
func (m *Manager) HandleParticipantDisconnected(identity string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.pending {
		if c.dest == identity {
			m.finishLocked(c, "", builtin(CodeRecipientDisconnected, "", nil))
		}
	}
}

// HandleParticipantSessionEnded fails with 1503 RECIPIENT_DISCONNECTED the
// pending calls to identity that its session sid acknowledged (the ack's
// participant_sid, which the SFU forwards): that session is gone — the
// participant is in the room with a new session, which never saw those
// requests — so no answer can come. Calls not acknowledged yet, or
// acknowledged without a sid, keep waiting for their timeouts: which session
// received them cannot be told. An empty sid does nothing.
func (m *Manager) HandleParticipantSessionEnded(identity, sid string) {
	if sid == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.pending {
		if c.dest == identity && c.acked && c.ackSID == sid {
			m.finishLocked(c, "", builtin(CodeRecipientDisconnected, "", nil))
		}
	}
}

// Close fails pending calls with 1503 (wrapping ErrClosed), cancels the
// contexts of running handlers, unregisters the reserved stream handlers and
// waits for every goroutine the manager owns. Idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	first := !m.closed
	m.closed = true
	for _, c := range m.pending {
		m.finishLocked(c, "", builtin(CodeRecipientDisconnected, "", ErrClosed))
	}
	m.mu.Unlock()
	m.closeFn()
	if first {
		_ = m.ds.RegisterReservedTextStreamHandler(datastream.RPCRequestTopic, nil)
		_ = m.ds.RegisterReservedTextStreamHandler(datastream.RPCResponseTopic, nil)
	}
	m.wg.Wait()
	return nil
}

// WaitIdle blocks until no incoming invocation is being served — every
// admitted request has been answered and its response handed to the
// transport — or ctx ends (ctx.Err()). A room calls it on a graceful
// disconnect so that answers given just before leaving are not lost; it does
// not stop new requests from arriving.
func (m *Manager) WaitIdle(ctx context.Context) error {
	m.mu.Lock()
	idle := m.idle
	m.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// track registers a unit of work with the manager; it returns false once the
// manager is closed.
func (m *Manager) track() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	return true
}

func (m *Manager) protocolOf(identity string) int32 {
	if p, ok := m.t.RemotePeer(identity); ok {
		return p.ClientProtocol
	}
	return 0
}

func (m *Manager) send(ctx context.Context, pkt *lkpb.DataPacket) error {
	return m.t.SendPacket(ctx, pkt)
}

func ackPacket(to, id string) *lkpb.DataPacket {
	return &lkpb.DataPacket{Kind: lkpb.DataPacket_RELIABLE, DestinationIdentities: []string{to},
		Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: id}}}
}

func payloadPacket(to, id, payload string) *lkpb.DataPacket {
	return &lkpb.DataPacket{Kind: lkpb.DataPacket_RELIABLE, DestinationIdentities: []string{to},
		Value: &lkpb.DataPacket_RpcResponse{RpcResponse: &lkpb.RpcResponse{RequestId: id,
			Value: &lkpb.RpcResponse_Payload{Payload: payload}}}}
}

func errorPacket(to, id string, e *RpcError) *lkpb.DataPacket {
	return &lkpb.DataPacket{Kind: lkpb.DataPacket_RELIABLE, DestinationIdentities: []string{to},
		Value: &lkpb.DataPacket_RpcResponse{RpcResponse: &lkpb.RpcResponse{RequestId: id,
			Value: &lkpb.RpcResponse_Error{Error: &lkpb.RpcError{Code: e.Code, Message: e.Message, Data: e.Data}}}}}
}
