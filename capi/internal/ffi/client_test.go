package ffi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"google.golang.org/protobuf/proto"
)

// hangGuard bounds waits in tests; it is never the thing being measured.
const hangGuard = 10 * time.Second

// sink collects delivered events (callback mode).
type sink struct {
	mu     sync.Mutex
	events []*ffipb.Event
	notify chan struct{}
	hook   func(*ffipb.Event) // runs inside the callback, before recording
}

func newSink() *sink { return &sink{notify: make(chan struct{}, 1)} }

func (s *sink) deliver(b []byte) {
	ev := new(ffipb.Event)
	if err := proto.Unmarshal(b, ev); err != nil {
		panic(err)
	}
	if s.hook != nil {
		s.hook(ev)
	}
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *sink) snapshot() []*ffipb.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*ffipb.Event(nil), s.events...)
}

// waitFor waits until pred holds on the delivered events.
func (s *sink) waitFor(t *testing.T, what string, pred func([]*ffipb.Event) bool) []*ffipb.Event {
	t.Helper()
	deadline := time.After(hangGuard)
	for {
		if evs := s.snapshot(); pred(evs) {
			return evs
		}
		select {
		case <-s.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %d events", what, len(s.snapshot()))
		}
	}
}

func newTestClient(t *testing.T, id uint32, deliver func([]byte)) *Client {
	t.Helper()
	c, _ := newLoggedClient(t, id, deliver)
	return c
}

// newLoggedClient is newTestClient that also returns the capture of everything the client
// logs, at every level (whatever the level forwarded to the host): the test fails if a
// record carries the API secret, an access token or a payload marker.
func newLoggedClient(t *testing.T, id uint32, deliver func([]byte)) (*Client, *testkit.Capture) {
	t.Helper()
	return newLoggedClientOpts(t, Options{ID: id, Deliver: deliver})
}

// newLoggedClientOpts is newLoggedClient with all options.
func newLoggedClientOpts(t *testing.T, opts Options) (*Client, *testkit.Capture) {
	t.Helper()
	logs := testkit.NewCapture(t)
	logs.ForbidString("the API secret", devsfu.DefaultAPISecret)
	opts.wrapLog = logs.Tee
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(hangGuard, false); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c, logs
}

func do(t *testing.T, c *Client, req *ffipb.Request) *ffipb.Response {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	out, code := c.Request(b)
	resp := new(ffipb.Response)
	if err := proto.Unmarshal(out, resp); err != nil {
		t.Fatalf("response does not decode: %v", err)
	}
	if resp.GetError().GetCode() != code {
		t.Fatalf("returned code %v but response says %v", code, resp.GetError().GetCode())
	}
	return resp
}

func wantRespCode(t *testing.T, resp *ffipb.Response, code ffipb.ErrorCode) {
	t.Helper()
	if got := resp.GetError().GetCode(); got != code {
		t.Fatalf("response code %v (%q), want %v", got, resp.GetError().GetMessage(), code)
	}
	if code != ffipb.ErrorCode_ERROR_CODE_OK && resp.GetError().GetMessage() == "" {
		t.Fatalf("error without message")
	}
}

func echoAsync(id uint64, payload string, delayMs uint32) *ffipb.Request {
	return &ffipb.Request{RequestId: id, Message: &ffipb.Request_Echo{Echo: &ffipb.EchoRequest{Payload: []byte(payload), Async: true, DelayMs: delayMs}}}
}

func completions(evs []*ffipb.Event) map[uint64]*ffipb.Completion {
	m := map[uint64]*ffipb.Completion{}
	for _, ev := range evs {
		if c := ev.GetCompletion(); c != nil {
			m[c.RequestId] = c
		}
	}
	return m
}

func TestNewClientRejectsBadID(t *testing.T) {
	for _, id := range []uint32{0, MaxClientID + 1} {
		if _, err := NewClient(Options{ID: id}); CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
			t.Fatalf("id %d: %v", id, err)
		}
	}
}

