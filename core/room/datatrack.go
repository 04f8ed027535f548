package room

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Data tracks (docs/protocol.md, Data tracks) wired into the room.
//
// Ownership: the room loop owns the sans-I/O LocalManager and every map
// marked "loop" below; signal responses reach the managers from
// handleSignal, timeouts from the loop's data-track timer. The RemoteManager
// is also used by the `_data_track` receive goroutine (HandlePacket, its own
// lock). One writer goroutine per room (started by the first publish,
// stopped by teardown) drains the tracks' send queues into the channel.

// dataTracks is the room's data-track state.
type dataTracks struct {
	r      *Room
	local  *datatrack.LocalManager  // loop
	remote *datatrack.RemoteManager // own lock (loop + receive goroutine)
	timer  *time.Timer              // loop: fires at the managers' next deadline

	publishes   map[uint16]chan publishResult                      // loop: PublishDataTrack waiters
	unpublishes map[uint16]chan struct{}                           // loop: Unpublish waiters
	locals      map[uint16]*LocalDataTrack                         // loop: published tracks
	subWaiters  map[*datatrack.Subscription]chan error             // loop: Subscribe waiters
	subs        map[*datatrack.Subscription]*DataTrackSubscription // loop

	mu      sync.Mutex                  // guards the fields below
	remotes map[string]*RemoteDataTrack // by current SID
	writeQ  []*LocalDataTrack           // tracks the writer drains
	started bool                        // writer started
	closed  bool

	kick chan struct{}  // cap 1: a frame was queued
	stop chan struct{}  // closed by closeDataTracks
	wg   sync.WaitGroup // the writer
}

type publishResult struct {
	track *LocalDataTrack
	err   error
}

