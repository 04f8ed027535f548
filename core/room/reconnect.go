package room

import (
	"context"
	"errors"
	"fmt"
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
//     WebSocket if it is still up, close the PeerConnection, join from
//     scratch with a new engine (new sid, sequences from 1, fresh dedup
//     state), reconcile the remote participants and their data tracks with
//     the join's list (session.go, applyJoin), wait for the
//     PeerConnection and the data channels, flush held signal requests, call
//     dataTracks.fullReconnected (data tracks are republished there).
//
// The same Room, LocalParticipant and handler registrations survive both.
// Dialing runs on a goroutine owned by the loop; everything else runs on the
// loop, which keeps handling signal messages, engine events and commands
// during an attempt.

// attemptPhase is where the running attempt is.
type attemptPhase int

const (
	phaseIdle    attemptPhase = iota // no episode, or waiting for the backoff timer
	phaseDialing                     // the dial goroutine is running
	phaseSyncing                     // signalling is back; waiting for the transport
)

type dialResult struct {
	url    string // the URL dialled
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
	// changedC is the engine's StateChanged channel taken before the
	// attempt last checked the transport (syncing phase only): the loop
	// checks again when it closes, instead of polling.
	changedC <-chan struct{}

	url       string // the URL this attempt dialled (once its dial ended)
	failedURL string // the URL of this episode's last failed full attempt: the next full one tries another region
	answered  bool   // the answer of this attempt's offer has been applied
	lastSeq   uint32 // ReconnectResponse.last_message_seq
	counted   bool   // the first full reconnect of this episode counted the old session's discards
	restarted bool   // a resume of this episode has restarted ICE (data-track writes held)
	discarded int    // reliable packets discarded by full reconnects in this episode

	held     []*lkpb.SignalRequest // non-pass-through requests held until success
	trickles []*lkpb.SignalRequest // local candidates waiting for a WebSocket

	pingInterval, pingTimeout time.Duration // from the JoinResponse
	oldLocalSID               string        // the local SID before a full reconnect's join
	simulated                 Scenario      // a simulated loss closing the WebSocket (until it has closed or an episode began)
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
	s.changedC = nil
}

// mayReconnect reports whether a connection loss starts a reconnect episode:
// only once connected, and only when Options.MaxReconnectAttempts allows it.
// Otherwise the loss ends the room. Loop only.
func (r *Room) mayReconnect() bool { return r.everConnected() && r.rc.m.enabled() }

// retireSignal stops reading the current WebSocket and closes it. r.sess.sig keeps
// pointing at the closed client (never nil). Loop only.
func (r *Room) retireSignal() {
	r.sigMsgs = nil
	r.sess.sig.Close()
}

// beginReconnect handles a trigger while connected: it starts an episode
// (state Reconnecting, data senders held, backoff timer armed) or, during
// one, lets the machine record it. Returns true when the room ended.
func (r *Room) beginReconnect(t trigger, cause error) loopStep {
	begin, delay, kind := r.rc.m.trigger(t)
	if !begin {
		return stepContinue
	}
	r.rc.simulated = 0 // the episode takes over from a simulated loss
	r.log.Warn("room: connection lost, reconnecting", "kind", kind.String(), "cause", cause, "delay", delay.Round(time.Millisecond))
	r.send.set(false, true)
	r.send.setResuming(kind == ReconnectResume)
	r.setState(StateReconnecting)
	r.rc.announced = 1
	r.events.push(Reconnecting{Kind: kind, Err: cause, Attempt: 1})
	r.rc.counted = false
	r.rc.restarted = false
	r.rc.discarded = 0
	r.rc.url, r.rc.failedURL = "", ""
	r.armAttempt(delay)
	return stepContinue
}

func (r *Room) armAttempt(delay time.Duration) {
	r.rc.stopTimers()
	r.rc.phase = phaseIdle
	r.rc.timer = time.NewTimer(delay)
	r.rc.timerC = r.rc.timer.C
}

// startAttempt runs when the backoff timer fires: it prepares the attempt and
// starts dialing on a goroutine. Loop only.
func (r *Room) startAttempt() loopStep {
	r.rc.stopTimers()
	r.rc.url = ""
	kind, announce := r.rc.m.next()
	if announce {
		r.rc.announced++
		r.events.push(Reconnecting{Kind: kind, Attempt: r.rc.announced})
	}
	r.send.setResuming(kind == ReconnectResume && !r.rc.restarted)
	r.rc.answered = false
	opts := signal.DialOptions{Logger: r.log, TLSConfig: r.opts.TLSConfig, Dial: r.opts.Dial}
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
	url, failed, token := r.joinedURL, "", *r.token.Load()
	if kind == ReconnectFull {
		failed = r.rc.failedURL
	}
	go func() {
		if failed != "" {
			// A full attempt of this episode failed at failed: the next
			// region on LiveKit Cloud, else the Connect URL again.
			url = r.nextRegion(ctx, failed)
			if url == "" {
				url = r.url
				r.regions.reset()
			}
		}
		for {
			c, first, err := signal.Dial(ctx, url, token, jr, opts)
			// On LiveKit Cloud, a full attempt whose join another region
			// could take goes on in the next region at once, as Connect
			// does (the same offer: no server has answered it).
			if err != nil && kind == ReconnectFull && ctx.Err() == nil && IsRetryable(&joinError{err: dialError(err)}) {
				if next := r.nextRegion(ctx, url); next != "" {
					url = next
					continue
				}
			}
			ch <- dialResult{url: url, client: c, first: first, err: err}
			return
		}
	}()
	return stepContinue
}

// prepareFull tears the old session down before a full reconnect attempt:
// leave on a live WebSocket, discard the resend buffer (counted once per
// episode), close the old engine (in the background: its readers may be
// blocked on event backpressure until r.closing). The remote participants and
// their data tracks stay until the new session's join says who is still there
// (applyJoin). Loop only.
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
	if !r.rc.counted {
		r.rc.counted = true
		if n := old.PendingReliable(); n > 0 {
			r.rc.discarded += n
			r.log.Warn("room: full reconnect discards unacknowledged reliable packets", "count", n)
		}
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
func (r *Room) onDialResult(res dialResult) loopStep {
	r.rc.dialCancel()
	r.rc.dialC, r.rc.dialCancel = nil, nil
	r.rc.url = res.url
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
				return stepStop
			}
			if le.Action == lkpb.LeaveRequest_RECONNECT {
				f = failRefused // the server no longer has our session
			}
		}
		return r.failAttempt(f, dialError(res.err))
	}
	r.sess.sig = res.client
	r.sigMsgs = res.client.Messages()
	if r.rc.m.kind == ReconnectResume {
		r.startKeepalive() // the settings of the session's join
		r.applyJoin(joinResume, res.first, r.sess.eng)
		return r.resumeSignalled()
	}
	r.joinedURL = res.url
	r.applyJoin(joinFull, res.first, r.sess.eng)
	r.startKeepalive()
	join := res.first.GetJoin()
	r.log.Info("room: rejoined", "room", join.GetRoom().GetName(), "sid", join.GetParticipant().GetSid(),
		"others", len(join.GetOtherParticipants()))
	r.flushTrickles()
	r.enterSyncing()
	return stepContinue
}