// Events posted by many producers arrive one at a time with seq 1..N without gaps, and each
// producer's events keep their order.
func TestDispatcherOrderingAndSequence(t *testing.T) {
	s := newSink()
	var inCallback atomic.Int32
	s.hook = func(*ffipb.Event) {
		if inCallback.Add(1) != 1 {
			panic("callbacks overlap")
		}
		inCallback.Add(-1)
	}
	c := newTestClient(t, 1, s.deliver)
	const producers, perProducer = 4, 300
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				ev := &ffipb.Event{Message: &ffipb.Event_Completion{Completion: &ffipb.Completion{RequestId: uint64(p)<<32 | uint64(i)}}}
				if err := c.Post(context.Background(), ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs := s.waitFor(t, "all events", func(e []*ffipb.Event) bool { return len(e) == producers*perProducer })
	next := make([]uint64, producers)
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		id := ev.GetCompletion().GetRequestId()
		p, n := id>>32, id&0xFFFFFFFF
		if n != next[p] {
			t.Fatalf("producer %d: got %d, want %d", p, n, next[p])
		}
		next[p]++
	}
}

func TestPullMode(t *testing.T) {
	c := newTestClient(t, 2, nil)
	if _, err := c.NextEvent(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("poll on empty queue: %v", err)
	}
	if _, err := c.NextEvent(5 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("short wait on empty queue: %v", err)
	}
	for i := 0; i < 3; i++ {
		wantRespCode(t, do(t, c, echoAsync(uint64(10+i), fmt.Sprint(i), 0)), ffipb.ErrorCode_ERROR_CODE_OK)
	}
	got := map[uint64]string{}
	for i := 0; i < 3; i++ {
		b, err := c.NextEvent(hangGuard)
		if err != nil {
			t.Fatal(err)
		}
		ev := new(ffipb.Event)
		if err := proto.Unmarshal(b, ev); err != nil {
			t.Fatal(err)
		}
		if ev.Seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", ev.Seq, i+1)
		}
		comp := ev.GetCompletion()
		got[comp.RequestId] = string(comp.GetEcho().GetPayload())
	}
	for i := 0; i < 3; i++ {
		if got[uint64(10+i)] != fmt.Sprint(i) {
			t.Fatalf("completions %v", got)
		}
	}
}

func TestPullOnCallbackClientFails(t *testing.T) {
	c := newTestClient(t, 3, newSink().deliver)
	_, err := c.NextEvent(0)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
}

func TestCloseWakesBlockedPuller(t *testing.T) {
	c, err := NewClient(Options{ID: 4})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.NextEvent(-1)
		done <- err
	}()
	// The puller is past its entry checks (it holds the pull semaphore, so it is waiting
	// for an event) when the client closes.
	deadline := time.After(hangGuard)
	for len(c.pullSem) == 0 {
		select {
		case <-deadline:
			t.Fatal("puller never started waiting")
		case <-time.After(time.Millisecond):
		}
	}
	closeWakes(t, c, done, "puller")
}

func TestCloseIdempotentConcurrentAndFinal(t *testing.T) {
	s := newSink()
	c, err := NewClient(Options{ID: 5, Deliver: s.deliver})
	if err != nil {
		t.Fatal(err)
	}
	room := do(t, c, &ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{}}}).GetCreateRoom().GetRoom().GetHandle()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Close(hangGuard, false); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := c.Close(0, false); err != nil {
		t.Fatalf("third close: %v", err)
	}
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_GetVersion{GetVersion: &ffipb.GetVersionRequest{}}}), ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED)
	wantCode(t, c.DropHandle(room), ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED)
	wantCode(t, c.PushFrame(room, nil, 0, false), ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED)
	_, err = c.ReadFrame(room, 0)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED)
	wantCode(t, c.Post(context.Background(), &ffipb.Event{}), ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED)
	if c.TryPost(&ffipb.Event{}) {
		t.Fatal("TryPost after close succeeded")
	}
}

