package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// Version is the lkcore version reported in ClientInfo.version.
const Version = "0.1.0"

// Protocol constants advertised in the JoinRequest.
const (
	// signalProtocol is ClientInfo.protocol. 17, like JS 2.23.0 and Rust: 18
	// would make livekit-server ≥ 1.13.11 pre-create negotiated channels
	// 100/101/102 instead of adopting our in-band ones (docs/protocol.md,
	// Peer connection and data channels).
	signalProtocol = 17
	// clientProtocol is ClientInfo.client_protocol:
	// CLIENT_PROTOCOL_DATA_STREAM_V2, as JS 2.23.0 and Rust
	// (docs/protocol.md, Verified against): core/rpc accepts v2 requests and
	// response streams, core/datastream accepts inline headers and the
	// compression field (streams.go, rpc.go).
	clientProtocol = 2
)

// advertisedCapabilities is ClientInfo.capabilities: core/datastream always
// inflates deflate-raw streams. CAP_PACKET_TRAILER is for media frame
// trailers, which a data-only client does not handle.
func advertisedCapabilities() []lkpb.ClientInfo_Capability {
	return []lkpb.ClientInfo_Capability{lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW}
}

// Defaults.
const (
	// DefaultPeerConnectionTimeout bounds the wait for the PeerConnection and
	// both data channels during Connect (JS/Rust: 15 s).
	DefaultPeerConnectionTimeout = 15 * time.Second
	// DefaultPendingDataEvents is the default Options.MaxPendingDataEvents.
	DefaultPendingDataEvents = 1024
	// requestTimeout caps metadata/name/attribute updates when ctx has no
	// earlier deadline (JS: 5 s).
	requestTimeout = 5 * time.Second
	// flushTimeout caps how long Disconnect waits for unacknowledged data
	// channel bytes before leaving.
	flushTimeout = 2 * time.Second
	// pcFailureGrace is how long a failed PeerConnection waits for a leave
	// or signal close that explains it before the room ends.
	pcFailureGrace = 500 * time.Millisecond
)

// ConnectionState is the room's connection state.
type ConnectionState int

// Connection states.
const (
	// StateDisconnected: not connected; terminal for a Room.
	StateDisconnected ConnectionState = iota
	// StateConnecting: Connect is in progress.
	StateConnecting
	// StateConnected: PeerConnection connected and both data channels open.
	StateConnected
	// StateReconnecting: the connection broke and a resume or full reconnect
	// is in progress (see Reconnecting / Reconnected events).
	StateReconnecting
)

func (s ConnectionState) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	}
	return fmt.Sprintf("ConnectionState(%d)", int(s))
}

