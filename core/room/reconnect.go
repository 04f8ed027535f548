package room

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Reconnection (docs/protocol.md, Reconnection; recordings 1d-resume-js/-rust).
//
// Once a room has connected, a broken signalling WebSocket (any close, as JS
// 2.23.0), a ping timeout, a failed PeerConnection, a data channel closed by
// the peer, or a server leave{RESUME|RECONNECT} no longer ends the room: the
// room loop starts a reconnect episode. The decisions (resume or full, when
// to escalate, backoff, when to give up) are made by reconnectMachine, which
// does no I/O; the loop carries them out:
//
//   - Resume (same session): close the old WebSocket, dial the same URL with
//     the latest token and JoinRequest{reconnect, participant_sid,
//     reconnect_reason} (no offer), wait for ReconnectResponse, send SyncState,
//     send an ICE-restart offer, wait until the answer is applied, ICE has
//     selected a pair again and both data channels are open, replay the
//     reliable packets the server has not acknowledged
//     (ReconnectResponse.last_message_seq), flush held signal requests.
//   - Full reconnect (new session): leave{CLIENT_INITIATED} on the old
//     WebSocket if it is still up, unwind the remote participants, close the
//     PeerConnection, join from scratch with a new engine (new sid, sequences
//     from 1, fresh dedup state), re-seed participants, wait for the
//     PeerConnection and the data channels, flush held signal requests, call
//     fullReconnectHook (data tracks are republished there).
//
// The same Room, LocalParticipant and handler registrations survive both.
// Dialing runs on a goroutine owned by the loop; everything else runs on the
// loop, which keeps handling signal messages, engine events and commands
// during an attempt.

// ReconnectKind says how a connection is being re-established.
type ReconnectKind int

// Reconnect kinds.
const (
	// ReconnectResume is the quick resume: same session (participant sid),
	// same PeerConnection and data channels, ICE restarted; nothing sent
	// reliably is lost or duplicated.
	ReconnectResume ReconnectKind = iota + 1
	// ReconnectFull is a new session: a new join with a new participant sid
	// and a new PeerConnection; remote participants are re-announced.
	ReconnectFull
)

// String returns "resume" or "full".
func (k ReconnectKind) String() string {
	switch k {
	case ReconnectResume:
		return "resume"
	case ReconnectFull:
		return "full"
	}
	return fmt.Sprintf("ReconnectKind(%d)", int(k))
}

// Reconnecting reports that the connection broke and is being re-established
// (the state is then StateReconnecting). It is emitted when an episode starts
// and again when it escalates from a resume to a full reconnect.
type Reconnecting struct {
	Kind ReconnectKind
	// Err is what broke the connection (nil when the server asked for it).
	Err error
	// Attempt numbers the Reconnecting events of one episode: 1 when it
	// starts, +1 when it escalates to a full reconnect.
	Attempt int
}

// Reconnected reports that the connection has been re-established (the state
// is StateConnected again). For ReconnectFull the local participant has a new
// SID and remote participants have been re-announced (ParticipantDisconnected
// for the old session's view, ParticipantConnected for the new one).
type Reconnected struct {
	Kind ReconnectKind
	// DiscardedPackets counts reliable packets that SendPacket had accepted
	// before the connection broke, that the SFU had not acknowledged, and
	// that a full reconnect had to discard (JS and Rust discard them too:
	// the old session and its sequence numbers are gone, and re-sending on
	// the new session could duplicate them). Always 0 after a resume, which
	// replays them instead.
	DiscardedPackets int
	// ReplayedPackets counts reliable packets sent again after a resume
	// because the SFU had not acknowledged them (docs/protocol.md, Data
	// packets); the SFU drops
	// any it already had, receivers suppress duplicates, so each is
	// delivered once. Always 0 after a full reconnect.
	ReplayedPackets int
}

func (Reconnecting) isEvent() {}
func (Reconnected) isEvent()  {}

// Errors of reconnection.
var (
	// ErrReconnecting: a lossy packet or data-track packet was not sent
	// because the room is reconnecting (nothing is queued for lossy
	// channels; reliable sends wait instead).
	ErrReconnecting = errors.New("room: reconnecting")
	// ErrReconnectFailed: the room gave up reconnecting
	// (Options.MaxReconnectAttempts failed attempts, 10 by default, or the
	// token was refused); the wrapped error is the last failure.
	ErrReconnectFailed = errors.New("room: reconnection failed")
)