// resumeSignalled continues a resume after the ReconnectResponse: SyncState,
// then the ICE-restart offer (recorded order). Loop only.
func (r *Room) resumeSignalled() loopStep {
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
	return stepContinue
}

// buildSyncState fills SyncState as JS does for a single PeerConnection
// (docs/protocol.md, Reconnection: Resume; recorded in 1d-resume-js): the
// last offer and answer, subscription{subscribe: !auto_subscribe} (we join
// with auto_subscribe false), the SCTP ids of `_lossy` and `_reliable`, the
// receive dedup state, and what dataTracks.syncState adds (published data
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
	r.dt.syncState(ss)
	return ss
}

func (r *Room) enterSyncing() {
	r.rc.phase = phaseSyncing
	r.rc.deadline = time.NewTimer(r.pcTimeout())
	r.rc.deadlineC = r.rc.deadline.C
	r.rc.changedC = r.sess.eng.StateChanged()
}

func (r *Room) flushTrickles() {
	ts := r.rc.trickles
	r.rc.trickles = nil
	for _, t := range ts {
		r.sendTrickle(t)
	}
}

// onAnswerApplied is called by handleSignal after an answer was applied.
func (r *Room) onAnswerApplied() loopStep {
	if r.rc.phase == phaseSyncing {
		r.rc.answered = true
		return r.checkAttemptDone()
	}
	return stepContinue
}

// checkAttemptDone completes the attempt once the transport is back: the
// answer to this attempt's offer is applied, ICE has selected a pair, the
// PeerConnection is connected and both data channels are open. It takes the
// engine's StateChanged channel before reading the state, so a change after
// the check wakes the loop (rc.changedC) for the next one. Loop only.
func (r *Room) checkAttemptDone() loopStep {
	if r.rc.phase != phaseSyncing {
		return stepContinue
	}
	eng := r.sess.eng
	r.rc.changedC = eng.StateChanged()
	if !r.rc.answered || !eng.TransportConnected() || !eng.DataChannelsOpen() {
		return stepContinue
	}
	return r.reconnectSucceeded()
}

