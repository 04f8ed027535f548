package ffi

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

func publishTrack(t *testing.T, h *host, room uint64, name string) *ffipb.OwnedLocalDataTrack {
	t.Helper()
	comp := h.call(&ffipb.Request{Message: &ffipb.Request_PublishDataTrack{PublishDataTrack: &ffipb.PublishDataTrackRequest{
		RoomHandle: room, Name: name, FrameEncoding: "json",
	}}})
	track := comp.GetPublishDataTrack().GetTrack()
	if !slices.Equal(comp.GetOwnedHandles(), []uint64{track.GetHandle()}) {
		t.Fatalf("publish completion hands over %v, want the track's handle %d", comp.GetOwnedHandles(), track.GetHandle())
	}
	return track
}

// trackPeers are two hosts in one room, alice having published a track bob was told about.
type trackPeers struct {
	alice, bob *host
	ar, br     uint64                     // their rooms
	track      *ffipb.OwnedLocalDataTrack // alice's
	remote     *ffipb.RemoteDataTrackInfo // as bob's RemoteDataTrackPublished announced it
	auto       uint64                     // bob's auto-subscription, when his room auto-subscribes
}

// publishedTrackPeers joins alice and bob to room, waits until alice sees bob, has alice
// publish "sensor" and waits for bob's RemoteDataTrackPublished.
func publishedTrackPeers(t *testing.T, s *sfu.Server, room string) trackPeers {
	t.Helper()
	return publishedTrackPeersWith(t, s, room, nil)
}

// publishedTrackPeersWith is publishedTrackPeers with bob's room options.
func publishedTrackPeersWith(t *testing.T, s *sfu.Server, room string, bobRoom *ffipb.RoomOptions) trackPeers {
	t.Helper()
	var p trackPeers
	p.alice, p.ar, _ = joinHost(t, s, room, "alice")
	p.bob = newHost(t)
	p.br = p.bob.createRoom(bobRoom)
	p.bob.connect(p.br, s.URL(), mintToken(t, s, room, "bob"))
	p.alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })
	p.track = publishTrack(t, p.alice, p.ar, "sensor")
	ev, _ := p.bob.roomEvent("track published", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataTrackPublished() != nil })
	p.remote = ev.GetDataTrackPublished().GetTrack()
	p.auto = ev.GetDataTrackPublished().GetAutoSubscription().GetHandle()
	return p
}