// ICEServer is a STUN/TURN server to use instead of the server-provided ones.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Options configures a Room (New, Connect). The zero value is usable.
type Options struct {
	// Logger receives structured logs; nil discards. Tokens and payloads are never logged.
	Logger *slog.Logger
	// ICEServers, when set, replace the ICE servers sent by the server.
	ICEServers []ICEServer
	// ICETransportPolicy ICETransportPolicyRelay makes every connection of
	// this room use TURN relay candidates only (for networks where only a
	// TURN server is reachable, or to hide the host's addresses). The zero
	// value, ICETransportPolicyAll, uses any candidate unless the server
	// sends force_relay (relay.go).
	ICETransportPolicy ICETransportPolicy
	// PeerConnectionTimeout bounds the WebRTC part of Connect (0: 15 s);
	// the ctx passed to Connect bounds everything.
	PeerConnectionTimeout time.Duration
	// MaxPendingDataEvents bounds how many DataReceived events may wait for
	// the consumer before the data channels stop being read (backpressure,
	// nothing is dropped). 0: DefaultPendingDataEvents.
	MaxPendingDataEvents int
	// SCTPReceiveBufferSize overrides the engine's SCTP receive window (0: default 8 MiB).
	SCTPReceiveBufferSize uint32
	// HTTPClient is used for the signalling upgrade request (nil: default).
	HTTPClient *http.Client
	// E2EE, when set, turns on end-to-end encryption for this room: data
	// packets (user, RPC, data streams) and data tracks are encrypted with
	// its key provider (see e2ee.go). nil: no E2EE.
	E2EE *E2EEOptions
	// MaxReconnectAttempts bounds the reconnect attempts of one episode
	// after the connection was lost (0: DefaultMaxReconnectAttempts, 10, as
	// JS and Rust); after that many failures the room ends with
	// ErrReconnectFailed. Negative: never reconnect — any connection loss
	// after Connect ends the room with Disconnected carrying the cause
	// (ErrSignalLost, ErrPeerConnectionFailed, ...), as a loss while
	// connecting does.
	MaxReconnectAttempts int

	// JoinAttempts is how many times Room.Connect tries to join before it
	// gives up (0 or 1: once). Only failures that IsRetryable reports as
	// transient are retried (server unreachable, 5xx, a PeerConnection that
	// did not connect, a per-attempt timeout); a refusal (bad token, room
	// not found, join refused) fails at once. At most MaxJoinAttempts.
	JoinAttempts int
	// JoinRetryDelay is the pause before the second attempt; it doubles
	// before each further one (0: DefaultJoinRetryDelay, 500 ms).
	JoinRetryDelay time.Duration
	// JoinAttemptTimeout bounds each join attempt as a whole (signalling
	// and PeerConnection); an attempt that runs out is retryable. 0: an
	// attempt is bounded only by Connect's ctx and PeerConnectionTimeout.
	JoinAttemptTimeout time.Duration

	// AutoSubscribe subscribes to every remote data track as soon as it is
	// known (with AutoSubscribeOptions): tracks present when Connect returns
	// carry their subscription in Snapshot, later ones in their
	// DataTrackPublished event. A failed subscription ends with the error
	// (DataTrackSubscription.Err). false: subscribe with
	// RemoteDataTrack.Subscribe.
	AutoSubscribe bool
	// AutoSubscribeOptions are the options of AutoSubscribe's subscriptions.
	AutoSubscribeOptions SubscribeOptions

	// RPCMethods (method name → handler), TextStreamHandlers and
	// ByteStreamHandlers (topic → handler) are registered by New, the same
	// as calling Room.RegisterRPCMethod / Register*StreamHandler between New
	// and Connect: a call or stream that a peer sends the moment this
	// participant appears finds its handler. The same rules and errors as
	// the Register methods apply; a failing entry fails New with that error.
	RPCMethods         map[string]rpc.Handler
	TextStreamHandlers map[string]datastream.TextStreamHandler
	ByteStreamHandlers map[string]datastream.ByteStreamHandler

	// legacyData (tests only, see streams.go) advertises an older client
	// protocol and capabilities and sends like such a client.
	legacyData *legacyDataProtocol
	// settingEngineHook (tests only, reconnect_test.go) adjusts each
	// engine's pion SettingEngine (ICE timeouts, a UDP mux that can be cut).
	settingEngineHook func(*webrtc.SettingEngine)
}

