package ffi

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"google.golang.org/protobuf/proto"
)

// Defaults and limits of a client, named in one place.
const (
	// DefaultQueueCapacity is the number of undelivered events a client buffers. Producers of
	// events that must not be lost (completions, room events) wait for space; lossy events
	// (log records, data-track frames in EVENTS mode) are dropped and counted instead.
	DefaultQueueCapacity = 4096
	// DefaultCloseTimeout bounds Close when the caller gives no timeout.
	DefaultCloseTimeout = 5 * time.Second
	// ReleaseTimeout bounds the release of one dropped handle (e.g. a room disconnecting).
	ReleaseTimeout = 5 * time.Second
	// MaxRequestSize is the largest encoded Request accepted.
	MaxRequestSize = 256 << 20
	// DefaultMaxQueuedFrameBytes bounds the payload bytes of the data-track frame events
	// (EVENTS mode) waiting in a client's queue. The queue's count bound alone let a remote
	// publisher's large frames (up to about 2 MB each) hold gigabytes for a slow host; beyond
	// this budget frames are dropped and counted like those refused by a full queue.
	DefaultMaxQueuedFrameBytes = 64 << 20
)

// Options configure a Client.
type Options struct {
	// ID identifies the client in its handles (1..MaxClientID). The cgo registry assigns it;
	// two live clients must have different ids.
	ID uint32
	// Deliver, if non-nil, receives every event, in order, on the client's single dispatcher
	// goroutine (locked to one OS thread for its lifetime). The slice is valid only during the
	// call. If nil the client is in pull mode and the host calls NextEvent.
	Deliver func(event []byte)
	// QueueCapacity is the event queue capacity (0 = DefaultQueueCapacity).
	QueueCapacity int
	// MaxQueuedFrameBytes bounds the queued frame events' payload bytes (0 =
	// DefaultMaxQueuedFrameBytes).
	MaxQueuedFrameBytes int
	// HostEnv, if non-nil, reads the host's current environment (the C library's getenv):
	// before each ConnectRequest the client copies the proxy and TLS-root variables from it
	// into the Go runtime's environment (hostenv.go).
	HostEnv func(name string) (string, bool)

	// wrapLog, if set (by this package's tests only), wraps the client's log handler, e.g. to
	// also capture every record for a check.
	wrapLog func(slog.Handler) slog.Handler
}

// Client is one independent FFI client: handle table, ordered event stream, pending
// asynchronous operations and log forwarding. All methods are safe for concurrent use.
type Client struct {
	id      uint32
	deliver func([]byte)
	hostEnv func(string) (string, bool) // Options.HostEnv
	handles *HandleTable
	logger  *slog.Logger

	// ctx is cancelled (cause ErrClientClosed) when Close starts; everything the client runs
	// derives from it.
	ctx    context.Context
	cancel context.CancelCauseFunc
	closed atomic.Bool

	queue   chan *ffipb.Event
	pullSem chan struct{} // serialises pullers so sequence numbers follow queue order
	// frameBytes: payload bytes of the frame events in queue, bounded by maxFrameBytes.
	frameBytes    atomic.Int64
	maxFrameBytes int64
	seq           uint64 // owned by the dispatcher, or by the holder of pullSem

	deliverMu      sync.Mutex
	stopDelivery   bool          // guarded by deliverMu; set before Close waits
	dispatcherDone chan struct{} // closed when the dispatcher has exited (at once in pull mode)

	mu           sync.Mutex
	closing      bool // guarded by mu; no new background work once set
	ops          map[uint64]*op
	wg           sync.WaitGroup // background goroutines: operations, releases
	releasedDone chan struct{}  // closed when teardown (except the dispatcher) finished

	logLevel   atomic.Int64 // slog level; logOff disables forwarding
	logDropped atomic.Uint64

	invocationSeq atomic.Uint64 // RpcInvocation.invocation_id of the last invocation

	notify eventNotifier // SetEventNotifyFdRequest (pull mode)

	// testHookRequest, if set (by this package's tests only), runs before routing.
	testHookRequest func(*ffipb.Request)
}

