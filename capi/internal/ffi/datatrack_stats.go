package ffi

import (
	"context"
	"errors"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/room"
)

// Requests added in ABI 1.2 so hosts reach the core's data-track and E2EE API without
// reimplementing its policy: LocalDataTrack.Push (waiting push), Flush and Stats, waiting for a
// subscription to be established, and the room's E2EE counters. The core decides; these
// handlers only translate.

// pushWait handles Request.push_data_track_frame_wait (ASYNC): LocalDataTrack.Push, which
// waits while the queue is full. The payload was decoded from the request (a copy), so the
// operation may keep it.
func (c *Client) pushWait(k *call, m *ffipb.PushDataTrackFrameRequest) error {
	lt, err := c.localTrack(m.GetTrackHandle())
	if err != nil {
		return err
	}
	if lt.unpublished.Load() {
		return errTrackUnpublished
	}
	f := room.Frame{Payload: m.GetPayload(), UserTimestamp: m.GetUserTimestamp(), HasUserTimestamp: m.UserTimestamp != nil}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		if lt.unpublished.Load() {
			return nil, errTrackUnpublished
		}
		if err := lt.t.Push(ctx, f); err != nil {
			if errors.Is(err, datatrack.ErrQueueFull) {
				return nil, errQueueFull
			}
			return nil, fromCore(err)
		}
		return nil, nil
	})
}

// flushDataTrack handles FlushDataTrackRequest (ASYNC): LocalDataTrack.Flush.
func (c *Client) flushDataTrack(k *call, m *ffipb.FlushDataTrackRequest) error {
	lt, err := c.localTrack(m.GetTrackHandle())
	if err != nil {
		return err
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		return nil, fromCore(lt.t.Flush(ctx))
	})
}

// dataTrackStats handles GetDataTrackStatsRequest: LocalDataTrack.Stats.
func (c *Client) dataTrackStats(m *ffipb.GetDataTrackStatsRequest, resp *ffipb.Response) error {
	lt, err := c.localTrack(m.GetTrackHandle())
	if err != nil {
		return err
	}
	st := lt.t.Stats()
	resp.Message = &ffipb.Response_GetDataTrackStats{GetDataTrackStats: &ffipb.GetDataTrackStatsResponse{
		Stats: &ffipb.LocalDataTrackStats{
			Pushed:      st.Pushed,
			Rejected:    st.Rejected,
			Sent:        st.Sent,
			SendFailed:  st.SendFailed,
			Discarded:   st.Discarded,
			Queued:      clampUint32(st.Queued),
			Evicted:     st.Evicted,
			QueuedBytes: uint64(max(st.QueuedBytes, 0)),
		},
	}}
	return nil
}

// subscription returns the object behind a data track subscription handle.
func (c *Client) subscription(h uint64) (*Subscription, error) {
	obj, err := c.handles.Get(h, KindDataTrackSubscription)
	if err != nil {
		return nil, err
	}
	s, ok := obj.(*Subscription)
	if !ok {
		return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_INTERNAL, "subscription handle without a subscription")
	}
	return s, nil
}

// waitSubscribed handles WaitDataTrackSubscribedRequest (ASYNC): completes when the core's
// subscription is established (Subscribe returned; for an auto-subscription, the server
// confirmed it) or failed, or fails with INVALID_HANDLE once the handle is released while
// waiting.
func (c *Client) waitSubscribed(k *call, m *ffipb.WaitDataTrackSubscribedRequest) error {
	s, err := c.subscription(m.GetSubscriptionHandle())
	if err != nil {
		return err
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if s.sub == nil && s.ctx.Err() != nil { // released before it was established
			return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE, "the subscription was released")
		}
		if s.err != nil {
			return nil, fromCore(s.err)
		}
		// An auto-subscription exists before the server has confirmed it.
		if err := s.sub.WaitEstablished(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fromCore(err)
		}
		return nil, nil
	})
}

// subscriptionEnd handles GetDataTrackSubscriptionEndRequest: how the subscription ended,
// read from the core subscription itself (so a host that read END_OF_STREAM has it at once).
func (c *Client) subscriptionEnd(m *ffipb.GetDataTrackSubscriptionEndRequest, resp *ffipb.Response) error {
	s, err := c.subscription(m.GetSubscriptionHandle())
	if err != nil {
		return err
	}
	end := s.end()
	resp.Message = &ffipb.Response_GetDataTrackSubscriptionEnd{GetDataTrackSubscriptionEnd: &ffipb.GetDataTrackSubscriptionEndResponse{
		Ended: end != nil, End: end,
	}}
	return nil
}

// e2eeStats handles GetE2eeStatsRequest: Room.E2EEEnabled, Room.E2EEStats and
// Room.EncryptionStates.
func (c *Client) e2eeStats(m *ffipb.GetE2EeStatsRequest, resp *ffipb.Response) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	out := &ffipb.GetE2EeStatsResponse{Enabled: r.keys != nil}
	r.mu.Lock()
	core := r.core // kept after a disconnect, so the final counters stay readable
	r.mu.Unlock()
	if core != nil {
		st := core.E2EEStats()
		out.DecryptionFailures = st.DecryptionFailures
		out.EventsSuppressed = st.EventsSuppressed
		if states := core.EncryptionStates(); len(states) > 0 {
			out.ParticipantStates = make(map[string]ffipb.EncryptionState, len(states))
			for id, st := range states {
				out.ParticipantStates[id] = encryptionState(st)
			}
		}
	}
	resp.Message = &ffipb.Response_GetE2EeStats{GetE2EeStats: out}
	return nil
}