// Tuning of reconnection.
const (
	// DefaultMaxReconnectAttempts is the number of attempts before giving up
	// when Options.MaxReconnectAttempts is 0 (JS DefaultReconnectPolicy and
	// Rust: 10).
	DefaultMaxReconnectAttempts = 10
	// firstRetryJitter bounds the random delay of the first attempt.
	firstRetryJitter = 500 * time.Millisecond
	// reconnectDialTimeout bounds one WebSocket dial + first message (JS websocketTimeout 15 s).
	reconnectDialTimeout = 15 * time.Second
	// reconnectPollInterval: how often an attempt re-checks the transport
	// (JS polls the PeerConnection every 50 ms).
	reconnectPollInterval = 50 * time.Millisecond
	// maxHeldRequests bounds the signal requests held during a reconnect.
	maxHeldRequests = 1024
	// maxHeldTrickles bounds local candidates held while no WebSocket is up.
	maxHeldTrickles = 64
	// leaveSendTimeout bounds the leave sent on the old WebSocket before a full reconnect.
	leaveSendTimeout = 250 * time.Millisecond
	// dataTrackDrainWait bounds how long a resume waits, before restarting
	// ICE, for `_data_track` packets already written to be acknowledged.
	dataTrackDrainWait = 100 * time.Millisecond
)

// reconnectBaseDelay is the base delay before attempt n ≥ 1 (JS
// DefaultReconnectPolicy: 300 ms × n² up to 7 s).
func reconnectBaseDelay(n int) time.Duration {
	switch n {
	case 1:
		return 300 * time.Millisecond
	case 2:
		return 1200 * time.Millisecond
	case 3:
		return 2700 * time.Millisecond
	case 4:
		return 4800 * time.Millisecond
	default:
		return 7000 * time.Millisecond
	}
}

// reconnectDelay is the wait before attempt n (n = failed attempts of the
// episode so far), with rnd uniform in [0, 1): attempt 0 waits rnd × 500 ms;
// attempt n waits base(n) × (0.5 + rnd), rounded to the millisecond (JS
// 2.23.0 DefaultReconnectPolicy; docs/protocol.md, Reconnection). ok is
// false once maxN attempts have failed: give up.
func reconnectDelay(n, maxN int, rnd float64) (d time.Duration, ok bool) {
	if n >= maxN {
		return 0, false
	}
	if n <= 0 {
		return time.Duration(rnd * float64(firstRetryJitter)), true
	}
	d = time.Duration(float64(reconnectBaseDelay(n)) * (0.5 + rnd))
	return d.Round(time.Millisecond), true
}

// trigger is what starts (or, during an episode, influences) a reconnect.
type trigger int

const (
	trigSignalLost        trigger = iota + 1 // WebSocket closed/errored, ping timeout
	trigTransportFailed                      // PeerConnection failed, data channel closed by the peer
	trigLeaveResume                          // server leave{RESUME}
	trigLeaveReconnect                       // server leave{RECONNECT}
	trigNegotiationFailed                    // the server's answer could not be applied
)

// failure classifies why an attempt failed.
type failure int

const (
	// failSignal: the signalling step failed (dial, ReconnectResponse, the
	// WebSocket dropped during the attempt): a resume may be retried as a
	// resume (JS SignalReconnectError).
	failSignal failure = iota + 1
	// failOther: anything else (ICE did not reconnect, negotiation failed):
	// escalate to a full reconnect.
	failOther
	// failRefused: the server refused the resume because it no longer has
	// the session (leave{RECONNECT}, e.g. STATE_MISMATCH after a server
	// restart): a resume cannot succeed, so the full reconnect starts at
	// once, without the backoff delay.
	failRefused
	// failFatal: the token was refused: give up at once.
	failFatal
)

// reconnectMachine decides what to do; it does no I/O. Loop-owned.
type reconnectMachine struct {
	active         bool          // an episode is running
	attempts       int           // failed attempts in this episode
	fullNext       bool          // the next attempt must be a full reconnect (sticky until it runs)
	kind           ReconnectKind // kind of the running (or last started) attempt; 0 before the first
	announced      ReconnectKind // kind of the last Reconnecting event
	reason         lkpb.ReconnectReason
	resumeDisabled bool // JoinResponse client_configuration.resume_connection == DISABLED
	rnd            func() float64
	// maxAttempts is Options.MaxReconnectAttempts: 0 = DefaultMaxReconnectAttempts,
	// negative = never reconnect.
	maxAttempts int
}

// limit returns the number of attempts of an episode (≤ 0: reconnection is off).
func (m *reconnectMachine) limit() int {
	if m.maxAttempts == 0 {
		return DefaultMaxReconnectAttempts
	}
	return max(m.maxAttempts, 0)
}

// enabled reports whether a connection loss may start an episode at all;
// when false, every trigger ends the room as a failure before the first
// connect does.
func (m *reconnectMachine) enabled() bool { return m.limit() > 0 }

func (m *reconnectMachine) random() float64 {
	if m.rnd != nil {
		return m.rnd()
	}
	return rand.Float64()
}