// After Close returns, no callback runs, even with producers still posting.
func TestNoCallbackAfterClose(t *testing.T) {
	var closed atomic.Bool
	var late atomic.Int64
	var delivered atomic.Int64
	deliver := func([]byte) {
		if closed.Load() {
			late.Add(1)
		}
		delivered.Add(1)
	}
	c, err := NewClient(Options{ID: 6, Deliver: deliver, QueueCapacity: 8})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < 3; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.Post(context.Background(), &ffipb.Event{Message: &ffipb.Event_Log{Log: &ffipb.LogRecord{Message: "x"}}}); err != nil {
					return
				}
			}
		}()
	}
	deadline := time.After(hangGuard)
	for delivered.Load() < 100 {
		select {
		case <-deadline:
			t.Fatalf("only %d events delivered", delivered.Load())
		case <-time.After(time.Millisecond):
		}
	}
	if err := c.Close(hangGuard, false); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	close(stop)
	wg.Wait()
	// Only the dispatcher calls the callback, and Close returned after it exited: no callback
	// can run any more.
	select {
	case <-c.dispatcherDone:
	default:
		t.Fatal("Close returned while the dispatcher still runs")
	}
	if n := late.Load(); n != 0 {
		t.Fatalf("%d callbacks after Close returned", n)
	}
}

// Close from inside the client's own callback neither deadlocks nor delivers anything after.
func TestCloseFromOwnCallback(t *testing.T) {
	var c *Client
	var calls atomic.Int32
	closeErr := make(chan error, 1)
	ready := make(chan struct{})
	deliver := func([]byte) {
		<-ready
		if calls.Add(1) == 1 {
			closeErr <- c.Close(hangGuard, true)
		}
	}
	var err error
	c, err = NewClient(Options{ID: 7, Deliver: deliver})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := c.Post(context.Background(), &ffipb.Event{}); err != nil {
			t.Fatal(err)
		}
	}
	close(ready)
	select {
	case err := <-closeErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(hangGuard):
		t.Fatal("close from callback deadlocked")
	}
	// A second, external close waits for the dispatcher to finish and succeeds.
	if err := c.Close(hangGuard, false); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d callbacks, want 1 (nothing after close)", n)
	}
}

func TestCloseTimesOutOnBlockedCallbackThenSucceeds(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	c, err := NewClient(Options{ID: 8, Deliver: func([]byte) {
		once.Do(func() { close(entered) })
		<-release
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Post(context.Background(), &ffipb.Event{}); err != nil {
		t.Fatal(err)
	}
	<-entered
	err = c.Close(20*time.Millisecond, false)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_TIMEOUT)
	close(release)
	if err := c.Close(hangGuard, false); err != nil {
		t.Fatalf("close after the callback returned: %v", err)
	}
}

func TestAsyncEchoCompletesWithRequestID(t *testing.T) {
	s := newSink()
	c := newTestClient(t, 9, s.deliver)
	resp := do(t, c, echoAsync(42, "hello", 0))
	wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
	if resp.RequestId != 42 || resp.Message != nil {
		t.Fatalf("async response %v", resp)
	}
	evs := s.waitFor(t, "completion", func(e []*ffipb.Event) bool { return completions(e)[42] != nil })
	comp := completions(evs)[42]
	if comp.Error != nil || string(comp.GetEcho().GetPayload()) != "hello" {
		t.Fatalf("completion %v", comp)
	}
	// Sync echo.
	resp = do(t, c, &ffipb.Request{RequestId: 7, Message: &ffipb.Request_Echo{Echo: &ffipb.EchoRequest{Payload: []byte{0, 1, 2}}}})
	if resp.RequestId != 7 || string(resp.GetEcho().GetPayload()) != "\x00\x01\x02" {
		t.Fatalf("sync echo %v", resp)
	}
}

func TestAsyncRequestIDRules(t *testing.T) {
	s := newSink()
	c := newTestClient(t, 10, s.deliver)
	wantRespCode(t, do(t, c, echoAsync(0, "x", 0)), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST)
	wantRespCode(t, do(t, c, echoAsync(5, "x", 60_000)), ffipb.ErrorCode_ERROR_CODE_OK)
	wantRespCode(t, do(t, c, echoAsync(5, "y", 0)), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST)
	if c.PendingOps() != 1 {
		t.Fatalf("pending %d", c.PendingOps())
	}
	// Cancel: CANCELLED completion, then the id is free again.
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_Cancel{Cancel: &ffipb.CancelRequest{TargetRequestId: 5}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	evs := s.waitFor(t, "cancelled completion", func(e []*ffipb.Event) bool { return completions(e)[5] != nil })
	if comp := completions(evs)[5]; comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_CANCELLED || comp.Result != nil {
		t.Fatalf("completion %v", comp)
	}
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_Cancel{Cancel: &ffipb.CancelRequest{TargetRequestId: 5}}}), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_Cancel{Cancel: &ffipb.CancelRequest{}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST)
	// Timeout.
	req := echoAsync(6, "x", 60_000)
	req.TimeoutMs = 5
	wantRespCode(t, do(t, c, req), ffipb.ErrorCode_ERROR_CODE_OK)
	evs = s.waitFor(t, "timeout completion", func(e []*ffipb.Event) bool { return completions(e)[6] != nil })
	if code := completions(evs)[6].GetError().GetCode(); code != ffipb.ErrorCode_ERROR_CODE_TIMEOUT {
		t.Fatalf("code %v", code)
	}
}

// Close abandons pending operations without delivering their completions and stops their
// goroutines (goleak checks the latter).
func TestCloseAbandonsPendingOps(t *testing.T) {
	s := newSink()
	c, err := NewClient(Options{ID: 11, Deliver: s.deliver})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		wantRespCode(t, do(t, c, echoAsync(uint64(i), "x", 60_000)), ffipb.ErrorCode_ERROR_CODE_OK)
	}
	if err := c.Close(hangGuard, false); err != nil {
		t.Fatal(err)
	}
	if n := len(completions(s.snapshot())); n != 0 {
		t.Fatalf("%d completions delivered for abandoned ops", n)
	}
	if c.PendingOps() != 0 {
		t.Fatalf("pending ops after close: %d", c.PendingOps())
	}
}

