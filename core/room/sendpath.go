package room

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/lkpb"
)

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

// signalLive reports whether the loop is reading a live WebSocket (not one a
// simulated loss is closing).
func (r *Room) signalLive() bool { return r.sigMsgs != nil && r.rc.simulated == 0 }

// sendSignalLoop sends req on the current WebSocket or, while reconnecting,
// holds it until the connection is back (docs/protocol.md, Signalling:
// Requests held while (re)connecting). Loop only.
func (r *Room) sendSignalLoop(ctx context.Context, req *lkpb.SignalRequest) error {
	if (r.rc.m.active || r.rc.simulated != 0) && !passThrough(req) {
		// Checked before holding it (Send checks what it sends): after the
		// reconnect it would cut the new connection.
		if err := signal.CheckRequestSize(req); err != nil {
			return err
		}
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
