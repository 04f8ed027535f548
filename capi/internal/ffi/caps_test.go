package ffi

import (
	"math"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Host-controlled sizes are capped before anything is allocated: 2^32-1 as a data-track buffer
// size used to reach make([]Frame, size) and abort the host with an out-of-memory fatal error.

func TestCapsRoomOptions(t *testing.T) {
	h := newHost(t)
	for _, o := range []*ffipb.RoomOptions{
		{DataTrackBufferSize: ^uint32(0)},
		{DataTrackBufferSize: datatrack.MaxSubscriberBufferFrames + 1},
		{DataTrackBufferBytes: ^uint32(0)},
		{DataTrackBufferBytes: datatrack.MaxSubscriberBufferBytes + 1},
		{AutoSubscriptionDelivery: ffipb.DeliveryMode(3)},
		{AutoSubscriptionDelivery: ffipb.DeliveryMode(-1)},
		{JoinAttempts: ^uint32(0)},
		{JoinAttempts: MaxJoinAttempts + 1},
		{E2Ee: &ffipb.E2EeOptions{SharedKey: []byte("k"), KeyRingSize: ^uint32(0)}},
		{E2Ee: &ffipb.E2EeOptions{SharedKey: []byte("k"), RatchetWindowSize: ^uint32(0)}},
	} {
		resp := h.do(&ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{Options: o}}})
		wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
		if resp.GetCreateRoom().GetRoom().GetHandle() != 0 {
			t.Fatalf("%v: a room handle was issued", o)
		}
	}
	// The largest allowed values are accepted.
	h.createRoom(&ffipb.RoomOptions{DataTrackBufferSize: datatrack.MaxSubscriberBufferFrames, DataTrackBufferBytes: datatrack.MaxSubscriberBufferBytes,
		JoinAttempts: MaxJoinAttempts, AutoSubscriptionDelivery: ffipb.DeliveryMode_DELIVERY_MODE_PULL})
}

// TestCapsSubscribeBufferSize subscribes to a live track with buffer_size or buffer_bytes
// 2^32-1 (and one above the cap): INVALID_ARGUMENT and no handle; the largest allowed sizes
// work and frames flow; a room whose data_track_buffer_size is the cap subscribes with it by default.
func TestCapsSubscribeBufferSize(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "caps", "alice")
	bob, br, _ := joinHost(t, s, "caps", "bob")
	track := publishTrack(t, alice, ar, "sensor")
	bob.roomEvent("track published", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataTrackPublished() != nil })
	sid := track.GetInfo().GetSid()
	for _, n := range []uint32{^uint32(0), datatrack.MaxSubscriberBufferFrames + 1} {
		for _, mode := range []ffipb.DeliveryMode{ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, ffipb.DeliveryMode_DELIVERY_MODE_PULL} {
			resp := bob.do(&ffipb.Request{Message: &ffipb.Request_SubscribeDataTrack{SubscribeDataTrack: &ffipb.SubscribeDataTrackRequest{
				RoomHandle: br, PublisherIdentity: "alice", TrackSid: sid, Delivery: mode, BufferSize: n,
			}}})
			wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
			if resp.GetSubscribeDataTrack().GetSubscription().GetHandle() != 0 {
				t.Fatalf("buffer_size %d: a handle was issued", n)
			}
		}
	}
	for _, n := range []uint32{^uint32(0), datatrack.MaxSubscriberBufferBytes + 1} {
		resp := bob.do(&ffipb.Request{Message: &ffipb.Request_SubscribeDataTrack{SubscribeDataTrack: &ffipb.SubscribeDataTrackRequest{
			RoomHandle: br, PublisherIdentity: "alice", TrackSid: sid, Delivery: ffipb.DeliveryMode_DELIVERY_MODE_PULL, BufferBytes: n,
		}}})
		wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
		if resp.GetSubscribeDataTrack().GetSubscription().GetHandle() != 0 {
			t.Fatalf("buffer_bytes %d: a handle was issued", n)
		}
	}
	resp := bob.do(&ffipb.Request{Message: &ffipb.Request_SubscribeDataTrack{SubscribeDataTrack: &ffipb.SubscribeDataTrackRequest{
		RoomHandle: br, PublisherIdentity: "alice", TrackSid: sid, Delivery: ffipb.DeliveryMode_DELIVERY_MODE_EVENTS,
		BufferSize: datatrack.MaxSubscriberBufferFrames, BufferBytes: datatrack.MaxSubscriberBufferBytes,
	}}})
	wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
	sub := resp.GetSubscribeDataTrack().GetSubscription().GetHandle()
	pushUntilFrame(t, alice, track.GetHandle(), bob, sub, "the capped subscription")
}

func TestCapsPublishQueueSize(t *testing.T) {
	if got := queueFrames(^uint32(0)); got != datatrack.MaxSendQueueFrames {
		t.Fatalf("queue_size 2^32-1 maps to %d", got)
	}
}

// TestCapsPublishQueueBytes: queue_bytes above the core's cap is refused with INVALID_ARGUMENT
// and no track, 2^32-1 included, on every architecture: where int is 32 bits, converting it
// with int() gave -1, which the core took for "the default" and published the track.
func TestCapsPublishQueueBytes(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "caps-queue", "alice")
	for _, n := range []uint32{^uint32(0), 1 << 31, datatrack.MaxSendQueueBytes + 1} {
		comp := alice.completion(alice.async(&ffipb.Request{Message: &ffipb.Request_PublishDataTrack{PublishDataTrack: &ffipb.PublishDataTrackRequest{
			RoomHandle: ar, Name: "big", QueueBytes: n,
		}}}))
		if comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT || len(comp.GetOwnedHandles()) != 0 {
			t.Fatalf("queue_bytes %d: %v, handles %v", n, comp.GetError(), comp.GetOwnedHandles())
		}
	}
	// The cap itself is accepted.
	comp := alice.call(&ffipb.Request{Message: &ffipb.Request_PublishDataTrack{PublishDataTrack: &ffipb.PublishDataTrackRequest{
		RoomHandle: ar, Name: "big", QueueBytes: datatrack.MaxSendQueueBytes,
	}}})
	if comp.GetPublishDataTrack().GetTrack().GetHandle() == 0 {
		t.Fatal("no track at the cap")
	}
}

// TestIntOf: a request's uint32 becomes the same int where it fits, and never a negative one.
func TestIntOf(t *testing.T) {
	for _, u := range []uint32{0, 1, datatrack.MaxSendQueueBytes, 1<<31 - 1, 1 << 31, ^uint32(0)} {
		got := intOf(u)
		if got < 0 || (uint64(u) <= uint64(math.MaxInt) && got != int(u)) || (uint64(u) > uint64(math.MaxInt) && got != math.MaxInt) {
			t.Errorf("intOf(%d) = %d", u, got)
		}
	}
}