// initDataTracks creates the managers (before the loop starts) and applies
// the JoinResponse's other participants.
func (r *Room) initDataTracks(others []*lkpb.ParticipantInfo) {
	d := &dataTracks{
		r:           r,
		publishes:   map[uint16]chan publishResult{},
		unpublishes: map[uint16]chan struct{}{},
		locals:      map[uint16]*LocalDataTrack{},
		subWaiters:  map[*datatrack.Subscription]chan error{},
		subs:        map[*datatrack.Subscription]*DataTrackSubscription{},
		remotes:     map[string]*RemoteDataTrack{},
		kick:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	lc := datatrack.LocalConfig{WaitForTransport: true, Logger: r.log}
	rc := datatrack.RemoteConfig{LocalIdentity: r.local.Identity(), Logger: r.log}
	if c := r.e2ee.cryptorOrNil(); c != nil {
		lc.Encryptor = c
		rc.Decryptor = c
	}
	d.local = datatrack.NewLocalManager(lc)
	d.remote = datatrack.NewRemoteManager(rc)
	d.timer = time.NewTimer(time.Hour)
	d.timer.Stop()
	r.dt = d
	d.applyRemote(d.remote.HandleJoin(others, time.Now()))
	d.rearm()
}

// dataTrackTimer is the loop's data-track timer channel.
func (r *Room) dataTrackTimer() <-chan time.Time {
	if r.dt == nil {
		return nil
	}
	return r.dt.timer.C
}

// closeDataTracks ends every track and subscription (teardown, loop only):
// pending publishes fail with ErrDisconnected, local tracks are unpublished,
// remote tracks forgotten (DataTrackUnpublished each), and the writer stops.
func (r *Room) closeDataTracks() {
	d := r.dt
	if d == nil {
		return
	}
	d.applyLocal(d.local.Close())
	d.applyRemote(d.remote.Close())
	d.timer.Stop()
	d.mu.Lock()
	d.closed = true
	d.writeQ = nil
	d.mu.Unlock()
	close(d.stop)
	d.wg.Wait()
}

// syncState adds the published data tracks to a resume's SyncState (loop;
// docs/protocol.md, Reconnection of data tracks).
func (d *dataTracks) syncState(ss *lkpb.SyncState) {
	if d == nil {
		return
	}
	ss.PublishDataTracks = d.local.SyncStateTracks()
}

// rejoined reconciles the remote data tracks with the participants of a full
// reconnect's JoinResponse (loop, when the join arrives; docs/protocol.md,
// Reconnection of data tracks): the old session's subscriber handles are
// forgotten, the tracks of publishers that left or of tracks no longer listed
// are unpublished, new ones published, republished ones change their SID in
// place. Subscriptions survive (Rust behaviour) and are renewed by
// fullReconnected once the new session is up.
func (d *dataTracks) rejoined(others []*lkpb.ParticipantInfo) {
	if d == nil {
		return
	}
	now := time.Now()
	d.remote.SessionLost(now)
	d.applyRemote(d.remote.HandleJoin(others, now))
	d.rearm()
}

// movedIn follows a move to another room (move.go), after rejoined was given the participants
// of the new room the room already knew: every subscription kept is asked for again (the server
// ended them with the old room), then the tracks of the new room's participants are published
// (auto-subscriptions send their own requests).
func (d *dataTracks) movedIn(others []*lkpb.ParticipantInfo) {
	if d == nil {
		return
	}
	now := time.Now()
	d.applyRemote(d.remote.SessionRestored(now))
	d.applyRemote(d.remote.UpdateParticipants(others, now))
	d.rearm()
}

// fullReconnected runs once a full reconnect has joined the new session and
// its PeerConnection is up (loop; docs/protocol.md, Reconnection of data
// tracks): pending publishes fail with ErrDisconnected, published tracks are
// republished with the same handle (their SID changes in place; TryPush
// returns datatrack.ErrRepublishing meanwhile), and every remote
// subscription is renewed (rejoined reconciled the tracks when the join
// arrived).
func (d *dataTracks) fullReconnected() {
	if d == nil {
		return
	}
	now := time.Now()
	d.applyLocal(d.local.SessionLost(now))
	d.applyLocal(d.local.SessionRestored(now))
	d.applyRemote(d.remote.SessionRestored(now))
	d.rearm() // the renewed subscriptions' deadlines
	d.checkTransport()
	d.kickWriter() // re-checks the new engine's channel
}

// handleSignal feeds a server message to the managers (loop).
func (d *dataTracks) handleSignal(res *lkpb.SignalResponse) {
	if d == nil {
		return
	}
	now := time.Now()
	if outs, ok := d.local.HandleSignal(res, now); ok {
		d.applyLocal(outs)
	}
	if outs, ok := d.remote.HandleSignal(res, now); ok {
		d.applyRemote(outs)
	}
	if u := res.GetUpdate(); u != nil {
		for _, p := range u.GetParticipants() {
			if p.GetIdentity() == d.r.local.Identity() && p.GetSid() == d.r.local.SID() {
				d.applyLocal(d.local.HandleLocalParticipantInfo(p))
			}
		}
	}
	d.rearm()
}

// tick fires the managers' timeouts (loop).
func (d *dataTracks) tick() {
	now := time.Now()
	d.applyLocal(d.local.Tick(now))
	d.applyRemote(d.remote.Tick(now))
	d.rearm()
}

// rearm sets the timer to the earliest manager deadline (loop).
func (d *dataTracks) rearm() {
	dl, ok := d.local.NextDeadline()
	if rdl, rok := d.remote.NextDeadline(); rok && (!ok || rdl.Before(dl)) {
		dl, ok = rdl, true
	}
	if !ok {
		d.timer.Stop()
		return
	}
	d.timer.Reset(max(time.Until(dl), 0))
}

// send writes a manager's signal request (loop). It goes through
// sendSignalLoop so that a request made while the room is reconnecting is held
// and sent once the signalling connection is back, instead of being written to
// the closed one.
func (d *dataTracks) send(req *lkpb.SignalRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), signal.DefaultWriteTimeout)
	defer cancel()
	if err := d.r.sendSignalLoop(ctx, req); err != nil {
		d.r.log.Debug("room: sending data-track request failed", "err", err)
	}
}

