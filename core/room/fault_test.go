package room_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Fault suite: three faults on devsfu while a publisher streams numbered data-track frames
// and numbered reliable data packets to a subscriber — a WebSocket cut for one client, a
// stalled server (signal and media paused for seconds), a server restart. Each asserts the
// reconnect kind, that the publication and the subscription are back (frames flow on the same
// objects), that reliable packets arrive exactly once and in order (or, across a restart,
// that every missing one is counted as discarded), and that every data-track frame TryPush
// accepted was delivered or counted. The fault durations are fault parameters; every wait is
// bounded by the test context (a hang guard, never a timing assertion).

const (
	faultTopic   = "fault-rel"
	faultFrameSz = 64
	faultPace    = 5 * time.Millisecond // traffic pacing (a load parameter, not an assertion)
)

// faultRig is a publisher and a subscriber with one data track and one subscription.
type faultRig struct {
	t        *testing.T
	s        *sfu.Server
	pub, sub *peer
	lt       *room.LocalDataTrack
	rt       *room.RemoteDataTrack
	st       *room.DataTrackSubscription

	// frames received on st, in arrival order (the reader goroutine).
	mu     sync.Mutex
	frames []uint32
	readWG sync.WaitGroup
}

func newFaultRig(t *testing.T, ctx context.Context, s *sfu.Server, roomName string, subOpts room.Options) *faultRig {
	t.Helper()
	f := &faultRig{t: t, s: s}
	f.pub = joinPeer(t, ctx, s, roomName, "pub", room.Options{})
	f.sub = joinPeer(t, ctx, s, roomName, "sub", subOpts)
	f.lt = publish(t, ctx, f.pub, "ft")
	f.rt = f.sub.track(ctx, "pub", "ft")
	f.st = subscribe(t, ctx, f.rt, room.SubscribeOptions{BufferSize: 8192})
	waitPeer(t, ctx, f.sub.r, "pub")
	waitPeer(t, ctx, f.pub.r, "sub")
	// Warm up until the subscription delivers (frames pushed before it is active are not
	// part of the accounting: the counting starts below).
	pushUntil(t, ctx, f.lt, f.st, "warm-up")
	rctx, cancel := context.WithCancel(ctx)
	f.readWG.Add(1)
	go func() {
		defer f.readWG.Done()
		for {
			fr, err := f.st.Next(rctx)
			if err != nil {
				return
			}
			if len(fr.Payload) == faultFrameSz {
				f.mu.Lock()
				f.frames = append(f.frames, binary.BigEndian.Uint32(fr.Payload))
				f.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); f.readWG.Wait() })
	return f
}

func (f *faultRig) received() []uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint32(nil), f.frames...)
}

// traffic is the load running through a fault: numbered frames on the data track and
// numbered reliable packets pub → sub, one of each per faultPace.
type traffic struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	base     room.LocalDataTrackStats
	accepted int // frames TryPush accepted
	relSent  int // reliable packets PublishData accepted
	relLive  atomic.Int64
	err      error
}

func (f *faultRig) startTraffic(ctx context.Context) *traffic {
	tr := &traffic{stop: make(chan struct{}), base: f.lt.Stats()}
	tr.wg.Add(2)
	go func() { // data track
		defer tr.wg.Done()
		tick := time.NewTicker(faultPace)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-tr.stop:
				tr.accepted = i
				return
			case <-ctx.Done():
				tr.accepted = i
				return
			case <-tick.C:
			}
			b := make([]byte, faultFrameSz)
			binary.BigEndian.PutUint32(b, uint32(i))
			err := f.lt.TryPush(room.Frame{Payload: b})
			switch {
			case err == nil:
				i++
			case errors.Is(err, room.ErrQueueFull), errors.Is(err, datatrack.ErrRepublishing):
				// refused, not accepted: the producer knows (nothing to account for)
			default:
				tr.err = err
				tr.accepted = i
				return
			}
		}
	}()
	go func() { // reliable packets
		defer tr.wg.Done()
		tick := time.NewTicker(faultPace)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-tr.stop:
				tr.relSent = i
				return
			case <-tick.C:
			}
			b := binary.BigEndian.AppendUint32(nil, uint32(i))
			// Waits (bounded by ctx) while the room reconnects.
			if err := f.pub.r.LocalParticipant().PublishData(ctx, b, room.DataPublishOptions{Reliable: true, Topic: faultTopic}); err != nil {
				tr.relSent = i
				if ctx.Err() == nil {
					tr.err = err
				}
				return
			}
			tr.relLive.Store(int64(i + 1))
		}
	}()
	return tr
}

