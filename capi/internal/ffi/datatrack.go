package ffi

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/room"
)

// Data tracks: local tracks are handles whose pushes go straight to the core's TryPush (the
// lk_data_track_push fast path); subscriptions are handles whose frames reach the host as
// events (EVENTS, CREDITS) or through lk_data_track_read (PULL).

// schemaOf builds the core's schema id from the request's strings (nil when both are empty).
func schemaOf(name, encoding string) *room.DataTrackSchema {
	if name == "" && encoding == "" {
		return nil
	}
	return &room.DataTrackSchema{Name: name, Encoding: encoding}
}

func dataTrackInfo(i room.DataTrackInfo) *ffipb.DataTrackInfo {
	out := &ffipb.DataTrackInfo{Sid: i.SID, Name: i.Name, UsesE2Ee: i.Encrypted, FrameEncoding: i.FrameEncoding}
	if i.Schema != nil {
		out.SchemaName, out.SchemaEncoding = i.Schema.Name, i.Schema.Encoding
	}
	return out
}

func remoteTrackInfo(t *room.RemoteDataTrack) *ffipb.RemoteDataTrackInfo {
	info := t.Info()
	return &ffipb.RemoteDataTrackInfo{PublisherIdentity: info.PublisherIdentity, Info: dataTrackInfo(info),
		SubscriptionRevoked: t.SubscriptionRevoked()}
}

// ---- local tracks ----

// LocalTrack is the object behind a local data track handle.
type LocalTrack struct {
	t           *room.LocalDataTrack
	unpublished atomic.Bool // the host unpublished it (pushes fail at once)
}

// PushFrame implements FramePusher: the core copies the payload before returning.
func (l *LocalTrack) PushFrame(payload []byte, ts uint64, hasTS bool, paced bool) error {
	if l.unpublished.Load() {
		return errTrackUnpublished
	}
	push := l.t.TryPush
	if paced {
		push = l.t.TryPushPaced
	}
	if err := push(room.Frame{Payload: payload, UserTimestamp: ts, HasUserTimestamp: hasTS}); err != nil {
		if errors.Is(err, datatrack.ErrQueueFull) {
			return errQueueFull // the hot refusal: no allocation, no table walk
		}
		return fromCore(err)
	}
	return nil
}

var (
	errTrackUnpublished = Errorf(ffipb.ErrorCode_ERROR_CODE_TRACK_UNPUBLISHED, "data track is not published")
	errQueueFull        = &Error{Code: ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL, Msg: "data track send queue full; nothing was queued", Retryable: true}
)

// unpublishInBackground (UnpublishDataTrackRequest, handle release): pushes fail at once, and the server is
// told in the background, so releasing a room with many tracks does not wait for one
// acknowledgement after another (when the room itself is being released, its disconnect
// ends the tracks anyway).
func (l *LocalTrack) unpublishInBackground(c *Client) {
	if l.unpublished.Swap(true) {
		return
	}
	c.goBackground(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ReleaseTimeout)
		defer cancel()
		_ = l.t.Unpublish(ctx)
	})
}

// MaxDataTrackQueueFrames caps PublishDataTrackRequest.queue_size: the queue's ring is
// allocated up front, so a host must not be able to make it arbitrarily large (the byte
// budget, queue_bytes, bounds the frame data held either way).
const MaxDataTrackQueueFrames = 65536

// queueFrames maps PublishDataTrackRequest.queue_size to DataTrackOptions.QueueFrames: 0 keeps
// the core's default (1 024), larger values are capped at MaxDataTrackQueueFrames.
func queueFrames(n uint32) int {
	return int(min(n, MaxDataTrackQueueFrames))
}