// applyLocal carries out LocalManager outputs (loop).
func (d *dataTracks) applyLocal(outs []datatrack.LocalOutput) {
	for _, o := range outs {
		switch o := o.(type) {
		case datatrack.SendRequest:
			d.send(o.Request)
		case datatrack.PublishCompleted:
			w, waited := d.publishes[o.Handle]
			delete(d.publishes, o.Handle)
			if o.Track != nil && !waited { // nobody waits any more: take it back
				outs, _ := d.local.Unpublish(o.Handle, time.Now())
				d.applyLocal(outs)
				continue
			}
			res := publishResult{err: o.Err}
			if o.Track != nil {
				lt := &LocalDataTrack{t: o.Track, d: d}
				d.locals[o.Handle] = lt
				d.mu.Lock()
				d.writeQ = append(d.writeQ, lt)
				d.mu.Unlock()
				res.track = lt
				d.r.events.push(LocalDataTrackPublished{Track: lt})
			}
			if waited {
				w <- res
			}
		case datatrack.LocalTrackUnpublished:
			h := o.Track.Handle()
			lt := d.locals[h]
			delete(d.locals, h)
			if lt == nil {
				continue
			}
			d.mu.Lock()
			if i := slices.Index(d.writeQ, lt); i >= 0 {
				d.writeQ = slices.Delete(d.writeQ, i, i+1)
			}
			d.mu.Unlock()
			lt.reportLosses()
			d.r.events.push(LocalDataTrackUnpublished{Track: lt, Reason: o.Reason})
		case datatrack.UnpublishCompleted:
			if w, ok := d.unpublishes[o.Handle]; ok {
				delete(d.unpublishes, o.Handle)
				close(w)
			}
		case datatrack.LocalTrackRepublishing:
			// No event (docs/protocol.md, Reconnection of data tracks); the queued frames wait for the republish.
		case datatrack.LocalTrackRepublished:
			if lt := d.locals[o.Track.Handle()]; lt != nil && o.OldSid != o.NewSid {
				d.r.events.push(LocalDataTrackSidChanged{Track: lt, Info: lt.Info(), OldSID: o.OldSid})
			}
			if o.OldSid != o.NewSid {
				d.r.trackSidChanged(o.OldSid, o.NewSid)
			}
			d.kickWriter() // send what waited in the queue on the new session
		}
	}
}

// applyRemote carries out RemoteManager outputs (loop).
func (d *dataTracks) applyRemote(outs []datatrack.RemoteOutput) {
	for _, o := range outs {
		switch o := o.(type) {
		case datatrack.SendRequest:
			d.send(o.Request)
		case datatrack.RemoteTrackPublished:
			rt := &RemoteDataTrack{d: d, unpublished: make(chan struct{})}
			rt.info.Store(&o.Info)
			d.mu.Lock()
			d.remotes[o.Info.Sid] = rt
			d.mu.Unlock()
			d.attach(rt)
			if !d.r.everConnected() {
				continue // in Connect's Snapshot; auto-subscribed when connected (autoSubscribeKnown)
			}
			var sub *DataTrackSubscription
			if d.r.opts.AutoSubscribe {
				sub = d.autoSubscribe(rt)
			}
			d.r.events.push(DataTrackPublished{Track: rt, Info: dataTrackInfoFrom(o.Info), Subscription: sub})
		case datatrack.RemoteTrackUnpublished:
			d.mu.Lock()
			rt := d.remotes[o.Info.Sid]
			delete(d.remotes, o.Info.Sid)
			d.mu.Unlock()
			if rt == nil {
				continue
			}
			if p := rt.publisher.Load(); p != nil {
				p.dataTracks.remove(rt)
			}
			close(rt.unpublished)
			d.r.events.push(DataTrackUnpublished{Track: rt})
		case datatrack.RemoteTrackSidChanged:
			d.mu.Lock()
			rt := d.remotes[o.OldSid]
			if rt != nil {
				delete(d.remotes, o.OldSid)
				info := o.Info
				rt.info.Store(&info)
				d.remotes[o.Info.Sid] = rt
			}
			d.mu.Unlock()
			if rt != nil {
				d.r.events.push(DataTrackSidChanged{Track: rt, Info: dataTrackInfoFrom(o.Info), OldSID: o.OldSid})
			}
		case datatrack.SubscriptionActive:
			if s := d.subs[o.Subscription]; s != nil {
				s.markEstablished()
			}
			if w, ok := d.subWaiters[o.Subscription]; ok {
				delete(d.subWaiters, o.Subscription)
				w <- nil
			}
		case datatrack.SubscriptionPermissionChanged:
			d.mu.Lock()
			rt := d.remotes[o.Info.Sid]
			d.mu.Unlock()
			if rt != nil {
				d.r.events.push(DataTrackSubscriptionPermissionChanged{Track: rt, Allowed: o.Allowed})
			}
		case datatrack.SubscriptionEnded:
			if w, ok := d.subWaiters[o.Subscription]; ok {
				delete(d.subWaiters, o.Subscription)
				w <- o.Err
			}
			if s := d.subs[o.Subscription]; s != nil {
				delete(d.subs, o.Subscription)
				s.setEndReason(d.endReason(s, o.Err))
			}
		}
	}
}