// Room is a connection to a LiveKit room. Create it with New (then
// Room.Connect) or with Connect. All methods are safe for concurrent use.
type Room struct {
	opts  Options
	log   *slog.Logger
	url   string                 // set by Connect before the loop starts
	token atomic.Pointer[string] // latest token (refresh_token), for reconnection

	// life is where the Room is in its life (lifeIdle … lifeEnded); lifeMu
	// orders Connect and Disconnect (connect.go).
	lifeMu sync.Mutex
	life   lifePhase
	// Per loop run (one join attempt, then the connected session), set by
	// Connect before the loop starts: loopStop is closed when the run ends
	// (engine callbacks of that run stop waiting), loopExited when the loop
	// has returned, abortC asks the run to end (Connect's deadline), with
	// abortErr; attemptErr is why a join attempt failed (read after
	// loopExited).
	loopStop   chan struct{}
	loopExited chan struct{}
	abortC     chan struct{}
	attemptErr error
	snapshot   Snapshot // taken by the loop when first connected (read after r.connected)
	// joinRetired: engines of failed join attempts being closed in the
	// background (waited for by finish).
	joinRetired sync.WaitGroup

	sess  session                       // the current session (loop-owned; session.go)
	eng   atomic.Pointer[engine.Engine] // sess.eng, for other goroutines
	local *LocalParticipant
	parts *participantTable

	infoMu   sync.RWMutex
	roomInfo *lkpb.Room
	state    ConnectionState

	events     *eventQueue
	eventsOnce sync.Once
	eventsCh   chan Event

	engEvents    chan engineEvent
	cmds         chan func()
	disconnectCh chan struct{}
	disconnectOn sync.Once
	abortErr     error         // set before abortC is closed
	connected    chan struct{} // closed when StateConnected is first reached
	closing      chan struct{} // closed when teardown starts (unblocks waiters)
	done         chan struct{} // closed when the loop has exited and everything is closed
	err          error         // why the room ended (read after done)

	// Loop-owned state.
	pcFailed      <-chan time.Time // armed when the PeerConnection failed/closed remotely
	pcConnected   bool
	dataReady     bool
	nextRequestID uint32
	pending       []*pendingUpdate

	// Integration hooks (set before the loop starts; see dispatchPacket and handleSignal).
	packetHook    func(pkt *lkpb.DataPacket, reliable bool)
	signalHook    func(res *lkpb.SignalResponse)
	dataTrackHook func(b []byte)

	// Reconnection (reconnect.go). syncStateHook adds to the SyncState sent
	// on a resume (published data tracks); fullReconnectHook runs after a
	// full reconnect has completed (republish data tracks, resubscribe). Both
	// run on the loop goroutine and must not block.
	syncStateHook     func(ss *lkpb.SyncState)
	fullReconnectHook func()
	rc                reconnectState              // loop-owned
	send              sendGate                    // whether data may be sent now
	sigMsgs           <-chan *lkpb.SignalResponse // messages of the live WebSocket, nil when none (loop-owned)
	dataReadyC        <-chan struct{}             // the current engine's DataReady until it fired (loop-owned)

	dt   *dataTracks // data-track managers and writer (datatrack.go)
	e2ee *roomE2EE   // nil without E2EE (e2ee.go)

	dapi *dataAPI // RPC and data-stream managers (streams.go)
}

type engineEvent struct {
	gen         uint64 // engine generation: events of replaced engines are ignored
	state       webrtc.PeerConnectionState
	candidate   *webrtc.ICECandidateInit
	closedLabel string // a data channel closed by the peer
	noRelay     bool   // a relay-only gathering ended without a relay candidate
}