func (c *Client) publishDataTrack(k *call, m *ffipb.PublishDataTrackRequest) error {
	r, rm, err := c.connectedRoom(m.GetRoomHandle())
	if err != nil {
		return err
	}
	opts := room.DataTrackOptions{
		FrameEncoding: m.GetFrameEncoding(),
		Schema:        schemaOf(m.GetSchemaName(), m.GetSchemaEncoding()),
		QueueFrames:   queueFrames(m.GetQueueSize()),
		QueueBytes:    intOf(m.GetQueueBytes()), // the core refuses more than its cap
		DropOldest:    m.GetDropOldest(),
	}
	name := m.GetName()
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		t, err := rm.LocalParticipant().PublishDataTrack(ctx, name, opts)
		if err != nil {
			return nil, fromCore(err)
		}
		lt := &LocalTrack{t: t}
		h, err := c.handles.Insert(KindLocalDataTrack, lt, r.handle, func(context.Context) {
			r.forgetLocalTrack(t)
			lt.unpublishInBackground(c)
		})
		if err != nil {
			_ = t.Unpublish(context.Background())
			return nil, err
		}
		r.mu.Lock()
		r.localTracks[t] = h
		r.mu.Unlock()
		info := t.Info()
		return &ffipb.Completion{Result: &ffipb.Completion_PublishDataTrack{PublishDataTrack: &ffipb.PublishDataTrackResult{
			Track: &ffipb.OwnedLocalDataTrack{Handle: h, Info: dataTrackInfo(info)},
		}}}, nil
	})
}

func (r *Room) forgetLocalTrack(t *room.LocalDataTrack) {
	r.mu.Lock()
	delete(r.localTracks, t)
	r.mu.Unlock()
}

func (c *Client) localTrack(h uint64) (*LocalTrack, error) {
	obj, err := c.handles.Get(h, KindLocalDataTrack)
	if err != nil {
		return nil, err
	}
	lt, ok := obj.(*LocalTrack)
	if !ok {
		return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_INTERNAL, "local data track handle without a track")
	}
	return lt, nil
}

// unpublishDataTrack handles UnpublishDataTrackRequest: pushes fail at once; the server is
// told in the background (the request never waits for the network). Idempotent.
func (c *Client) unpublishDataTrack(m *ffipb.UnpublishDataTrackRequest, resp *ffipb.Response) error {
	lt, err := c.localTrack(m.GetTrackHandle())
	if err != nil {
		return err
	}
	lt.unpublishInBackground(c)
	resp.Message = &ffipb.Response_UnpublishDataTrack{UnpublishDataTrack: &ffipb.UnpublishDataTrackResponse{}}
	return nil
}

func (c *Client) dataTrackIsPublished(m *ffipb.DataTrackIsPublishedRequest, resp *ffipb.Response) error {
	lt, err := c.localTrack(m.GetTrackHandle())
	if err != nil {
		return err
	}
	resp.Message = &ffipb.Response_DataTrackIsPublished{DataTrackIsPublished: &ffipb.DataTrackIsPublishedResponse{
		IsPublished: !lt.unpublished.Load() && lt.t.IsPublished(),
	}}
	return nil
}

// ---- subscriptions ----

// Subscription is the object behind a data track subscription handle.
type Subscription struct {
	room   *Room
	handle uint64
	track  *room.RemoteDataTrack
	ctx    context.Context // cancelled when the handle is released
	cancel context.CancelFunc
	credits

	// mode is the ffipb.DeliveryMode; PULL changes once to EVENTS or CREDITS (switchDelivery,
	// under switchMu, which then closes switched).
	mode     atomic.Int32
	switchMu sync.Mutex
	switched chan struct{}

	ready chan struct{}               // closed when the core subscription exists or failed
	sub   *room.DataTrackSubscription // set before ready is closed; nil on failure
	err   error                       // the failure, set before ready is closed

	received atomic.Uint64 // frames handed to the host
	lost     atomic.Uint64 // frames dropped because the event queue was full (EVENTS)
}

