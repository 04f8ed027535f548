package rpc_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datastream/dstest"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
)

// fakeClock fires timers only when advanced.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.UnixMilli(1700000000000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) rpc.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves time forward and runs due timers in order, synchronously.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

// Pending reports the number of armed timers.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

var capsAll = []lkpb.ClientInfo_Capability{lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW}

// node is one participant: endpoint + datastream + rpc managers.
type node struct {
	ep  *dstest.Endpoint
	ds  *datastream.Manager
	rpc *rpc.Manager
}

func (n *node) handle(pkt *lkpb.DataPacket) {
	n.ds.HandlePacket(pkt)
	n.rpc.HandlePacket(pkt)
}

func (n *node) left(identity string) {
	n.ds.HandleParticipantDisconnected(identity, "")
	n.rpc.HandleParticipantDisconnected(identity)
}

type world struct {
	net   *dstest.Network
	clock *fakeClock
	nodes []*node
}

func newWorld(t testing.TB) *world {
	w := &world{net: dstest.NewNetwork(), clock: newFakeClock()}
	t.Cleanup(func() {
		for _, n := range w.nodes {
			_ = n.rpc.Close()
			_ = n.ds.Close()
		}
		w.net.Close()
	})
	return w
}

func (w *world) join(t testing.TB, id string, proto int32, caps ...lkpb.ClientInfo_Capability) *node {
	ep := w.net.Join(id, proto, caps...)
	ds := datastream.NewManager(ep, datastream.Options{})
	r, err := rpc.New(ep, ds, rpc.Options{Clock: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{ep: ep, ds: ds, rpc: r}
	ep.Start(n.handle, n.left)
	w.nodes = append(w.nodes, n)
	return n
}

type callResult struct {
	payload string
	err     error
}

func (n *node) callAsync(ctx context.Context, p rpc.PerformParams) chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		s, err := n.rpc.PerformRPC(ctx, p)
		ch <- callResult{s, err}
	}()
	return ch
}

func wait(t testing.TB, ch chan callResult) callResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(15 * time.Second): // hang guard
		t.Fatal("call did not complete")
		return callResult{}
	}
}

// WaitTimers blocks until at least n timers are armed (hang-guarded); used
// before Advance so that the timers under test exist.
func (c *fakeClock) WaitTimers(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Pending() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers armed, want %d", c.Pending(), n)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// sink joins a participant whose packets are swallowed (it never answers).
func (w *world) sink(id string, proto int32, caps ...lkpb.ClientInfo_Capability) *dstest.Endpoint {
	ep := w.net.Join(id, proto, caps...)
	ep.Start(func(*lkpb.DataPacket) {}, nil)
	return ep
}

// record captures what an endpoint sends.
type record struct {
	mu   sync.Mutex
	pkts []*lkpb.DataPacket
}

func (r *record) hook(_ context.Context, p *lkpb.DataPacket) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pkts = append(r.pkts, proto.Clone(p).(*lkpb.DataPacket))
	return nil
}

func (r *record) list() []*lkpb.DataPacket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*lkpb.DataPacket(nil), r.pkts...)
}

func recordOn(ep *dstest.Endpoint) *record {
	r := &record{}
	ep.SetSendHook(r.hook)
	return r
}

// joinReal is join with the system clock (benchmarks).
func (w *world) joinReal(t testing.TB, id string, proto int32, caps ...lkpb.ClientInfo_Capability) *node {
	ep := w.net.Join(id, proto, caps...)
	ds := datastream.NewManager(ep, datastream.Options{})
	r, err := rpc.New(ep, ds, rpc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{ep: ep, ds: ds, rpc: r}
	ep.Start(n.handle, n.left)
	w.nodes = append(w.nodes, n)
	return n
}
