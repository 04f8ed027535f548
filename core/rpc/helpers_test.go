package rpc_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

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

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // hang guard only
	t.Cleanup(cancel)
	return ctx
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
	n.ds.HandleParticipantDisconnected(identity)
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