// ReadFrame implements FrameReader (DELIVERY_MODE_PULL).
func (s *Subscription) ReadFrame(ctx context.Context) (Frame, error) {
	if s.delivery() != ffipb.DeliveryMode_DELIVERY_MODE_PULL {
		return Frame{}, Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "subscription is not in pull delivery mode")
	}
	// A subscription that is already established is read even when ctx has expired (a
	// zero-timeout poll): only a wait may time out, never a frame that is ready.
	select {
	case <-s.ready:
	default:
		select {
		case <-s.ready:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
	if s.sub == nil {
		return Frame{}, errEndOfStream
	}
	f, err := s.sub.Next(ctx)
	if err != nil {
		if errors.Is(err, room.ErrStreamEnded) {
			return Frame{}, errEndOfStream
		}
		return Frame{}, err
	}
	s.received.Add(1)
	return Frame{Payload: f.Payload, UserTimestamp: f.UserTimestamp, HasUserTimestamp: f.HasUserTimestamp, DroppedBefore: f.DroppedBefore}, nil
}

var errEndOfStream = Errorf(ffipb.ErrorCode_ERROR_CODE_END_OF_STREAM, "subscription ended")

func (s *Subscription) delivery() ffipb.DeliveryMode { return ffipb.DeliveryMode(s.mode.Load()) }

// switchDelivery (SetDataTrackDeliveryRequest) turns a pull subscription into an EVENTS or
// CREDITS one, once; run then delivers what waits in its buffer, later frames and its end.
func (s *Subscription) switchDelivery(mode ffipb.DeliveryMode, initialCredits uint32) error {
	switch mode {
	case ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, ffipb.DeliveryMode_DELIVERY_MODE_CREDITS:
	default:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "a pull subscription switches to EVENTS or CREDITS, not %v", mode)
	}
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	if s.delivery() != ffipb.DeliveryMode_DELIVERY_MODE_PULL {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "only a pull subscription changes its delivery, once (it is %v)", s.delivery())
	}
	s.credits.reset(mode, initialCredits)
	s.mode.Store(int32(mode))
	close(s.switched)
	return nil
}

// setDataTrackDelivery handles SetDataTrackDeliveryRequest (SYNC).
func (c *Client) setDataTrackDelivery(m *ffipb.SetDataTrackDeliveryRequest, resp *ffipb.Response) error {
	s, err := c.subscription(m.GetSubscriptionHandle())
	if err != nil {
		return err
	}
	if err := s.switchDelivery(m.GetDelivery(), m.GetInitialCredits()); err != nil {
		return err
	}
	resp.Message = &ffipb.Response_SetDataTrackDelivery{SetDataTrackDelivery: &ffipb.SetDataTrackDeliveryResponse{}}
	return nil
}

// coreLost is the number of frames the core lost for this subscription so far (on the way in
// and in its buffer).
func (s *Subscription) coreLost() uint64 {
	if s.sub == nil {
		return 0
	}
	return s.sub.Lost()
}

func (s *Subscription) release(ctx context.Context) {
	s.cancel()
	if waitClosed(ctx, s.ready) != nil {
		return
	}
	if s.sub != nil {
		_ = s.sub.Close()
	}
}