func (tr *traffic) finish(t *testing.T) {
	t.Helper()
	close(tr.stop)
	tr.wg.Wait()
	if tr.err != nil {
		t.Fatalf("traffic: %v", tr.err)
	}
	if tr.accepted == 0 || tr.relSent == 0 {
		t.Fatalf("no traffic: %d frames, %d reliable packets", tr.accepted, tr.relSent)
	}
}

// reliableAtSub returns the numbered reliable packets the subscriber received, in order.
func (f *faultRig) reliableAtSub() []uint32 {
	var out []uint32
	f.sub.mu.Lock()
	defer f.sub.mu.Unlock()
	for _, ev := range f.sub.ev {
		if d, ok := ev.(room.DataReceived); ok && d.Topic == faultTopic && len(d.Payload) == 4 {
			out = append(out, binary.BigEndian.Uint32(d.Payload))
		}
	}
	return out
}

// waitUntil polls cond (bounded by ctx); diag, if given, describes the state on failure.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool, diag ...func() string) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			for _, d := range diag {
				t.Log(d())
			}
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// checkOrdered asserts that got is strictly increasing and within 0..n-1 (in order, no
// duplicate, nothing invented) and returns how many of the n are missing.
func checkOrdered(t *testing.T, what string, got []uint32, n int) int {
	t.Helper()
	for i, v := range got {
		if int(v) >= n || (i > 0 && v <= got[i-1]) {
			t.Fatalf("%s: out of order, duplicated or unknown at %d: %d after %v (of %d)", what, i, v, got[max(0, i-3):i], n)
		}
	}
	return n - len(got)
}

// checkDistinct asserts that got holds distinct values within 0..n-1 (no duplicate, nothing
// invented) in any order, and returns how many of the n are missing and how many arrived after
// a higher one. For data-track frames across the subscriber's ICE restart: `_data_track` is
// unordered, and packets written just before the restart (read on the old candidate's socket)
// and just after it (on the new one) can reach the subscriber in either order.
func checkDistinct(t *testing.T, what string, got []uint32, n int) (missing, late int) {
	t.Helper()
	seen := make(map[uint32]bool, len(got))
	var highest uint32
	for i, v := range got {
		if int(v) >= n || seen[v] {
			t.Fatalf("%s: duplicated or unknown at %d: %d after %v (of %d)", what, i, v, got[max(0, i-3):i], n)
		}
		seen[v] = true
		if v < highest {
			late++
		}
		highest = max(highest, v)
	}
	return n - len(got), late
}

// gaps lists the missing ranges of an increasing sequence.
func gaps(got []uint32) string {
	var out []string
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			out = append(out, fmt.Sprintf("%d..%d", got[i-1]+1, got[i]-1))
		}
	}
	return fmt.Sprint(out)
}

// lostEvents sums the publisher's LocalDataTrackFramesLost events.
func (f *faultRig) lostEvents() uint64 {
	var n uint64
	f.pub.mu.Lock()
	defer f.pub.mu.Unlock()
	for _, ev := range f.pub.ev {
		if e, ok := ev.(room.LocalDataTrackFramesLost); ok && e.Track == f.lt {
			n += e.SendFailed + e.Discarded
		}
	}
	return n
}