// waitFlowing pushes warm-up frames on alice's track until bob's subscription sub delivers one:
// the subscription is then established at the SFU.
func (p trackPeers) waitFlowing(t *testing.T, sub uint64) {
	t.Helper()
	flowing := func() bool {
		for _, ev := range p.bob.s.snapshot() {
			if ev.GetDataTrackFrame().GetSubscriptionHandle() == sub {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(hangGuard); !flowing(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no frame reached bob")
		}
		if err := p.alice.c.PushFrame(p.track.GetHandle(), []byte("warm-up"), 0, false); err != nil && CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL {
			t.Fatal(err)
		}
	}
}

func subscribe(t *testing.T, h *host, room uint64, publisher, sid string, mode ffipb.DeliveryMode) uint64 {
	t.Helper()
	resp := h.do(&ffipb.Request{Message: &ffipb.Request_SubscribeDataTrack{SubscribeDataTrack: &ffipb.SubscribeDataTrackRequest{
		RoomHandle: room, PublisherIdentity: publisher, TrackSid: sid, Delivery: mode,
	}}})
	wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
	return resp.GetSubscribeDataTrack().GetSubscription().GetHandle()
}

// frameEvents returns the frames delivered to a subscription so far (warm-up frames, sent
// while subscriptions were being established, left out).
func frameEvents(evs []*ffipb.Event, sub uint64) []*ffipb.DataTrackFrameEvent {
	var out []*ffipb.DataTrackFrameEvent
	for _, ev := range evs {
		if f := ev.GetDataTrackFrame(); f.GetSubscriptionHandle() == sub && string(f.GetPayload()) != "warm-up" {
			out = append(out, f)
		}
	}
	return out
}

func TestE2EDataTracks(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "dt", "alice")
	bob, br, _ := joinHost(t, s, "dt", "bob")
	alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })

	track := publishTrack(t, alice, ar, "sensor")
	if track.GetHandle() == 0 || track.GetInfo().GetName() != "sensor" || track.GetInfo().GetSid() == "" || track.GetInfo().GetFrameEncoding() != "json" {
		t.Fatalf("published track: %v", track)
	}
	th := track.GetHandle()
	comp := alice.completion(alice.async(&ffipb.Request{Message: &ffipb.Request_PublishDataTrack{PublishDataTrack: &ffipb.PublishDataTrackRequest{RoomHandle: ar, Name: "sensor"}}}))
	if comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS {
		t.Fatalf("duplicate name: %v", comp)
	}

	ev, _ := bob.roomEvent("track published", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataTrackPublished() != nil })
	pub := ev.GetDataTrackPublished().GetTrack()
	if pub.GetPublisherIdentity() != "alice" || pub.GetInfo().GetSid() != track.GetInfo().GetSid() || pub.GetInfo().GetFrameEncoding() != "json" {
		t.Fatalf("remote track: %v", pub)
	}
	events := subscribe(t, bob, br, "alice", pub.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_EVENTS)
	pull := subscribe(t, bob, br, "alice", pub.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_PULL)
	wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_SubscribeDataTrack{SubscribeDataTrack: &ffipb.SubscribeDataTrackRequest{
		RoomHandle: br, PublisherIdentity: "alice", TrackSid: "DTR_nope",
	}}}), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND)

	// Subscriptions are established in the background: push until the first frame arrives.
	warmEvents := func() bool {
		for _, ev := range bob.s.snapshot() {
			if ev.GetDataTrackFrame().GetSubscriptionHandle() == events {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(hangGuard)
	for pulled := false; !pulled || !warmEvents(); {
		if time.Now().After(deadline) {
			t.Fatal("no frame reached the subscriptions")
		}
		if err := alice.c.PushFrame(th, []byte("warm-up"), 0, false); err != nil && CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL {
			t.Fatal(err)
		}
		if _, err := bob.c.ReadFrame(pull, 10*time.Millisecond); err == nil {
			pulled = true
		}
	}
	readPull := func() (Frame, error) { // skips warm-up frames still in flight
		for {
			f, err := bob.c.ReadFrame(pull, hangGuard)
			if err != nil || string(f.Payload) != "warm-up" {
				return f, err
			}
		}
	}

	// Frames through the fast path and through the protobuf request, one at a time, each
	// with its timestamp; both subscriptions get them in order.
	const n = 20
	for i := range n {
		payload := fmt.Appendf(nil, "frame %d", i)
		if i%2 == 0 {
			if err := alice.c.PushFrame(th, payload, uint64(1000+i), true); err != nil {
				t.Fatalf("push %d: %v", i, err)
			}
		} else {
			ts := uint64(1000 + i)
			wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_PushDataTrackFrame{PushDataTrackFrame: &ffipb.PushDataTrackFrameRequest{
				TrackHandle: th, Payload: payload, UserTimestamp: &ts,
			}}}), ffipb.ErrorCode_ERROR_CODE_OK)
		}
		bob.s.waitFor(t, fmt.Sprintf("frame %d", i), func(evs []*ffipb.Event) bool { return len(frameEvents(evs, events)) > i })
		f, err := readPull()
		if err != nil || string(f.Payload) != string(payload) || !f.HasUserTimestamp || f.UserTimestamp != uint64(1000+i) {
			t.Fatalf("pulled frame %d: %q %v %v", i, f.Payload, f.UserTimestamp, err)
		}
	}
	got := frameEvents(bob.s.snapshot(), events)
	for i, f := range got {
		if string(f.GetPayload()) != fmt.Sprintf("frame %d", i) || f.GetUserTimestamp() != uint64(1000+i) || f.GetDroppedBefore() != 0 {
			t.Fatalf("event frame %d: %v", i, f)
		}
	}
	// A zero-timeout poll returns every frame already buffered, never a spurious TIMEOUT
	// (the same fan-out fed the EVENTS subscription, so the pull buffer holds them too).
	const k = 8
	for i := range k {
		if err := alice.c.PushFrame(th, fmt.Appendf(nil, "poll %d", i), 0, false); err != nil {
			t.Fatalf("push poll %d: %v", i, err)
		}
	}
	bob.s.waitFor(t, "poll frames", func(evs []*ffipb.Event) bool { return len(frameEvents(evs, events)) >= n+k })
	for i := range k {
		f, err := bob.c.ReadFrame(pull, 0)
		if err != nil || string(f.Payload) != fmt.Sprintf("poll %d", i) {
			t.Fatalf("zero-timeout poll %d: %q %v", i, f.Payload, err)
		}
	}
	if _, err := bob.c.ReadFrame(pull, 0); CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_TIMEOUT {
		t.Fatalf("empty pull: %v", err)
	}
	// Fast-path misuse stays typed.
	if err := bob.c.PushFrame(events, nil, 0, false); CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE {
		t.Fatalf("push on a subscription: %v", err)
	}
	if _, err := bob.c.ReadFrame(events, 0); CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION {
		t.Fatalf("read on an events subscription: %v", err)
	}

	endOf := func(h uint64) *ffipb.GetDataTrackSubscriptionEndResponse {
		r := bob.do(&ffipb.Request{Message: &ffipb.Request_GetDataTrackSubscriptionEnd{GetDataTrackSubscriptionEnd: &ffipb.GetDataTrackSubscriptionEndRequest{SubscriptionHandle: h}}})
		wantRespCode(t, r, ffipb.ErrorCode_ERROR_CODE_OK)
		return r.GetGetDataTrackSubscriptionEnd()
	}
	if e := endOf(pull); e.GetEnded() || e.GetEnd() != nil {
		t.Fatalf("end of a running subscription: %v", e)
	}

	// Unpublish: pushes fail at once, subscribers see the track go and their subscriptions end.
	wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_UnpublishDataTrack{UnpublishDataTrack: &ffipb.UnpublishDataTrackRequest{TrackHandle: th}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	if err := alice.c.PushFrame(th, []byte("late"), 0, false); CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_TRACK_UNPUBLISHED {
		t.Fatalf("push after unpublish: %v", err)
	}
	if r := alice.do(&ffipb.Request{Message: &ffipb.Request_DataTrackIsPublished{DataTrackIsPublished: &ffipb.DataTrackIsPublishedRequest{TrackHandle: th}}}); r.GetDataTrackIsPublished().GetIsPublished() {
		t.Fatal("still published")
	}
	ev, _ = bob.roomEvent("track unpublished", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataTrackUnpublished() != nil })
	if u := ev.GetDataTrackUnpublished(); u.GetPublisherIdentity() != "alice" || u.GetName() != "sensor" || u.GetSid() != pub.GetInfo().GetSid() {
		t.Fatalf("unpublished: %v", u)
	}
	for _, sub := range []uint64{events, pull} {
		evs := bob.s.waitFor(t, "subscription ended", func(evs []*ffipb.Event) bool {
			for _, ev := range evs {
				if ev.GetDataTrackSubscriptionEnded().GetSubscriptionHandle() == sub {
					return true
				}
			}
			return false
		})
		for _, ev := range evs {
			if e := ev.GetDataTrackSubscriptionEnded(); e.GetSubscriptionHandle() == sub {
				if e.GetReason() != ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_UNPUBLISHED || e.GetFramesReceived() < n {
					t.Fatalf("ended: %v", e)
				}
			}
		}
	}
	if _, err := bob.c.ReadFrame(pull, hangGuard); CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_END_OF_STREAM {
		t.Fatalf("read after end: %v", err)
	}
	// After END_OF_STREAM the reason is readable at once, the same as the event's.
	if e := endOf(pull); !e.GetEnded() || e.GetEnd().GetReason() != ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_UNPUBLISHED ||
		e.GetEnd().GetSubscriptionHandle() != pull || e.GetEnd().GetFramesReceived() < n || e.GetEnd().GetError() != nil {
		t.Fatalf("end after END_OF_STREAM: %v", e)
	}
	wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_GetDataTrackSubscriptionEnd{GetDataTrackSubscriptionEnd: &ffipb.GetDataTrackSubscriptionEndRequest{SubscriptionHandle: br}}}),
		ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
}