// trigger handles a trigger. When no episode is running it starts one and
// returns begin, the delay before the first attempt (always the first-retry
// delay, also for server-requested reconnects, as JS 2.23.0) and the kind to
// announce. During an episode it only records a request for a full reconnect.
// With reconnection off (enabled false) it never begins one; callers check
// enabled first and end the room instead.
func (m *reconnectMachine) trigger(t trigger) (begin bool, delay time.Duration, kind ReconnectKind) {
	if !m.enabled() {
		return false, 0, 0
	}
	if t == trigLeaveReconnect || t == trigNegotiationFailed {
		m.fullNext = true
	}
	if m.active {
		return false, 0, 0
	}
	m.active = true
	m.attempts = 0
	m.kind = 0
	switch t {
	case trigSignalLost:
		m.reason = lkpb.ReconnectReason_RR_SIGNAL_DISCONNECTED
	case trigTransportFailed:
		m.reason = lkpb.ReconnectReason_RR_PUBLISHER_FAILED
	default:
		m.reason = lkpb.ReconnectReason_RR_UNKNOWN // JS sends none for a server leave
	}
	delay, _ = reconnectDelay(0, m.limit(), m.random())
	m.announced = m.peek()
	return true, delay, m.announced
}

func (m *reconnectMachine) peek() ReconnectKind {
	if m.fullNext || m.resumeDisabled {
		return ReconnectFull
	}
	return ReconnectResume
}

// next starts an attempt: it returns its kind and whether a Reconnecting
// event must announce it (the kind changed since the last announcement).
func (m *reconnectMachine) next() (kind ReconnectKind, announce bool) {
	kind = m.peek()
	m.fullNext = false
	m.kind = kind
	announce = kind != m.announced
	m.announced = kind
	return kind, announce
}

// failed records a failed attempt and returns the delay before the next one,
// or giveUp. A failed full reconnect stays full; a resume that failed outside
// the signalling step escalates to full (JS); a resume the server refused
// (failRefused) escalates to full at once, without a delay; a resume whose
// signalling step failed is tried again as a resume.
func (m *reconnectMachine) failed(f failure) (delay time.Duration, giveUp bool) {
	m.attempts++
	if f == failFatal {
		return 0, true
	}
	if m.kind == ReconnectFull || f != failSignal {
		m.fullNext = true
	}
	d, ok := reconnectDelay(m.attempts, m.limit(), m.random())
	if f == failRefused && m.kind == ReconnectResume {
		d = 0
	}
	return d, !ok
}

// succeeded ends the episode.
func (m *reconnectMachine) succeeded() {
	m.active = false
	m.attempts = 0
	m.kind = 0
	m.announced = 0
	m.fullNext = false
}

// attemptPhase is where the running attempt is.
type attemptPhase int

const (
	phaseIdle    attemptPhase = iota // no episode, or waiting for the backoff timer
	phaseDialing                     // the dial goroutine is running
	phaseSyncing                     // signalling is back; waiting for the transport
)

type dialResult struct {
	client *signal.Client
	first  *lkpb.SignalResponse
	err    error
}

// reconnectState is the loop-owned state of reconnection.
type reconnectState struct {
	m     reconnectMachine
	phase attemptPhase

	timer      *time.Timer // backoff before the next attempt
	timerC     <-chan time.Time
	dialC      chan dialResult // result of the running dial
	dialCancel context.CancelFunc
	deadline   *time.Timer // bounds the syncing phase
	deadlineC  <-chan time.Time
	poll       *time.Ticker
	pollC      <-chan time.Time

	answered  bool   // the answer of this attempt's offer has been applied
	lastSeq   uint32 // ReconnectResponse.last_message_seq
	unwound   bool   // remote participants unwound for a full reconnect in this episode
	restarted bool   // a resume of this episode has restarted ICE (data-track writes held)
	discarded int    // reliable packets discarded by full reconnects in this episode

	held     []*lkpb.SignalRequest // non-pass-through requests held until success
	trickles []*lkpb.SignalRequest // local candidates waiting for a WebSocket

	pingInterval, pingTimeout time.Duration // from the JoinResponse
	oldLocalSID               string        // the local SID before a full reconnect's join
	announced                 int           // Reconnecting events of this episode

	retired sync.WaitGroup // engines / signal clients being closed in the background
}

func (s *reconnectState) stopTimers() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer, s.timerC = nil, nil
	}
	if s.deadline != nil {
		s.deadline.Stop()
		s.deadline, s.deadlineC = nil, nil
	}
	if s.poll != nil {
		s.poll.Stop()
		s.poll, s.pollC = nil, nil
	}
}

// sendGate tells data senders whether they may use the engine: closed while
// connecting and reconnecting, open while connected. Safe for concurrent use;
// the zero value is "connecting".
type sendGate struct {
	// dt is held (read) while a data-track packet is checked and handed to
	// the engine, and (write) while the data-track permission is revoked.
	dt           sync.RWMutex
	mu           sync.Mutex
	open         bool
	reconnecting bool
	// resuming: the reconnect is a resume, so the engine and its `_data_track`
	// channel stay; data-track frames keep flowing (see dataTrackSendable).
	resuming bool
	changed  chan struct{} // closed and replaced at every transition
}

func (g *sendGate) state() (open, reconnecting bool, changed <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changed == nil {
		g.changed = make(chan struct{})
	}
	return g.open, g.reconnecting, g.changed
}

func (g *sendGate) set(open, reconnecting bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open, g.reconnecting = open, reconnecting
	if !reconnecting {
		g.resuming = false
	}
	g.wakeLocked()
}