func TestTwoClientsDoNotInterfere(t *testing.T) {
	sa, sb := newSink(), newSink()
	a := newTestClient(t, 12, sa.deliver)
	b := newTestClient(t, 13, sb.deliver)
	ra := do(t, a, &ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{}}}).GetCreateRoom().GetRoom().GetHandle()
	rb := do(t, b, &ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{}}}).GetCreateRoom().GetRoom().GetHandle()
	if ra == rb {
		t.Fatal("same handle in two clients")
	}
	wantCode(t, b.DropHandle(ra), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	// Same request ids in both clients are independent.
	wantRespCode(t, do(t, a, echoAsync(1, "a", 0)), ffipb.ErrorCode_ERROR_CODE_OK)
	wantRespCode(t, do(t, b, echoAsync(1, "b", 0)), ffipb.ErrorCode_ERROR_CODE_OK)
	ea := sa.waitFor(t, "a", func(e []*ffipb.Event) bool { return completions(e)[1] != nil })
	eb := sb.waitFor(t, "b", func(e []*ffipb.Event) bool { return completions(e)[1] != nil })
	if string(completions(ea)[1].GetEcho().GetPayload()) != "a" || string(completions(eb)[1].GetEcho().GetPayload()) != "b" {
		t.Fatal("completions crossed clients")
	}
	// Log levels are per client.
	wantRespCode(t, do(t, a, &ffipb.Request{Message: &ffipb.Request_SetLogLevel{SetLogLevel: &ffipb.SetLogLevelRequest{Level: ffipb.LogLevel_LOG_LEVEL_DEBUG}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	// (Asked of the forwarding handlers: the test's log capture enables every level.)
	if !(&logHandler{c: a}).Enabled(context.Background(), -4) || (&logHandler{c: b}).Enabled(context.Background(), -4) {
		t.Fatal("log level leaked between clients")
	}
	// Closing one leaves the other working.
	if err := a.Close(hangGuard, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Handles().Get(rb, KindRoom); err != nil {
		t.Fatalf("b affected by a's close: %v", err)
	}
}

func TestDropHandleRunsReleaseInBackground(t *testing.T) {
	c := newTestClient(t, 14, nil)
	released := make(chan struct{})
	room, err := c.Handles().Insert(KindRoom, &Room{}, 0, func(context.Context) { close(released) })
	if err != nil {
		t.Fatal(err)
	}
	child, _ := c.Handles().Insert(KindStreamReader, nil, room, nil)
	if err := c.DropHandle(room); err != nil {
		t.Fatal(err)
	}
	select {
	case <-released:
	case <-time.After(hangGuard):
		t.Fatal("release not run")
	}
	if err := c.DropHandle(room); err != nil {
		t.Fatalf("double drop: %v", err)
	}
	if err := c.DropHandle(child); err != nil {
		t.Fatalf("drop of child released with parent: %v", err)
	}
	wantCode(t, c.DropHandle(0), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
}

func TestCloseReleasesHandles(t *testing.T) {
	c, err := NewClient(Options{ID: 15})
	if err != nil {
		t.Fatal(err)
	}
	var released atomic.Int32
	for i := 0; i < 3; i++ {
		if _, err := c.Handles().Insert(KindRoom, nil, 0, func(ctx context.Context) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("release without deadline")
			}
			released.Add(1)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(hangGuard, false); err != nil {
		t.Fatal(err)
	}
	if released.Load() != 3 {
		t.Fatalf("released %d of 3", released.Load())
	}
}

// nextEvent pulls and decodes the next event of a pull-mode client.
func nextEvent(t *testing.T, c *Client) *ffipb.Event {
	t.Helper()
	b, err := c.NextEvent(hangGuard)
	if err != nil {
		t.Fatalf("next event: %v", err)
	}
	ev := new(ffipb.Event)
	if err := proto.Unmarshal(b, ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// Data-track frame events wait in the queue within a byte budget as well as the queue's
// count: a lossy frame beyond the budget is refused (the subscription counts it as lost),
// taking frames out frees the budget, and credited frames (Post) count without being refused.
func TestQueuedFrameBytesBounded(t *testing.T) {
	c, err := NewClient(Options{ID: 7, QueueCapacity: 100, MaxQueuedFrameBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(hangGuard, false) })
	frame := func(n int) *ffipb.Event {
		return &ffipb.Event{Message: &ffipb.Event_DataTrackFrame{DataTrackFrame: &ffipb.DataTrackFrameEvent{Payload: make([]byte, n)}}}
	}
	next := func() *ffipb.Event {
		t.Helper()
		b, err := c.NextEvent(hangGuard)
		if err != nil {
			t.Fatal(err)
		}
		ev := &ffipb.Event{}
		if err := proto.Unmarshal(b, ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	for i := range 2 {
		if !c.TryPost(frame(400)) {
			t.Fatalf("frame %d within the budget refused", i+1)
		}
	}
	if c.TryPost(frame(400)) {
		t.Fatal("a frame beyond the byte budget was queued (1200 of 1000 bytes)")
	}
	if !c.TryPost(&ffipb.Event{Message: &ffipb.Event_Log{Log: &ffipb.LogRecord{Message: "not a frame"}}}) {
		t.Fatal("an event without frame bytes refused")
	}
	if n := len(next().GetDataTrackFrame().GetPayload()); n != 400 {
		t.Fatalf("first event: %d payload bytes", n)
	}
	if !c.TryPost(frame(400)) {
		t.Fatal("the budget a delivered frame freed was not reusable")
	}
	if err := c.Post(context.Background(), frame(5000)); err != nil {
		t.Fatal("a credited frame refused:", err)
	}
	if c.TryPost(frame(1)) {
		t.Fatal("a lossy frame queued while credited frames exceed the budget")
	}
	for range 4 { // 400, log, 400, 5000
		next()
	}
	if got := c.frameBytes.Load(); got != 0 {
		t.Fatalf("%d frame bytes still counted with an empty queue", got)
	}
	if !c.TryPost(frame(1000)) {
		t.Fatal("a frame of the whole budget refused with an empty queue")
	}
}