// autoSubscribe subscribes to a newly published track for
// Options.AutoSubscribe without waiting for the server's answer (loop): the
// subscription delivers frames once the server forwards them (Established),
// or ends with the refusal. nil (logged) when the subscription cannot even be requested.
func (d *dataTracks) autoSubscribe(rt *RemoteDataTrack) *DataTrackSubscription {
	s, outs, err := d.remote.Subscribe(rt.SID(), d.r.opts.AutoSubscribeOptions.core(), time.Now())
	if err != nil {
		d.r.log.Warn("room: auto-subscribing to a data track failed", "track", rt.SID(), "err", err)
		return nil
	}
	sub := newSubscription(s, rt)
	d.subs[s] = sub
	rt.autoSub = sub
	d.applyRemote(outs)
	return sub
}

// autoSubscribeKnown subscribes, for Options.AutoSubscribe, to the tracks
// announced while joining (loop, when the room first connects: requests
// need the live session).
func (d *dataTracks) autoSubscribeKnown() {
	d.mu.Lock()
	var todo []*RemoteDataTrack
	for _, rt := range d.remotes {
		if rt.autoSub == nil {
			todo = append(todo, rt)
		}
	}
	d.mu.Unlock()
	for _, rt := range todo {
		d.autoSubscribe(rt)
	}
	d.rearm()
}

// snapshot lists the remote data tracks for a Snapshot (loop), ordered by
// publisher identity and name.
func (d *dataTracks) snapshot() []SnapshotDataTrack {
	d.mu.Lock()
	out := make([]SnapshotDataTrack, 0, len(d.remotes))
	for _, rt := range d.remotes {
		out = append(out, SnapshotDataTrack{Track: rt, Info: rt.Info(), Subscription: rt.autoSub,
			SubscriptionRevoked: d.remote.SubscriptionRevoked(rt.SID())})
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(a, b SnapshotDataTrack) int {
		if c := strings.Compare(a.Info.PublisherIdentity, b.Info.PublisherIdentity); c != 0 {
			return c
		}
		return strings.Compare(a.Info.Name, b.Info.Name)
	})
	return out
}

// attach links rt to the current RemoteParticipant of its publisher (loop).
func (d *dataTracks) attach(rt *RemoteDataTrack) {
	cur := d.r.parts.remote(rt.PublisherIdentity())
	old := rt.publisher.Load()
	if old == cur && cur != nil && slices.Contains(cur.DataTracks(), rt) {
		return
	}
	if old != nil {
		old.dataTracks.remove(rt)
	}
	rt.publisher.Store(cur)
	if cur != nil {
		cur.dataTracks.add(rt)
	}
}

// endReason classifies how a subscription ended: on the loop when it records the end, or
// in EndReason when a reader asks first (it reads only the track's publisher, an atomic, and
// the participant table, which has its own lock).
func (d *dataTracks) endReason(s *DataTrackSubscription, err error) DataTrackEndReason {
	switch {
	case errors.Is(err, datatrack.ErrDisconnected):
		return EndReasonDisconnected
	case errors.Is(err, datatrack.ErrTrackUnpublished):
		pub := s.track.publisher.Load()
		if cur := d.r.parts.remote(s.track.PublisherIdentity()); cur == nil || (pub != nil && cur != pub) {
			return EndReasonPublisherLeft
		}
		return EndReasonUnpublished
	}
	var se *datatrack.StreamEndError
	if errors.As(err, &se) && se.Cause == nil {
		return EndReasonClosed
	}
	return EndReasonUnpublished
}

// handlePacket is the `_data_track` receive hook (data channel goroutine).
// The packet buffer is owned by us (engine contract).
func (d *dataTracks) handlePacket(b []byte) {
	if d == nil {
		return
	}
	o := d.remote.HandlePacket(b)
	drops := o.Drops()
	// A delivered frame of an E2EE room decrypted: it may end its publisher's failure (looked
	// up only while some identity is failing).
	recovered := o.Delivered && d.r.e2ee != nil && d.r.enc.failing.Load() != 0
	if (len(drops) == 0 && !recovered) || o.TrackSid == "" {
		return
	}
	d.mu.Lock()
	rt := d.remotes[o.TrackSid]
	d.mu.Unlock()
	if rt == nil {
		return
	}
	if recovered {
		d.r.decryptionSucceeded(rt.PublisherIdentity(), DecryptionKindFrame, rt.SID())
	}
	for _, dr := range drops {
		rt.dropped.Add(1)
		if dr.Reason == datatrack.DropDecryptFailed || dr.Reason == datatrack.DropMissingE2EE {
			d.r.reportDecryptionFailure(rt.PublisherIdentity(), "", DecryptionKindFrame, rt.SID(), dr.Err)
		}
	}
}
