package room_test

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// meshMember is one participant of the mesh test: its room, and the model it builds from its
// Connect snapshot and its events (model, snapshot_test.go), with the auto-subscriptions that
// came with them.
type meshMember struct {
	id string
	r  *room.Room

	mu      sync.Mutex
	m       *model
	subs    map[string]*room.DataTrackSubscription // "publisher/name" -> auto-subscription
	taken   []room.Snapshot                        // SnapshotTaken events
	bad     []string                               // contradictions, reported at the end
	changed chan struct{}                          // closed and replaced on every event
}

// start builds the model from snap and applies every event after it.
func (mb *meshMember) start(snap room.Snapshot) <-chan struct{} {
	mb.m = modelOf(snap)
	mb.subs = map[string]*room.DataTrackSubscription{}
	mb.changed = make(chan struct{})
	for _, t := range snap.RemoteDataTracks {
		mb.adopt(t.Info, t.Subscription)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range mb.r.Events() {
			mb.mu.Lock()
			if err := mb.m.apply(ev); err != nil {
				mb.bad = append(mb.bad, err.Error())
			}
			switch e := ev.(type) {
			case room.DataTrackPublished:
				mb.adopt(e.Info, e.Subscription)
			case room.SnapshotTaken:
				mb.taken = append(mb.taken, e.Snapshot)
			}
			close(mb.changed)
			mb.changed = make(chan struct{})
			mb.mu.Unlock()
		}
	}()
	return done
}

func (mb *meshMember) adopt(i room.DataTrackInfo, s *room.DataTrackSubscription) {
	k := i.PublisherIdentity + "/" + i.Name
	if s == nil {
		mb.bad = append(mb.bad, "no auto-subscription for "+k)
		return
	}
	if _, ok := mb.subs[k]; ok {
		mb.bad = append(mb.bad, "a second auto-subscription for "+k)
	}
	mb.subs[k] = s
}