func (c *Client) subscribeDataTrack(m *ffipb.SubscribeDataTrackRequest, resp *ffipb.Response) error {
	if err := checkBufferSize("buffer_size", m.GetBufferSize()); err != nil {
		return err
	}
	if err := checkBufferBytes("buffer_bytes", m.GetBufferBytes()); err != nil {
		return err
	}
	r, rm, err := c.connectedRoom(m.GetRoomHandle())
	if err != nil {
		return err
	}
	mode := m.GetDelivery()
	switch mode {
	case ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, ffipb.DeliveryMode_DELIVERY_MODE_CREDITS, ffipb.DeliveryMode_DELIVERY_MODE_PULL:
	default:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "unknown delivery mode %d", mode)
	}
	p := rm.RemoteParticipant(m.GetPublisherIdentity())
	name, which := m.GetTrackName(), m.GetTrackSid()
	if name != "" {
		which = "named " + name // a name outlives the sid, which a full reconnect renews
	}
	var track *room.RemoteDataTrack
	if p != nil {
		for _, t := range p.DataTracks() {
			if (name != "" && t.Name() == name) || (name == "" && t.SID() == m.GetTrackSid()) {
				track = t
			}
		}
	}
	if track == nil {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, "no data track %q published by %q", which, m.GetPublisherIdentity())
	}
	h, err := c.startSubscription(r, track, mode, r.subscribeOptions(m.GetBufferSize(), m.GetBufferBytes()), m.GetInitialCredits())
	if err != nil {
		return err
	}
	resp.Message = &ffipb.Response_SubscribeDataTrack{SubscribeDataTrack: &ffipb.SubscribeDataTrackResponse{
		Subscription: &ffipb.OwnedDataTrackSubscription{Handle: h, Track: remoteTrackInfo(track)},
	}}
	return nil
}

// checkBufferSize refuses a data-track buffer size above datatrack.MaxSubscriberBufferFrames
// with INVALID_ARGUMENT: the buffer grows up to it, so an unchecked 2^32-1 would let a
// publisher's frames abort the host process with an out-of-memory error.
func checkBufferSize(field string, n uint32) error {
	if n > datatrack.MaxSubscriberBufferFrames {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "%s %d above %d frames", field, n, datatrack.MaxSubscriberBufferFrames)
	}
	return nil
}

// checkBufferBytes refuses a subscription's byte bound above datatrack.MaxSubscriberBufferBytes
// with INVALID_ARGUMENT before any handle exists (the core checks only when the subscription
// starts, in the background).
func checkBufferBytes(field string, n uint32) error {
	if n > datatrack.MaxSubscriberBufferBytes {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "%s %d above %d", field, n, datatrack.MaxSubscriberBufferBytes)
	}
	return nil
}

// subscribeOptions are the core options of a subscription asking for frames and bytes (0: the
// room's data_track_buffer_size and data_track_buffer_bytes; with those 0 too, the core's
// defaults).
func (r *Room) subscribeOptions(frames, bytes uint32) room.SubscribeOptions {
	if frames == 0 {
		frames = r.options.GetDataTrackBufferSize()
	}
	if bytes == 0 {
		bytes = r.options.GetDataTrackBufferBytes()
	}
	return room.SubscribeOptions{BufferSize: intOf(frames), BufferBytes: intOf(bytes)}
}

// startSubscription creates a subscription handle (child of the room) and starts
// establishing it in the background.
func (c *Client) startSubscription(r *Room, track *room.RemoteDataTrack, mode ffipb.DeliveryMode, opts room.SubscribeOptions, initialCredits uint32) (uint64, error) {
	return c.newSubscription(r, track, mode, initialCredits, func(ctx context.Context) (*room.DataTrackSubscription, error) {
		return track.Subscribe(ctx, opts)
	})
}

// adoptSubscription creates a subscription handle for a subscription the core opened itself
// (auto-subscribe), delivered as RoomOptions.auto_subscription_delivery says once announced is
// closed — after the event that hands the handle over was queued, so that no frame names a
// handle the host was not given yet.
func (c *Client) adoptSubscription(r *Room, track *room.RemoteDataTrack, sub *room.DataTrackSubscription, announced <-chan struct{}) (uint64, error) {
	mode, credits := r.options.GetAutoSubscriptionDelivery(), r.options.GetAutoSubscriptionCredits()
	return c.newSubscription(r, track, mode, credits, func(ctx context.Context) (*room.DataTrackSubscription, error) {
		select {
		case <-announced:
			return sub, nil
		case <-ctx.Done():
			_ = sub.Close()
			return nil, ctx.Err()
		}
	})
}