// With auto_subscribe every RemoteDataTrackPublished event carries a subscription.
func TestE2EDataTrackAutoSubscribe(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "dt-auto", "alice")
	track := publishTrack(t, alice, ar, "early") // published before bob joins: in his snapshot
	bob := newHost(t)
	br := bob.createRoom(&ffipb.RoomOptions{AutoSubscribe: true})
	res := bob.connect(br, s.URL(), mintToken(t, s, "dt-auto", "bob"))
	if len(res.GetRemoteDataTracks()) != 1 || res.GetRemoteDataTracks()[0].GetInfo().GetSid() != track.GetInfo().GetSid() {
		t.Fatalf("snapshot tracks: %v", res.GetRemoteDataTracks())
	}
	ev, _ := bob.roomEvent("auto subscription", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataTrackPublished() != nil })
	sub := ev.GetDataTrackPublished().GetAutoSubscription().GetHandle()
	if sub == 0 || !slices.Equal(ev.GetOwnedHandles(), []uint64{sub}) {
		t.Fatalf("no auto subscription, or not in owned_handles: %v", ev)
	}
	if c := bob.waitSubscribed(sub, 0); c.GetError() != nil {
		t.Fatalf("wait for the snapshot track's auto subscription: %v", c)
	}
	pushUntilFrame(t, alice, track.GetHandle(), bob, sub, "the auto subscription")

	// An auto-subscription the server has not confirmed yet (it withholds bob's subscriber
	// handles) is handed over, but WaitDataTrackSubscribed does not complete before it is.
	s.DropSubscriberHandles("bob", true)
	publishTrack(t, alice, ar, "late")
	ev, _ = bob.roomEvent("late auto subscription", 0, func(e *ffipb.RoomEvent) bool {
		return e.GetDataTrackPublished().GetTrack().GetInfo().GetName() == "late"
	})
	late := ev.GetDataTrackPublished().GetAutoSubscription().GetHandle()
	if c := bob.waitSubscribed(late, 300); c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_TIMEOUT {
		t.Fatalf("wait while the server withholds the subscription: %v", c)
	}
	s.DropSubscriberHandles("bob", false)
	publishTrack(t, alice, ar, "later") // its subscription brings the full handle snapshot
	if c := bob.waitSubscribed(late, 0); c.GetError() != nil {
		t.Fatalf("wait once the server confirmed: %v", c)
	}
	// The library counts the handles it issued: the room and three auto-subscriptions.
	liveHandles := func() uint32 {
		r := bob.do(&ffipb.Request{Message: &ffipb.Request_GetClientStats{GetClientStats: &ffipb.GetClientStatsRequest{}}})
		wantRespCode(t, r, ffipb.ErrorCode_ERROR_CODE_OK)
		return r.GetGetClientStats().GetLiveHandles()
	}
	if n := liveHandles(); n != 4 {
		t.Fatalf("live handles %d, want 4", n)
	}
	// Dropping the room releases the subscriptions with it.
	if err := bob.c.DropHandle(br); err != nil {
		t.Fatal(err)
	}
	if n := liveHandles(); n != 0 {
		t.Fatalf("live handles after dropping the room: %d", n)
	}
	wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: sub, Credits: 1}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
}

// With auto_subscriptions_in_snapshot (ABI 1.5) the snapshot tracks' auto-subscriptions are in
// the connect completion, and no RemoteDataTrackPublished repeats a snapshot track; a track
// published later is announced with its subscription as before.
func TestE2EDataTrackAutoSubscriptionsInSnapshot(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "dt-auto-snap", "alice")
	early := publishTrack(t, alice, ar, "early")
	bob := newHost(t)
	br := bob.createRoom(&ffipb.RoomOptions{AutoSubscribe: true, AutoSubscriptionsInSnapshot: true})
	res := bob.connect(br, s.URL(), mintToken(t, s, "dt-auto-snap", "bob"))
	subs := res.GetAutoSubscriptions()
	if len(subs) != 1 || subs[0].GetHandle() == 0 || subs[0].GetTrack().GetInfo().GetSid() != early.GetInfo().GetSid() ||
		subs[0].GetTrack().GetPublisherIdentity() != "alice" {
		t.Fatalf("auto subscriptions in the completion: %v", subs)
	}
	sub := subs[0].GetHandle()
	if c := bob.waitSubscribed(sub, 0); c.GetError() != nil {
		t.Fatalf("wait for the snapshot track's auto subscription: %v", c)
	}
	pushUntilFrame(t, alice, early.GetHandle(), bob, sub, "the snapshot's auto subscription")

	// A track published after the join comes as an event with its subscription; by then any
	// announcement of the snapshot track would have been queued before it.
	publishTrack(t, alice, ar, "late")
	ev, _ := bob.roomEvent("late auto subscription", 0, func(e *ffipb.RoomEvent) bool {
		return e.GetDataTrackPublished().GetTrack().GetInfo().GetName() == "late"
	})
	if ev.GetDataTrackPublished().GetAutoSubscription().GetHandle() == 0 {
		t.Fatalf("late track without its auto subscription: %v", ev)
	}
	for _, e := range bob.s.snapshot() {
		if p := e.GetRoom().GetDataTrackPublished(); p != nil && p.GetTrack().GetInfo().GetName() == "early" {
			t.Fatalf("snapshot track announced again: %v", p)
		}
	}
	// The completion's handles are the host's like any other: room + two subscriptions; a
	// later snapshot hands out none.
	r := bob.do(&ffipb.Request{Message: &ffipb.Request_GetClientStats{GetClientStats: &ffipb.GetClientStatsRequest{}}})
	if n := r.GetGetClientStats().GetLiveHandles(); n != 3 {
		t.Fatalf("live handles %d, want 3", n)
	}
	snap := bob.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: br}}})
	wantRespCode(t, snap, ffipb.ErrorCode_ERROR_CODE_OK)
	if got := snap.GetGetRoomSnapshot().GetSnapshot(); len(got.GetAutoSubscriptions()) != 0 || len(got.GetRemoteDataTracks()) != 2 {
		t.Fatalf("room snapshot: %v", got)
	}
	if err := bob.c.DropHandle(sub); err != nil {
		t.Fatal(err)
	}
	r = bob.do(&ffipb.Request{Message: &ffipb.Request_GetClientStats{GetClientStats: &ffipb.GetClientStatsRequest{}}})
	if n := r.GetGetClientStats().GetLiveHandles(); n != 2 {
		t.Fatalf("live handles after dropping the snapshot subscription: %d, want 2", n)
	}
}

