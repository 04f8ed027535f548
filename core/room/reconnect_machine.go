package room

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// ReconnectKind says how a connection is being re-established.
type ReconnectKind int

// Reconnect kinds.
const (
	// ReconnectResume is the quick resume: same session (participant sid),
	// same PeerConnection and data channels, ICE restarted; nothing sent
	// reliably is lost or duplicated.
	ReconnectResume ReconnectKind = iota + 1
	// ReconnectFull is a new session: a new join with a new participant sid
	// and a new PeerConnection; the remote participants are reconciled with
	// the new session's (see Reconnected).
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

// Tuning of reconnection.
const (
	// DefaultMaxReconnectAttempts is the number of attempts before giving up
	// when Options.MaxReconnectAttempts is 0 (JS DefaultReconnectPolicy and
	// Rust: 10).
	DefaultMaxReconnectAttempts = 10
	// firstRetryJitter bounds the random delay of the first attempt.
	firstRetryJitter = 500 * time.Millisecond
	// reconnectDialTimeout bounds an attempt's WebSocket dial + first message
	// (JS websocketTimeout 15 s): on LiveKit Cloud, those of every region a
	// full attempt tries.
	reconnectDialTimeout = 15 * time.Second
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

// requestFull makes the next attempt a full reconnect (a simulated one: the
// episode has not begun yet).
func (m *reconnectMachine) requestFull() { m.fullNext = true }

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
