package ffi

import (
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"google.golang.org/protobuf/proto"
)

// BenchmarkRequestEcho measures the dispatch layer's cost of one synchronous request
// (decode, route, encode) without the cgo crossing.
func BenchmarkRequestEcho(b *testing.B) {
	c, err := NewClient(Options{ID: 40})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close(hangGuard, false) }()
	req, _ := proto.Marshal(&ffipb.Request{RequestId: 1, Message: &ffipb.Request_Echo{Echo: &ffipb.EchoRequest{Payload: make([]byte, 100)}}})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, code := c.Request(req); code != ffipb.ErrorCode_ERROR_CODE_OK {
			b.Fatal(code)
		}
	}
}

type nopPusher struct{}

func (nopPusher) PushFrame([]byte, uint64, bool, bool) error { return nil }

// BenchmarkPushFrame measures the fast path's own overhead (handle lookup and dispatch).
func BenchmarkPushFrame(b *testing.B) {
	c, err := NewClient(Options{ID: 41})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close(hangGuard, false) }()
	h, _ := c.Handles().Insert(KindLocalDataTrack, nopPusher{}, 0, nil)
	frame := make([]byte, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.PushFrame(h, frame, uint64(i), true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventDelivery measures posting one event and having the dispatcher encode and
// deliver it.
func BenchmarkEventDelivery(b *testing.B) {
	done := make(chan struct{})
	n := 0
	c, err := NewClient(Options{ID: 42, Deliver: func([]byte) {
		n++
		if n == b.N {
			close(done)
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close(hangGuard, false) }()
	payload := make([]byte, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := &ffipb.Event{Message: &ffipb.Event_DataTrackFrame{DataTrackFrame: &ffipb.DataTrackFrameEvent{SubscriptionHandle: 1, Payload: payload}}}
		if err := c.Post(b.Context(), ev); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}

// BenchmarkRoomEventOwnedHandles: listing what a room event hands over (every room event goes
// through it), for an event that cannot hand anything over and for one that does.
func BenchmarkRoomEventOwnedHandles(b *testing.B) {
	for _, tc := range []struct {
		name string
		ev   *ffipb.RoomEvent
	}{
		{"data packet", &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataReceived{DataReceived: &ffipb.DataPacketReceived{
			ParticipantIdentity: "bob", Payload: make([]byte, 1024), Topic: "t", Reliable: true,
		}}}},
		{"stream opened", &ffipb.RoomEvent{Message: &ffipb.RoomEvent_StreamOpened{StreamOpened: &ffipb.StreamOpened{
			Reader: &ffipb.OwnedStreamReader{Handle: 7},
		}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = roomEventOwnedHandles(tc.ev)
			}
		})
	}
}
