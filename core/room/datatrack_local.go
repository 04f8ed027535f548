package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
)

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
	// Discarded counts queued frames thrown away by unpublish/disconnect.
	// Frames queued across a full reconnect are not discarded: they are sent
	// after the republish.
	Discarded uint64
	// Evicted counts accepted frames that a DropOldest queue evicted to make
	// room for newer ones.
	Evicted uint64
	// Queued is the number of frames waiting for the writer now.
	Queued int
	// QueuedBytes is their serialized size.
	QueuedBytes int
}

// Dropped is the number of accepted frames that were not sent.
func (s LocalDataTrackStats) Dropped() uint64 { return s.SendFailed + s.Discarded + s.Evicted }

// PublishDataTrack publishes a data track named name (1..256 bytes, unique
// among this participant's tracks). It returns once the server has accepted
// the track and the `_data_track` channel is open, so the first TryPush is
// sent. When the room has E2EE configured, the track is end-to-end encrypted.
//
// Errors: ErrInvalidTrackName, datatrack.ErrInvalidSchema, ErrInvalidArgument
// (QueueFrames or QueueBytes negative or above its maximum),
// ErrDuplicateTrackName, ErrDataTrackNotAllowed (token without
// canPublishData), other server refusals as *datatrack.PublishError,
// ErrDataTrackTimeout after opts.PublishTimeout (10 s; also what a server
// without data tracks produces), ErrDisconnected, or ctx's error.
func (lp *LocalParticipant) PublishDataTrack(ctx context.Context, name string, opts DataTrackOptions) (*LocalDataTrack, error) {
	if err := datatrack.CheckRange("QueueFrames", int64(opts.QueueFrames), 0, datatrack.MaxSendQueueFrames); err != nil {
		return nil, mapDataTrackErr(err)
	}
	if err := datatrack.CheckRange("QueueBytes", int64(opts.QueueBytes), 0, datatrack.MaxSendQueueBytes); err != nil {
		return nil, mapDataTrackErr(err)
	}
	policy := datatrack.RejectNew
	if opts.DropOldest {
		policy = datatrack.DropOldest
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
		handle, outs, perr = d.local.Publish(datatrack.PublishOptions{Name: name, FrameEncoding: frameEncodingProto(opts.FrameEncoding), Schema: schemaProto(opts.Schema), QueueFrames: opts.QueueFrames, QueueBytes: opts.QueueBytes, QueuePolicy: &policy}, time.Now())
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
// frames: while the queue is full, or already holds
// datatrack.PushQueueFrames (16) frames or datatrack.PushQueueBytes
// (256 KiB), it waits (bounded by ctx) until the writer has drained it, then
// queues f — so frames pushed this way wait behind at most about 16 others
// or 256 KiB. Each refused attempt still counts in
// LocalDataTrackStats.Rejected. While a full reconnect republishes the track
// it waits too (TryPush would return datatrack.ErrRepublishing), until the
// track is published again (or ends: ErrTrackUnpublished).
func (t *LocalDataTrack) Push(ctx context.Context, f Frame) error {
	for {
		err := t.pushPaced(f)
		switch {
		case errors.Is(err, datatrack.ErrRepublishing):
			select {
			case <-t.t.Accepting():
			case <-ctx.Done():
				return ctx.Err()
			}
		case errors.Is(err, ErrQueueFull):
			if err := t.Flush(ctx); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// TryPushPaced is the step of Push that does not wait: it queues f where Push
// would queue it at once, and returns ErrQueueFull (nothing queued) where Push
// would wait — when the queue already holds datatrack.PushQueueFrames frames or
// datatrack.PushQueueBytes bytes, or f does not fit, or while a full reconnect
// republishes the track. A host that must not block
// the calling thread (an event loop, a binding's fast path) calls it first and
// waits with Push only when it is refused, so its frames wait behind as few
// others as Push's. A refusal at the pacing point is not a full queue and is
// not counted in LocalDataTrackStats.Rejected; one because f does not fit is.
func (t *LocalDataTrack) TryPushPaced(f Frame) error {
	if err := t.pushPaced(f); !errors.Is(err, datatrack.ErrRepublishing) {
		return err
	}
	return ErrQueueFull
}

// pushPaced is TryPushPaced that tells a republication apart
// (datatrack.ErrRepublishing).
func (t *LocalDataTrack) pushPaced(f Frame) error {
	if st := t.t.Queue().Stats(); st.Frames >= datatrack.PushQueueFrames || st.Bytes >= datatrack.PushQueueBytes {
		return ErrQueueFull
	}
	return t.TryPush(f)
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
		Pushed:      t.pushed.Load(),
		Rejected:    qs.Rejected,
		Sent:        t.sent.Load(),
		SendFailed:  t.sendFailed.Load(),
		Discarded:   qs.Discarded,
		Evicted:     qs.Evicted,
		Queued:      qs.Frames,
		QueuedBytes: qs.Bytes,
	}
}
