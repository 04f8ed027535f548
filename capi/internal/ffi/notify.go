package ffi

import (
	"sync"
	"sync/atomic"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// eventNotifier implements SetEventNotifyFdRequest: one byte written to a host-owned
// descriptor when an event is queued while armed. NextEvent arms it when it finds the queue
// empty, so a host that reads the descriptor and then pulls until TIMEOUT never misses an
// event, and at most one byte is written per such round.
type eventNotifier struct {
	enabled atomic.Bool // fast path for Post/TryPost: false unless a descriptor is set
	armed   atomic.Bool
	mu      sync.Mutex // guards fd and every write, so no write follows stop()
	fd      int        // -1: none
}

// posted runs after an event was queued.
func (c *Client) notifyPosted() {
	n := &c.notify
	if n.enabled.Load() && n.armed.CompareAndSwap(true, false) {
		n.signal()
	}
}

// rearm runs when NextEvent found the queue empty: the next queued event is signalled. An
// event queued between the empty check and the arming is signalled here.
func (c *Client) rearmNotify() {
	n := &c.notify
	if !n.enabled.Load() {
		return
	}
	n.armed.Store(true)
	if len(c.queue) > 0 && n.armed.CompareAndSwap(true, false) {
		n.signal()
	}
}

func (n *eventNotifier) signal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd >= 0 {
		writeNotifyFd(n.fd) // a full pipe already carries a wake-up: nothing to report
	}
}

// stop makes sure nothing is written any more (Close, or fd = -1).
func (n *eventNotifier) stop() {
	n.enabled.Store(false)
	n.mu.Lock()
	n.fd = -1
	n.mu.Unlock()
}

// setEventNotifyFd handles SetEventNotifyFdRequest.
func (c *Client) setEventNotifyFd(m *ffipb.SetEventNotifyFdRequest, resp *ffipb.Response) error {
	if c.deliver != nil {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "client delivers events through its callback")
	}
	fd := int(m.GetFd())
	if fd < 0 {
		c.notify.stop()
	} else {
		if err := checkNotifyFd(fd); err != nil {
			return err
		}
		c.notify.mu.Lock()
		c.notify.fd = fd
		c.notify.mu.Unlock()
		c.notify.enabled.Store(true)
		if c.closed.Load() { // Close raced with us: it must stay silent
			c.notify.stop()
			return ErrClientClosed
		}
		c.rearmNotify()
	}
	resp.Message = &ffipb.Response_SetEventNotifyFd{SetEventNotifyFd: &ffipb.SetEventNotifyFdResponse{}}
	return nil
}
