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
	"github.com/lkcore/lkcore/core/internal/engine"
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

// Frame is one data-track frame: Payload plus an optional user timestamp
// (by convention Unix milliseconds). On TryPush a non-zero UserTimestamp is
// sent even when HasUserTimestamp is false; set HasUserTimestamp (or use
// WithUserTimestamp) to send the value 0. Received frames also carry
// FrameNumber and the 90 kHz packet Timestamp. Frame payloads handed to
// subscribers are shared between the subscriptions of one track: do not
// modify them.
type Frame = datatrack.Frame

// Data-track errors (use errors.Is). Server refusals are *datatrack.PublishError
// values (reason and server message) that match these sentinels.
var (
	// ErrQueueFull: TryPush could not queue the frame because the track's
	// send queue is full (16 frames / 4 MiB); nothing was consumed, retry
	// later or skip the frame. Counted in LocalDataTrackStats.Rejected.
	ErrQueueFull = datatrack.ErrQueueFull
	// ErrDataTrackTimeout: the server did not answer a publish (or a
	// subscription) in time; a server without data-track support never
	// answers a publish
	// (docs/protocol.md, Servers without data tracks).
	ErrDataTrackTimeout = datatrack.ErrTimeout
	// ErrDuplicateTrackName: this participant already publishes a data track
	// with that name.
	ErrDuplicateTrackName = datatrack.ErrDuplicateName
	// ErrDataTrackNotAllowed: the token lacks canPublishData, or the server
	// has data tracks disabled.
	ErrDataTrackNotAllowed = datatrack.ErrNotAllowed
	// ErrInvalidTrackName: the name is empty or longer than 256 bytes.
	ErrInvalidTrackName = datatrack.ErrInvalidName
	// ErrTrackUnpublished: the local track is no longer published (TryPush),
	// or the remote track went away (Subscribe).
	ErrTrackUnpublished = datatrack.ErrTrackUnpublished
	// ErrFrameTooLarge: the frame would need more than 128 packets
	// (about 2 MB).
	ErrFrameTooLarge = datatrack.ErrFrameTooLarge
	// ErrE2EENoKeys: Subscribe to an end-to-end encrypted track in a room
	// without E2EE keys (no ciphertext is ever delivered;
	// docs/protocol.md, Data-track E2EE).
	ErrE2EENoKeys = datatrack.ErrE2EENoKeys
	// ErrUnknownDataTrack: the remote track is not (or no longer) known.
	ErrUnknownDataTrack = datatrack.ErrUnknownTrack
	// ErrStreamEnded: a DataTrackSubscription ended; its EndReason tells why.
	ErrStreamEnded = datatrack.ErrStreamEnded
)

// Writer policy constants (docs/protocol.md, Sending and pacing).
const (
	// dataTrackRecheck bounds a wait for buffered-amount-low (robustness
	// against a missed edge; normally the edge comes first).
	dataTrackRecheck = 50 * time.Millisecond
	// dataTrackOpenPoll is how often the writer checks that `_data_track`
	// opened (the engine has no open notification for it).
	dataTrackOpenPoll = 5 * time.Millisecond
)

// DataTrackOptions configures LocalParticipant.PublishDataTrack.
type DataTrackOptions struct {
	// FrameEncoding and Schema are optional typed-track metadata
	// (docs/protocol.md, Typed tracks), validated locally
	// (datatrack.ErrInvalidSchema) and shown to subscribers.
	FrameEncoding *lkpb.DataTrackFrameEncoding
	// Schema is the optional schema id (docs/protocol.md, Typed tracks).
	Schema *lkpb.DataTrackSchemaId
	// PublishTimeout bounds the wait for the server's answer and for the
	// `_data_track` channel to open (0: 10 s as both SDKs). On expiry the
	// publish fails with ErrDataTrackTimeout.
	PublishTimeout time.Duration
	// QueueFrames is this track's outgoing queue length in frames (≤ 0:
	// datatrack.DefaultSendQueueFrames, 16; at most
	// datatrack.MaxSendQueueFrames, else PublishDataTrack fails with
	// ErrInvalidArgument; the 4 MiB byte budget applies either way). A push
	// beyond it fails with ErrQueueFull at once.
	QueueFrames int
}