func (c *Client) newSubscription(r *Room, track *room.RemoteDataTrack, mode ffipb.DeliveryMode, initialCredits uint32,
	establish func(context.Context) (*room.DataTrackSubscription, error)) (uint64, error) {
	ctx, cancel := context.WithCancel(r.ctx)
	s := &Subscription{room: r, track: track, ctx: ctx, cancel: cancel,
		credits: newCredits(mode, initialCredits), ready: make(chan struct{}), switched: make(chan struct{})}
	s.mode.Store(int32(mode))
	h, err := c.handles.Insert(KindDataTrackSubscription, s, r.handle, s.release)
	if err != nil {
		cancel()
		return 0, err
	}
	s.handle = h
	if !c.goBackground(func() { s.run(establish) }) {
		cancel()
		close(s.ready)
		return 0, ErrClientClosed
	}
	return h, nil
}

// run establishes the subscription, delivers its frames (EVENTS, CREDITS) and reports its
// end. Nothing is delivered after the handle was released.
func (s *Subscription) run(establish func(context.Context) (*room.DataTrackSubscription, error)) {
	sub, err := establish(s.ctx)
	s.sub, s.err = sub, err
	close(s.ready)
	if err != nil {
		if s.ctx.Err() == nil {
			s.failed(fromCore(err))
		}
		return
	}
	if s.delivery() == ffipb.DeliveryMode_DELIVERY_MODE_PULL && !s.pullUntilSwitched(sub) {
		return
	}
	switched := false // also when the switch came before it was established
	select {
	case <-s.switched:
		switched = true
	default:
	}
	events := s.delivery() == ffipb.DeliveryMode_DELIVERY_MODE_EVENTS
	var pendingLost uint64
	for {
		if !s.take(s.ctx) {
			return
		}
		f, err := sub.Next(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil {
				reason, err := s.endOf(sub)
				s.ended(switched, reason, err)
			}
			return
		}
		ev := &ffipb.DataTrackFrameEvent{
			SubscriptionHandle: s.handle,
			Payload:            f.Payload,
			DroppedBefore:      pendingLost + f.DroppedBefore,
		}
		if f.HasUserTimestamp {
			ts := f.UserTimestamp
			ev.UserTimestamp = &ts
		}
		out := &ffipb.Event{Message: &ffipb.Event_DataTrackFrame{DataTrackFrame: ev}}
		if events {
			if !s.room.c.TryPost(out) {
				pendingLost += 1 + f.DroppedBefore // lossy by contract; reported with the next frame
				s.lost.Add(1)
				continue
			}
		} else if s.room.c.Post(s.ctx, out) != nil {
			return
		}
		pendingLost = 0
		s.received.Add(1)
	}
}

// pullUntilSwitched reports the end of a pull subscription when it comes and waits until the
// host switches it to events (true: deliver what is left, then the end again) or releases it.
func (s *Subscription) pullUntilSwitched(sub *room.DataTrackSubscription) bool {
	done := sub.Done()
	for {
		select {
		case <-s.switched:
			return true
		case <-s.ctx.Done():
			return false
		case <-done:
			select {
			case <-s.switched: // both: the end follows the frames, as events
				return true
			default:
			}
			reason, err := s.endOf(sub)
			s.ended(false, reason, err)
			done = nil
		}
	}
}

// failed reports a subscription that could not be established. A pull subscription reports
// it at once and, if the host switches it later (SetDataTrackDeliveryRequest), again with
// after_switch, as pullUntilSwitched does for one that ended: the host that switched waits for
// that one. One switched before it failed says so in its only end.
func (s *Subscription) failed(err error) {
	const reason = ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_FAILED
	if s.delivery() != ffipb.DeliveryMode_DELIVERY_MODE_PULL {
		select {
		case <-s.switched:
			s.ended(true, reason, err)
		default: // events or credits from the start
			s.ended(false, reason, err)
		}
		return
	}
	s.ended(false, reason, err)
	select {
	case <-s.switched:
		s.ended(true, reason, err)
	case <-s.ctx.Done():
	}
}

