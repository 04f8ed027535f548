package devsfu

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

// benchForward measures messages/s from client a through devsfu to client
// b on label (send flat out, count arrivals). Lossy labels report loss.
func benchForward(b *testing.B, label string, msg func(i int) []byte) {
	s, err := Start(Options{UpdateBatchInterval: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() }) // after the clients' cleanups (registered later, run first)
	a, c := dialPair(b, s, "bench", "a", "b")
	if label == labelDataTrack {
		_ = a.send(publishReq(1, "bench"))
		info := a.wait("publish", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil }).
			GetPublishDataTrackResponse().GetInfo()
		_ = c.send(subscribeReq(info.GetSid()))
		c.wait("handles", func(m *lkpb.SignalResponse) bool { return len(m.GetDataTrackSubscriberHandles().GetSubHandles()) == 1 })
	}
	var n atomic.Int64
	c.ch[label].OnMessage(func(webrtc.DataChannelMessage) { n.Add(1) })
	dc := a.ch[label]
	dc.SetBufferedAmountLowThreshold(256 << 10)
	low := make(chan struct{}, 1)
	dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	b.SetBytes(1000)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for dc.BufferedAmount() > 1<<20 {
			select {
			case <-low:
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err := dc.Send(msg(i)); err != nil {
			b.Fatal(err)
		}
	}
	// Reliable: wait for everything; lossy: wait until the flow stops.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	last, lastChange := int64(-1), time.Now()
	for n.Load() < int64(b.N) && ctx.Err() == nil {
		if v := n.Load(); v != last {
			last, lastChange = v, time.Now()
		} else if label != labelReliable && time.Since(lastChange) > 300*time.Millisecond {
			break
		}
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	got := n.Load()
	if label == labelReliable && got != int64(b.N) {
		b.Fatalf("received %d of %d", got, b.N)
	}
	b.ReportMetric(float64(got)/el.Seconds(), "recv_msgs/s")
	b.ReportMetric(100*float64(int64(b.N)-got)/float64(b.N), "loss_%")
}

func BenchmarkForwardReliable1KB(b *testing.B) {
	benchForward(b, labelReliable, func(i int) []byte {
		out, _ := proto.Marshal(&lkpb.DataPacket{Sequence: uint32(i + 1),
			Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: make([]byte, 990)}}})
		return out
	})
}

func BenchmarkForwardDataTrack1KB(b *testing.B) {
	benchForward(b, labelDataTrack, func(i int) []byte {
		p := make([]byte, 1000)
		copy(p, []byte{0x18, 0, 0, 1})
		binary.BigEndian.PutUint16(p[4:6], uint16(i))
		return p
	})
}