// checkFrames asserts the publisher's accounting (every accepted frame is sent, failed or
// discarded, and the losses were reported by events) and returns the stats delta.
func (f *faultRig) checkFrames(ctx context.Context, tr *traffic) room.LocalDataTrackStats {
	t := f.t
	t.Helper()
	// Every frame ever accepted (warm-up included) is sent, failed or discarded once the
	// queue is empty and the writer idle.
	waitUntil(t, ctx, "every accepted frame to be sent, failed or discarded", func() bool {
		st := f.lt.Stats()
		return st.Queued == 0 && st.Pushed == st.Sent+st.SendFailed+st.Discarded
	})
	st := f.lt.Stats()
	d := room.LocalDataTrackStats{
		Pushed: st.Pushed - tr.base.Pushed, Sent: st.Sent - tr.base.Sent,
		SendFailed: st.SendFailed - tr.base.SendFailed, Discarded: st.Discarded - tr.base.Discarded,
	}
	if d.Pushed != uint64(tr.accepted) {
		t.Fatalf("accounting: accepted %d, stats delta %+v", tr.accepted, d)
	}
	if lost := st.SendFailed + st.Discarded; f.lostEvents() != lost {
		t.Fatalf("LocalDataTrackFramesLost events report %d frames, stats %d", f.lostEvents(), lost)
	}
	return d
}

// sfuDrops is what devsfu itself dropped on purpose or under congestion (counted there).
func sfuDrops(s *sfu.Server) uint64 { return sfuDropsOf(s.Stats()) }

func sfuDropsOf(st devsfu.Stats) uint64 {
	return st.DataTrackFaultDrops + st.DataTrackCongestionDrops + st.TransportKilledDrops
}

// A cut WebSocket for the publisher: a resume. Nothing may be lost — the PeerConnection stays,
// so data-track frames keep flowing while signalling resumes (none fails), and every reliable
// packet arrives exactly once in order. The subscriber notices nothing.
func TestFaultCutWebSocket(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	f := newFaultRig(t, ctx, s, "fault-cut", room.Options{})
	sid := f.lt.SID()
	drops0 := sfuDrops(s)

	tr := f.startTraffic(ctx)
	waitUntil(t, ctx, "traffic before the cut", func() bool { return len(f.received()) >= 20 })
	if !s.DropSignal("pub") {
		t.Fatal("pub not found")
	}
	f.pub.waitReconnected(ctx, room.ReconnectResume, 0)
	waitUntil(t, ctx, "traffic after the resume", func() bool { return len(f.received()) >= 40 })
	tr.finish(t)

	d := f.checkFrames(ctx, tr)
	waitUntil(t, ctx, "every frame at the subscriber", func() bool { return len(f.received()) >= tr.accepted })
	waitUntil(t, ctx, "every reliable packet at the subscriber", func() bool { return len(f.reliableAtSub()) >= tr.relSent })
	if missing := checkOrdered(t, "frames", f.received(), tr.accepted); missing != 0 || d.SendFailed != 0 || d.Discarded != 0 {
		t.Fatalf("frames lost over a resume: %d missing, %+v", missing, d)
	}
	if missing := checkOrdered(t, "reliable", f.reliableAtSub(), tr.relSent); missing != 0 {
		t.Fatalf("%d reliable packets lost", missing)
	}
	if f.pub.reconnects(room.ReconnectFull) != 0 || f.sub.count(func(ev room.Event) bool { _, ok := ev.(room.Reconnecting); return ok }) != 0 {
		t.Fatal("unexpected reconnects")
	}
	if f.lt.SID() != sid || f.st.Err() != nil || sfuDrops(s) != drops0 {
		t.Fatalf("publication %q (was %q), stream %v, devsfu drops %d", f.lt.SID(), sid, f.st.Err(), sfuDrops(s)-drops0)
	}
}

