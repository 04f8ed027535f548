package ffi

import (
	"context"
	"errors"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// FramePusher is implemented by the objects behind local data track handles.
type FramePusher interface {
	// PushFrame queues one frame without blocking: QUEUE_FULL (retryable) when the track's
	// queue is full — or, paced, where the waiting push would wait (the core's
	// LocalDataTrack.TryPushPaced) — TRACK_UNPUBLISHED when it is not published. payload is
	// borrowed for the duration of the call only (it may point into host memory): copy what is
	// kept.
	PushFrame(payload []byte, userTimestamp uint64, hasUserTimestamp bool, paced bool) error
}

// Frame is one received data-track frame.
type Frame struct {
	Payload          []byte
	UserTimestamp    uint64
	HasUserTimestamp bool
	// DroppedBefore counts the frames of the subscription lost since the previous frame read
	// (DataTrackFrameEvent.dropped_before).
	DroppedBefore uint64
}

// FrameReader is implemented by the objects behind data track subscription handles
// (DELIVERY_MODE_PULL).
type FrameReader interface {
	// ReadFrame returns the next buffered frame, waiting until ctx is done. A frame already
	// buffered is returned even if ctx is done (that is how a zero timeout polls). After the
	// subscription ended and its buffer drained it returns END_OF_STREAM.
	ReadFrame(ctx context.Context) (Frame, error)
}

// CreditGranter is implemented by credit-based consumers (subscriptions, stream readers).
type CreditGranter interface {
	// GrantCredits adds credits and returns how many are now unused.
	GrantCredits(n uint32) (available uint64, err error)
}

// PushFrame is the fast path behind lk_data_track_push: no protobuf, one handle lookup.
func (c *Client) PushFrame(track uint64, payload []byte, userTimestamp uint64, hasUserTimestamp bool) error {
	return c.pushFrame(track, payload, userTimestamp, hasUserTimestamp, false)
}

// PushFramePaced is the fast path behind lk_data_track_push_paced: PushFrame refusing where
// the waiting push would wait.
func (c *Client) PushFramePaced(track uint64, payload []byte, userTimestamp uint64, hasUserTimestamp bool) error {
	return c.pushFrame(track, payload, userTimestamp, hasUserTimestamp, true)
}

func (c *Client) pushFrame(track uint64, payload []byte, userTimestamp uint64, hasUserTimestamp bool, paced bool) error {
	if c.closed.Load() {
		return ErrClientClosed
	}
	obj, err := c.handles.Get(track, KindLocalDataTrack)
	if err != nil {
		return err
	}
	p, ok := obj.(FramePusher)
	if !ok {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED, "data track push is not implemented")
	}
	return p.PushFrame(payload, userTimestamp, hasUserTimestamp, paced)
}

// ReadFrame is the fast path behind lk_data_track_read. timeout < 0 waits until a frame
// arrives, the subscription ends or the client closes; 0 polls.
func (c *Client) ReadFrame(subscription uint64, timeout time.Duration) (Frame, error) {
	if c.closed.Load() {
		return Frame{}, ErrClientClosed
	}
	obj, err := c.handles.Get(subscription, KindDataTrackSubscription)
	if err != nil {
		return Frame{}, err
	}
	r, ok := obj.(FrameReader)
	if !ok {
		return Frame{}, Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "subscription is not in pull delivery mode")
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	if timeout >= 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	f, err := r.ReadFrame(ctx)
	if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		if c.closed.Load() {
			return Frame{}, ErrClientClosed
		}
		return Frame{}, ErrTimeout
	}
	return f, err
}