func TestQueueFramesMapping(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want int
	}{{0, 0}, {1, 1}, {2, 2}, {MaxDataTrackQueueFrames, MaxDataTrackQueueFrames}, {MaxDataTrackQueueFrames + 1, MaxDataTrackQueueFrames}, {^uint32(0), MaxDataTrackQueueFrames}} {
		if got := queueFrames(c.in); got != c.want {
			t.Errorf("queueFrames(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

// A slow EVENTS consumer with a small event queue loses frames, and every lost frame is
// reported: the dropped_before of the delivered frames adds up to what the subscription
// counted (event-queue losses and core drops), and delivered + Σ dropped_before == pushed.
func TestE2EDataTrackSlowConsumerCountsEveryFrame(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "dt-slow", "alice")

	// bob: a 4-event queue and a callback that can be held.
	var holding atomic.Bool
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	bsink := newSink()
	bsink.hook = func(*ffipb.Event) {
		if holding.Load() {
			select {
			case held <- struct{}{}:
			default:
			}
			<-release
		}
	}
	bc, blogs := newLoggedClientOpts(t, Options{ID: nextClientID.Add(1), Deliver: bsink.deliver, QueueCapacity: 4})
	t.Cleanup(func() {
		if holding.CompareAndSwap(true, false) {
			close(release)
		}
	})
	bob := &host{t: t, c: bc, s: bsink, logs: blogs, nextID: 100}
	br := bob.createRoom(nil)
	bob.connect(br, s.URL(), mintToken(t, s, "dt-slow", "bob"))

	track := publishTrack(t, alice, ar, "fast")
	th := track.GetHandle()
	bob.roomEvent("track published", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataTrackPublished() != nil })
	sub := subscribe(t, bob, br, "alice", track.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_EVENTS)
	obj, err := bob.c.Handles().Get(sub, KindDataTrackSubscription)
	if err != nil {
		t.Fatal(err)
	}
	subObj := obj.(*Subscription)
	push := func(payload string) {
		t.Helper()
		deadline := time.Now().Add(hangGuard)
		for {
			err := alice.c.PushFrame(th, []byte(payload), 0, false)
			if err == nil {
				return
			}
			if CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL || time.Now().After(deadline) {
				t.Fatalf("push %q: %v", payload, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	delivered := func(payload string) int { // index in the events of the frame, or -1
		for i, ev := range bob.s.snapshot() {
			if f := ev.GetDataTrackFrame(); f.GetSubscriptionHandle() == sub && string(f.GetPayload()) == payload {
				return i
			}
		}
		return -1
	}
	// Warm up until frames flow, then a barrier frame: the window starts after it.
	deadline := time.Now().Add(hangGuard)
	for delivered("warm-up") < 0 {
		if time.Now().After(deadline) {
			t.Fatal("no frame reached the subscription")
		}
		push("warm-up")
		time.Sleep(5 * time.Millisecond)
	}
	push("barrier")
	bob.s.waitFor(t, "barrier", func([]*ffipb.Event) bool { return delivered("barrier") >= 0 })
	start := len(bob.s.snapshot())
	r0, l0, d0 := subObj.received.Load(), subObj.lost.Load(), subObj.coreLost()

	// Hold bob's callback (on an echo completion), then push faster than he reads.
	holding.Store(true)
	bob.async(&ffipb.Request{Message: &ffipb.Request_Echo{Echo: &ffipb.EchoRequest{Payload: []byte("hold"), Async: true}}})
	select {
	case <-held:
	case <-time.After(hangGuard):
		t.Fatal("callback never held")
	}
	const pushed = 64
	for i := range pushed {
		push(fmt.Sprintf("frame %d %s", i, testkit.PayloadMarker))
	}
	// Every pushed frame reached bob's subscription and was handed on, dropped or lost.
	for {
		r, l, d := subObj.received.Load()-r0, subObj.lost.Load()-l0, subObj.coreLost()-d0
		if r+l+d == pushed {
			if l == 0 {
				t.Fatalf("no event-queue loss with a 4-event queue and a held callback (received %d, core drops %d)", r, d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frames unaccounted for: received %d + lost %d + dropped %d != %d", r, l, d, pushed)
		}
		time.Sleep(time.Millisecond)
	}
	holding.Store(false)
	close(release)
	// A tail frame after the queue drained carries the losses since the last delivered frame.
	bob.s.waitFor(t, "queue drained", func(evs []*ffipb.Event) bool {
		n := 0
		for _, ev := range evs[start:] {
			if ev.GetDataTrackFrame().GetSubscriptionHandle() == sub {
				n++
			}
		}
		return uint64(n) == subObj.received.Load()-r0
	})
	push("tail")
	bob.s.waitFor(t, "tail", func([]*ffipb.Event) bool { return delivered("tail") >= 0 })

	var frames, reported uint64
	for _, ev := range bob.s.snapshot()[start:] {
		if f := ev.GetDataTrackFrame(); f.GetSubscriptionHandle() == sub {
			frames++
			reported += f.GetDroppedBefore()
		}
	}
	lost, drops := subObj.lost.Load()-l0, subObj.coreLost()-d0
	if frames != subObj.received.Load()-r0 || reported != lost+drops {
		t.Fatalf("delivered %d frames (subscription counted %d), dropped_before sums to %d, subscription lost %d + dropped %d",
			frames, subObj.received.Load()-r0, reported, lost, drops)
	}
	if frames+reported != pushed+1 {
		t.Fatalf("delivered %d + dropped %d != pushed %d", frames, reported, pushed+1)
	}
}

// waitSubscribed runs WaitDataTrackSubscribed on subscription h (timeoutMs 0 = none).
func (h *host) waitSubscribed(sub uint64, timeoutMs uint32) *ffipb.Completion {
	return h.completion(h.async(&ffipb.Request{TimeoutMs: timeoutMs, Message: &ffipb.Request_WaitDataTrackSubscribed{
		WaitDataTrackSubscribed: &ffipb.WaitDataTrackSubscribedRequest{SubscriptionHandle: sub}}}))
}

// pushUntilFrame pushes a frame on pub's track every 10 ms until the subscriber's subscription
// sub has delivered one (frames pushed before a subscription is established are not
// delivered), failing the test after hangGuard.
func pushUntilFrame(t *testing.T, pub *host, track uint64, subscriber *host, sub uint64, what string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for len(frameEvents(subscriber.s.snapshot(), sub)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no frame on %s", what)
		}
		_ = pub.c.PushFrame(track, []byte("x"), 0, false)
		time.Sleep(10 * time.Millisecond)
	}
}

// A publisher's full reconnect gives its data tracks new sids (no event announces it): a host
// keeping the sid it was given cannot subscribe any more, one that names the track can
// (SubscribeDataTrackRequest.track_name, ABI 1.9).
func TestE2EDataTrackSubscribeByNameAfterPublisherFullReconnect(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	p := publishedTrackPeers(t, s, "dt-name")
	alice, bob, br, th := p.alice, p.bob, p.br, p.track.GetHandle()
	oldSid := p.remote.GetInfo().GetSid()

	s.ForceFullReconnect("alice", true)
	if !s.DropSignal("alice") {
		t.Fatal("devsfu did not drop alice's signal connection")
	}
	alice.roomEvent("full reconnect", 0, func(e *ffipb.RoomEvent) bool {
		return e.GetReconnected().GetKind() == ffipb.ReconnectKind_RECONNECT_KIND_FULL
	})
	var newSid string
	bob.s.waitFor(t, "bob sees the track's new sid", func([]*ffipb.Event) bool {
		snap := bob.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: br}}})
		for _, tr := range snap.GetGetRoomSnapshot().GetSnapshot().GetRemoteDataTracks() {
			if tr.GetInfo().GetName() == "sensor" && tr.GetInfo().GetSid() != oldSid {
				newSid = tr.GetInfo().GetSid()
			}
		}
		return newSid != ""
	})
	// Events alone tell bob the new sid: RemoteDataTrackSidChanged, or (depending on the order
	// of the server's updates) the old track unpublished and the new one published.
	bob.s.waitFor(t, "an event naming the new sid", func(evs []*ffipb.Event) bool {
		unpublished := false
		for _, ev := range evs {
			e := ev.GetRoom()
			if c := e.GetDataTrackSidChanged(); c != nil {
				if c.GetPublisherIdentity() != "alice" || c.GetName() != "sensor" || c.GetOldSid() != oldSid || c.GetSid() != newSid {
					t.Fatalf("sid change %v, want alice/sensor %s -> %s", c, oldSid, newSid)
				}
				t.Log("the track's sid changed")
				return true
			}
			if u := e.GetDataTrackUnpublished(); u.GetSid() == oldSid {
				unpublished = true
			}
			if p := e.GetDataTrackPublished(); p.GetTrack().GetInfo().GetSid() == newSid {
				if !unpublished {
					t.Fatalf("track %s published again without the old %s unpublished or its sid changed", newSid, oldSid)
				}
				t.Log("the track was unpublished and published again")
				return true
			}
		}
		return false
	})

	req := func(sid, name string) *ffipb.Request {
		return &ffipb.Request{Message: &ffipb.Request_SubscribeDataTrack{SubscribeDataTrack: &ffipb.SubscribeDataTrackRequest{
			RoomHandle: br, PublisherIdentity: "alice", TrackSid: sid, TrackName: name, Delivery: ffipb.DeliveryMode_DELIVERY_MODE_EVENTS,
		}}}
	}
	wantRespCode(t, bob.do(req(oldSid, "")), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND)
	wantRespCode(t, bob.do(req(oldSid, "other")), ffipb.ErrorCode_ERROR_CODE_NOT_FOUND)
	resp := bob.do(req(oldSid, "sensor")) // the stale sid is not looked at
	wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
	sub := resp.GetSubscribeDataTrack().GetSubscription()
	if sub.GetTrack().GetInfo().GetSid() != newSid {
		t.Fatalf("subscribed to %v, want sid %s", sub.GetTrack(), newSid)
	}
	deadline := time.Now().Add(hangGuard)
	for len(frameEvents(bob.s.snapshot(), sub.GetHandle())) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no frame through the subscription made by name")
		}
		_ = alice.c.PushFrame(th, []byte("after"), 0, false) // refused while republishing: retried
		time.Sleep(10 * time.Millisecond)
	}
}

