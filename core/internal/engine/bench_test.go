package engine

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
)

// BenchmarkEngineReliable1KB measures pion↔pion reliable throughput of 1 KB
// DataPackets from an Engine to a counting peer whose SCTP receive buffer is
// rb (the receiver's window is what limits a reliable stream).
func BenchmarkEngineReliable1KB(b *testing.B) {
	for _, rb := range []struct {
		name string
		size uint32
	}{{"pion-default-1MiB", 0}, {"lkcore-default-768KiB", DefaultSCTPReceiveBufferSize}, {"8MiB", 8 << 20}} {
		b.Run(rb.name, func(b *testing.B) { benchReliable(b, rb.size) })
	}
}

func benchReliable(b *testing.B, peerRecvBuf uint32) {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if peerRecvBuf > 0 {
		se.SetSCTPMaxReceiveBufferSize(peerRecvBuf)
	}
	peer, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close() //nolint:errcheck
	var count atomic.Int64
	done := make(chan struct{}, 1)
	var target atomic.Int64
	peer.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(webrtc.DataChannelMessage) {
			if count.Add(1) == target.Load() {
				done <- struct{}{}
			}
		})
	})
	eng, err := New(Config{OnLocalCandidate: func(c webrtc.ICECandidateInit) { _ = peer.AddICECandidate(c) }})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close() //nolint:errcheck
	peer.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			j, _ := json.Marshal(c.ToJSON())
			_ = eng.AddRemoteCandidate(string(j))
		}
	})
	offer, _ := eng.CreateOffer(false)
	_ = peer.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.Sdp})
	answer, _ := peer.CreateAnswer(nil)
	_ = peer.SetLocalDescription(answer)
	if err := eng.HandleAnswer(&lkpb.SessionDescription{Type: "answer", Sdp: answer.SDP, Id: 1}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	select {
	case <-eng.DataReady():
	case <-ctx.Done():
		b.Fatal("not connected")
	}
	pkt := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: make([]byte, 1024)}}}
	target.Store(int64(b.N))
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := eng.SendPacket(ctx, pkt, true); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		b.Fatalf("received %d of %d", count.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
