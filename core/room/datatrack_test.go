package room_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// End-to-end data-track and E2EE scenarios on devsfu (those of rust-sdks
// data_track_test.rs, plus fault-injection scenarios; docs/testing.md).
// Every wait is bounded by the test context (a hang guard, never a
// timing assertion).

// peer is a connected room that records every event.
type peer struct {
	t  testing.TB
	r  *room.Room
	mu sync.Mutex
	ev []room.Event
	ch chan struct{} // closed and replaced on every new event
	dn chan struct{} // closed when the events ended
}

func joinPeer(t testing.TB, ctx context.Context, s *sfu.Server, roomName, identity string, ropts room.Options, tok ...auth.TokenOption) *peer {
	t.Helper()
	return joinPeerAt(t, ctx, s, s.URL(), roomName, identity, ropts, tok...)
}

// joinPeerAt is joinPeer with Connect given url instead of s's (a URL that
// leads to s).
func joinPeerAt(t testing.TB, ctx context.Context, s *sfu.Server, url, roomName, identity string, ropts room.Options, tok ...auth.TokenOption) *peer {
	t.Helper()
	token, err := s.Token(roomName, identity, tok...)
	if err != nil {
		t.Fatal(err)
	}
	ropts.Logger = s.Logger(identity)
	r, err := room.Connect(ctx, url, token, ropts)
	if err != nil {
		t.Fatalf("%s: connect: %v", identity, err)
	}
	p := &peer{t: t, r: r, ch: make(chan struct{}), dn: make(chan struct{})}
	go func() {
		defer close(p.dn)
		for ev := range r.Events() {
			p.mu.Lock()
			p.ev = append(p.ev, ev)
			close(p.ch)
			p.ch = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = r.Disconnect(context.Background())
		<-p.dn
	})
	if err := s.WaitParticipantReady(ctx, identity, true); err != nil {
		t.Fatalf("%s: server-side channels: %v", identity, err)
	}
	return p
}

// wait returns the first recorded event (from the start) that matches.
func (p *peer) wait(ctx context.Context, what string, match func(room.Event) bool) room.Event {
	p.t.Helper()
	for i := 0; ; {
		p.mu.Lock()
		for ; i < len(p.ev); i++ {
			if match(p.ev[i]) {
				ev := p.ev[i]
				p.mu.Unlock()
				return ev
			}
		}
		ch := p.ch
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.dn:
			p.mu.Lock()
			n := len(p.ev)
			p.mu.Unlock()
			if i == n {
				p.t.Fatalf("%s: events ended while waiting for %s", p.r.LocalParticipant().Identity(), what)
			}
		case <-ctx.Done():
			p.t.Fatalf("%s: timed out waiting for %s", p.r.LocalParticipant().Identity(), what)
		}
	}
}

// events returns a copy of the events recorded so far.
func (p *peer) events() []room.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ev)
}

// count returns how many recorded events match.
func (p *peer) count(match func(room.Event) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, ev := range p.ev {
		if match(ev) {
			n++
		}
	}
	return n
}

// track waits for the DataTrackPublished event of publisher/name.
func (p *peer) track(ctx context.Context, publisher, name string) *room.RemoteDataTrack {
	p.t.Helper()
	return p.published(ctx, publisher, name).Track
}

// published waits for the DataTrackPublished event of publisher/name (its auto-subscription
// with Options.AutoSubscribe).
func (p *peer) published(ctx context.Context, publisher, name string) room.DataTrackPublished {
	p.t.Helper()
	ev := p.wait(ctx, "data track "+publisher+"/"+name, func(ev room.Event) bool {
		e, ok := ev.(room.DataTrackPublished)
		return ok && e.Track.PublisherIdentity() == publisher && e.Track.Name() == name
	})
	return ev.(room.DataTrackPublished)
}

func publish(t testing.TB, ctx context.Context, p *peer, name string) *room.LocalDataTrack {
	t.Helper()
	lt, err := p.r.LocalParticipant().PublishDataTrack(ctx, name, room.DataTrackOptions{})
	if err != nil {
		t.Fatalf("publish %q: %v", name, err)
	}
	return lt
}

