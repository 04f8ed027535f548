package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
)

// loop is the owner goroutine of all signalling state.
func (r *Room) loop() {
	defer close(r.loopExited)
	r.dataReadyC = r.eng.Load().DataReady()
	r.sigMsgs = r.sess.sig.Messages()
	for {
		select {
		case res, ok := <-r.sigMsgs:
			if !ok {
				if r.onSignalClosed() == stepStop {
					return
				}
				continue
			}
			if r.handleSignal(res) == stepStop {
				return
			}
		case ev := <-r.engEvents:
			if r.handleEngineEvent(ev) == stepStop {
				return
			}
		case <-r.dataReadyC:
			r.dataReadyC = nil
			r.dataReady = true
			r.maybeConnected()
			if r.checkAttemptDone() == stepStop {
				return
			}
		case cmd := <-r.cmds:
			cmd()
		case <-r.snapshotReq:
			r.events.pushSnapshot(r.stateSnapshot)
		case <-r.dataTrackTimer():
			r.dt.tick()
		case <-r.pcFailed:
			r.pcFailed = nil
			if r.onTransportFailed() == stepStop {
				return
			}
		case <-r.rc.timerC:
			if r.startAttempt() == stepStop {
				return
			}
		case res := <-r.rc.dialC:
			if r.onDialResult(res) == stepStop {
				return
			}
		case <-r.rc.deadlineC:
			if r.failAttempt(failOther, fmt.Errorf("%w: transport not back within the peer connection timeout", ErrPeerConnectionFailed)) == stepStop {
				return
			}
		case <-r.rc.changedC:
			r.rc.changedC = nil // checkAttemptDone takes the next one while syncing
			if r.checkAttemptDone() == stepStop {
				return
			}
		case <-r.disconnectCh:
			r.teardown(lkpb.DisconnectReason_CLIENT_INITIATED, nil, true)
			return
		case <-r.abortC:
			r.abortC = nil
			if r.everConnected() {
				continue // Connect's deadline raced with the connection: it connected
			}
			r.teardown(lkpb.DisconnectReason_CLIENT_INITIATED, r.abortErr, true)
			return
		}
	}
}

// handleSignal processes one server message; it returns true when the room ended.
func (r *Room) handleSignal(res *lkpb.SignalResponse) loopStep {
	eng := r.eng.Load()
	switch m := res.GetMessage().(type) {
	case *lkpb.SignalResponse_Answer:
		if err := eng.HandleAnswer(m.Answer); err != nil {
			if errors.Is(err, engine.ErrStaleAnswer) || errors.Is(err, engine.ErrNoPendingOffer) {
				r.log.Debug("room: ignoring answer", "err", err)
			} else if r.onNegotiationFailed(err) == stepStop {
				return stepStop
			}
		} else if r.onAnswerApplied() == stepStop {
			return stepStop
		}
	case *lkpb.SignalResponse_Trickle:
		// Single-PC: every candidate belongs to our one PeerConnection,
		// whatever the target says (Rust does the same).
		if err := eng.AddRemoteCandidate(m.Trickle.GetCandidateInit()); err != nil {
			r.log.Debug("room: remote candidate rejected", "err", err)
		}
	case *lkpb.SignalResponse_Update:
		evs, localChanged, gone := r.parts.applyUpdate(m.Update.GetParticipants())
		r.sessionsEnded(evs, gone)
		// A participant that left is reported after the DataTrackUnpublished
		// of each of its tracks, which the data-track managers push below (the
		// official clients unpublish a leaving participant's tracks before
		// they report it gone); everything else comes before them.
		var stay, left []Event
		for _, ev := range evs {
			if _, ok := ev.(ParticipantDisconnected); ok {
				left = append(left, ev)
			} else {
				stay = append(stay, ev)
			}
		}
		r.events.push(stay...)
		if localChanged {
			r.checkPending(nil)
		}
		r.dt.handleSignal(res)
		r.events.push(left...)
		return stepContinue
	case *lkpb.SignalResponse_RoomUpdate:
		r.setRoomInfo(m.RoomUpdate.GetRoom(), nil, true)
	case *lkpb.SignalResponse_ConnectionQuality:
		r.events.push(r.parts.applyQuality(m.ConnectionQuality)...)
	case *lkpb.SignalResponse_SpeakersChanged:
		r.events.push(r.parts.applySpeakers(m.SpeakersChanged)...)
	case *lkpb.SignalResponse_RoomMoved:
		r.applyMove(m.RoomMoved)
		return stepContinue
	case *lkpb.SignalResponse_RefreshToken:
		t := m.RefreshToken
		r.token.Store(&t)
	case *lkpb.SignalResponse_RequestResponse:
		r.checkPending(m.RequestResponse)
		r.blobRefused(m.RequestResponse)
	case *lkpb.SignalResponse_StoreDataBlobResponse:
		r.blobAnswered(m.StoreDataBlobResponse.GetRequestId(), nil)
	case *lkpb.SignalResponse_GetDataBlobResponse:
		r.blobAnswered(m.GetDataBlobResponse.GetRequestId(), m.GetDataBlobResponse.GetBlob())
	case *lkpb.SignalResponse_Leave:
		return r.handleLeave(m.Leave)
	case *lkpb.SignalResponse_Pong, *lkpb.SignalResponse_PongResp:
		// Keepalive bookkeeping happens in core/internal/signal.
	case *lkpb.SignalResponse_Offer:
		r.log.Debug("room: ignoring server offer (single PeerConnection mode)")
	}
	// Data-track messages, participant data_tracks, request_response echoes.
	r.dt.handleSignal(res)
	return stepContinue
}

// handleLeave: DISCONNECT ends the room with the server's reason; RESUME and
// RECONNECT start a resume / full reconnect (reconnect.go).
func (r *Room) handleLeave(l *lkpb.LeaveRequest) loopStep {
	r.log.Info("room: server sent leave", "reason", l.GetReason().String(), "action", l.GetAction().String())
	if l.GetAction() != lkpb.LeaveRequest_DISCONNECT {
		return r.onLeave(l)
	}
	var err error
	if !r.everConnected() {
		// The join was answered but the session ends before it connected (another client
		// joined with the same identity, the room was deleted, …): Connect fails with the
		// server's reason, as when the server answers the join itself with a leave.
		err = &LeaveError{Reason: DisconnectReason(l.GetReason())}
	}
	r.teardown(l.GetReason(), err, false)
	return stepStop
}

func (r *Room) handleEngineEvent(ev engineEvent) loopStep {
	if ev.gen != r.sess.gen {
		return stepContinue // from an engine replaced by a full reconnect
	}
	if ev.candidate != nil {
		b, err := marshalCandidate(*ev.candidate)
		if err != nil {
			r.log.Debug("room: encoding candidate failed", "err", err)
			return stepContinue
		}
		r.sendTrickle(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_Trickle{
			Trickle: &lkpb.TrickleRequest{CandidateInit: b, Target: lkpb.SignalTarget_PUBLISHER}}})
		return stepContinue
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
	return stepContinue
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
	r.sess.endSignal(sendLeave)
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
	r.failBlobRequests()
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

func (r *Room) setErr(err error) {
	if r.err == nil {
		r.err = err
	}
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

// loopStep is what a loop handler tells the loop.
type loopStep int

const (
	// stepContinue: keep running.
	stepContinue loopStep = iota
	// stepStop: this loop run is over — the room ended (teardown ran) or a
	// join attempt failed (endAttempt ran); the loop returns.
	stepStop
)