// A pull subscription whose host reads too slowly says, on the next frame it reads, how many
// frames it lost (ABI 1.10: lk_data_track_read_frame), and its end counts them.
// A pull subscription keeps the newest frames its buffer holds while its reader does not read,
// bounded by buffer_size frames or, since ABI 1.13, by buffer_bytes of payload (32 bytes: four
// of the 8-byte frames "frame 36".."frame 39"), and reports every other one as lost. Since ABI
// 1.14 the byte bound may be the room's data_track_buffer_bytes, and an auto-subscription is
// read the same way with auto_subscription_delivery PULL (no frame events, the library's
// buffer under the room's bounds).
func TestE2EPullFramesReportWhatWasLost(t *testing.T) {
	pull := ffipb.DeliveryMode_DELIVERY_MODE_PULL
	for _, tc := range []struct {
		name         string
		room         *ffipb.RoomOptions // bob's
		frames, size uint32             // his SubscribeDataTrackRequest, unless his room auto-subscribes
	}{
		{"buffer_size", nil, 4, 0},
		{"buffer_bytes", nil, 0, 32},
		{"room_buffer_bytes", &ffipb.RoomOptions{DataTrackBufferBytes: 32}, 0, 0},
		{"auto_subscription", &ffipb.RoomOptions{AutoSubscribe: true, AutoSubscriptionDelivery: pull, DataTrackBufferBytes: 32}, 0, 0},
		{"auto_subscription_frames", &ffipb.RoomOptions{AutoSubscribe: true, AutoSubscriptionDelivery: pull, DataTrackBufferSize: 4}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) { pullFramesReportWhatWasLost(t, tc.room, tc.frames, tc.size) })
	}
}