func (r *Room) newEngine() (*engine.Engine, error) {
	var ice []webrtc.ICEServer
	for _, s := range r.opts.ICEServers {
		is := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			is.Credential = s.Credential
			is.CredentialType = webrtc.ICECredentialTypePassword
		}
		ice = append(ice, is)
	}
	r.sess.gen++
	gen := r.sess.gen
	stop := r.loopStop // this loop run's: pion callbacks never block past its end
	post := func(ev engineEvent) {
		select {
		case r.engEvents <- ev:
		case <-stop:
		}
	}
	eng, err := engine.New(engine.Config{
		Logger:                r.log,
		ICEServers:            ice,
		SCTPReceiveBufferSize: r.opts.SCTPReceiveBufferSize,
		SettingEngineHook:     r.opts.settingEngineHook,
		OnLocalCandidate: func(c webrtc.ICECandidateInit) {
			post(engineEvent{gen: gen, candidate: &c})
		},
		OnConnectionState: func(s webrtc.PeerConnectionState) {
			post(engineEvent{gen: gen, state: s})
		},
		OnDataChannelClosed: func(label string) {
			post(engineEvent{gen: gen, closedLabel: label})
		},
		RelayOnly: r.opts.ICETransportPolicy == ICETransportPolicyRelay,
		OnRelayUnavailable: func() {
			post(engineEvent{gen: gen, noRelay: true})
		},
		OnPacket: r.handlePacket,
		OnDataTrackPacket: func(b []byte) {
			if h := r.dataTrackHook; h != nil {
				h(b)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	r.sess.eng = eng
	r.eng.Store(eng)
	return eng, nil
}

func (r *Room) setErr(err error) {
	if r.err == nil {
		r.err = err
	}
}

// loop is the owner goroutine of all signalling state.
func (r *Room) loop() {
	defer close(r.loopExited)
	r.dataReadyC = r.eng.Load().DataReady()
	r.sigMsgs = r.sess.sig.Messages()
	for {
		select {
		case res, ok := <-r.sigMsgs:
			if !ok {
				if r.onSignalClosed() {
					return
				}
				continue
			}
			if r.handleSignal(res) {
				return
			}
		case ev := <-r.engEvents:
			if r.handleEngineEvent(ev) {
				return
			}
		case <-r.dataReadyC:
			r.dataReadyC = nil
			r.dataReady = true
			r.maybeConnected()
			if r.checkAttemptDone() {
				return
			}
		case cmd := <-r.cmds:
			cmd()
		case <-r.dataTrackTimer():
			r.dt.tick()
		case <-r.pcFailed:
			r.pcFailed = nil
			if r.onTransportFailed() {
				return
			}
		case <-r.rc.timerC:
			if r.startAttempt() {
				return
			}
		case res := <-r.rc.dialC:
			if r.onDialResult(res) {
				return
			}
		case <-r.rc.deadlineC:
			if r.failAttempt(failOther, fmt.Errorf("%w: transport not back within the peer connection timeout", ErrPeerConnectionFailed)) {
				return
			}
		case <-r.rc.pollC:
			if r.checkAttemptDone() {
				return
			}
		case <-r.disconnectCh:
			r.teardown(lkpb.DisconnectReason_CLIENT_INITIATED, nil, true)
			return
		case <-r.abortC:
			r.abortC = nil
			r.teardown(lkpb.DisconnectReason_CLIENT_INITIATED, r.abortErr, true)
			return
		}
	}
}

// handleSignal processes one server message; it returns true when the room ended.
func (r *Room) handleSignal(res *lkpb.SignalResponse) bool {
	eng := r.eng.Load()
	switch m := res.GetMessage().(type) {
	case *lkpb.SignalResponse_Answer:
		if err := eng.HandleAnswer(m.Answer); err != nil {
			if errors.Is(err, engine.ErrStaleAnswer) || errors.Is(err, engine.ErrNoPendingOffer) {
				r.log.Debug("room: ignoring answer", "err", err)
			} else if r.onNegotiationFailed(err) {
				return true
			}
		} else if r.onAnswerApplied() {
			return true
		}
	case *lkpb.SignalResponse_Trickle:
		// Single-PC: every candidate belongs to our one PeerConnection,
		// whatever the target says (Rust does the same).
		if err := eng.AddRemoteCandidate(m.Trickle.GetCandidateInit()); err != nil {
			r.log.Debug("room: remote candidate rejected", "err", err)
		}
	case *lkpb.SignalResponse_Update:
		evs, localChanged := r.parts.apply(m.Update.GetParticipants())
		r.dapi.participantsLeft(evs)
		r.events.push(evs...)
		if localChanged {
			r.checkPending(nil)
		}
	case *lkpb.SignalResponse_RoomUpdate:
		r.setRoomInfo(m.RoomUpdate.GetRoom(), true)
	case *lkpb.SignalResponse_RefreshToken:
		t := m.RefreshToken
		r.token.Store(&t)
	case *lkpb.SignalResponse_RequestResponse:
		r.checkPending(m.RequestResponse)
	case *lkpb.SignalResponse_Leave:
		return r.handleLeave(m.Leave)
	case *lkpb.SignalResponse_Pong, *lkpb.SignalResponse_PongResp:
		// Keepalive bookkeeping happens in core/internal/signal.
	case *lkpb.SignalResponse_Offer:
		r.log.Debug("room: ignoring server offer (single PeerConnection mode)")
	default:
		if h := r.signalHook; h != nil {
			h(res)
		}
	}
	// Data-track messages, participant data_tracks, request_response echoes.
	r.dt.handleSignal(res)
	return false
}

// handleLeave: DISCONNECT ends the room with the server's reason; RESUME and
// RECONNECT start a resume / full reconnect (reconnect.go).
func (r *Room) handleLeave(l *lkpb.LeaveRequest) bool {
	r.log.Info("room: server sent leave", "reason", l.GetReason().String(), "action", l.GetAction().String())
	if l.GetAction() != lkpb.LeaveRequest_DISCONNECT {
		return r.onLeave(l)
	}
	r.teardown(l.GetReason(), nil, false)
	return true
}

func (r *Room) handleEngineEvent(ev engineEvent) bool {
	if ev.gen != r.sess.gen {
		return false // from an engine replaced by a full reconnect
	}
	if ev.candidate != nil {
		b, err := marshalCandidate(*ev.candidate)
		if err != nil {
			r.log.Debug("room: encoding candidate failed", "err", err)
			return false
		}
		r.sendTrickle(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_Trickle{
			Trickle: &lkpb.TrickleRequest{CandidateInit: b, Target: lkpb.SignalTarget_PUBLISHER}}})
		return false
	}
	if ev.closedLabel != "" {
		return r.onChannelClosed(ev.closedLabel)
	}
	if ev.noRelay {
		return r.onRelayUnavailable()
	}
	switch ev.state {
	case webrtc.PeerConnectionStateConnected:
		r.pcConnected = true
		r.maybeConnected()
		return r.checkAttemptDone()
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		// Closed is only reported when the peer closed it (local closes are
		// suppressed by the engine). A server that ends the session closes
		// the PeerConnection and sends a leave at about the same time: wait
		// a moment so its reason wins over a generic transport failure.
		// During a reconnect the attempt's own deadline decides: pion
		// reports states from goroutines, so a stale "failed" can arrive
		// after an ICE restart has begun.
		if r.pcFailed == nil && !r.rc.m.active {
			r.log.Warn("room: peer connection lost", "state", ev.state.String())
			r.pcFailed = time.After(pcFailureGrace)
		}
	}
	return false
}

func (r *Room) maybeConnected() {
	if !r.pcConnected || !r.dataReady {
		return
	}
	select {
	case <-r.connected:
		return
	default:
	}
	r.setState(StateConnected)
	r.send.set(true, false)
	// Connect returns this snapshot: what was queued so far about the
	// room's state is in it, so only deltas follow it (data events stay).
	if r.opts.AutoSubscribe {
		r.dt.autoSubscribeKnown()
	}
	r.snapshot = r.takeSnapshot()
	r.events.dropState()
	close(r.connected)
}

func (r *Room) setState(s ConnectionState) {
	r.infoMu.Lock()
	changed := r.state != s
	r.state = s
	r.infoMu.Unlock()
	if changed && s != StateDisconnected {
		r.events.push(ConnectionStateChanged{State: s})
	}
}

// teardown ends the session: optional leave, close the PeerConnection and the
// WebSocket, fail pending requests, emit the final events. Loop only.
func (r *Room) teardown(reason lkpb.DisconnectReason, err error, sendLeave bool) {
	if !r.everConnected() && !r.disconnectRequested() {
		// A join attempt failed: the Room stays, Connect may retry.
		r.endAttempt(err, sendLeave)
		return
	}
	r.setErr(err)
	if r.err == nil {
		r.err = ErrDisconnected
	}
	close(r.closing)
	close(r.loopStop)
	r.stopReconnect()
	if sendLeave {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r.sess.sig.Leave(ctx, lkpb.DisconnectReason_CLIENT_INITIATED)
		cancel()
	} else {
		r.sess.sig.Close()
	}
	if eng := r.eng.Load(); eng != nil {
		if cerr := eng.Close(); cerr != nil {
			r.log.Debug("room: closing peer connection", "err", cerr)
		}
	}
	r.dapi.close()
	for _, p := range r.pending {
		p.done <- ErrDisconnected
	}
	r.pending = nil
	r.closeDataTracks()
	r.infoMu.Lock()
	r.state = StateDisconnected
	r.infoMu.Unlock()
	r.log.Info("room: disconnected", "reason", reason.String(), "err", err)
	r.lifeMu.Lock()
	r.life = lifeEnded
	r.lifeMu.Unlock()
	r.finish(reason, err, true)
}

// Disconnect leaves the room gracefully (LeaveRequest CLIENT_INITIATED, as
// recorded from JS) after waiting (≤ 2 s each, bounded by ctx) until running
// RPC handlers have sent their answers and data already published has been
// acknowledged by the SFU, closes the PeerConnection and
// the WebSocket, and waits for all of the room's goroutines, bounded by ctx.
// The final events
// (ConnectionStateChanged{Disconnected}, Disconnected) stay readable.
// Idempotent: later calls return nil at once.
//
// On a Room that never connected (New, or a failed Connect) it ends the
// Room at once: Disconnected{CLIENT_INITIATED} is the final event. While
// Connect runs it aborts it (Connect returns context.Canceled) and ends the
// Room. Either way Connect then fails with ErrRoomEnded.
func (r *Room) Disconnect(ctx context.Context) error {
	if r.endIdle() {
		return nil
	}
	if !r.isClosing() && r.State() == StateConnected {
		// RPC handlers that are finishing get to send their answers first
		// (bounded: a handler that never returns only delays the leave).
		wctx, cancel := context.WithTimeout(ctx, flushTimeout)
		if err := r.dapi.rpc.WaitIdle(wctx); err != nil {
			r.log.Debug("room: RPC handlers still running at leave", "err", err)
		}
		cancel()
		// Let data published just before Disconnect reach the SFU first.
		fctx, cancel := context.WithTimeout(ctx, flushTimeout)
		err := r.eng.Load().Flush(fctx)
		cancel()
		if err != nil {
			r.log.Debug("room: flush before leave incomplete", "err", err)
		}
	}
	r.disconnectOn.Do(func() { close(r.disconnectCh) })
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the room has disconnected (for any reason) and its
// connections are closed.
func (r *Room) Done() <-chan struct{} { return r.done }

// Err reports why the room disconnected (nil while connected, ErrDisconnected
// after a plain Disconnect).
func (r *Room) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// State is the current connection state.
func (r *Room) State() ConnectionState {
	r.infoMu.RLock()
	defer r.infoMu.RUnlock()
	return r.state
}

// Name is the room name.
func (r *Room) Name() string { return r.info().GetName() }

// SID is the room sid (RM_…); it may be empty until the server assigns it.
func (r *Room) SID() string { return r.info().GetSid() }

// Metadata is the room metadata.
func (r *Room) Metadata() string { return r.info().GetMetadata() }

// Info returns a copy of the latest Room message from the server.
func (r *Room) Info() *lkpb.Room { return proto.Clone(r.info()).(*lkpb.Room) }

func (r *Room) info() *lkpb.Room {
	r.infoMu.RLock()
	defer r.infoMu.RUnlock()
	return r.roomInfo
}

// LocalParticipant is this client's participant.
func (r *Room) LocalParticipant() *LocalParticipant { return r.local }

// RemoteParticipants lists the remote participants, sorted by identity.
func (r *Room) RemoteParticipants() []*RemoteParticipant { return r.parts.list() }

// RemoteParticipant returns the remote participant with that identity, or nil.
// Its ClientProtocol and Capabilities decide RPC/data-stream formats.
func (r *Room) RemoteParticipant(identity string) *RemoteParticipant {
	return r.parts.remote(identity)
}

// NextEvent returns the next room event in order, waiting for one bounded by
// ctx. After the final Disconnected event has been returned it returns
// ErrDisconnected. See eventQueue for the backpressure policy: signalling
// events never block the room; when MaxPendingDataEvents DataReceived events
// are waiting, incoming data is held back in the transport until the consumer
// catches up; nothing is dropped.
func (r *Room) NextEvent(ctx context.Context) (Event, error) { return r.events.next(ctx) }

// Events returns a channel carrying the same ordered events as NextEvent
// (use one or the other, not both). It is closed after the final
// Disconnected event. The first call starts a forwarding goroutine that ends
// when the channel is closed: keep receiving until then.
func (r *Room) Events() <-chan Event {
	r.eventsOnce.Do(func() {
		r.eventsCh = make(chan Event)
		go func() {
			defer close(r.eventsCh)
			for {
				ev, err := r.events.next(context.Background())
				if err != nil {
					return
				}
				r.eventsCh <- ev
			}
		}()
	})
	return r.eventsCh
}

// runOnLoop executes f on the loop goroutine and waits for it (bounded by ctx).
func (r *Room) runOnLoop(ctx context.Context, f func()) error {
	if !r.everConnected() {
		return errNotConnected
	}
	done := make(chan struct{})
	select {
	case r.cmds <- func() { f(); close(done) }:
	case <-r.closing:
		return ErrDisconnected
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-r.done:
		return ErrDisconnected
	}
}