func (r *Room) reconnectSucceeded() loopStep {
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
	r.rc.failedURL = ""
	r.regions.reset()
	r.pcFailed = nil
	for _, req := range held {
		ctx, cancel := context.WithTimeout(context.Background(), signal.DefaultWriteTimeout)
		if err := r.sess.sig.Send(ctx, req); err != nil {
			r.log.Debug("room: sending a held request failed", "err", err)
		}
		cancel()
	}
	r.blobRequestsAfterReconnect(kind == ReconnectFull) // before the tracks are published again
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
		r.events.push(LocalParticipantRejoined{OldSID: r.rc.oldLocalSID, Info: r.local.Info()})
	}
	if kind == ReconnectFull {
		r.resendSubscriptionPermission() // before the tracks are published again
		r.dt.fullReconnected()
	}
	return stepContinue
}

// failAttempt ends the running attempt and schedules the next one, or gives
// up (Disconnected with ErrReconnectFailed wrapping err). Loop only.
func (r *Room) failAttempt(f failure, err error) loopStep {
	kind := r.rc.m.kind
	r.rc.stopTimers()
	r.rc.phase = phaseIdle
	if kind == ReconnectFull && f != failFatal && r.rc.url != "" {
		r.rc.failedURL = r.rc.url // (a failure before the dial names no URL)
	}
	delay, giveUp := r.rc.m.failed(f)
	r.log.Warn("room: reconnect attempt failed", "kind", kind.String(), "attempt", r.rc.m.attempts, "err", err)
	if giveUp {
		r.teardown(lkpb.DisconnectReason_UNKNOWN_REASON,
			fmt.Errorf("%w after %d attempts: %w", ErrReconnectFailed, r.rc.m.attempts, err), false)
		return stepStop
	}
	r.armAttempt(delay)
	return stepContinue
}

// onSignalClosed handles the end of the WebSocket the loop was reading.
func (r *Room) onSignalClosed() loopStep {
	err := fmt.Errorf("%w: %w", ErrSignalLost, r.sess.sig.Err())
	if s := r.rc.simulated; s != 0 {
		err = fmt.Errorf("%w: simulated (%s)", ErrSignalLost, s)
		r.rc.simulated = 0
	}
	r.sigMsgs = nil
	if !r.mayReconnect() {
		r.teardown(lkpb.DisconnectReason_SIGNAL_CLOSE, err, false)
		return stepStop
	}
	if r.rc.m.active {
		if r.rc.phase == phaseSyncing {
			return r.failAttempt(failSignal, err)
		}
		return stepContinue
	}
	return r.beginReconnect(trigSignalLost, err)
}

// onTransportFailed runs when a failed PeerConnection (or a data channel
// closed by the peer) was not explained by a leave within pcFailureGrace.
func (r *Room) onTransportFailed() loopStep {
	err := fmt.Errorf("%w: ICE/DTLS failed or closed by the peer", ErrPeerConnectionFailed)
	if !r.mayReconnect() {
		r.teardown(lkpb.DisconnectReason_UNKNOWN_REASON, err, true)
		return stepStop
	}
	if r.rc.m.active {
		return stepContinue // the running episode restarts ICE or replaces the PeerConnection anyway
	}
	return r.beginReconnect(trigTransportFailed, err)
}

// onChannelClosed: `_reliable` or `_lossy` of the current engine closed.
func (r *Room) onChannelClosed(label string) loopStep {
	r.log.Warn("room: data channel closed by the peer", "label", label)
	if r.rc.m.active {
		if r.rc.phase == phaseSyncing && r.rc.m.kind == ReconnectResume {
			return r.failAttempt(failOther, fmt.Errorf("%w: data channel %s closed", ErrPeerConnectionFailed, label))
		}
		return stepContinue
	}
	if r.pcFailed == nil {
		r.pcFailed = time.After(pcFailureGrace)
	}
	return stepContinue
}

// onLeave handles leave{RESUME|RECONNECT} (DISCONNECT ends the room in
// handleLeave). The server closes the WebSocket right after it.
func (r *Room) onLeave(l *lkpb.LeaveRequest) loopStep {
	r.retireSignal()
	r.noteLeaveRegions(l)
	err := fmt.Errorf("%w: server requested %s (%s)", ErrSignalLost, l.GetAction(), l.GetReason())
	if !r.mayReconnect() {
		r.teardown(l.GetReason(), err, false)
		return stepStop
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
		return stepContinue
	}
	return r.beginReconnect(t, nil)
}

// onNegotiationFailed: the server's answer could not be applied.
func (r *Room) onNegotiationFailed(err error) loopStep {
	err = fmt.Errorf("%w: %w", ErrPeerConnectionFailed, err)
	if !r.mayReconnect() {
		r.teardown(lkpb.DisconnectReason_STATE_MISMATCH, err, true)
		return stepStop
	}
	if r.rc.m.active {
		if r.rc.phase == phaseSyncing {
			return r.failAttempt(failOther, err)
		}
		r.rc.m.trigger(trigNegotiationFailed)
		return stepContinue
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