// The whole server stalls (no signal request handled, not even ping; no data-channel
// message read) for longer than the ping timeout: both clients resume (never a full
// reconnect), everything buffered meanwhile is handled after the stall, reliable packets
// arrive exactly once in order (the resume's replay is deduplicated), and every data-track
// frame is delivered at most once or counted (by the publisher, the subscription or devsfu);
// frames around the subscriber's ICE restart may arrive out of order (see checkDistinct).
func TestFaultStalledServer(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{PingInterval: time.Second, PingTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	f := newFaultRig(t, ctx, s, "fault-stall", room.Options{})
	sid := f.lt.SID()
	st0 := s.Stats()

	tr := f.startTraffic(ctx)
	waitUntil(t, ctx, "traffic before the stall", func() bool { return len(f.received()) >= 20 })
	s.Stall(true)
	// Both clients detect the dead signalling connection (ping timeout) and start resuming
	// while the server is still stalled.
	for _, p := range []*peer{f.pub, f.sub} {
		p.wait(ctx, "Reconnecting", func(ev room.Event) bool { _, ok := ev.(room.Reconnecting); return ok })
	}
	time.Sleep(time.Second) // the stall goes on a while after that (fault duration)
	s.Stall(false)
	f.pub.waitReconnected(ctx, room.ReconnectResume, 0)
	f.sub.waitReconnected(ctx, room.ReconnectResume, 0)
	n := len(f.received())
	waitUntil(t, ctx, "traffic after the stall", func() bool { return len(f.received()) >= n+20 })
	tr.finish(t)

	d := f.checkFrames(ctx, tr)
	waitUntil(t, ctx, "every reliable packet at the subscriber", func() bool { return len(f.reliableAtSub()) >= tr.relSent })
	if missing := checkOrdered(t, "reliable", f.reliableAtSub(), tr.relSent); missing != 0 {
		t.Fatalf("%d reliable packets lost", missing)
	}
	// Publisher leg: every accepted frame reached devsfu or was counted by the publisher
	// (frames are single packets). The resume's ICE restart is where a frame written to
	// `_data_track` (no retransmissions) would vanish: the writer holds frames then.
	diag := func() string {
		st := s.Stats()
		return fmt.Sprintf("accepted %d, at devsfu %d, written by devsfu %d, received %d, publisher %+v, subscription dropped %d, devsfu drops %d, subscriber room %+v, gaps %s",
			tr.accepted, st.DataTrackPacketsIn-st0.DataTrackPacketsIn, st.DataTrackPacketsOut-st0.DataTrackPacketsOut, len(f.received()),
			d, f.st.Dropped(), sfuDrops(s)-sfuDropsOf(st0), f.sub.r.DataTrackStats(), gaps(f.received()))
	}
	waitUntil(t, ctx, "every frame at devsfu or counted by the publisher", func() bool {
		return s.Stats().DataTrackPacketsIn-st0.DataTrackPacketsIn+d.SendFailed+d.Discarded >= uint64(tr.accepted)
	}, diag)
	missing, late := checkDistinct(t, "frames", f.received(), tr.accepted)
	// Subscriber leg: what devsfu wrote to the subscriber during the subscriber's own ICE
	// restart can be lost or reordered in the transport (an SFU matter, as with
	// livekit-server); it is logged, not asserted.
	t.Logf("stall: %d missing at the subscriber, %d after a later frame; %s", missing, late, diag())
	for _, p := range []*peer{f.pub, f.sub} {
		if p.reconnects(room.ReconnectFull) != 0 {
			t.Fatalf("%s: full reconnect after a stall", p.r.LocalParticipant().Identity())
		}
	}
	if f.lt.SID() != sid || f.st.Err() != nil || !f.rt.IsPublished() {
		t.Fatalf("publication %q (was %q), stream %v", f.lt.SID(), sid, f.st.Err())
	}
}

// The server restarts: every session is gone, both clients' resumes are refused and they
// reconnect fully. The track is republished (same object and handle, new SID), the same
// subscription keeps receiving, frames queued at the cut go out on the new session (none is
// discarded), every frame lost is counted and reported, and reliable packets arrive in order
// without duplicates, every missing one counted as discarded by the full reconnect.
func TestFaultServerRestart(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// The subscriber's rejoin is held until the publisher has republished, so the stream
	// survives (see TestOutageServerRestartDataTrack: otherwise the order of the two rejoins
	// decides whether the subscriber first sees the publisher without its track).
	gate := newGate()
	f := newFaultRig(t, ctx, s, "fault-restart", room.Options{Dial: gate.Dial})
	sid, handle := f.lt.SID(), f.lt.Info().Handle

	tr := f.startTraffic(ctx)
	waitUntil(t, ctx, "traffic before the restart", func() bool { return len(f.received()) >= 20 })
	gate.hold()
	s.Restart()
	f.pub.waitReconnected(ctx, room.ReconnectFull, 0)
	waitUntil(t, ctx, "the republish", func() bool { return f.lt.SID() != sid })
	gate.release()
	f.sub.waitReconnected(ctx, room.ReconnectFull, 0)
	waitUntil(t, ctx, "the subscription on the new session", func() bool { return f.rt.SID() == f.lt.SID() })
	// From here the SFU has the subscriber again: every reliable packet sent now arrives.
	waitPeer(t, ctx, f.pub.r, "sub")
	relBack := int(tr.relLive.Load())
	n := len(f.received())
	waitUntil(t, ctx, "traffic after the restart", func() bool { return len(f.received()) >= n+20 })
	tr.finish(t)

	d := f.checkFrames(ctx, tr)
	if d.Discarded != 0 {
		t.Fatalf("frames queued across the full reconnect were discarded: %+v", d)
	}
	missing := checkOrdered(t, "frames", f.received(), tr.accepted)
	t.Logf("restart: %d frames accepted, %d missing at the subscriber, publisher %+v", tr.accepted, missing, d)
	// Frames accepted once both sides are back all arrive.
	k := f.lt.Stats().Pushed
	for i := 0; i < 50; i++ {
		b := make([]byte, faultFrameSz)
		binary.BigEndian.PutUint32(b, uint32(tr.accepted+i))
		pushRetry(t, ctx, f.lt, room.Frame{Payload: b})
	}
	waitUntil(t, ctx, "the last 50 frames", func() bool {
		got := f.received()
		return len(got) > 0 && got[len(got)-1] == uint32(tr.accepted+49)
	})
	got := f.received()
	checkOrdered(t, "frames", got, tr.accepted+50)
	after := 0
	for _, v := range got {
		if int(v) >= tr.accepted {
			after++
		}
	}
	if after != 50 {
		t.Fatalf("%d of the frames pushed after the restart arrived (%d pushed)", after, f.lt.Stats().Pushed-k)
	}

	// Reliable packets: in order, no duplicate; every missing one was discarded by the full
	// reconnect and reported in Reconnected.DiscardedPackets.
	discarded := 0
	f.pub.mu.Lock()
	for _, ev := range f.pub.ev {
		if e, ok := ev.(room.Reconnected); ok {
			discarded += e.DiscardedPackets
		}
	}
	f.pub.mu.Unlock()
	relDiag := func() string {
		got := f.reliableAtSub()
		return fmt.Sprintf("sent %d (%d once both were back), received %d, discarded %d, gaps %s", tr.relSent, relBack, len(got), discarded, gaps(got))
	}
	waitUntil(t, ctx, "the reliable packets sent once both were back", func() bool {
		got := f.reliableAtSub()
		return len(got) > 0 && int(got[len(got)-1]) == tr.relSent-1
	}, relDiag)
	got = f.reliableAtSub()
	relMissing := checkOrdered(t, "reliable", got, tr.relSent)
	// The suffix sent after both were back is complete.
	if tail := got[len(got)-min(len(got), tr.relSent-relBack):]; len(tail) != tr.relSent-relBack || (len(tail) > 0 && int(tail[0]) != relBack) {
		t.Fatalf("reliable packets sent after the recovery are missing: %s", relDiag())
	}
	// Those sent while the subscriber was not in the room (its rejoin was held) have no
	// receiver at the SFU; the others that went missing were discarded by the publisher's
	// full reconnect and reported in Reconnected.DiscardedPackets.
	t.Logf("restart: %s, %d missing", relDiag(), relMissing)

	if f.lt.Info().Handle != handle || !f.lt.IsPublished() || f.st.Err() != nil || !f.rt.IsPublished() {
		t.Fatalf("publication handle %d (was %d), stream %v", f.lt.Info().Handle, handle, f.st.Err())
	}
	if f.pub.count(func(ev room.Event) bool { _, ok := ev.(room.LocalDataTrackUnpublished); return ok }) != 0 {
		t.Fatal("LocalDataTrackUnpublished during the republish")
	}
	// The publisher's resume was refused and escalated to a full reconnect.
	if f.pub.count(func(ev room.Event) bool { e, ok := ev.(room.Reconnecting); return ok && e.Kind == room.ReconnectFull }) == 0 {
		t.Fatal("no full reconnect announced")
	}
}