// SubscribeOptions configures RemoteDataTrack.Subscribe.
type SubscribeOptions struct {
	// BufferSize is this subscription's frame buffer (0: 16; at most
	// datatrack.MaxSubscriberBufferFrames, else Subscribe fails with
	// ErrInvalidArgument wrapping a *datatrack.OptionError). When the
	// reader is slower than the track the oldest buffered frame is dropped
	// (counted by Dropped) so the reader catches up with fresh data; other
	// subscriptions of the same track are not affected.
	BufferSize int
	// DropNewest makes a full buffer drop the incoming frame instead of the
	// oldest one (JS ReadableStream behaviour).
	DropNewest bool
}

// DataTrackEndReason says why a DataTrackSubscription ended.
type DataTrackEndReason int32

// End reasons.
const (
	// EndReasonNone: the subscription has not ended.
	EndReasonNone DataTrackEndReason = iota
	// EndReasonClosed: the application called Close.
	EndReasonClosed
	// EndReasonUnpublished: the publisher unpublished the track.
	EndReasonUnpublished
	// EndReasonPublisherLeft: the publisher left the room.
	EndReasonPublisherLeft
	// EndReasonDisconnected: the local room disconnected.
	EndReasonDisconnected
)

// String returns the reason's name.
func (e DataTrackEndReason) String() string {
	switch e {
	case EndReasonNone:
		return "none"
	case EndReasonClosed:
		return "closed"
	case EndReasonUnpublished:
		return "unpublished"
	case EndReasonPublisherLeft:
		return "publisher left"
	case EndReasonDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("DataTrackEndReason(%d)", int32(e))
}

// DataTrackPublished reports a data track published by a remote participant
// (also for tracks that already existed when we joined). It comes before any
// frame of the track can be received.
type DataTrackPublished struct {
	// Track is the new remote track.
	Track *RemoteDataTrack
	// Subscription is the track's subscription with Options.AutoSubscribe
	// (nil without, or when it could not be requested; logged).
	Subscription *DataTrackSubscription
}

// DataTrackUnpublished reports that a remote data track went away
// (unpublished, its publisher left, or the room disconnected). Its
// subscriptions have ended.
type DataTrackUnpublished struct {
	// Track is the track that went away (IsPublished is false).
	Track *RemoteDataTrack
}

// LocalDataTrackPublished reports that one of our data tracks was published
// (PublishDataTrack is about to return it).
type LocalDataTrackPublished struct {
	// Track is the published local track.
	Track *LocalDataTrack
}

// LocalDataTrackUnpublished reports that one of our data tracks ended. Reason
// is nil after Unpublish, else why the track ended (e.g. the server
// unpublished it, canPublishData was revoked, the room disconnected).
type LocalDataTrackUnpublished struct {
	// Track is the local track that ended.
	Track *LocalDataTrack
	// Reason is nil after Unpublish, else why the track ended.
	Reason error
}

// LocalDataTrackFramesLost reports frames that TryPush had accepted and that
// will never be sent: written while the channel failed under them
// (SendFailed: e.g. the frame in flight when a full reconnect replaced the
// transport) or thrown away while queued (Discarded: unpublish, a failed
// republish, DropOldest eviction). The counts are those since the previous
// report of the track; their running totals are in LocalDataTrack.Stats.
// Frames queued when a full reconnect starts are not lost: they wait and go
// out on the new session once the track is republished.
type LocalDataTrackFramesLost struct {
	// Track is the local track that lost the frames.
	Track *LocalDataTrack
	// SendFailed and Discarded are the frames lost since the previous report.
	SendFailed, Discarded uint64
}

func (DataTrackPublished) isEvent()        {}
func (DataTrackUnpublished) isEvent()      {}
func (LocalDataTrackPublished) isEvent()   {}
func (LocalDataTrackUnpublished) isEvent() {}
func (LocalDataTrackFramesLost) isEvent()  {}

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
	r.dataTrackHook = d.handlePacket
	r.syncStateHook = d.syncState
	r.fullReconnectHook = d.fullReconnected
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
// for Room.syncStateHook; docs/protocol.md, Reconnection of data tracks).
func (d *dataTracks) syncState(ss *lkpb.SyncState) {
	ss.PublishDataTracks = d.local.SyncStateTracks()
}

// fullReconnected runs once a full reconnect has joined the new session
// (loop; for Room.fullReconnectHook;
// docs/protocol.md, Reconnection of data tracks): pending publishes fail
// with ErrDisconnected, published tracks are republished with the same
// handle (their SID changes in place; TryPush returns
// datatrack.ErrRepublishing meanwhile), remote tracks are reconciled with
// the new session's participants and every subscription is renewed (Rust
// behaviour: streams survive).
func (d *dataTracks) fullReconnected() {
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

// kickWriter wakes the writer goroutine.
func (d *dataTracks) kickWriter() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// startWriter starts the writer goroutine once (loop).
func (d *dataTracks) startWriter() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	d.wg.Add(1)
	go d.writer()
}

// writer is the room's one `_data_track` writer (docs/protocol.md, Sending
// and pacing; docs/architecture.md). Policy:
//
//   - It first waits for the channel to open and then tells the LocalManager,
//     which completes publishes the server accepted only from then on (so the
//     first TryPush after PublishDataTrack is not lost).
//   - It takes whole frames from the tracks' send queues, round-robin between
//     tracks at frame boundaries, and writes every packet of a frame before
//     the next frame: a frame is never cut and never interleaved with another
//     frame of the same track.
//   - Before each packet it asks the pacer (datatrack.Pacer) whether the
//     packet fits under the in-flight target — the channel's measured drain
//     rate times a 5 ms latency budget, at least 8 KiB (the JS/Rust fixed
//     low-water mark) — and otherwise waits for buffered-amount-low armed at
//     that target. The SCTP queue so holds about 5 ms of data: newer frames
//     are not stuck behind a backlog, yet a fast path is not capped by a
//     constant window.
//   - The producer never blocks: frames wait in the per-track queue (TryPush
//     returns ErrQueueFull when it is full; nothing is dropped silently).
//     Queued frames are discarded only on unpublish or disconnect, and a
//     frame whose write fails (channel closed) is counted as SendFailed;
//     both are reported by LocalDataTrackFramesLost.
//   - While only the signalling session resumes, frames keep flowing on the
//     unchanged `_data_track`. While a full reconnect replaces the transport,
//     a resume restarts ICE, or the channel is not open, nothing is popped,
//     and a republishing track's frames wait: they go out once writing is
//     possible again (on the new session once the track is republished).
func (d *dataTracks) writer() {
	defer d.wg.Done()
	w := &trackWriter{d: d, timer: time.NewTimer(time.Hour), pacer: datatrack.NewPacer(datatrack.PacerConfig{})}
	w.timer.Stop()
	poll := time.NewTicker(dataTrackOpenPoll)
	defer poll.Stop()
	var readyEng *engine.Engine // the engine whose `_data_track` was reported open
	var list []*LocalDataTrack
	gated := false // the last pass stopped because writing was not possible
	for {
		// A new engine (first start, full reconnect): wait until its
		// channel is open, then let the LocalManager complete publishes.
		if eng := d.r.eng.Load(); eng != readyEng {
			for !eng.DataTrackReady() {
				select {
				case <-d.stop:
					return
				case <-poll.C:
				}
				if cur := d.r.eng.Load(); cur != eng {
					eng = cur
				}
			}
			readyEng = eng
			w.pacer = datatrack.NewPacer(datatrack.PacerConfig{}) // a new path: measure afresh
			_ = d.r.runOnLoop(context.Background(), d.checkTransport)
		}
		// After a pass held back, go on at once if writing is possible
		// again (ok and gateChanged come from one snapshot: no lost edge);
		// a channel that is not open has no notification: poll it.
		if ok, gateChanged := d.r.send.dataTrackOK(); !gated || !ok || !d.r.eng.Load().DataTrackReady() {
			var pollC <-chan time.Time
			if gated && ok {
				pollC = poll.C
			}
			select {
			case <-d.stop:
				return
			case <-d.kick:
			case <-gateChanged: // e.g. a full reconnect ended: send what waited
			case <-pollC:
			}
		}
		gated = false
		for {
			// During a full reconnect or a resume's ICE restart, or while
			// the channel is not open (e.g. closed by a server that went
			// away), nothing is popped: queued frames wait instead of
			// failing, and go out once it is possible again (on the new
			// session after a full reconnect).
			if ok, _ := d.r.send.dataTrackOK(); !ok || !d.r.eng.Load().DataTrackReady() {
				gated = true
				break
			}
			d.mu.Lock()
			list = append(list[:0], d.writeQ...)
			d.mu.Unlock()
			wrote, failed := false, false
			for _, lt := range list {
				if lt.t.State() != datatrack.LocalPublished {
					continue // republishing: its frames wait
				}
				q := lt.t.Queue()
				f, ok := q.Pop()
				if !ok {
					continue
				}
				wrote = true
				err := w.writeFrame(f)
				q.Done(f)
				if err != nil {
					lt.sendFailed.Add(1)
					failed = true
					if errors.Is(err, errWriterStopped) {
						lt.reportLosses()
						clear(list)
						return
					}
				} else {
					lt.sent.Add(1)
				}
			}
			if failed {
				for _, lt := range list {
					lt.reportLosses()
				}
			}
			if !wrote {
				break
			}
		}
		clear(list)
	}
}

// checkTransport tells the LocalManager whether the current engine's
// `_data_track` is open (loop).
func (d *dataTracks) checkTransport() {
	d.applyLocal(d.local.SetTransportReady(d.r.eng.Load().DataTrackReady(), time.Now()))
	d.rearm()
}

var errWriterStopped = errors.New("room: data-track writer stopped")

type trackWriter struct {
	d     *dataTracks
	timer *time.Timer
	pacer *datatrack.Pacer // owned by the writer goroutine; replaced with the engine
}

// writeFrame writes all packets of f, paced by w.pacer. It uses the room's
// current engine (replaced by a full reconnect); while the room is
// reconnecting the send fails and the frame is counted as failed (packets
// sent while the transport is down would be lost anyway).
func (w *trackWriter) writeFrame(f *datatrack.PacketizedFrame) error {
	eng := w.d.r.eng.Load()
	for i := 0; i < f.Len(); i++ {
		pkt := f.Packet(i)
		for {
			if err := w.waitRoom(eng, len(pkt)); err != nil {
				return err
			}
			err := w.d.r.sendDataTrackPacket(pkt)
			if err == nil {
				w.pacer.Sent(len(pkt))
				break
			}
			if !errors.Is(err, engine.ErrDataTrackBackedUp) {
				return err
			}
		}
	}
	return nil
}

// waitRoom waits until the pacer lets a packet of n bytes go: it fits under
// the in-flight target, or the channel is empty. While waiting it arms the
// channel's buffered-amount-low threshold at the level where it would fit.
func (w *trackWriter) waitRoom(eng *engine.Engine, n int) error {
	for {
		low := eng.DataTrackLow() // taken before the check: no lost edge
		now := time.Now()
		buffered := eng.DataTrackBufferedAmount()
		w.pacer.Observe(now, buffered)
		if w.pacer.MaySend(now, buffered, n) {
			return nil
		}
		eng.SetDataTrackLowThreshold(w.pacer.WakeAt(now, n))
		if eng.DataTrackBufferedAmount() <= w.pacer.WakeAt(now, n) {
			continue // drained while arming: the edge may have passed
		}
		w.timer.Reset(dataTrackRecheck)
		select {
		case <-low:
		case <-w.timer.C:
		case <-w.d.stop:
			w.timer.Stop()
			return errWriterStopped
		}
		w.timer.Stop()
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
		handle, outs, perr = d.local.Publish(datatrack.PublishOptions{Name: name, FrameEncoding: opts.FrameEncoding, Schema: opts.Schema, QueueFrames: opts.QueueFrames}, time.Now())
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
func (t *LocalDataTrack) Info() datatrack.TrackInfo {
	info := t.t.Info()
	info.PublisherIdentity = t.d.r.local.Identity()
	return info
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

// --- remote tracks ---------------------------------------------------------

// RemoteDataTrack is a data track published by a remote participant. The
// same pointer is kept while the track exists (its SID is updated in place
// if the publisher republishes after a reconnect).
type RemoteDataTrack struct {
	d           *dataTracks
	info        atomic.Pointer[datatrack.TrackInfo]
	publisher   atomic.Pointer[RemoteParticipant] // nil if unknown when announced
	unpublished chan struct{}
	dropped     atomic.Uint64
	autoSub     *DataTrackSubscription // Options.AutoSubscribe's subscription (loop)
}

// Info returns the track's info (SID, name, handle, encryption, publisher identity, metadata).
func (t *RemoteDataTrack) Info() datatrack.TrackInfo { return *t.info.Load() }

// SID is the track SID (DTR_…).
func (t *RemoteDataTrack) SID() string { return t.info.Load().Sid }

// Name is the track name.
func (t *RemoteDataTrack) Name() string { return t.info.Load().Name }

// IsEncrypted reports whether the track is end-to-end encrypted.
func (t *RemoteDataTrack) IsEncrypted() bool { return t.info.Load().Encrypted }

// PublisherIdentity is the identity of the publishing participant.
func (t *RemoteDataTrack) PublisherIdentity() string { return t.info.Load().PublisherIdentity }

// Publisher is the publishing participant (nil if it was unknown when the
// track was announced).
func (t *RemoteDataTrack) Publisher() *RemoteParticipant { return t.publisher.Load() }

// IsPublished reports whether the track still exists.
func (t *RemoteDataTrack) IsPublished() bool {
	select {
	case <-t.unpublished:
		return false
	default:
		return true
	}
}

// Unpublished is closed when the track goes away.
func (t *RemoteDataTrack) Unpublished() <-chan struct{} { return t.unpublished }

// DroppedFrames counts frames of this track lost on the way in for any
// subscription (incomplete after packet loss, interrupted, failed
// decryption…); see Room.DataTrackStats for the reasons.
func (t *RemoteDataTrack) DroppedFrames() uint64 { return t.dropped.Load() }

// SetMaxPartialFrames sets how many frames may be reassembled at once
// (default 1; docs/protocol.md, Depacketizer). It applies from the next
// packet.
func (t *RemoteDataTrack) SetMaxPartialFrames(n int) error {
	return t.d.remote.SetMaxPartialFrames(t.SID(), n)
}

// Subscribe opens a local stream of this track's frames. The first
// subscription asks the server; later ones share it (fan-out) and see frames
// from then on; closing the last one unsubscribes. It returns once frames
// flow, bounded by ctx and by the server's answer (10 s, ErrDataTrackTimeout).
// Errors: ErrInvalidArgument (BufferSize out of range), ErrE2EENoKeys (E2EE
// track, room without keys), ErrUnknownDataTrack
// (the track is gone), datatrack.ErrSubscribeNotAllowed, ErrDisconnected.
func (t *RemoteDataTrack) Subscribe(ctx context.Context, opts SubscribeOptions) (*DataTrackSubscription, error) {
	if err := datatrack.CheckRange("BufferSize", int64(opts.BufferSize), 0, datatrack.MaxSubscriberBufferFrames); err != nil {
		return nil, mapDataTrackErr(err)
	}
	d := t.d
	r := d.r
	wait := make(chan error, 1)
	var sub *DataTrackSubscription
	var serr error
	policy := datatrack.DropOldestFrame
	if opts.DropNewest {
		policy = datatrack.DropNewestFrame
	}
	if err := r.runOnLoop(ctx, func() {
		s, outs, err := d.remote.Subscribe(t.SID(), datatrack.SubscribeOptions{BufferSize: opts.BufferSize, DropPolicy: policy}, time.Now())
		if err != nil {
			serr = err
			return
		}
		sub = &DataTrackSubscription{s: s, track: t, closed: make(chan struct{})}
		d.subs[s] = sub
		d.subWaiters[s] = wait
		d.applyRemote(outs)
		d.rearm()
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, mapDataTrackErr(serr)
	}
	select {
	case err := <-wait:
		if err != nil {
			return nil, mapDataTrackErr(err)
		}
		return sub, nil
	case <-ctx.Done():
		sub.Close()
		return nil, ctx.Err()
	case <-r.done:
		return nil, ErrDisconnected
	}
}

// DataTrackSubscription is one local stream of a remote track's frames. Read
// with Next, or with the channel from Frames (one or the other). When the
// stream ends (Close, unpublish, publisher left, disconnect) the buffered
// frames are still delivered, then Next returns an error matching
// ErrStreamEnded (and Frames' channel is closed); EndReason tells why.
type DataTrackSubscription struct {
	s      *datatrack.Subscription
	track  *RemoteDataTrack
	reason atomic.Int32

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: stops the Frames pump
	pumpOnce  sync.Once
	frames    chan Frame
	pumpDone  chan struct{}
}

// Track is the subscribed remote track.
func (s *DataTrackSubscription) Track() *RemoteDataTrack { return s.track }

// Next returns the next frame, waiting bounded by ctx. After the end it
// returns the remaining buffered frames, then an error matching ErrStreamEnded
// (errors.Is), or ctx's error.
func (s *DataTrackSubscription) Next(ctx context.Context) (Frame, error) { return s.s.Recv(ctx) }

// Frames returns a channel carrying the frames (started on first call, with
// a forwarding goroutine). It is closed after the stream has ended and its
// buffered frames were taken, after Close, or when the room has disconnected
// (frames not yet taken then may be discarded; use Next to drain them).
func (s *DataTrackSubscription) Frames() <-chan Frame {
	s.pumpOnce.Do(func() {
		s.frames = make(chan Frame)
		s.pumpDone = make(chan struct{})
		go s.pump()
	})
	return s.frames
}

func (s *DataTrackSubscription) pump() {
	defer close(s.pumpDone)
	defer close(s.frames)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // ends with pump (cancel) at the latest
		select {
		case <-s.closed:
		case <-s.track.d.r.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	for {
		f, err := s.s.Recv(ctx)
		if err != nil {
			return
		}
		select {
		case s.frames <- f:
		case <-ctx.Done():
			return
		}
	}
}

// Dropped counts frames this subscription lost because its reader was
// slower than the track (buffer full).
func (s *DataTrackSubscription) Dropped() uint64 { return s.s.Dropped() }

// Done is closed when the stream has ended (buffered frames may remain).
func (s *DataTrackSubscription) Done() <-chan struct{} { return s.s.Done() }

// Err is nil while the stream runs, then the end error (matches ErrStreamEnded).
func (s *DataTrackSubscription) Err() error { return s.s.Err() }

// EndReason tells why the stream ended (EndReasonNone while it runs).
func (s *DataTrackSubscription) EndReason() DataTrackEndReason {
	if s.Err() == nil {
		return EndReasonNone
	}
	if r := DataTrackEndReason(s.reason.Load()); r != EndReasonNone {
		return r
	}
	var se *datatrack.StreamEndError
	switch err := s.Err(); {
	case errors.Is(err, datatrack.ErrDisconnected):
		return EndReasonDisconnected
	case errors.As(err, &se) && se.Cause == nil:
		return EndReasonClosed
	}
	return EndReasonUnpublished
}

func (s *DataTrackSubscription) setEndReason(r DataTrackEndReason) {
	s.reason.CompareAndSwap(int32(EndReasonNone), int32(r))
}

// Close ends this stream (EndReasonClosed); the last stream of a track
// unsubscribes from the server. Idempotent; it waits for the Frames
// goroutine to stop.
func (s *DataTrackSubscription) Close() error {
	s.closeOnce.Do(func() {
		d := s.track.d
		s.setEndReason(EndReasonClosed)
		err := d.r.runOnLoop(context.Background(), func() {
			delete(d.subs, s.s)
			delete(d.subWaiters, s.s)
			outs, err := d.remote.Unsubscribe(s.s, time.Now())
			if err == nil {
				d.applyRemote(outs)
				d.rearm()
			}
		})
		if err != nil { // room gone: its close ended the stream
			d.r.log.Debug("room: data-track unsubscribe skipped", "err", err)
		}
		close(s.closed)
	})
	s.pumpOnce.Do(func() { // never started: Frames returns a closed channel
		s.frames = make(chan Frame)
		close(s.frames)
		s.pumpDone = s.closed
	})
	<-s.pumpDone
	return nil
}

// remoteDataTrackSet is a remote participant's data tracks.
type remoteDataTrackSet struct {
	mu     sync.Mutex
	tracks []*RemoteDataTrack
}

func (s *remoteDataTrackSet) add(t *RemoteDataTrack) {
	s.mu.Lock()
	s.tracks = append(s.tracks, t)
	s.mu.Unlock()
}

func (s *remoteDataTrackSet) remove(t *RemoteDataTrack) {
	s.mu.Lock()
	if i := slices.Index(s.tracks, t); i >= 0 {
		s.tracks = slices.Delete(s.tracks, i, i+1)
	}
	s.mu.Unlock()
}

// DataTracks returns the participant's published data tracks, sorted by name.
func (p *RemoteParticipant) DataTracks() []*RemoteDataTrack {
	p.dataTracks.mu.Lock()
	out := slices.Clone(p.dataTracks.tracks)
	p.dataTracks.mu.Unlock()
	slices.SortFunc(out, func(a, b *RemoteDataTrack) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// DataTrack returns the participant's data track with that name, or nil.
func (p *RemoteParticipant) DataTrack(name string) *RemoteDataTrack {
	p.dataTracks.mu.Lock()
	defer p.dataTracks.mu.Unlock()
	for _, t := range p.dataTracks.tracks {
		if t.Name() == name {
			return t
		}
	}
	return nil
}

// DataTrackStats are the room's data-track receive counters.
type DataTrackStats struct {
	// Packets counts `_data_track` packets received.
	Packets uint64
	// Frames counts frames delivered (once per frame, not per subscription).
	Frames uint64
	// Drops counts dropped frames/packets by reason (Incomplete,
	// Interrupted, UnknownFrame, DecryptFailed, MalformedPacket,
	// UnknownHandle, …); only non-zero reasons are present.
	Drops map[datatrack.DropReason]uint64
}

// DataTrackStats returns the room's data-track receive counters.
func (r *Room) DataTrackStats() DataTrackStats {
	if !r.everConnected() {
		return DataTrackStats{Drops: map[datatrack.DropReason]uint64{}}
	}
	st := r.dt.remote.Stats()
	out := DataTrackStats{Packets: st.Packets, Frames: st.Frames, Drops: map[datatrack.DropReason]uint64{}}
	for i, n := range st.Drops {
		if n > 0 {
			out.Drops[datatrack.DropReason(i)] = n
		}
	}
	return out
}