// setResuming records whether data-track packets may flow during the
// running reconnect: while a resume keeps the engine and has not restarted
// ICE yet. Revoking waits for a data-track packet being handed to the
// engine (see dataTrackSend), so none is written after it returns.
func (g *sendGate) setResuming(on bool) {
	if !on {
		g.dt.Lock()
		defer g.dt.Unlock()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.resuming == on {
		return
	}
	g.resuming = on
	g.wakeLocked()
}

// dataTrackOK reports whether data-track packets may be written now: not
// while a full reconnect replaces the engine.
func (g *sendGate) dataTrackOK() (ok bool, changed <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changed == nil {
		g.changed = make(chan struct{})
	}
	return g.open || !g.reconnecting || g.resuming, g.changed
}

// dataTrackSend runs send (handing one data-track packet to the engine)
// unless data-track packets may not be written now (ErrReconnecting).
func (g *sendGate) dataTrackSend(send func() error) error {
	g.dt.RLock()
	defer g.dt.RUnlock()
	if ok, _ := g.dataTrackOK(); !ok {
		return ErrReconnecting
	}
	return send()
}

func (g *sendGate) wakeLocked() {
	if g.changed != nil {
		close(g.changed)
	}
	g.changed = make(chan struct{})
}

// sendData is the data path of SendPacket once the packet is final.
//
// While the room is connected it sends on the current engine. While it is
// connecting or reconnecting:
//   - reliable packets wait (bounded by ctx) and go out once the connection
//     is back, in the order of the calls, after the resume replay of older
//     packets; across a full reconnect they go out on the new session. They
//     are never dropped silently: the call returns nil only once the packet
//     has been handed to the reliable channel.
//   - lossy packets fail at once with ErrReconnecting (during the initial
//     connect they wait like reliable ones): lossy data is meant to be fresh,
//     and JS drops it silently during a reconnect; here the caller learns it.
//
// A reliable packet whose send fails because the transport broke under it
// (engine closed by a full reconnect, data channel closed) is retried on the
// re-established connection.
func (r *Room) sendData(ctx context.Context, pkt *lkpb.DataPacket, reliable bool) error {
	for {
		open, reconnecting, changed := r.send.state()
		if !open {
			if reconnecting && !reliable {
				return ErrReconnecting
			}
			select {
			case <-changed:
				continue
			case <-r.closing:
				return ErrDisconnected
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := r.eng.Load().SendPacket(ctx, pkt, reliable)
		if err == nil || !(errors.Is(err, engine.ErrClosed) || errors.Is(err, engine.ErrChannelNotOpen)) {
			return err
		}
		if r.isClosing() {
			return ErrDisconnected
		}
		if !reliable {
			if _, rc, _ := r.send.state(); rc {
				return ErrReconnecting
			}
			return err
		}
		// The transport broke under this send: a reconnect is starting (the
		// channel close or PeerConnection failure triggers it) or has
		// already replaced the engine. Wait for the next transition.
		select {
		case <-changed:
		case <-r.closing:
			return ErrDisconnected
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// dataTrackSendable reports ErrReconnecting while a full reconnect replaces
// the engine or a resume restarts ICE (data-track packets are lossy: never
// queued). While only the signalling session resumes, the PeerConnection and
// `_data_track` stay, so frames keep flowing; a write that fails on a
// channel that broke meanwhile is counted by the writer as SendFailed.
func (r *Room) dataTrackSendable() error {
	if ok, _ := r.send.dataTrackOK(); !ok {
		return ErrReconnecting
	}
	return nil
}

// --- signal requests ------------------------------------------------------

// passThrough reports whether req may be sent while a reconnect is in
// progress (JS SignalClient / Rust: sync_state, trickle, offer, answer,
// simulate, leave); everything else is held and flushed after success.
func passThrough(req *lkpb.SignalRequest) bool {
	switch req.GetMessage().(type) {
	case *lkpb.SignalRequest_SyncState, *lkpb.SignalRequest_Trickle, *lkpb.SignalRequest_Offer,
		*lkpb.SignalRequest_Answer, *lkpb.SignalRequest_Simulate, *lkpb.SignalRequest_Leave:
		return true
	}
	return false
}

// signalLive reports whether the loop is reading a live WebSocket.
func (r *Room) signalLive() bool { return r.sigMsgs != nil }

// sendSignalLoop sends req on the current WebSocket or, while reconnecting,
// holds it until the connection is back (docs/protocol.md, Signalling:
// Requests held while (re)connecting). Loop only.
func (r *Room) sendSignalLoop(ctx context.Context, req *lkpb.SignalRequest) error {
	if r.rc.m.active && !passThrough(req) {
		if len(r.rc.held) >= maxHeldRequests {
			return fmt.Errorf("%w: too many signal requests held", ErrReconnecting)
		}
		r.rc.held = append(r.rc.held, req)
		return nil
	}
	if !r.signalLive() {
		return ErrReconnecting
	}
	return r.sess.sig.Send(ctx, req)
}

// sendSignal is sendSignalLoop for any goroutine (it runs on the loop). Use
// it instead of r.sess.sig, which the loop replaces when it reconnects.
func (r *Room) sendSignal(ctx context.Context, req *lkpb.SignalRequest) error {
	var err error
	if lerr := r.runOnLoop(ctx, func() { err = r.sendSignalLoop(ctx, req) }); lerr != nil {
		return lerr
	}
	return err
}

// sendTrickle sends a local candidate, or keeps it until a WebSocket is up. Loop only.
func (r *Room) sendTrickle(req *lkpb.SignalRequest) {
	if !r.signalLive() {
		if len(r.rc.trickles) < maxHeldTrickles {
			r.rc.trickles = append(r.rc.trickles, req)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), signal.DefaultWriteTimeout)
	defer cancel()
	if err := r.sess.sig.Send(ctx, req); err != nil {
		r.log.Debug("room: sending trickle failed", "err", err)
	}
}

// --- loop side ------------------------------------------------------------

// newJoinRequest builds the JoinRequest of a join (offer set: offer-with-join)
// or a resume (offer nil; the caller sets reconnect fields). Resumes repeat
// the join's client_info and connection_settings (recorded in 1d-resume-js).
func (r *Room) newJoinRequest(offer *lkpb.SessionDescription) *lkpb.JoinRequest {
	return &lkpb.JoinRequest{
		ClientInfo: &lkpb.ClientInfo{
			Sdk:            lkpb.ClientInfo_GO,
			Version:        Version,
			Protocol:       signalProtocol,
			Os:             runtime.GOOS,
			ClientProtocol: r.advertisedClientProtocol(),
			Capabilities:   r.advertisedCaps(),
		},
		// Data-only: no media subscriptions, so the server never asks for
		// media sections; data delivery does not depend on it.
		ConnectionSettings: &lkpb.ConnectionSettings{AutoSubscribe: false},
		PublisherOffer:     offer,
	}
}

// mayReconnect reports whether a connection loss starts a reconnect episode:
// only once connected, and only when Options.MaxReconnectAttempts allows it.
// Otherwise the loss ends the room. Loop only.
func (r *Room) mayReconnect() bool { return r.everConnected() && r.rc.m.enabled() }

func (r *Room) everConnected() bool {
	select {
	case <-r.connected:
		return true
	default:
		return false
	}
}

// retireSignal stops reading the current WebSocket and closes it. r.sess.sig keeps
// pointing at the closed client (never nil). Loop only.
func (r *Room) retireSignal() {
	r.sigMsgs = nil
	r.sess.sig.Close()
}

// beginReconnect handles a trigger while connected: it starts an episode
// (state Reconnecting, data senders held, backoff timer armed) or, during
// one, lets the machine record it. Returns true when the room ended.
func (r *Room) beginReconnect(t trigger, cause error) bool {
	begin, delay, kind := r.rc.m.trigger(t)
	if !begin {
		return false
	}
	r.log.Warn("room: connection lost, reconnecting", "kind", kind.String(), "cause", cause, "delay", delay.Round(time.Millisecond))
	r.send.set(false, true)
	r.send.setResuming(kind == ReconnectResume)
	r.setState(StateReconnecting)
	r.rc.announced = 1
	r.events.push(Reconnecting{Kind: kind, Err: cause, Attempt: 1})
	r.rc.unwound = false
	r.rc.restarted = false
	r.rc.discarded = 0
	r.armAttempt(delay)
	return false
}

func (r *Room) armAttempt(delay time.Duration) {
	r.rc.stopTimers()
	r.rc.phase = phaseIdle
	r.rc.timer = time.NewTimer(delay)
	r.rc.timerC = r.rc.timer.C
}

// startAttempt runs when the backoff timer fires: it prepares the attempt and
// starts dialing on a goroutine. Loop only.
func (r *Room) startAttempt() bool {
	r.rc.stopTimers()
	kind, announce := r.rc.m.next()
	if announce {
		r.rc.announced++
		r.events.push(Reconnecting{Kind: kind, Attempt: r.rc.announced})
	}
	r.send.setResuming(kind == ReconnectResume && !r.rc.restarted)
	r.rc.answered = false
	opts := signal.DialOptions{Logger: r.log, HTTPClient: r.opts.HTTPClient}
	var jr *lkpb.JoinRequest
	if kind == ReconnectResume {
		// Recorded (1d-resume-js WS#3): same client_info and
		// connection_settings, reconnect, reconnect_reason (when not
		// RR_UNKNOWN), participant_sid, no offer.
		r.retireSignal() // JS closes the old WebSocket (if still open) first
		jr = r.newJoinRequest(nil)
		jr.Reconnect = true
		jr.ReconnectReason = r.rc.m.reason
		jr.ParticipantSid = r.local.SID()
		opts.Resume = true
	} else {
		r.prepareFull()
		eng, err := r.newEngine()
		if err != nil {
			return r.failAttempt(failOther, err)
		}
		r.dataReadyC = eng.DataReady()
		offer, err := eng.CreateOffer(false)
		if err != nil {
			return r.failAttempt(failOther, err)
		}
		jr = r.newJoinRequest(offer)
	}
	r.log.Info("room: reconnect attempt", "kind", kind.String(), "attempt", r.rc.m.attempts+1)
	ctx, cancel := context.WithTimeout(context.Background(), reconnectDialTimeout)
	ch := make(chan dialResult, 1)
	r.rc.dialC, r.rc.dialCancel, r.rc.phase = ch, cancel, phaseDialing
	url, token := r.url, *r.token.Load()
	go func() {
		c, first, err := signal.Dial(ctx, url, token, jr, opts)
		ch <- dialResult{client: c, first: first, err: err}
	}()
	return false
}

// prepareFull tears the old session down before a full reconnect attempt:
// leave on a live WebSocket, unwind the remote participants (once per
// episode), discard the resend buffer, close the old engine (in the
// background: its readers may be blocked on event backpressure until
// r.closing). Loop only.
func (r *Room) prepareFull() {
	if r.signalLive() {
		ctx, cancel := context.WithTimeout(context.Background(), leaveSendTimeout)
		_ = r.sess.sig.Send(ctx, &lkpb.SignalRequest{Message: &lkpb.SignalRequest_Leave{
			Leave: &lkpb.LeaveRequest{Reason: lkpb.DisconnectReason_CLIENT_INITIATED, Action: lkpb.LeaveRequest_DISCONNECT}}})
		cancel()
	}
	r.sigMsgs = nil
	oldSig := r.sess.sig
	old := r.eng.Load()
	if !r.rc.unwound {
		r.rc.unwound = true
		if n := old.PendingReliable(); n > 0 {
			r.rc.discarded += n
			r.log.Warn("room: full reconnect discards unacknowledged reliable packets", "count", n)
		}
		r.events.push(r.parts.unwind()...)
	}
	r.rc.retired.Add(1)
	go func() {
		defer r.rc.retired.Done()
		oldSig.Close()
		if err := old.Close(); err != nil {
			r.log.Debug("room: closing the old peer connection", "err", err)
		}
	}()
}

// onDialResult handles the end of a dial. Loop only.
func (r *Room) onDialResult(res dialResult) bool {
	r.rc.dialCancel()
	r.rc.dialC, r.rc.dialCancel = nil, nil
	if res.err != nil {
		f := failSignal
		var le *signal.LeaveError
		switch {
		case errors.Is(res.err, signal.ErrUnauthorized):
			f = failFatal
		case errors.As(res.err, &le):
			if le.Action == lkpb.LeaveRequest_DISCONNECT && r.rc.m.kind == ReconnectResume {
				// The server ended the session instead of resuming it
				// (Rust closes here; JS would escalate to a full
				// reconnect — rejoining a room we were removed from).
				r.teardown(le.Reason, nil, false)
				return true
			}
			if le.Action == lkpb.LeaveRequest_RECONNECT {
				f = failRefused // the server no longer has our session
			}
		}
		return r.failAttempt(f, res.err)
	}
	r.sess.sig = res.client
	r.sigMsgs = res.client.Messages()
	if r.rc.m.kind == ReconnectResume {
		r.startKeepalive() // the settings of the session's join
		r.applyJoin(joinResume, res.first, r.sess.eng)
		return r.resumeSignalled()
	}
	r.applyJoin(joinFull, res.first, r.sess.eng)
	r.startKeepalive()
	join := res.first.GetJoin()
	r.log.Info("room: rejoined", "room", join.GetRoom().GetName(), "sid", join.GetParticipant().GetSid(),
		"others", len(join.GetOtherParticipants()))
	r.flushTrickles()
	r.enterSyncing()
	return false
}

// resumeSignalled continues a resume after the ReconnectResponse: SyncState,
// then the ICE-restart offer (recorded order). Loop only.
func (r *Room) resumeSignalled() bool {
	eng := r.sess.eng
	// applyJoin gave the response's ICE servers and force_relay to the
	// engine: they govern the ICE restart below (relay.go).
	ctx, cancel := context.WithTimeout(context.Background(), signal.DefaultWriteTimeout)
	defer cancel()
	ss := r.buildSyncState(eng)
	if err := r.sess.sig.Send(ctx, &lkpb.SignalRequest{Message: &lkpb.SignalRequest_SyncState{SyncState: ss}}); err != nil {
		return r.failAttempt(failSignal, err)
	}
	// The ICE restart drops the selected candidate pair until the new one
	// is checked: a `_data_track` packet (no retransmissions) written then
	// would vanish without a trace. From here until the attempt ends the
	// writer holds frames in their queues instead (setResuming waits for a
	// packet being written).
	r.rc.restarted = true
	r.send.setResuming(false)
	// Packets already handed to SCTP but not acknowledged yet would be lost
	// too: give them a moment (bounded, only when some are outstanding).
	for deadline := time.Now().Add(dataTrackDrainWait); eng.DataTrackBufferedAmount() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	offer, err := eng.CreateOffer(true)
	if err != nil {
		return r.failAttempt(failOther, err)
	}
	if err := r.sess.sig.Send(ctx, &lkpb.SignalRequest{Message: &lkpb.SignalRequest_Offer{Offer: offer}}); err != nil {
		return r.failAttempt(failSignal, err)
	}
	r.flushTrickles()
	r.enterSyncing()
	return false
}

// buildSyncState fills SyncState as JS does for a single PeerConnection
// (docs/protocol.md, Reconnection: Resume; recorded in 1d-resume-js): the
// last offer and answer, subscription{subscribe: !auto_subscribe} (we join
// with auto_subscribe false), the SCTP ids of `_lossy` and `_reliable`, the
// receive dedup state, and whatever syncStateHook adds (published data
// tracks). (Recorded JS sends subscription {} because it joins with
// auto_subscribe true, and a subscription_permission request after the
// SyncState; the latter is about media tracks and is not sent by this
// data-only client.)
func (r *Room) buildSyncState(eng *engine.Engine) *lkpb.SyncState {
	offer, answer := eng.SyncDescriptions()
	ss := &lkpb.SyncState{
		Answer:                   answer,
		Offer:                    offer,
		Subscription:             &lkpb.UpdateSubscription{Subscribe: true},
		DataChannels:             eng.DataChannelInfos(),
		DatachannelReceiveStates: eng.ReceiveStates(),
	}
	if h := r.syncStateHook; h != nil {
		h(ss)
	}
	return ss
}

func (r *Room) enterSyncing() {
	r.rc.phase = phaseSyncing
	r.rc.deadline = time.NewTimer(r.pcTimeout())
	r.rc.deadlineC = r.rc.deadline.C
	r.rc.poll = time.NewTicker(reconnectPollInterval)
	r.rc.pollC = r.rc.poll.C
}

func (r *Room) flushTrickles() {
	ts := r.rc.trickles
	r.rc.trickles = nil
	for _, t := range ts {
		r.sendTrickle(t)
	}
}

// onAnswerApplied is called by handleSignal after an answer was applied.
func (r *Room) onAnswerApplied() bool {
	if r.rc.phase == phaseSyncing {
		r.rc.answered = true
		return r.checkAttemptDone()
	}
	return false
}

// checkAttemptDone completes the attempt once the transport is back: the
// answer to this attempt's offer is applied, ICE has selected a pair, the
// PeerConnection is connected and both data channels are open. Loop only.
func (r *Room) checkAttemptDone() bool {
	if r.rc.phase != phaseSyncing || !r.rc.answered {
		return false
	}
	eng := r.eng.Load()
	if !eng.TransportConnected() || !eng.DataChannelsOpen() {
		return false
	}
	return r.reconnectSucceeded()
}

func (r *Room) reconnectSucceeded() bool {
	kind := r.rc.m.kind
	r.rc.stopTimers()
	r.rc.phase = phaseIdle
	eng := r.eng.Load()
	replayed := 0
	if kind == ReconnectResume {
		// Always replay (JS only does when last_message_seq > 0; the
		// server's dedupe makes a replay after 0 just as safe).
		n, err := eng.ReplayReliable(r.rc.lastSeq)
		replayed = n
		if err != nil {
			r.log.Warn("room: replay after resume failed", "err", err)
		} else if n > 0 {
			r.log.Info("room: replayed reliable packets after resume", "count", n, "last_message_seq", r.rc.lastSeq)
		}
	}
	// Flush held requests before anything new.
	held := r.rc.held
	r.rc.held = nil
	r.rc.m.succeeded()
	r.pcFailed = nil
	for _, req := range held {
		ctx, cancel := context.WithTimeout(context.Background(), signal.DefaultWriteTimeout)
		if err := r.sess.sig.Send(ctx, req); err != nil {
			r.log.Debug("room: sending a held request failed", "err", err)
		}
		cancel()
	}
	discarded := 0
	if kind == ReconnectFull {
		discarded = r.rc.discarded
	}
	r.rc.discarded = 0
	r.log.Info("room: reconnected", "kind", kind.String(), "sid", r.local.SID())
	r.setState(StateConnected)
	r.send.set(true, false)
	r.events.push(Reconnected{Kind: kind, DiscardedPackets: discarded, ReplayedPackets: replayed})
	if kind == ReconnectFull {
		r.events.push(LocalParticipantRejoined{OldSID: r.rc.oldLocalSID, Info: participantInfoFrom(r.local.load())})
	}
	if kind == ReconnectFull {
		if h := r.fullReconnectHook; h != nil {
			h()
		}
	}
	return false
}

// failAttempt ends the running attempt and schedules the next one, or gives
// up (Disconnected with ErrReconnectFailed wrapping err). Loop only.
func (r *Room) failAttempt(f failure, err error) bool {
	kind := r.rc.m.kind
	r.rc.stopTimers()
	r.rc.phase = phaseIdle
	delay, giveUp := r.rc.m.failed(f)
	r.log.Warn("room: reconnect attempt failed", "kind", kind.String(), "attempt", r.rc.m.attempts, "err", err)
	if giveUp {
		r.teardown(lkpb.DisconnectReason_UNKNOWN_REASON,
			fmt.Errorf("%w after %d attempts: %w", ErrReconnectFailed, r.rc.m.attempts, err), false)
		return true
	}
	r.armAttempt(delay)
	return false
}

// onSignalClosed handles the end of the WebSocket the loop was reading.
func (r *Room) onSignalClosed() bool {
	err := fmt.Errorf("%w: %w", ErrSignalLost, r.sess.sig.Err())
	r.sigMsgs = nil
	if !r.mayReconnect() {
		r.teardown(lkpb.DisconnectReason_SIGNAL_CLOSE, err, false)
		return true
	}
	if r.rc.m.active {
		if r.rc.phase == phaseSyncing {
			return r.failAttempt(failSignal, err)
		}
		return false
	}
	return r.beginReconnect(trigSignalLost, err)
}

// onTransportFailed runs when a failed PeerConnection (or a data channel
// closed by the peer) was not explained by a leave within pcFailureGrace.
func (r *Room) onTransportFailed() bool {
	err := fmt.Errorf("%w: ICE/DTLS failed or closed by the peer", ErrPeerConnectionFailed)
	if !r.mayReconnect() {
		r.teardown(lkpb.DisconnectReason_UNKNOWN_REASON, err, true)
		return true
	}
	if r.rc.m.active {
		return false // the running episode restarts ICE or replaces the PeerConnection anyway
	}
	return r.beginReconnect(trigTransportFailed, err)
}

// onChannelClosed: `_reliable` or `_lossy` of the current engine closed.
func (r *Room) onChannelClosed(label string) bool {
	r.log.Warn("room: data channel closed by the peer", "label", label)
	if r.rc.m.active {
		if r.rc.phase == phaseSyncing && r.rc.m.kind == ReconnectResume {
			return r.failAttempt(failOther, fmt.Errorf("%w: data channel %s closed", ErrPeerConnectionFailed, label))
		}
		return false
	}
	if r.pcFailed == nil {
		r.pcFailed = time.After(pcFailureGrace)
	}
	return false
}

// onLeave handles leave{RESUME|RECONNECT} (DISCONNECT ends the room in
// handleLeave). The server closes the WebSocket right after it.
func (r *Room) onLeave(l *lkpb.LeaveRequest) bool {
	r.retireSignal()
	err := fmt.Errorf("%w: server requested %s (%s)", ErrSignalLost, l.GetAction(), l.GetReason())
	if !r.mayReconnect() {
		r.teardown(l.GetReason(), err, false)
		return true
	}
	t := trigLeaveResume
	f := failSignal
	if l.GetAction() == lkpb.LeaveRequest_RECONNECT {
		t, f = trigLeaveReconnect, failOther
	}
	if r.rc.m.active {
		if r.rc.phase == phaseSyncing {
			return r.failAttempt(f, err)
		}
		r.rc.m.trigger(t)
		return false
	}
	return r.beginReconnect(t, nil)
}

// onNegotiationFailed: the server's answer could not be applied.
func (r *Room) onNegotiationFailed(err error) bool {
	err = fmt.Errorf("%w: %w", ErrPeerConnectionFailed, err)
	if !r.mayReconnect() {
		r.teardown(lkpb.DisconnectReason_STATE_MISMATCH, err, true)
		return true
	}
	if r.rc.m.active {
		if r.rc.phase == phaseSyncing {
			return r.failAttempt(failOther, err)
		}
		r.rc.m.trigger(trigNegotiationFailed)
		return false
	}
	return r.beginReconnect(trigNegotiationFailed, err)
}

// stopReconnect ends any running attempt for teardown: it stops the timers,
// cancels a running dial (and closes its client) and waits for background
// closes. Loop only, after r.closing is closed.
func (r *Room) stopReconnect() {
	r.rc.stopTimers()
	if r.rc.dialC != nil {
		r.rc.dialCancel()
		if res := <-r.rc.dialC; res.client != nil {
			res.client.Close()
		}
		r.rc.dialC, r.rc.dialCancel = nil, nil
	}
	r.rc.held = nil
	r.rc.trickles = nil
	r.rc.retired.Wait()
}

// unwind removes every remote participant (before a full reconnect) and
// returns their ParticipantDisconnected events (JS unwinds them on
// Restarting; the new join re-announces whoever is still there).
func (t *participantTable) unwind() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := slices.Sorted(maps.Keys(t.remotes))
	evs := make([]Event, 0, len(ids))
	for _, id := range ids {
		evs = append(evs, ParticipantDisconnected{Participant: t.remotes[id], Reason: lkpb.DisconnectReason_UNKNOWN_REASON})
	}
	clear(t.remotes)
	clear(t.sids)
	return evs
}