// endOf is why an established subscription ended: unpublished, disconnected, closed, or
// FAILED with the cause when the server refused it (an auto-subscription the core opened).
func (s *Subscription) endOf(sub *room.DataTrackSubscription) (ffipb.SubscriptionEndReason, error) {
	var se *datatrack.StreamEndError
	if err := sub.Err(); errors.As(err, &se) && se.Cause != nil &&
		!errors.Is(se.Cause, datatrack.ErrTrackUnpublished) && !errors.Is(se.Cause, datatrack.ErrDisconnected) {
		return ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_FAILED, fromCore(se.Cause)
	}
	return endReason(sub.EndReason()), nil
}

func endReason(r room.DataTrackEndReason) ffipb.SubscriptionEndReason {
	switch r {
	case room.EndReasonUnpublished, room.EndReasonPublisherLeft:
		return ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_UNPUBLISHED
	case room.EndReasonDisconnected:
		return ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_DISCONNECTED
	}
	return ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_UNSPECIFIED
}

// endInfo is the DataTrackSubscriptionEnded of a subscription that ended for reason (err).
func (s *Subscription) endInfo(reason ffipb.SubscriptionEndReason, err error) *ffipb.DataTrackSubscriptionEnded {
	return &ffipb.DataTrackSubscriptionEnded{
		SubscriptionHandle: s.handle,
		Reason:             reason,
		Error:              ToProto(err),
		FramesReceived:     s.received.Load(),
		FramesDropped:      s.coreLost() + s.lost.Load(),
	}
}

// end is how the subscription ended, or nil while it is being established or runs.
func (s *Subscription) end() *ffipb.DataTrackSubscriptionEnded {
	select {
	case <-s.ready:
	default:
		return nil
	}
	if s.sub == nil {
		return s.endInfo(ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_FAILED, fromCore(s.err))
	}
	if s.sub.Err() == nil {
		return nil
	}
	return s.endInfo(s.endOf(s.sub))
}

// ended queues the subscription's DataTrackSubscriptionEnded; afterSwitch: it follows the
// frames of a subscription switched from pull mode.
func (s *Subscription) ended(afterSwitch bool, reason ffipb.SubscriptionEndReason, err error) {
	ev := s.endInfo(reason, err)
	ev.AfterSwitch = afterSwitch
	_ = s.room.c.Post(s.ctx, &ffipb.Event{Message: &ffipb.Event_DataTrackSubscriptionEnded{DataTrackSubscriptionEnded: ev}})
}

// remoteTrackPublished translates DataTrackPublished: info is the track as published (not its
// current info, which may already have the sid of a SidChanged queued behind); with
// auto_subscribe it carries the subscription the core opened, as an owned handle
// (RoomOptions.auto_subscription_delivery).
func (r *Room) remoteTrackPublished(t *room.RemoteDataTrack, info room.DataTrackInfo, sub *room.DataTrackSubscription) *ffipb.RoomEvent {
	pub := &ffipb.RemoteDataTrackPublished{Track: &ffipb.RemoteDataTrackInfo{PublisherIdentity: info.PublisherIdentity, Info: dataTrackInfo(info)}}
	if sub != nil {
		announced := make(chan struct{})
		h, err := r.c.adoptSubscription(r, t, sub, announced)
		if err != nil {
			r.log.Warn("handing over an auto-subscription failed", "track", t.SID(), "err", err)
			_ = sub.Close()
		} else {
			r.announcing = append(r.announcing, announced) // closed once the event is queued
			pub.AutoSubscription = &ffipb.OwnedDataTrackSubscription{Handle: h, Track: pub.Track}
		}
	}
	return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataTrackPublished{DataTrackPublished: pub}}
}
