package room

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// pendingUpdate is an UpdateParticipantMetadata waiting for the server. Loop-owned.
type pendingUpdate struct {
	id        uint32
	reflected func(*lkpb.ParticipantInfo) bool
	okSeen    bool
	done      chan error // buffered(1), receives exactly once
}

// SetMetadata asks the server to set this participant's metadata and waits
// until the server's participant update reflects it (like JS), bounded by
// ctx (and 5 s when ctx has no earlier deadline). Requires the
// canUpdateOwnMetadata grant, else *RequestError{NOT_ALLOWED}. On the wire an
// empty value means "unchanged", so metadata cannot be cleared: "" is
// ErrInvalidArgument.
func (lp *LocalParticipant) SetMetadata(ctx context.Context, metadata string) error {
	if metadata == "" {
		return fmt.Errorf("%w: metadata cannot be set to the empty string (empty means unchanged)", ErrInvalidArgument)
	}
	return lp.room.updateLocal(ctx, &lkpb.UpdateParticipantMetadata{Metadata: metadata},
		func(info *lkpb.ParticipantInfo) bool { return info.GetMetadata() == metadata })
}

// SetName asks the server to set this participant's display name and waits
// until it is reflected (see SetMetadata). "" is ErrInvalidArgument.
func (lp *LocalParticipant) SetName(ctx context.Context, name string) error {
	if name == "" {
		return fmt.Errorf("%w: name cannot be set to the empty string (empty means unchanged)", ErrInvalidArgument)
	}
	return lp.room.updateLocal(ctx, &lkpb.UpdateParticipantMetadata{Name: name},
		func(info *lkpb.ParticipantInfo) bool { return info.GetName() == name })
}

// SetAttributes merges attrs into this participant's attributes and waits
// until the server reflects them (see SetMetadata). A key with an empty value
// is deleted; keys not in attrs are kept.
func (lp *LocalParticipant) SetAttributes(ctx context.Context, attrs map[string]string) error {
	if len(attrs) == 0 {
		return fmt.Errorf("%w: no attributes given", ErrInvalidArgument)
	}
	want := maps.Clone(attrs)
	return lp.room.updateLocal(ctx, &lkpb.UpdateParticipantMetadata{Attributes: want},
		func(info *lkpb.ParticipantInfo) bool {
			for k, v := range want {
				cur, ok := info.GetAttributes()[k]
				if v == "" && ok || v != "" && cur != v {
					return false
				}
			}
			return true
		})
}

// updateLocal sends an UpdateParticipantMetadata with the next request id
// (from 1, as JS) and waits for the outcome: the server's error
// request_response fails it; the local participant's info matching
// `reflected` (after an update or an OK response) completes it.
func (r *Room) updateLocal(ctx context.Context, req *lkpb.UpdateParticipantMetadata, reflected func(*lkpb.ParticipantInfo) bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	p := &pendingUpdate{reflected: reflected, done: make(chan error, 1)}
	var sendErr error
	if err := r.runOnLoop(ctx, func() {
		r.nextRequestID++
		p.id = r.nextRequestID
		req.RequestId = p.id
		sendCtx, cancel := context.WithTimeout(ctx, time.Second*5)
		defer cancel()
		sendErr = r.sendSignalLoop(sendCtx, &lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateMetadata{UpdateMetadata: req}})
		if sendErr == nil {
			r.pending = append(r.pending, p)
		}
	}); err != nil {
		return err
	}
	if sendErr != nil {
		return sendErr
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// Forget the request (best effort; the loop may be gone already).
		_ = r.runOnLoop(context.Background(), func() { r.removePending(p) })
		return ctx.Err()
	}
}

// checkPending is called on the loop after a request_response (resp != nil)
// or after the local participant's info changed (resp == nil).
func (r *Room) checkPending(resp *lkpb.RequestResponse) {
	info := r.local.load()
	kept := r.pending[:0]
	for _, p := range r.pending {
		if resp != nil && resp.GetRequestId() == p.id {
			if resp.GetReason() != lkpb.RequestResponse_OK {
				p.done <- &RequestError{Reason: RequestReason(resp.GetReason()), Message: resp.GetMessage()}
				continue
			}
			p.okSeen = true
		}
		// Reflected after an update (resp == nil) or once the server has
		// accepted the request (the value may already have been current).
		if (resp == nil || p.okSeen) && p.reflected(info) {
			p.done <- nil
			continue
		}
		kept = append(kept, p)
	}
	clear(r.pending[len(kept):])
	r.pending = kept
}

func (r *Room) removePending(p *pendingUpdate) {
	for i, q := range r.pending {
		if q == p {
			r.pending = append(r.pending[:i], r.pending[i+1:]...)
			return
		}
	}
}
