package room_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// TestDataTrackSizeCaps: a caller-controlled buffer or queue size above its cap, or negative,
// is refused with ErrInvalidArgument (wrapping *datatrack.OptionError) before anything is allocated or
// sent; the room keeps working and the largest allowed size is accepted.
func TestDataTrackSizeCaps(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "caps", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "caps", "bob", room.Options{})

	for _, n := range []int{datatrack.MaxSendQueueFrames + 1, math.MaxInt32, math.MaxInt, -1, math.MinInt} {
		lt, err := alice.r.LocalParticipant().PublishDataTrack(ctx, "big", room.DataTrackOptions{QueueFrames: n})
		var oe *datatrack.OptionError
		if lt != nil || !errors.Is(err, room.ErrInvalidArgument) || !errors.As(err, &oe) || oe.Option != "QueueFrames" {
			t.Fatalf("QueueFrames %d: %v", n, err)
		}
	}
	for _, n := range []int{datatrack.MaxSendQueueBytes + 1, math.MaxInt, -1, math.MinInt} {
		lt, err := alice.r.LocalParticipant().PublishDataTrack(ctx, "big", room.DataTrackOptions{QueueBytes: n})
		var oe *datatrack.OptionError
		if lt != nil || !errors.Is(err, room.ErrInvalidArgument) || !errors.As(err, &oe) || oe.Option != "QueueBytes" {
			t.Fatalf("QueueBytes %d: %v", n, err)
		}
	}
	lt, err := alice.r.LocalParticipant().PublishDataTrack(ctx, "big", room.DataTrackOptions{QueueFrames: datatrack.MaxSendQueueFrames})
	if err != nil {
		t.Fatal(err)
	}
	rt := bob.track(ctx, "alice", "big")
	for _, n := range []int{datatrack.MaxSubscriberBufferFrames + 1, math.MaxInt32, math.MaxInt, -1} {
		sub, err := rt.Subscribe(ctx, room.SubscribeOptions{BufferSize: n})
		var oe *datatrack.OptionError
		if sub != nil || !errors.Is(err, room.ErrInvalidArgument) || !errors.As(err, &oe) || oe.Option != "BufferSize" {
			t.Fatalf("BufferSize %d: %v", n, err)
		}
	}
	sub := subscribe(t, ctx, rt, room.SubscribeOptions{BufferSize: datatrack.MaxSubscriberBufferFrames})
	pushRetry(t, ctx, lt, room.Frame{Payload: []byte("after the refusals")})
	f, err := sub.Next(ctx)
	if err != nil || string(f.Payload) != "after the refusals" {
		t.Fatalf("frame %q, %v", f.Payload, err)
	}
}