func pullFramesReportWhatWasLost(t *testing.T, bobRoom *ffipb.RoomOptions, bufferFrames, bufferBytes uint32) {
	s := sfu.Start(t, devsfu.Options{})
	p := publishedTrackPeersWith(t, s, "dt-pull-lost", bobRoom)
	alice, bob, br := p.alice, p.bob, p.br
	th, sid := p.track.GetHandle(), p.track.GetInfo().GetSid()
	const buffer = 4
	pull := p.auto
	if !bobRoom.GetAutoSubscribe() {
		resp := bob.do(&ffipb.Request{Message: &ffipb.Request_SubscribeDataTrack{SubscribeDataTrack: &ffipb.SubscribeDataTrackRequest{
			RoomHandle: br, PublisherIdentity: "alice", TrackSid: sid, Delivery: ffipb.DeliveryMode_DELIVERY_MODE_PULL,
			BufferSize: bufferFrames, BufferBytes: bufferBytes,
		}}})
		wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
		pull = resp.GetSubscribeDataTrack().GetSubscription().GetHandle()
	} else if pull == 0 {
		t.Fatal("no auto-subscription in the RemoteDataTrackPublished event")
	}
	events := subscribe(t, bob, br, "alice", sid, ffipb.DeliveryMode_DELIVERY_MODE_EVENTS) // shows arrival
	arrived := func(payload string) {
		bob.s.waitFor(t, payload, func(evs []*ffipb.Event) bool {
			for _, f := range frameEvents(evs, events) {
				if string(f.GetPayload()) == payload {
					return true
				}
			}
			return false
		})
	}
	// Warm up until both subscriptions receive, then read the pull buffer empty up to a barrier.
	deadline := time.Now().Add(hangGuard)
	for len(frameEvents(bob.s.snapshot(), events)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no frame reached the subscriptions")
		}
		_ = alice.c.PushFrame(th, []byte("warm"), 0, false)
		time.Sleep(10 * time.Millisecond)
	}
	if err := alice.c.PushFrame(th, []byte("barrier"), 0, false); err != nil {
		t.Fatal(err)
	}
	arrived("barrier")
	warmLost := uint64(0) // the warm-up may overflow the buffer too
	for {
		f, err := bob.c.ReadFrame(pull, hangGuard)
		if err != nil {
			t.Fatal(err)
		}
		warmLost += f.DroppedBefore
		if string(f.Payload) == "barrier" {
			break
		}
	}

	// 40 frames while bob does not read: his buffer keeps the last 4 and counts the rest.
	const n = 40
	for i := range n {
		if err := alice.c.PushFrame(th, fmt.Appendf(nil, "frame %d", i), 0, false); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	arrived(fmt.Sprintf("frame %d", n-1))
	prev, read, reported := -1, 0, uint64(0)
	for {
		f, err := bob.c.ReadFrame(pull, 0)
		if CodeOf(err) == ffipb.ErrorCode_ERROR_CODE_TIMEOUT {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var i int
		if _, err := fmt.Sscanf(string(f.Payload), "frame %d", &i); err != nil {
			t.Fatalf("frame %q", f.Payload)
		}
		if f.DroppedBefore != uint64(i-prev-1) {
			t.Fatalf("frame %d after frame %d: dropped_before %d, want %d", i, prev, f.DroppedBefore, i-prev-1)
		}
		prev, read, reported = i, read+1, reported+f.DroppedBefore
	}
	if read != buffer || prev != n-1 || uint64(read)+reported != n {
		t.Fatalf("read %d frames up to %d with %d reported lost, want the last %d of %d", read, prev, reported, buffer, n)
	}

	// The end counts the same losses.
	wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_UnpublishDataTrack{UnpublishDataTrack: &ffipb.UnpublishDataTrackRequest{TrackHandle: th}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	var end *ffipb.DataTrackSubscriptionEnded
	bob.s.waitFor(t, "the pull subscription's end", func(evs []*ffipb.Event) bool {
		for _, ev := range evs {
			if e := ev.GetDataTrackSubscriptionEnded(); e.GetSubscriptionHandle() == pull {
				end = e
				return true
			}
		}
		return false
	})
	if end.GetFramesDropped() != warmLost+reported {
		t.Fatalf("end %v: frames_dropped %d, want %d", end, end.GetFramesDropped(), warmLost+reported)
	}
	if f := frameEvents(bob.s.snapshot(), pull); len(f) != 0 {
		t.Fatalf("%d frame events for a pull subscription, first %v", len(f), f[0])
	}
}

// With auto_subscription_delivery CREDITS (ABI 1.14) an auto-subscription delivers one frame
// event per credit, starting with auto_subscription_credits; the rest wait in its buffer.
func TestE2EAutoSubscriptionWithCredits(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	p := publishedTrackPeersWith(t, s, "dt-auto-credits", &ffipb.RoomOptions{
		AutoSubscribe: true, AutoSubscriptionDelivery: ffipb.DeliveryMode_DELIVERY_MODE_CREDITS, AutoSubscriptionCredits: 1,
	})
	alice, bob, th, auto := p.alice, p.bob, p.track.GetHandle(), p.auto
	if auto == 0 {
		t.Fatal("no auto-subscription in the RemoteDataTrackPublished event")
	}
	events := subscribe(t, bob, p.br, "alice", p.remote.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_EVENTS) // shows arrival
	got := func(sub uint64) []string {
		var out []string
		for _, ev := range bob.s.snapshot() {
			if f := ev.GetDataTrackFrame(); f.GetSubscriptionHandle() == sub {
				out = append(out, string(f.GetPayload()))
			}
		}
		return out
	}
	// Push until both subscriptions received something: the auto-subscription its one credit.
	var pushed []string
	push := func(payload string) {
		if err := alice.c.PushFrame(th, []byte(payload), 0, false); err != nil {
			t.Fatalf("push %s: %v", payload, err)
		}
		pushed = append(pushed, payload)
	}
	deadline := time.Now().Add(hangGuard)
	for len(got(auto)) == 0 || len(got(events)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no frame reached the subscriptions")
		}
		push(fmt.Sprintf("warm %d", len(pushed)))
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 3 {
		push(fmt.Sprintf("frame %d", i))
	}
	bob.s.waitFor(t, "frame 2 on the events subscription", func([]*ffipb.Event) bool { return slices.Contains(got(events), "frame 2") })
	first := got(auto)
	if len(first) != 1 {
		t.Fatalf("auto-subscription with 1 credit delivered %q", first)
	}
	// Every frame pushed after its first waited in its buffer for a credit, and comes in order.
	k := slices.Index(pushed, first[0])
	wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: auto, Credits: uint32(len(pushed))}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	bob.s.waitFor(t, "the credited frames", func([]*ffipb.Event) bool { return slices.Contains(got(auto), "frame 2") })
	if g := got(auto); k < 0 || !slices.Equal(g, pushed[k:]) {
		t.Fatalf("auto-subscription delivered %q, want %q", g, pushed[max(k, 0):])
	}
}

// The auto-subscription of a track published before the join (ConnectResult.auto_subscriptions)
// is delivered as auto_subscription_delivery says, like one announced later: PULL is read with
// ReadFrame and sends no frame event; CREDITS sends none before credits are granted.
func TestE2EAutoSubscriptionOfASnapshotTrackIsDeliveredAsAsked(t *testing.T) {
	for _, mode := range []ffipb.DeliveryMode{ffipb.DeliveryMode_DELIVERY_MODE_PULL, ffipb.DeliveryMode_DELIVERY_MODE_CREDITS} {
		t.Run(mode.String(), func(t *testing.T) {
			s := sfu.Start(t, devsfu.Options{})
			alice, ar, _ := joinHost(t, s, "dt-auto-snap-mode", "alice")
			early := publishTrack(t, alice, ar, "early")
			bob := newHost(t)
			br := bob.createRoom(&ffipb.RoomOptions{AutoSubscribe: true, AutoSubscriptionsInSnapshot: true, AutoSubscriptionDelivery: mode})
			res := bob.connect(br, s.URL(), mintToken(t, s, "dt-auto-snap-mode", "bob"))
			if len(res.GetAutoSubscriptions()) != 1 {
				t.Fatalf("auto subscriptions in the completion: %v", res.GetAutoSubscriptions())
			}
			auto := res.GetAutoSubscriptions()[0].GetHandle()
			if c := bob.waitSubscribed(auto, 0); c.GetError() != nil {
				t.Fatalf("wait for the snapshot track's auto subscription: %v", c)
			}
			events := subscribe(t, bob, br, "alice", early.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_EVENTS) // shows arrival
			// Frames until the witness got one pushed after both subscriptions were established.
			pushUntilFrame(t, alice, early.GetHandle(), bob, events, "the witness subscription")
			if err := alice.c.PushFrame(early.GetHandle(), []byte("after"), 0, false); err != nil {
				t.Fatal(err)
			}
			bob.s.waitFor(t, "the frame after", func(evs []*ffipb.Event) bool {
				return slices.ContainsFunc(frameEvents(evs, events), func(f *ffipb.DataTrackFrameEvent) bool { return string(f.GetPayload()) == "after" })
			})
			if f := frameEvents(bob.s.snapshot(), auto); len(f) != 0 {
				t.Fatalf("%d frame events for the %v auto-subscription (none with PULL, none before a credit), first %v", len(f), mode, f[0])
			}
			if mode == ffipb.DeliveryMode_DELIVERY_MODE_PULL {
				f, err := bob.c.ReadFrame(auto, hangGuard)
				if err != nil || len(f.Payload) == 0 {
					t.Fatalf("read the pull auto-subscription: %q %v", f.Payload, err)
				}
				return
			}
			wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: auto, Credits: 1}}}), ffipb.ErrorCode_ERROR_CODE_OK)
			bob.s.waitFor(t, "one credited frame", func(evs []*ffipb.Event) bool { return len(frameEvents(evs, auto)) == 1 })
		})
	}
}