func subscribe(t testing.TB, ctx context.Context, rt *room.RemoteDataTrack, opts room.SubscribeOptions) *room.DataTrackSubscription {
	t.Helper()
	s, err := rt.Subscribe(ctx, opts)
	if err != nil {
		t.Fatalf("subscribe %s: %v", rt.Name(), err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// pushRetry pushes f, waiting (bounded by ctx) while the queue is full.
func pushRetry(t testing.TB, ctx context.Context, lt *room.LocalDataTrack, f room.Frame) {
	t.Helper()
	for {
		err := lt.TryPush(f)
		if err == nil {
			return
		}
		if !errors.Is(err, room.ErrQueueFull) {
			t.Fatalf("push: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("push: queue stayed full")
		case <-time.After(time.Millisecond):
		}
	}
}

// repushAfter is how long nextOrRepush waits in silence before it pushes the
// awaited frames again. It is not an assertion: the data-track channel never
// retransmits, so a packet the transport gives up on under heavy load loses
// its frame, and a test that needs a frame asks for it again instead of
// assuming a lossless path.
const repushAfter = 3 * time.Second

// nextOrRepush returns the next frame of st. While nothing arrives for
// repushAfter it calls repush (which pushes the awaited frames again) and
// counts it; the wait as a whole is bounded by ctx.
func nextOrRepush(t testing.TB, ctx context.Context, st *room.DataTrackSubscription, repushes *int, repush func()) room.Frame {
	t.Helper()
	for {
		wctx, cancel := context.WithTimeout(ctx, repushAfter)
		f, err := st.Next(wctx)
		cancel()
		if err == nil {
			return f
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: next frame: %v", st.Track().Name(), err)
		}
		*repushes++
		repush()
	}
}

// receiveNumbered pushes the numbered frames 0..n-1 of size bytes on lt and reads st until each
// has arrived, pushing again the ones still missing whenever nothing arrives for repushAfter
// (nextOrRepush, counted in repushes). Every numbered frame is checked; skip (may be nil) tells
// a frame that is not one of them. It returns how many frames were read.
func receiveNumbered(t testing.TB, ctx context.Context, lt *room.LocalDataTrack, st *room.DataTrackSubscription, n, size int, repushes *int, skip func(room.Frame) bool) int {
	t.Helper()
	seen := map[int]bool{}
	pushMissing := func() {
		for i := range n {
			if !seen[i] {
				pushRetry(t, ctx, lt, room.Frame{Payload: numbered(i, size)})
			}
		}
	}
	pushMissing()
	read := 0
	for len(seen) < n {
		f := nextOrRepush(t, ctx, st, repushes, pushMissing)
		read++
		if skip != nil && skip(f) {
			continue
		}
		seen[checkNumbered(t, f.Payload, size)] = true
	}
	return read
}

// numbered builds a self-checking frame: index (4 bytes) ‖ filler ‖ SHA-256
// of everything before it.
func numbered(i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < size-32; j++ {
		b[j] = byte(i*7 + j)
	}
	sum := sha256.Sum256(b[:size-32])
	copy(b[size-32:], sum[:])
	return b
}

// checkNumbered verifies a numbered frame and returns its index.
func checkNumbered(t testing.TB, b []byte, size int) int {
	t.Helper()
	if len(b) != size {
		t.Fatalf("frame of %d bytes, want %d", len(b), size)
	}
	sum := sha256.Sum256(b[:size-32])
	if !bytes.Equal(sum[:], b[size-32:]) {
		t.Fatalf("corrupted frame delivered (index %d)", binary.BigEndian.Uint32(b))
	}
	return int(binary.BigEndian.Uint32(b))
}

func TestDataTrackPublishAndReceive(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "dt", "sub", room.Options{})

	lt := publish(t, ctx, pub, "my_track")
	if !lt.IsPublished() || lt.Name() != "my_track" || !strings.HasPrefix(lt.SID(), "DTR_") || lt.IsEncrypted() {
		t.Fatalf("local track: published=%v name=%q sid=%q e2ee=%v", lt.IsPublished(), lt.Name(), lt.SID(), lt.IsEncrypted())
	}
	pub.wait(ctx, "LocalDataTrackPublished", func(ev room.Event) bool {
		e, ok := ev.(room.LocalDataTrackPublished)
		return ok && e.Track == lt
	})
	rt := sub.track(ctx, "pub", "my_track")
	if rt.SID() != lt.SID() || rt.IsEncrypted() || rt.Publisher() == nil || rt.Publisher().Identity() != "pub" {
		t.Fatalf("remote track sid=%q e2ee=%v", rt.SID(), rt.IsEncrypted())
	}
	if got := sub.r.RemoteParticipant("pub").DataTracks(); len(got) != 1 || got[0] != rt {
		t.Fatalf("RemoteParticipant.DataTracks = %v", got)
	}
	if got := pub.r.LocalParticipant().DataTracks(); len(got) != 1 || got[0] != lt {
		t.Fatalf("LocalParticipant.DataTracks = %v", got)
	}

	// Small single-packet frames (Rust case single_packet: 8192 × 0xFA).
	// The channel does not retransmit: a frame lost on a loaded machine is
	// pushed again (nextOrRepush), and the accounting below allows for it.
	// The frames below are read only after all are pushed (20 of 196 608 bytes): a buffer
	// that holds them all (sized in frames, so not bounded by the default 1 MiB).
	st := subscribe(t, ctx, rt, room.SubscribeOptions{BufferSize: 32})
	repushes, delivered := 0, 0
	small := bytes.Repeat([]byte{0xFA}, 8192)
	pushSmall := func() { pushRetry(t, ctx, lt, room.Frame{Payload: small}) }
	pushSmall()
	f := nextOrRepush(t, ctx, st, &repushes, pushSmall)
	delivered++
	if !bytes.Equal(f.Payload, small) || f.HasUserTimestamp {
		t.Fatalf("frame: %d bytes, user timestamp %v", len(f.Payload), f.HasUserTimestamp)
	}

	// User timestamp.
	ts := uint64(time.Now().UnixMilli())
	pushTS := func() { pushRetry(t, ctx, lt, room.Frame{Payload: []byte("ts"), UserTimestamp: ts}) }
	pushTS()
	// A late copy of the first frame may still arrive after a re-push.
	for f = nextOrRepush(t, ctx, st, &repushes, pushTS); bytes.Equal(f.Payload, small); f = nextOrRepush(t, ctx, st, &repushes, pushTS) {
		delivered++
	}
	delivered++
	if !f.HasUserTimestamp || f.UserTimestamp != ts || string(f.Payload) != "ts" {
		t.Fatalf("frame with timestamp: %+v", f)
	}

	// Multi-packet frames of 100 KB+ (Rust multi_packet: 196 608 bytes): every
	// frame delivered is intact (the writer never cuts a frame), and all arrive.
	const n, size = 20, 196608
	delivered += receiveNumbered(t, ctx, lt, st, n, size, &repushes, func(f room.Frame) bool {
		return string(f.Payload) == "ts" || bytes.Equal(f.Payload, small) // a late copy of an earlier frame
	})
	if err := lt.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stats := lt.Stats()
	if stats.Pushed < n+2 || stats.Sent != stats.Pushed || stats.Dropped() != 0 || stats.Queued != 0 {
		t.Fatalf("publisher stats %+v", stats)
	}
	if st.Dropped() != 0 {
		t.Fatalf("subscriber stream dropped %d frames (its buffer never filled)", st.Dropped())
	}
	rs := sub.r.DataTrackStats()
	if rs.Frames < uint64(delivered) || rs.Frames > stats.Sent {
		t.Fatalf("receive stats %+v: %d delivered, %d sent", rs, delivered, stats.Sent)
	}
	if repushes == 0 {
		// Nothing was lost on the way: the counts are exact.
		if stats.Pushed != n+2 || rt.DroppedFrames() != 0 || rs.Frames != n+2 || len(rs.Drops) != 0 {
			t.Fatalf("without loss: publisher %+v, track drops %d, receive %+v", stats, rt.DroppedFrames(), rs)
		}
	} else {
		t.Logf("%d re-pushes after frames lost in transit (receive stats %+v)", repushes, rs)
	}
}

func TestDataTrackManyTracksNoMisrouting(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "dt", "sub", room.Options{})

	const n = 24
	locals := make([]*room.LocalDataTrack, n)
	for i := range n {
		locals[i] = publish(t, ctx, pub, fmt.Sprintf("track_%d", i))
	}
	subs := make([]*room.DataTrackSubscription, n)
	for i := range n {
		subs[i] = subscribe(t, ctx, sub.track(ctx, "pub", fmt.Sprintf("track_%d", i)), room.SubscribeOptions{})
	}
	// One frame per track, sized so some are multi-packet; all pushed before
	// any is read.
	payload := func(i int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("track_%d;", i)), 1+i*1500)
	}
	for i, lt := range locals {
		if err := lt.TryPush(room.Frame{Payload: payload(i)}); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	// A frame lost in transit (the channel never retransmits) is pushed
	// again; whatever arrives on a track must be that track's frame.
	repushes := 0
	for i, st := range subs {
		f := nextOrRepush(t, ctx, st, &repushes, func() { pushRetry(t, ctx, locals[i], room.Frame{Payload: payload(i)}) })
		if !bytes.Equal(f.Payload, payload(i)) {
			t.Fatalf("track_%d got %.20q… (%d bytes)", i, f.Payload, len(f.Payload))
		}
	}
	if repushes > 0 {
		t.Logf("%d re-pushes after frames lost in transit", repushes)
	}
}

func TestDataTrackPublishErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	s := sfu.Start(t, devsfu.Options{})
	p := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	lp := p.r.LocalParticipant()
	publish(t, ctx, p, "first")
	_, err := lp.PublishDataTrack(ctx, "first", room.DataTrackOptions{})
	var pe *datatrack.PublishError
	if !errors.Is(err, room.ErrDuplicateTrackName) || !errors.As(err, &pe) || pe.Message == "" {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := lp.PublishDataTrack(ctx, "", room.DataTrackOptions{}); !errors.Is(err, room.ErrInvalidTrackName) {
		t.Fatalf("empty name: %v", err)
	}
	if _, err := lp.PublishDataTrack(ctx, strings.Repeat("x", 257), room.DataTrackOptions{}); !errors.Is(err, room.ErrInvalidTrackName) {
		t.Fatalf("257-byte name: %v", err)
	}
	// The refused publishes did not disturb the first track or the handles.
	if second := publish(t, ctx, p, "second"); second.Info().Handle <= 1 {
		t.Fatalf("second track handle %d", second.Info().Handle)
	}

	// Token without canPublishData (Rust test_publish_unauthorized).
	np := joinPeer(t, ctx, s, "dt", "nopub", room.Options{},
		auth.WithGrant(func(g *auth.VideoGrant) { g.CanPublishData = auth.Bool(false) }))
	if _, err := np.r.LocalParticipant().PublishDataTrack(ctx, "t", room.DataTrackOptions{}); !errors.Is(err, room.ErrDataTrackNotAllowed) {
		t.Fatalf("without canPublishData: %v", err)
	}

	// Server without data-track support: no answer → typed timeout.
	old := sfu.Start(t, devsfu.Options{DisableDataTracks: true})
	op := joinPeer(t, ctx, old, "dt", "pub", room.Options{})
	_, err = op.r.LocalParticipant().PublishDataTrack(ctx, "t", room.DataTrackOptions{PublishTimeout: 300 * time.Millisecond})
	if !errors.Is(err, room.ErrDataTrackTimeout) {
		t.Fatalf("server without data tracks: %v", err)
	}
	// Cancellation of a pending publish gives the context's error.
	cctx, ccancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer ccancel()
	if _, err := op.r.LocalParticipant().PublishDataTrack(cctx, "t2", room.DataTrackOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled publish: %v", err)
	}
}

func TestDataTrackUnpublishEndsStreamAndResubscribe(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "dt", "sub", room.Options{})
	lt := publish(t, ctx, pub, "t")
	rt := sub.track(ctx, "pub", "t")

	// A producer pushing every 5 ms until the track is unpublished.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := lt.TryPush(room.Frame{Payload: []byte{byte(i)}}); errors.Is(err, room.ErrTrackUnpublished) {
				return
			}
		}
	}()

	// Resubscribe (Rust test_resubscribe): subscribe, read a frame, close.
	for i := range 5 {
		st, err := rt.Subscribe(ctx, room.SubscribeOptions{})
		if err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
		if _, err := st.Next(ctx); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		// Frames buffered before the Close are still delivered (the producer keeps
		// pushing), then the stream ends.
		var err2 error
		for n := 0; err2 == nil; n++ {
			if n > 16 { // the default subscription buffer
				t.Fatalf("subscription %d: more frames after Close than its buffer holds", i)
			}
			_, err2 = st.Next(ctx)
		}
		if !errors.Is(err2, room.ErrStreamEnded) || st.EndReason() != room.EndReasonClosed {
			t.Fatalf("after Close: %v, %v", err2, st.EndReason())
		}
	}

	// The Frames channel form, then unpublish ends it.
	st := subscribe(t, ctx, rt, room.SubscribeOptions{})
	select {
	case <-st.Frames():
	case <-ctx.Done():
		t.Fatal("no frame on Frames()")
	}
	if err := lt.Unpublish(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if lt.IsPublished() || lt.UnpublishReason() != nil {
		t.Fatalf("after Unpublish: published=%v reason=%v", lt.IsPublished(), lt.UnpublishReason())
	}
	if err := lt.TryPush(room.Frame{Payload: []byte("x")}); !errors.Is(err, room.ErrTrackUnpublished) {
		t.Fatalf("push after unpublish: %v", err)
	}
	for range st.Frames() { //nolint:revive // drain until the end
	}
	if !errors.Is(st.Err(), room.ErrStreamEnded) || st.EndReason() != room.EndReasonUnpublished {
		t.Fatalf("stream end: %v, %v", st.Err(), st.EndReason())
	}
	sub.wait(ctx, "DataTrackUnpublished", func(ev room.Event) bool {
		e, ok := ev.(room.DataTrackUnpublished)
		return ok && e.Track == rt
	})
	pub.wait(ctx, "LocalDataTrackUnpublished", func(ev room.Event) bool {
		e, ok := ev.(room.LocalDataTrackUnpublished)
		return ok && e.Track == lt && e.Reason == nil
	})
	if rt.IsPublished() || len(sub.r.RemoteParticipant("pub").DataTracks()) != 0 {
		t.Fatal("remote track still listed")
	}
	if _, err := rt.Subscribe(ctx, room.SubscribeOptions{}); !errors.Is(err, room.ErrUnknownDataTrack) {
		t.Fatalf("subscribe after unpublish: %v", err)
	}
	if err := lt.Unpublish(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	// The name is free again.
	publish(t, ctx, pub, "t")
}

func TestDataTrackPublisherLeavesAndLateJoiner(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	lt := publish(t, ctx, pub, "early")

	// A late joiner sees the existing track at once.
	late := joinPeer(t, ctx, s, "dt", "late", room.Options{})
	rp := late.r.RemoteParticipant("pub")
	if rp == nil || len(rp.DataTracks()) != 1 || rp.DataTrack("early") == nil {
		t.Fatalf("late joiner: participant %v", rp)
	}
	// It is part of the connect snapshot, so no DataTrackPublished announces it.
	rt := rp.DataTrack("early")
	if rt.SID() != lt.SID() || rt.PublisherIdentity() != "pub" {
		t.Fatal("participant map and publisher disagree")
	}
	st := subscribe(t, ctx, rt, room.SubscribeOptions{})
	hello := "hello " + testkit.PayloadMarker // the logs must never carry a payload
	if err := lt.TryPush(room.Frame{Payload: []byte(hello)}); err != nil {
		t.Fatal(err)
	}
	if f, err := st.Next(ctx); err != nil || string(f.Payload) != hello {
		t.Fatalf("late joiner frame: %q %v", f.Payload, err)
	}

	// The publisher leaves: the stream ends with EndReasonPublisherLeft.
	if err := pub.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Next(ctx); !errors.Is(err, room.ErrStreamEnded) {
		t.Fatalf("after publisher left: %v", err)
	}
	if st.EndReason() != room.EndReasonPublisherLeft {
		t.Fatalf("end reason %v", st.EndReason())
	}
	// The track is reported unpublished before its publisher is reported gone
	// (wait offers the recorded events to match in order).
	unpublished := false
	late.wait(ctx, "pub's ParticipantDisconnected", func(ev room.Event) bool {
		switch e := ev.(type) {
		case room.DataTrackUnpublished:
			unpublished = unpublished || e.Track == rt
		case room.ParticipantDisconnected:
			return e.Participant == rp
		}
		return false
	})
	if !unpublished || len(rp.DataTracks()) != 0 {
		t.Fatalf("ParticipantDisconnected before the DataTrackUnpublished of its track (%v), or tracks left: %v", unpublished, rp.DataTracks())
	}
	// Our own disconnect unpublished the local track.
	if lt.IsPublished() || !errors.Is(lt.UnpublishReason(), room.ErrDisconnected) {
		t.Fatalf("local track after disconnect: %v %v", lt.IsPublished(), lt.UnpublishReason())
	}
}

func TestDataTrackFanOut(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	a := joinPeer(t, ctx, s, "dt", "a", room.Options{})
	b := joinPeer(t, ctx, s, "dt", "b", room.Options{})
	lt := publish(t, ctx, pub, "t")
	rtA := a.track(ctx, "pub", "t")
	fast := subscribe(t, ctx, rtA, room.SubscribeOptions{})
	slow := subscribe(t, ctx, rtA, room.SubscribeOptions{BufferSize: 1})
	other := subscribe(t, ctx, b.track(ctx, "pub", "t"), room.SubscribeOptions{BufferSize: 64})

	const n = 40
	for i := range n {
		pushRetry(t, ctx, lt, room.Frame{Payload: numbered(i, 1000)})
		if _, err := fast.Next(ctx); err != nil { // read as we go
			t.Fatal(err)
		}
	}
	got := 0
	for got < n {
		f, err := other.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkNumbered(t, f.Payload, 1000)
		got++
	}
	// The slow stream kept only its newest frame and counted the rest. The last frame can
	// reach it after the test has read that frame from the other streams (seen once under
	// load: 38 dropped when checked): wait (bounded) until all n are accounted for.
	for deadline := time.Now().Add(10 * time.Second); slow.Dropped() < n-1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	f, ok := drainOne(slow)
	if !ok || slow.Dropped() != n-1 || checkNumbered(t, f.Payload, 1000) != n-1 {
		t.Fatalf("slow stream: ok=%v dropped=%d", ok, slow.Dropped())
	}
	if fast.Dropped() != 0 || other.Dropped() != 0 {
		t.Fatalf("drops on fast streams: %d %d", fast.Dropped(), other.Dropped())
	}
	// Closing one local stream keeps the other one running.
	if err := slow.Close(); err != nil {
		t.Fatal(err)
	}
	pushRetry(t, ctx, lt, room.Frame{Payload: numbered(n, 1000)})
	if f, err := fast.Next(ctx); err != nil || checkNumbered(t, f.Payload, 1000) != n {
		t.Fatalf("fast after closing slow: %v", err)
	}
}

// drainOne returns the single buffered frame of a stream without waiting.
func drainOne(s *room.DataTrackSubscription) (room.Frame, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f, err := s.Next(ctx)
	return f, err == nil
}

func TestDataTrackPacketLossAndReorder(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "dt", "sub", room.Options{})
	lt := publish(t, ctx, pub, "t")
	rt := sub.track(ctx, "pub", "t")
	st := subscribe(t, ctx, rt, room.SubscribeOptions{BufferSize: 256})

	// Frames are numbered in the order they are pushed (the publisher's frame numbers): 0-29
	// of 100 KB, tails 30-34 of 40 bytes, then 35-54 of 500 bytes (numbered 1000-1019).
	const n, size, tailSize, reordered = 30, 100_000, 40, 20
	order := func(f room.Frame) int {
		switch len(f.Payload) {
		case tailSize:
			return checkNumbered(t, f.Payload, tailSize)
		case 500:
			return n + 5 + checkNumbered(t, f.Payload, 500) - 1000
		}
		return checkNumbered(t, f.Payload, size)
	}
	first, prev, reported := -1, -1, uint64(0)
	deliver := func(f room.Frame) int {
		i := order(f)
		if first < 0 {
			first = i
		}
		reported += f.DroppedBefore
		prev = i
		return i
	}

	// Every 10th packet dropped on the way to the subscriber; frames of 7
	// packets: incomplete frames are dropped and counted, never delivered, and
	// each delivered frame says how many were lost since the one before.
	s.SetDataTrackFaults("sub", devsfu.FaultConfig{DropEvery: 10})
	for i := range n {
		pushRetry(t, ctx, lt, room.Frame{Payload: numbered(i, size)})
	}
	// A tail of small frames so a lost Final is noticed (Interrupted).
	for k := range 5 {
		pushRetry(t, ctx, lt, room.Frame{Payload: numbered(n+k, tailSize)})
	}
	received, delivered := 0, 0
	for {
		f, err := st.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := prev
		i := deliver(f)
		delivered++
		if before >= 0 && f.DroppedBefore != uint64(i-before-1) {
			t.Fatalf("frame %d after frame %d: DroppedBefore %d, want %d", i, before, f.DroppedBefore, i-before-1)
		}
		if len(f.Payload) == tailSize {
			if received+int(rt.DroppedFrames()) >= n {
				break
			}
			continue
		}
		received++
	}
	stats := sub.r.DataTrackStats()
	if received == n || rt.DroppedFrames() == 0 || reported == 0 {
		t.Fatalf("no loss observed: received %d, dropped %d, reported %d", received, rt.DroppedFrames(), reported)
	}
	lost := stats.Drops[datatrack.DropIncomplete] + stats.Drops[datatrack.DropUnknownFrame] + stats.Drops[datatrack.DropInterrupted]
	if lost == 0 {
		t.Fatalf("drops not counted by reason: %+v", stats)
	}

	// Reordered pairs of single-packet frames all arrive, intact; a frame that
	// arrives after a later one is delivered, and the count it was in is taken back.
	s.SetDataTrackFaults("sub", devsfu.FaultConfig{Reorder: true})
	seen := map[int]bool{}
	last := prev
	for i := range reordered {
		pushRetry(t, ctx, lt, room.Frame{Payload: numbered(1000+i, 500)})
	}
	for len(seen) < reordered {
		f, err := st.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := deliver(f)
		delivered++
		last = max(last, i)
		if len(f.Payload) == 500 {
			seen[i] = true
		}
	}
	// Frames first..last were sent; those not delivered were reported (the reordering can
	// leave one late frame not yet taken back).
	if missing := uint64(last - first + 1 - delivered); reported != missing && reported != missing+1 {
		t.Fatalf("frames %d-%d: %d delivered, %d reported lost, want %d", first, last, delivered, reported, missing)
	}
	if got := st.Lost(); got != reported {
		t.Fatalf("Lost %d, reported in DroppedBefore %d", got, reported)
	}
}

