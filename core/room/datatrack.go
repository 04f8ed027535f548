package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// fullReconnected runs once a full reconnect has joined the new session
// (loop, after a full reconnect;
// docs/protocol.md, Reconnection of data tracks): pending publishes fail
// with ErrDisconnected, published tracks are republished with the same
// handle (their SID changes in place; TryPush returns
// datatrack.ErrRepublishing meanwhile), remote tracks are reconciled with
// the new session's participants and every subscription is renewed (Rust
// behaviour: streams survive).
func (d *dataTracks) fullReconnected() {
	if d == nil {
		return
	}
	now := time.Now()
	d.applyLocal(d.local.SessionLost(now))
	d.remote.SessionLost(now)
	var others []*lkpb.ParticipantInfo
	for _, rp := range d.r.parts.list() {
		others = append(others, rp.load())
	}
	d.applyRemote(d.remote.HandleJoin(others, now))
	// The participant table was rebuilt (new RemoteParticipant objects):
	// move the surviving tracks to them.
	d.mu.Lock()
	survivors := make([]*RemoteDataTrack, 0, len(d.remotes))
	for _, rt := range d.remotes {
		survivors = append(survivors, rt)
	}
	d.mu.Unlock()
	for _, rt := range survivors {
		d.attach(rt)
	}
	d.applyLocal(d.local.SessionRestored(now))
	d.applyRemote(d.remote.SessionRestored(now))
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
			d.r.events.push(DataTrackPublished{Track: rt, Subscription: sub})
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
			if rt := d.remotes[o.OldSid]; rt != nil {
				delete(d.remotes, o.OldSid)
				info := o.Info
				rt.info.Store(&info)
				d.remotes[o.Info.Sid] = rt
			}
			d.mu.Unlock()
		case datatrack.SubscriptionActive:
			if w, ok := d.subWaiters[o.Subscription]; ok {
				delete(d.subWaiters, o.Subscription)
				w <- nil
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
// subscription delivers frames once the server forwards them, or ends with
// the refusal. nil (logged) when the subscription cannot even be requested.
func (d *dataTracks) autoSubscribe(rt *RemoteDataTrack) *DataTrackSubscription {
	o := d.r.opts.AutoSubscribeOptions
	policy := datatrack.DropOldestFrame
	if o.DropNewest {
		policy = datatrack.DropNewestFrame
	}
	s, outs, err := d.remote.Subscribe(rt.SID(), datatrack.SubscribeOptions{BufferSize: o.BufferSize, DropPolicy: policy}, time.Now())
	if err != nil {
		d.r.log.Warn("room: auto-subscribing to a data track failed", "track", rt.SID(), "err", err)
		return nil
	}
	sub := &DataTrackSubscription{s: s, track: rt, closed: make(chan struct{})}
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
		out = append(out, SnapshotDataTrack{Track: rt, Info: rt.Info(), Subscription: rt.autoSub})
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

// endReason classifies how a subscription ended (loop).
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
	if len(drops) == 0 || o.TrackSid == "" {
		return
	}
	d.mu.Lock()
	rt := d.remotes[o.TrackSid]
	d.mu.Unlock()
	if rt == nil {
		return
	}
	for _, dr := range drops {
		rt.dropped.Add(1)
		if dr.Reason == datatrack.DropDecryptFailed || dr.Reason == datatrack.DropMissingE2EE {
			d.r.reportDecryptionFailure(rt.PublisherIdentity(), DecryptionKindFrame, rt.SID(), dr.Err)
		}
	}
}

// --- local tracks ----------------------------------------------------------

// LocalDataTrack is a data track published by the local participant. TryPush
// is safe for concurrent use and never blocks. The track belongs to the room:
// it ends only through Unpublish, the server, or the room's disconnect (there
// is no finalizer).
type LocalDataTrack struct {
	t *datatrack.LocalTrack
	d *dataTracks

	pushed     atomic.Uint64
	sent       atomic.Uint64
	sendFailed atomic.Uint64

	lossMu                           sync.Mutex // guards the reported counters
	reportedFailed, reportedDiscards uint64     // totals already reported by LocalDataTrackFramesLost
}

// reportLosses pushes a LocalDataTrackFramesLost event for the frames lost
// since the previous report, if any. Safe from any goroutine.
func (t *LocalDataTrack) reportLosses() {
	st := t.Stats()
	t.lossMu.Lock()
	defer t.lossMu.Unlock()
	if st.SendFailed == t.reportedFailed && st.Discarded == t.reportedDiscards {
		return
	}
	ev := LocalDataTrackFramesLost{Track: t, SendFailed: st.SendFailed - t.reportedFailed, Discarded: st.Discarded - t.reportedDiscards}
	t.reportedFailed, t.reportedDiscards = st.SendFailed, st.Discarded
	t.d.r.events.push(ev)
}

// LocalDataTrackStats are a local track's counters. Every frame handed to
// TryPush is accounted for: Pushed = Sent + SendFailed + Discarded + queued,
// and refusals are Rejected.
type LocalDataTrackStats struct {
	// Pushed counts frames accepted by TryPush.
	Pushed uint64
	// Rejected counts TryPush calls refused with ErrQueueFull.
	Rejected uint64
	// Sent counts frames whose every packet was handed to the channel.
	Sent uint64
	// SendFailed counts frames abandoned because the channel failed.
	SendFailed uint64
	// Discarded counts queued frames thrown away by unpublish/disconnect
	// (or evicted by a DropOldest queue). Frames queued across a full
	// reconnect are not discarded: they are sent after the republish.
	Discarded uint64
	// Queued is the number of frames waiting for the writer now.
	Queued int
}

// Dropped is the number of accepted frames that were not sent.
func (s LocalDataTrackStats) Dropped() uint64 { return s.SendFailed + s.Discarded }

// PublishDataTrack publishes a data track named name (1..256 bytes, unique
// among this participant's tracks). It returns once the server has accepted
// the track and the `_data_track` channel is open, so the first TryPush is
// sent. When the room has E2EE configured, the track is end-to-end encrypted.
//
// Errors: ErrInvalidTrackName, datatrack.ErrInvalidSchema, ErrInvalidArgument
// (QueueFrames out of range),
// ErrDuplicateTrackName, ErrDataTrackNotAllowed (token without
// canPublishData), other server refusals as *datatrack.PublishError,
// ErrDataTrackTimeout after opts.PublishTimeout (10 s; also what a server
// without data tracks produces), ErrDisconnected, or ctx's error.
func (lp *LocalParticipant) PublishDataTrack(ctx context.Context, name string, opts DataTrackOptions) (*LocalDataTrack, error) {
	if opts.QueueFrames > datatrack.MaxSendQueueFrames {
		return nil, mapDataTrackErr(datatrack.CheckRange("QueueFrames", int64(opts.QueueFrames), 0, datatrack.MaxSendQueueFrames))
	}
	r := lp.room
	if !r.everConnected() {
		return nil, errNotConnected
	}
	d := r.dt
	res := make(chan publishResult, 1)
	var handle uint16
	var perr error
	if err := r.runOnLoop(ctx, func() {
		var outs []datatrack.LocalOutput
		handle, outs, perr = d.local.Publish(datatrack.PublishOptions{Name: name, FrameEncoding: frameEncodingProto(opts.FrameEncoding), Schema: schemaProto(opts.Schema), QueueFrames: opts.QueueFrames}, time.Now())
		if perr != nil {
			return
		}
		d.publishes[handle] = res
		d.startWriter()
		d.applyLocal(outs)
		d.rearm()
	}); err != nil {
		return nil, err
	}
	if perr != nil {
		return nil, mapDataTrackErr(perr)
	}
	var timeout <-chan time.Time
	if opts.PublishTimeout > 0 {
		t := time.NewTimer(opts.PublishTimeout)
		defer t.Stop()
		timeout = t.C
	}
	var cause error
	select {
	case pr := <-res:
		if pr.err != nil {
			return nil, mapDataTrackErr(pr.err)
		}
		return pr.track, nil
	case <-timeout:
		cause = datatrack.ErrTimeout
	case <-ctx.Done():
		cause = ctx.Err()
	case <-r.done:
		return nil, ErrDisconnected
	}
	// Give up: a success that raced with us is unpublished again.
	_ = r.runOnLoop(context.Background(), func() {
		d.applyLocal(d.local.CancelPublish(handle, cause))
		delete(d.publishes, handle)
		select {
		case pr := <-res:
			if pr.track != nil {
				outs, _ := d.local.Unpublish(handle, time.Now())
				d.applyLocal(outs)
			}
		default:
		}
		d.rearm()
	})
	return nil, cause
}

// mapDataTrackErr makes datatrack.ErrDisconnected match room.ErrDisconnected
// and datatrack.ErrInvalidOption match room.ErrInvalidArgument too.
func mapDataTrackErr(err error) error {
	if errors.Is(err, datatrack.ErrDisconnected) && !errors.Is(err, ErrDisconnected) {
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	if errors.Is(err, datatrack.ErrInvalidOption) && !errors.Is(err, ErrInvalidArgument) {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return err
}

// WithDataTrack publishes a data track, runs fn with it and unpublishes it
// when fn returns (the scoped form of PublishDataTrack/Unpublish). It returns fn's error, else the publish or unpublish error.
func (lp *LocalParticipant) WithDataTrack(ctx context.Context, name string, opts DataTrackOptions, fn func(*LocalDataTrack) error) error {
	t, err := lp.PublishDataTrack(ctx, name, opts)
	if err != nil {
		return err
	}
	ferr := fn(t)
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if uerr := t.Unpublish(uctx); ferr == nil {
		return uerr
	}
	return ferr
}

// DataTracks returns the local participant's published data tracks, ordered
// by publication.
func (lp *LocalParticipant) DataTracks() []*LocalDataTrack {
	if !lp.room.everConnected() {
		return nil
	}
	d := lp.room.dt
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.writeQ)
}

// TryPush queues one frame for sending without blocking: it is encrypted
// (E2EE rooms), split into packets and handed to the room's writer. The
// payload is copied; the caller may reuse it at once. Errors: ErrQueueFull
// (nothing consumed; retry or skip), ErrTrackUnpublished, ErrFrameTooLarge,
// datatrack.ErrEncryptionFailed (e.g. no E2EE key set), and
// datatrack.ErrRepublishing. An empty frame of a plain track sends nothing.
func (t *LocalDataTrack) TryPush(f Frame) error {
	if f.UserTimestamp != 0 {
		f.HasUserTimestamp = true
	}
	if err := t.t.TryPush(f); err != nil {
		return err
	}
	t.pushed.Add(1)
	t.d.kickWriter()
	return nil
}

// Push is TryPush for producers that prefer back-pressure to skipping
// frames: while the queue is full it waits (bounded by ctx) until the writer
// has drained it, then queues f. Each refused attempt still counts in
// LocalDataTrackStats.Rejected.
func (t *LocalDataTrack) Push(ctx context.Context, f Frame) error {
	for {
		err := t.TryPush(f)
		if !errors.Is(err, ErrQueueFull) {
			return err
		}
		if err := t.Flush(ctx); err != nil {
			return err
		}
	}
}

// Flush waits until every frame queued so far has been handed to the
// channel (or discarded), bounded by ctx.
func (t *LocalDataTrack) Flush(ctx context.Context) error {
	return t.t.Queue().Flush(ctx)
}

// Unpublish stops the track: TryPush fails with ErrTrackUnpublished at once,
// queued frames are discarded, and the server is asked to unpublish it. It
// returns when the server has acknowledged (at most about 2 s), or when ctx
// ends. Unpublishing an unpublished track is a no-op.
func (t *LocalDataTrack) Unpublish(ctx context.Context) error {
	if !t.IsPublished() {
		return nil
	}
	d := t.d
	h := t.t.Handle()
	done := make(chan struct{})
	if err := d.r.runOnLoop(ctx, func() {
		outs, err := d.local.Unpublish(h, time.Now())
		if err != nil { // already gone
			close(done)
			return
		}
		d.unpublishes[h] = done
		d.applyLocal(outs)
		d.rearm()
	}); err != nil {
		if errors.Is(err, ErrDisconnected) {
			return nil // the disconnect unpublished it
		}
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-d.r.done:
		return nil
	}
}

// IsPublished reports whether the track is published.
func (t *LocalDataTrack) IsPublished() bool { return t.t.IsPublished() }

// Unpublished is closed when the track stops being published.
func (t *LocalDataTrack) Unpublished() <-chan struct{} { return t.t.Unpublished() }

// UnpublishReason is nil after Unpublish, else why the track ended
// (datatrack.ErrUnpublishedByServer, ErrDataTrackNotAllowed, ErrDisconnected…).
func (t *LocalDataTrack) UnpublishReason() error { return mapDataTrackErr(t.t.UnpublishReason()) }

// Info returns the track's info (name, SID, handle, encryption, metadata).
func (t *LocalDataTrack) Info() DataTrackInfo {
	info := t.t.Info()
	info.PublisherIdentity = t.d.r.local.Identity()
	return dataTrackInfoFrom(info)
}

// Name is the track name.
func (t *LocalDataTrack) Name() string { return t.t.Info().Name }

// SID is the server-assigned track SID (DTR_…).
func (t *LocalDataTrack) SID() string { return t.t.Info().Sid }

// IsEncrypted reports whether frames are end-to-end encrypted.
func (t *LocalDataTrack) IsEncrypted() bool { return t.t.Info().Encrypted }

// Stats returns the track's counters.
func (t *LocalDataTrack) Stats() LocalDataTrackStats {
	qs := t.t.Queue().Stats()
	return LocalDataTrackStats{
		Pushed:     t.pushed.Load(),
		Rejected:   qs.Rejected,
		Sent:       t.sent.Load(),
		SendFailed: t.sendFailed.Load(),
		Discarded:  qs.Discarded + qs.Evicted,
		Queued:     qs.Frames,
	}
}