// A pull subscription that could not be established (an encrypted track, no keys) reports its
// failure at once and, switched later, again with after_switch: the host that switched (a
// binding handing it to a callback) waits for that end. A subscription in events mode from the
// start reports it once, without after_switch.
func TestE2ESwitchedFailedSubscriptionEndsAgain(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice := newHost(t)
	ar := alice.createRoom(&ffipb.RoomOptions{E2Ee: &ffipb.E2EeOptions{SharedKey: []byte("alice")}})
	alice.connect(ar, s.URL(), mintToken(t, s, "dt-switch-failed", "alice"))
	bob, br, _ := joinHost(t, s, "dt-switch-failed", "bob")
	track := publishTrack(t, alice, ar, "enc")
	bob.roomEvent("track published", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataTrackPublished() != nil })
	endsOf := func(h uint64) (out []*ffipb.DataTrackSubscriptionEnded) {
		for _, ev := range bob.s.snapshot() {
			if e := ev.GetDataTrackSubscriptionEnded(); e.GetSubscriptionHandle() == h {
				out = append(out, e)
			}
		}
		return out
	}
	wantFailed := func(e *ffipb.DataTrackSubscriptionEnded, afterSwitch bool) {
		t.Helper()
		if e.GetReason() != ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_FAILED ||
			e.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR || e.GetAfterSwitch() != afterSwitch {
			t.Fatalf("end %v, want FAILED (ENCRYPTION_ERROR) with after_switch %v", e, afterSwitch)
		}
	}

	events := subscribe(t, bob, br, "alice", track.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_EVENTS)
	pull := subscribe(t, bob, br, "alice", track.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_PULL)
	bob.s.waitFor(t, "both failures", func([]*ffipb.Event) bool { return len(endsOf(events)) == 1 && len(endsOf(pull)) == 1 })
	wantFailed(endsOf(events)[0], false)
	wantFailed(endsOf(pull)[0], false)
	if _, err := bob.c.ReadFrame(pull, 0); CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_END_OF_STREAM {
		t.Fatalf("read of the failed pull subscription: %v", err)
	}

	wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_SetDataTrackDelivery{SetDataTrackDelivery: &ffipb.SetDataTrackDeliveryRequest{
		SubscriptionHandle: pull, Delivery: ffipb.DeliveryMode_DELIVERY_MODE_CREDITS, InitialCredits: 4,
	}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	bob.s.waitFor(t, "the end after the switch", func([]*ffipb.Event) bool { return len(endsOf(pull)) == 2 })
	wantFailed(endsOf(pull)[1], true)
	if n := len(endsOf(events)); n != 1 {
		t.Fatalf("the events subscription ended %d times", n)
	}

	// Switched while it is being established: whichever comes first, the last end says so.
	raced := subscribe(t, bob, br, "alice", track.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_PULL)
	wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_SetDataTrackDelivery{SetDataTrackDelivery: &ffipb.SetDataTrackDeliveryRequest{
		SubscriptionHandle: raced, Delivery: ffipb.DeliveryMode_DELIVERY_MODE_EVENTS,
	}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	bob.s.waitFor(t, "an end after the switch", func([]*ffipb.Event) bool {
		ends := endsOf(raced)
		return len(ends) > 0 && ends[len(ends)-1].GetAfterSwitch()
	})
	ends := endsOf(raced)
	if len(ends) > 2 || len(ends) == 2 && ends[0].GetAfterSwitch() {
		t.Fatalf("ends of a subscription switched while established: %v", ends)
	}
	for _, e := range ends {
		wantFailed(e, e == ends[len(ends)-1])
	}
}

// SetDataTrackDeliveryRequest (ABI 1.14) turns a pull subscription into a credit (or event)
// one, once: what waited in its buffer and every later frame arrive as events, in order and
// none twice, and its end follows the last one — also when the end had already been reported
// while it was read in pull mode.
func TestE2ESwitchPullSubscriptionToEvents(t *testing.T) {
	for _, endedFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("ended_first=%v", endedFirst), func(t *testing.T) {
			s := sfu.Start(t, devsfu.Options{})
			p := publishedTrackPeersWith(t, s, "dt-switch", &ffipb.RoomOptions{AutoSubscribe: true, AutoSubscriptionDelivery: ffipb.DeliveryMode_DELIVERY_MODE_PULL})
			alice, bob, th, auto := p.alice, p.bob, p.track.GetHandle(), p.auto
			if c := bob.waitSubscribed(auto, 0); c.GetError() != nil {
				t.Fatalf("auto-subscription: %v", c)
			}
			events := subscribe(t, bob, p.br, "alice", p.remote.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_EVENTS) // shows arrival
			pushUntilFrame(t, alice, th, bob, events, "the witness subscription")
			setDelivery := func(h uint64, mode ffipb.DeliveryMode, credits uint32) *ffipb.Response {
				return bob.do(&ffipb.Request{Message: &ffipb.Request_SetDataTrackDelivery{SetDataTrackDelivery: &ffipb.SetDataTrackDeliveryRequest{
					SubscriptionHandle: h, Delivery: mode, InitialCredits: credits,
				}}})
			}
			// Read the warm-up frames in pull mode, up to a barrier.
			if err := alice.c.PushFrame(th, []byte("barrier"), 0, false); err != nil {
				t.Fatal(err)
			}
			for {
				f, err := bob.c.ReadFrame(auto, hangGuard)
				if err != nil {
					t.Fatal(err)
				}
				if string(f.Payload) == "barrier" {
					break
				}
			}
			var pushed []string
			for i := range 10 {
				pushed = append(pushed, fmt.Sprintf("frame %d", i))
				if err := alice.c.PushFrame(th, []byte(pushed[i]), 0, false); err != nil {
					t.Fatal(err)
				}
			}
			bob.s.waitFor(t, "the frames on the witness", func(evs []*ffipb.Event) bool {
				return slices.ContainsFunc(frameEvents(evs, events), func(f *ffipb.DataTrackFrameEvent) bool { return string(f.GetPayload()) == "frame 9" })
			})
			endsOf := func(evs []*ffipb.Event) (idx []int) {
				for i, ev := range evs {
					if ev.GetDataTrackSubscriptionEnded().GetSubscriptionHandle() == auto {
						idx = append(idx, i)
					}
				}
				return idx
			}
			unpublish := func() {
				wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_UnpublishDataTrack{UnpublishDataTrack: &ffipb.UnpublishDataTrackRequest{TrackHandle: th}}}), ffipb.ErrorCode_ERROR_CODE_OK)
			}
			if endedFirst {
				unpublish()
				bob.s.waitFor(t, "the end in pull mode", func(evs []*ffipb.Event) bool { return len(endsOf(evs)) == 1 })
			}

			wantRespCode(t, setDelivery(auto, ffipb.DeliveryMode_DELIVERY_MODE_PULL, 0), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
			wantRespCode(t, setDelivery(events, ffipb.DeliveryMode_DELIVERY_MODE_CREDITS, 1), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
			wantRespCode(t, setDelivery(auto, ffipb.DeliveryMode_DELIVERY_MODE_CREDITS, 2), ffipb.ErrorCode_ERROR_CODE_OK)
			wantRespCode(t, setDelivery(auto, ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, 0), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
			if _, err := bob.c.ReadFrame(auto, 0); CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION {
				t.Fatalf("read after the switch: %v", err)
			}
			got := func() []string {
				var out []string
				for _, f := range frameEvents(bob.s.snapshot(), auto) {
					out = append(out, string(f.GetPayload()))
				}
				return out
			}
			bob.s.waitFor(t, "two credited frames", func([]*ffipb.Event) bool { return len(got()) == 2 })
			wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: auto, Credits: 100}}}), ffipb.ErrorCode_ERROR_CODE_OK)
			bob.s.waitFor(t, "every frame", func([]*ffipb.Event) bool { return len(got()) == len(pushed) })
			if g := got(); !slices.Equal(g, pushed) {
				t.Fatalf("frames after the switch %q, want %q", g, pushed)
			}
			if !endedFirst {
				unpublish()
			}
			bob.s.waitFor(t, "the end after the last frame", func(evs []*ffipb.Event) bool {
				ends := endsOf(evs)
				return len(ends) > 0 && ends[len(ends)-1] > slices.IndexFunc(evs, func(ev *ffipb.Event) bool {
					return ev.GetDataTrackFrame().GetSubscriptionHandle() == auto && string(ev.GetDataTrackFrame().GetPayload()) == "frame 9"
				}) && len(ends) == map[bool]int{false: 1, true: 2}[endedFirst]
			})
			// Only the end after the frames says so (after_switch); one reported in pull mode does not.
			evs := bob.s.snapshot()
			ends := endsOf(evs)
			for i, at := range ends {
				end := evs[at].GetDataTrackSubscriptionEnded()
				if end.GetReason() != ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_UNPUBLISHED || end.GetFramesDropped() != 0 ||
					end.GetAfterSwitch() != (i == len(ends)-1) {
					t.Fatalf("end %d of %d: %v", i+1, len(ends), end)
				}
			}
		})
	}
}