func TestDataTrackScopedPublishAndBlockingPush(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dt", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "dt", "sub", room.Options{})
	var lt *room.LocalDataTrack
	const n, size = 64, 50_000 // 4 × the queue: Push must wait, never fail
	err := pub.r.LocalParticipant().WithDataTrack(ctx, "scoped", room.DataTrackOptions{}, func(tr *room.LocalDataTrack) error {
		lt = tr
		st := subscribe(t, ctx, sub.track(ctx, "pub", "scoped"), room.SubscribeOptions{BufferSize: n})
		for i := range n {
			if err := tr.Push(ctx, room.Frame{Payload: numbered(i, size)}); err != nil {
				return err
			}
		}
		seen := map[int]bool{}
		for len(seen) < n {
			f, err := st.Next(ctx)
			if err != nil {
				return err
			}
			seen[checkNumbered(t, f.Payload, size)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if lt.IsPublished() || lt.Stats().Sent != n {
		t.Fatalf("after WithDataTrack: published=%v stats=%+v", lt.IsPublished(), lt.Stats())
	}
	sub.wait(ctx, "DataTrackUnpublished", func(ev room.Event) bool {
		e, ok := ev.(room.DataTrackUnpublished)
		return ok && e.Track.Name() == "scoped"
	})
}

// The queue policy of a track: with default options a burst of 256 × 1 KB
// TryPush calls is accepted whole (the queue is bounded by bytes, not by a
// handful of frames); a DropOldest track evicts instead of refusing and
// counts every eviction; out-of-range queue options are refused.
func TestDataTrackQueuePolicy(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "dtq", "pub", room.Options{})
	lp := pub.r.LocalParticipant()

	burst := publish(t, ctx, pub, "burst")
	const n = 256
	for i := range n {
		if err := burst.TryPush(room.Frame{Payload: numbered(i, 1024)}); err != nil {
			t.Fatalf("burst frame %d refused: %v (stats %+v)", i, err, burst.Stats())
		}
	}
	if err := burst.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := burst.Stats(); st.Pushed != n || st.Sent != n || st.Rejected != 0 || st.Dropped() != 0 || st.Queued != 0 || st.QueuedBytes != 0 {
		t.Fatalf("burst stats %+v", st)
	}

	// The waiting Push applies back-pressure at datatrack.PushQueueFrames
	// queued frames, well before the byte budget: its frames wait behind at
	// most that many others.
	for i := range n {
		if err := burst.Push(ctx, room.Frame{Payload: numbered(i, 1024)}); err != nil {
			t.Fatal(err)
		}
		if q := burst.Stats().Queued; q > datatrack.PushQueueFrames {
			t.Fatalf("after Push %d: %d frames queued (Push waits at %d)", i, q, datatrack.PushQueueFrames)
		}
	}
	// For large frames the byte mark binds first: 64 KB frames in a tight
	// loop never leave more than PushQueueBytes plus the frame just queued
	// (the default byte budget would hold sixteen of them).
	for i := range 64 {
		if err := burst.Push(ctx, room.Frame{Payload: numbered(i, 64<<10)}); err != nil {
			t.Fatal(err)
		}
		if b := burst.Stats().QueuedBytes; b >= datatrack.PushQueueBytes+(65<<10) {
			t.Fatalf("after 64 KB Push %d: %d bytes queued (Push waits at %d)", i, b, datatrack.PushQueueBytes)
		}
	}

	// TryPushPaced refuses where Push would wait: a tight loop of it never
	// leaves more than PushQueueFrames frames queued (the loop outruns the
	// writer: bounded, not timed), and those refusals are not counted as
	// rejected, since the queue was not full.
	if err := burst.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rejected, paced := burst.Stats().Rejected, 0
	for i := 0; i < 10000 && paced < 3; i++ {
		err := burst.TryPushPaced(room.Frame{Payload: numbered(i, 1024)})
		if errors.Is(err, room.ErrQueueFull) {
			paced++
		} else if err != nil {
			t.Fatalf("TryPushPaced %d: %v", i, err)
		}
		if q := burst.Stats().Queued; q > datatrack.PushQueueFrames {
			t.Fatalf("after TryPushPaced %d: %d frames queued (it refuses at %d)", i, q, datatrack.PushQueueFrames)
		}
	}
	if paced == 0 {
		t.Fatal("10 000 TryPushPaced calls in a tight loop never reached the pacing point")
	}
	if st := burst.Stats(); st.Rejected != rejected {
		t.Fatalf("pacing refusals counted as rejected: %d -> %d", rejected, st.Rejected)
	}

	// A small DropOldest queue: the writer cannot keep up with a tight loop
	// of 64 KB frames, so older frames are evicted; nothing is refused and
	// every accepted frame is either sent or counted as evicted.
	fresh, err := lp.PublishDataTrack(ctx, "fresh", room.DataTrackOptions{QueueFrames: 2, QueueBytes: 64 << 10, DropOldest: true})
	if err != nil {
		t.Fatal(err)
	}
	const m = 200
	for i := range m {
		if err := fresh.TryPush(room.Frame{Payload: numbered(i, 60<<10)}); err != nil {
			t.Fatalf("DropOldest push %d: %v", i, err)
		}
		if st := fresh.Stats(); st.Queued > 2 || st.QueuedBytes > 2*(61<<10) {
			t.Fatalf("queue over its bounds: %+v", st)
		}
	}
	if err := fresh.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := fresh.Stats()
	if st.Pushed != m || st.Rejected != 0 || st.Sent+st.Evicted != m || st.Evicted == 0 || st.Dropped() != st.Evicted {
		t.Fatalf("DropOldest stats %+v (want pushed %d = sent + evicted, some evicted)", st, m)
	}

	// The default policy refuses when the byte budget is spent and the
	// caller keeps its frame.
	strict, err := lp.PublishDataTrack(ctx, "strict", room.DataTrackOptions{QueueBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := 0; i < m && refused == 0; i++ {
		if err := strict.TryPush(room.Frame{Payload: numbered(i, 60<<10)}); errors.Is(err, room.ErrQueueFull) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if st := strict.Stats(); refused == 0 || st.Rejected != uint64(refused) || st.Evicted != 0 {
		t.Fatalf("RejectNew: %d refused, stats %+v", refused, st)
	}

	for _, o := range []room.DataTrackOptions{
		{QueueBytes: datatrack.MaxSendQueueBytes + 1},
		{QueueFrames: datatrack.MaxSendQueueFrames + 1},
	} {
		if _, err := lp.PublishDataTrack(ctx, "bad", o); !errors.Is(err, room.ErrInvalidArgument) {
			t.Fatalf("%+v: %v", o, err)
		}
	}
}

// TestAutoSubscriptionEstablished: an auto-subscription is handed over before
// the server has confirmed it; WaitEstablished (and Established) tell when it
// has. While the server withholds the subscriber handles it stays pending;
// once the server sends them (the next subscription's full handle snapshot),
// it is established and a frame pushed after that is delivered.
func TestAutoSubscriptionEstablished(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "est", "pub", room.Options{})
	s.DropSubscriberHandles("sub", true)
	sub := joinPeer(t, ctx, s, "est", "sub", room.Options{AutoSubscribe: true})
	first := publish(t, ctx, pub, "first")
	ev := sub.published(ctx, "pub", "first")
	if ev.Subscription == nil {
		t.Fatal("no auto-subscription")
	}
	// Withheld by the server: not established within a bounded wait.
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := ev.Subscription.WaitEstablished(wctx)
	wcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitEstablished while the server withholds handles: %v", err)
	}
	select {
	case <-ev.Subscription.Established():
		t.Fatal("Established closed while the server withholds handles")
	default:
	}
	s.DropSubscriberHandles("sub", false)
	publish(t, ctx, pub, "second") // its subscription brings the full handle snapshot
	if err := ev.Subscription.WaitEstablished(ctx); err != nil {
		t.Fatalf("WaitEstablished: %v", err)
	}
	push := func() { pushRetry(t, ctx, first, room.Frame{Payload: []byte("after")}) }
	push()
	repushes := 0
	if f := nextOrRepush(t, ctx, ev.Subscription, &repushes, push); string(f.Payload) != "after" {
		t.Fatalf("frame %q", f.Payload)
	}
	// A subscription from Subscribe is established when it is returned.
	rt := sub.r.RemoteParticipant("pub").DataTrack("second")
	explicit := subscribe(t, ctx, rt, room.SubscribeOptions{})
	select {
	case <-explicit.Established():
	default:
		t.Fatal("Subscribe returned a subscription that is not established")
	}
}

// A burst of 256 small frames, which a track accepts with default options, reaches a
// subscription with default options whole: it arrives back to back, and the default buffer
// holds it until the reader (waiting all along) is scheduled.
func TestDataTrackBurstReachesADefaultSubscription(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "burst", "pub", room.Options{})
	sub := joinPeer(t, ctx, s, "burst", "sub", room.Options{})
	lt := publish(t, ctx, pub, "t")
	st := subscribe(t, ctx, sub.track(ctx, "pub", "t"), room.SubscribeOptions{})
	const n = 256
	got := make(chan error, 1)
	go func() {
		for i := range n {
			f, err := st.Next(ctx)
			if err != nil {
				got <- fmt.Errorf("frame %d: %w", i, err)
				return
			}
			if seq := binary.BigEndian.Uint32(f.Payload); seq != uint32(i) || f.DroppedBefore != 0 {
				got <- fmt.Errorf("frame %d is %d (%d dropped before)", i, seq, f.DroppedBefore)
				return
			}
		}
		got <- nil
	}()
	for i := range n {
		payload := make([]byte, 8) // small frames: the burst arrives fastest
		binary.BigEndian.PutUint32(payload, uint32(i))
		if err := lt.TryPush(room.Frame{Payload: payload}); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	if err := <-got; err != nil {
		t.Fatalf("%v (buffer drops %d)", err, st.Dropped())
	}
}