// NewClient creates a client and, in callback mode, starts its dispatcher.
func NewClient(opts Options) (*Client, error) {
	if opts.ID == 0 || opts.ID > MaxClientID {
		return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "client id %d out of range", opts.ID)
	}
	capacity := opts.QueueCapacity
	if capacity <= 0 {
		capacity = DefaultQueueCapacity
	}
	maxFrameBytes := opts.MaxQueuedFrameBytes
	if maxFrameBytes <= 0 {
		maxFrameBytes = DefaultMaxQueuedFrameBytes
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &Client{
		maxFrameBytes:  int64(maxFrameBytes),
		id:             opts.ID,
		deliver:        opts.Deliver,
		hostEnv:        opts.HostEnv,
		handles:        NewHandleTable(opts.ID),
		ctx:            ctx,
		cancel:         cancel,
		queue:          make(chan *ffipb.Event, capacity),
		pullSem:        make(chan struct{}, 1),
		dispatcherDone: make(chan struct{}),
		ops:            make(map[uint64]*op),
		releasedDone:   make(chan struct{}),
		notify:         eventNotifier{fd: -1},
	}
	c.logLevel.Store(int64(slog.LevelWarn))
	var lh slog.Handler = &logHandler{c: c}
	if opts.wrapLog != nil {
		lh = opts.wrapLog(lh)
	}
	c.logger = slog.New(lh)
	if c.deliver != nil {
		go c.dispatch()
	} else {
		close(c.dispatcherDone)
	}
	return c, nil
}

// ID returns the client id.
func (c *Client) ID() uint32 { return c.id }

// Handles returns the client's handle table.
func (c *Client) Handles() *HandleTable { return c.handles }

// Logger returns the logger whose records are forwarded to the host as LogRecord events.
func (c *Client) Logger() *slog.Logger { return c.logger }

// Closed reports whether Close has started.
func (c *Client) Closed() bool { return c.closed.Load() }

// Context is cancelled when the client starts closing.
func (c *Client) Context() context.Context { return c.ctx }

// Post enqueues an event that must not be lost, waiting for queue space. It fails with
// CLIENT_CLOSED once the client closes, or with ctx's error. Never call it on a goroutine that
// the host may be blocked on in a callback (the request path): hand the event to a goroutine
// of the client instead, or use TryPost.
func (c *Client) Post(ctx context.Context, ev *ffipb.Event) error {
	if c.closed.Load() {
		return ErrClientClosed
	}
	n := queuedBytes(ev) // counted (a credited frame), never refused: credits bound those
	c.countFrameBytes(n)
	select {
	case c.queue <- ev:
		c.notifyPosted()
		return nil
	case <-c.ctx.Done():
		c.countFrameBytes(-n)
		return ErrClientClosed
	case <-ctx.Done():
		c.countFrameBytes(-n)
		return ctx.Err()
	}
}

// TryPost enqueues a lossy event if there is space and reports whether it did: a slot in
// the queue and, for a data-track frame, room in the queued frames' byte budget. The caller
// counts what it drops and reports the count in a later event.
func (c *Client) TryPost(ev *ffipb.Event) bool {
	if c.closed.Load() {
		return false
	}
	n := queuedBytes(ev)
	if n > 0 && c.frameBytes.Add(n) > c.maxFrameBytes {
		c.frameBytes.Add(-n)
		return false
	}
	select {
	case c.queue <- ev:
		c.notifyPosted()
		return true
	default:
		c.countFrameBytes(-n)
		return false
	}
}

// queuedBytes is what an event counts against the queued frames' byte budget.
func queuedBytes(ev *ffipb.Event) int64 {
	return int64(len(ev.GetDataTrackFrame().GetPayload()))
}

// countFrameBytes adds n to the queued frame bytes; events without frame bytes (most of them:
// completions, room events, stream chunks) cost no atomic operation.
func (c *Client) countFrameBytes(n int64) {
	if n != 0 {
		c.frameBytes.Add(n)
	}
}

// dequeued accounts for an event taken from the queue (Post and TryPost counted it).
func (c *Client) dequeued(ev *ffipb.Event) { c.countFrameBytes(-queuedBytes(ev)) }

// dispatch delivers queued events one at a time, in queue order, on one OS thread.
func (c *Client) dispatch() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(c.dispatcherDone)
	var buf []byte
	for {
		select {
		case <-c.ctx.Done():
			return
		case ev := <-c.queue:
			c.dequeued(ev)
			c.deliverMu.Lock()
			if c.stopDelivery {
				c.deliverMu.Unlock()
				return
			}
			c.seq++
			ev.Seq = c.seq
			c.deliverMu.Unlock()
			var err error
			buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], ev)
			if err != nil {
				c.logger.Error("cannot encode event", "error", err)
				continue
			}
			c.deliverSafely(buf)
		}
	}
}