// waitUntil waits, bounded by ctx, until cond holds (called with mb.mu held).
func (mb *meshMember) waitUntil(ctx context.Context, cond func() bool) error {
	for {
		mb.mu.Lock()
		ok, ch := cond(), mb.changed
		mb.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Ten participants join one room at the same time, each with AutoSubscribe, and publish a
// track as soon as they are in, while the others are still joining. Every one of them ends up
// with the nine others exactly once (from its snapshot or an event, never both), one
// auto-subscription per remote track, every frame of every publisher on the subscription of
// that publisher's track, an answer to each of its RPCs (small ones to every other and
// streamed ones to two, all at once) and a requested snapshot equal to what its events built. Then all leave at once.
func TestMeshOfParticipantsJoiningTogether(t *testing.T) {
	const n, frames = 10, 20
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()

	members := make([]*meshMember, n)
	tokens := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("p%02d", i)
		var err error
		if tokens[i], err = s.Token("mesh", id); err != nil {
			t.Fatal(err)
		}
		r, err := room.New(room.Options{AutoSubscribe: true, Logger: s.Logger(id)})
		if err != nil {
			t.Fatal(err)
		}
		members[i] = &meshMember{id: id, r: r}
		t.Cleanup(func() { _ = r.Disconnect(context.Background()) })
		// Answers with who it is, who called and what was sent.
		err = r.RegisterRPCMethod("who", func(_ context.Context, inv rpc.Invocation) (string, error) {
			return id + "<" + inv.CallerIdentity + ":" + inv.Payload, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tracks := make([]*room.LocalDataTrack, n)
	dones := make([]<-chan struct{}, n)
	var wg sync.WaitGroup
	for i, mb := range members {
		wg.Go(func() {
			snap, err := mb.r.Connect(ctx, s.URL(), tokens[i])
			if err != nil {
				t.Errorf("%s: connect: %v", mb.id, err)
				return
			}
			dones[i] = mb.start(snap)
			if tracks[i], err = mb.r.LocalParticipant().PublishDataTrack(ctx, "t", room.DataTrackOptions{}); err != nil {
				t.Errorf("%s: publish: %v", mb.id, err)
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for i, done := range dones {
			if done != nil {
				_ = members[i].r.Disconnect(context.Background())
				<-done
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	// Everyone sees the nine others and their tracks, each with its auto-subscription, and
	// the server confirms each subscription.
	for _, mb := range members {
		err := mb.waitUntil(ctx, func() bool { return len(mb.m.parts) == n-1 && len(mb.subs) == n-1 })
		mb.mu.Lock()
		parts, subs := len(mb.m.parts), maps.Clone(mb.subs)
		mb.mu.Unlock()
		if err != nil {
			t.Fatalf("%s: %v with %d participants, subscriptions %v", mb.id, err, parts, slices.Sorted(maps.Keys(subs)))
		}
		for _, sub := range subs {
			if err := sub.WaitEstablished(ctx); err != nil {
				t.Fatalf("%s: subscription to %s: %v", mb.id, sub.Track().PublisherIdentity(), err)
			}
		}
	}

	// Every publisher sends its frames; every subscriber gets them all, in order, each on the
	// subscription of the track it was pushed on. Each publisher's frames arrive back to back,
	// possibly before the reader is scheduled: the default buffer takes them.
	for _, mb := range members {
		mb.mu.Lock()
		subs := maps.Clone(mb.subs)
		mb.mu.Unlock()
		for k, sub := range subs {
			wg.Go(func() {
				publisher := strings.TrimSuffix(k, "/t")
				for seq := range frames {
					f, err := sub.Next(ctx)
					if err != nil {
						t.Errorf("%s: frame %d of %s: %v", mb.id, seq, k, err)
						return
					}
					if want := publisher + "#" + strconv.Itoa(seq); string(f.Payload) != want {
						t.Errorf("%s: on %s got %q, want %q (dropped %d)", mb.id, k, f.Payload, want, sub.Dropped())
						return
					}
				}
				if d, l := sub.Dropped(), sub.Lost(); d != 0 || l != 0 {
					t.Errorf("%s: on %s %d frames dropped, %d lost", mb.id, k, d, l)
				}
			})
		}
	}
	for i, mb := range members {
		for seq := range frames {
			pushRetry(t, ctx, tracks[i], room.Frame{Payload: []byte(mb.id + "#" + strconv.Itoa(seq))})
		}
	}
	wg.Wait()

	// Everyone calls everyone at once with a small payload (one chunk), and its next two
	// neighbours with a large one (a stream of two chunks even compressed: base64 of 16 KiB of
	// random bytes), all racing: each answer comes from the callee, names its caller and
	// carries its own payload back. (Every call must be acknowledged within 7 s; under the
	// race detector on two cores this phase takes under a second.)
	raw := make([]byte, 16<<10)
	cryptorand.Read(raw)
	large := base64.StdEncoding.EncodeToString(raw)
	rpcStart := time.Now()
	for i, caller := range members {
		for j, callee := range members {
			if callee == caller {
				continue
			}
			payloads := []string{"hi " + callee.id}
			if d := (j - i + n) % n; d == 1 || d == 2 {
				payloads = append(payloads, large+callee.id)
			}
			for _, payload := range payloads {
				wg.Go(func() {
					got, err := caller.r.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{
						Destination: callee.id, Method: "who", Payload: payload,
					})
					if want := callee.id + "<" + caller.id + ":" + payload; err != nil || got != want {
						t.Errorf("%s -> %s (%d bytes): %d bytes, %v", caller.id, callee.id, len(payload), len(got), err)
					}
				})
			}
		}
	}
	wg.Wait()
	t.Logf("RPC phase: %v", time.Since(rpcStart))

	// A snapshot asked for now is exactly what the events built.
	for _, mb := range members {
		if err := mb.r.RequestSnapshot(); err != nil {
			t.Fatalf("%s: request snapshot: %v", mb.id, err)
		}
	}
	for _, mb := range members {
		if err := mb.waitUntil(ctx, func() bool { return len(mb.taken) > 0 }); err != nil {
			t.Fatalf("%s: no SnapshotTaken: %v", mb.id, err)
		}
		mb.mu.Lock()
		d, bad := mb.m.diff(mb.taken[0]), slices.Clone(mb.bad)
		mb.mu.Unlock()
		if d != "" {
			t.Errorf("%s: snapshot and events disagree: %s", mb.id, d)
		}
		if len(bad) > 0 {
			t.Errorf("%s: %s", mb.id, strings.Join(bad, "; "))
		}
	}

	// All leave at once; each Disconnect ends its room's events.
	for i, mb := range members {
		wg.Go(func() {
			if err := mb.r.Disconnect(ctx); err != nil {
				t.Errorf("%s: disconnect: %v", mb.id, err)
			}
			select {
			case <-dones[i]:
			case <-ctx.Done():
				t.Errorf("%s: events did not end after Disconnect", mb.id)
			}
		})
	}
	wg.Wait()
}
