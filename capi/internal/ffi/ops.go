package ffi

import (
	"context"
	"errors"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// errCancelledByHost is the cancellation cause of an operation cancelled by CancelRequest.
var errCancelledByHost = Errorf(ffipb.ErrorCode_ERROR_CODE_CANCELLED, "cancelled by the host")

// op is a pending asynchronous operation.
type op struct {
	cancel context.CancelCauseFunc
}

// OpFunc runs an asynchronous operation. It returns the completion to deliver (its
// request_id and error are filled in by the caller; nil means success without a result) or an
// error. It must return promptly once ctx is done.
type OpFunc func(ctx context.Context) (*ffipb.Completion, error)

// StartOp registers an ASYNC operation under the host-chosen requestID and runs it on a
// goroutine owned by the client. Exactly one Completion event with that id follows unless
// the client closes first. timeout (0 = none) bounds the operation (TIMEOUT completion).
// Errors (no completion follows): INVALID_REQUEST (id 0 or in use), CLIENT_CLOSED.
func (c *Client) StartOp(requestID uint64, timeout time.Duration, run OpFunc) error {
	return c.startOp(requestID, timeout, run, nil)
}

// startOp is StartOp with a continuation: after, if non-nil, runs on the operation's
// goroutine (still owned by the client) once the completion has been queued, with delivered
// false when it was not (client closing) and ok true when the completion reports success.
// It is how an operation that creates an object starts the object's event flow strictly
// after the completion (e.g. a connected room's event pump).
func (c *Client) startOp(requestID uint64, timeout time.Duration, run OpFunc, after func(delivered, ok bool)) error {
	if requestID == 0 {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "an asynchronous request needs a non-zero request_id")
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClientClosed
	}
	if _, dup := c.ops[requestID]; dup {
		c.mu.Unlock()
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "request_id %d is already in use by a pending operation", requestID)
	}
	base, cancel := context.WithCancelCause(c.ctx)
	ctx, stop := base, context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, stop = context.WithTimeout(base, timeout)
	}
	c.ops[requestID] = &op{cancel: cancel}
	c.wg.Add(1)
	c.mu.Unlock()

	go func() {
		defer c.wg.Done()
		defer c.recoverGoroutine("asynchronous operation")
		defer cancel(nil)
		defer stop()
		comp, err := c.runOp(ctx, run)
		if err != nil && ctx.Err() != nil {
			// Report why the context ended rather than what the operation made of it.
			err = context.Cause(ctx)
			if errors.Is(err, context.DeadlineExceeded) {
				err = Errorf(ffipb.ErrorCode_ERROR_CODE_TIMEOUT, "operation did not complete within %v", timeout)
			}
		}
		c.mu.Lock()
		delete(c.ops, requestID)
		c.mu.Unlock()
		if errors.Is(err, ErrClientClosed) {
			if after != nil {
				after(false, false)
			}
			return // the client is closing: nothing is delivered any more
		}
		if comp == nil {
			comp = &ffipb.Completion{}
		}
		comp.RequestId = requestID
		comp.Error = ToProto(err)
		if comp.Error != nil {
			comp.Result = nil
		}
		comp.OwnedHandles = completionOwnedHandles(comp)
		perr := c.Post(c.ctx, &ffipb.Event{Message: &ffipb.Event_Completion{Completion: comp}})
		if after != nil {
			after(perr == nil, comp.Error == nil)
		}
	}()
	return nil
}

func (c *Client) runOp(ctx context.Context, run OpFunc) (comp *ffipb.Completion, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.recoverGoroutineValue("asynchronous operation", r)
			comp, err = nil, Errorf(ffipb.ErrorCode_ERROR_CODE_INTERNAL, "internal error (panic recovered)")
		}
	}()
	return run(ctx)
}

// CancelOp cancels a pending operation; NOT_FOUND if none is pending under that id.
func (c *Client) CancelOp(requestID uint64) error {
	c.mu.Lock()
	o := c.ops[requestID]
	c.mu.Unlock()
	if o == nil {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, "no pending operation with request_id %d", requestID)
	}
	o.cancel(errCancelledByHost)
	return nil
}

// PendingOps returns the number of pending asynchronous operations.
func (c *Client) PendingOps() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ops)
}