func (c *Client) deliverSafely(b []byte) {
	defer func() {
		if r := recover(); r != nil {
			c.logger.Error("panic recovered while delivering an event", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	c.deliver(b)
}

// NextEvent returns the next encoded event in pull mode. timeout < 0 waits until an event
// arrives or the client closes; 0 only polls. Errors: TIMEOUT (no event in time),
// CLIENT_CLOSED, FAILED_PRECONDITION (callback mode).
func (c *Client) NextEvent(timeout time.Duration) ([]byte, error) {
	if c.deliver != nil {
		return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "client delivers events through its callback")
	}
	if c.closed.Load() {
		return nil, ErrClientClosed
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	} else if timeout == 0 {
		ch := make(chan time.Time)
		close(ch)
		expired = ch
	}
	select {
	case c.pullSem <- struct{}{}:
	default:
		select {
		case c.pullSem <- struct{}{}:
		case <-c.ctx.Done():
			return nil, ErrClientClosed
		case <-expired:
			return nil, ErrTimeout
		}
	}
	defer func() { <-c.pullSem }()
	var ev *ffipb.Event
	select {
	case ev = <-c.queue:
	default:
		select {
		case ev = <-c.queue:
		case <-c.ctx.Done():
			return nil, ErrClientClosed
		case <-expired:
			c.rearmNotify()
			return nil, ErrTimeout
		}
	}
	c.dequeued(ev)
	c.seq++
	ev.Seq = c.seq
	b, err := proto.Marshal(ev)
	if err != nil {
		return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_INTERNAL, "cannot encode event: %v", err)
	}
	return b, nil
}

// goBackground runs fn on a goroutine owned by the client (Close waits for it). It returns
// false, without running fn, once the client is closing.
func (c *Client) goBackground(fn func()) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer c.recoverGoroutine("background task")
		fn()
	}()
	return true
}

func (c *Client) recoverGoroutine(where string) {
	if r := recover(); r != nil {
		c.logger.Error("panic recovered in "+where, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}

// DropHandle releases a handle (and its children) on the host's behalf. The release itself
// (e.g. disconnecting a room) runs in the background, so this never blocks on the network.
// Dropping an already released handle succeeds.
func (c *Client) DropHandle(h uint64) error {
	if c.closed.Load() {
		return ErrClientClosed
	}
	rels, err := c.handles.Drop(h)
	if err != nil || len(rels) == 0 {
		return err
	}
	if !c.goBackground(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ReleaseTimeout)
		defer cancel()
		for _, r := range rels {
			c.runRelease(ctx, r)
		}
	}) {
		return ErrClientClosed
	}
	return nil
}

func (c *Client) runRelease(ctx context.Context, r Release) {
	defer c.recoverGoroutine("handle release")
	r(ctx)
}

// Close closes the client: new calls fail with CLIENT_CLOSED, pending operations are
// cancelled, every handle is released (rooms disconnect), and event delivery stops —
// undelivered events are discarded. When Close returns nil no callback is running and none
// will start. It is idempotent and safe to call concurrently; every caller waits for the same
// teardown, bounded by timeout (<= 0 means DefaultCloseTimeout); TIMEOUT means teardown is
// still in progress (no new callback starts, but one may still be running).
//
// fromCallback must be true when called from inside this client's own Deliver callback: Close
// then does not wait for the dispatcher (which is the caller) to exit; it exits as soon as the
// callback returns, without delivering anything else.
func (c *Client) Close(timeout time.Duration, fromCallback bool) error {
	if timeout <= 0 {
		timeout = DefaultCloseTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()

	c.mu.Lock()
	first := !c.closing
	c.closing = true
	c.mu.Unlock()

	if first {
		c.closed.Store(true)
		c.notify.stop()
		c.deliverMu.Lock()
		c.stopDelivery = true
		c.deliverMu.Unlock()
		c.cancel(ErrClientClosed)
		rels := c.handles.CloseAll()
		go c.teardown(rels, timeout)
	}

	select {
	case <-c.releasedDone:
	case <-deadline.C:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_TIMEOUT, "close did not finish within %v", timeout)
	}
	if fromCallback {
		return nil
	}
	select {
	case <-c.dispatcherDone:
		return nil
	case <-deadline.C:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_TIMEOUT, "an event callback did not return within %v", timeout)
	}
}

// teardown releases the handles and waits for the client's goroutines.
func (c *Client) teardown(rels []Release, timeout time.Duration) {
	defer close(c.releasedDone)
	defer c.recoverGoroutine("close")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range rels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runRelease(ctx, r)
		}()
	}
	wg.Wait()
	c.wg.Wait()
}
