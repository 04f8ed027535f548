package engine

import (
	"testing"
	"time"
)

// The default receive window bounds what the peer keeps in flight toward
// us; with DTLS and SCTP framing it must fit in pion's fixed 1 MB buffers
// between the socket and SCTP (ICE agent buffer, mux endpoint buffer), which
// drop datagrams silently when full — lost frames on `_data_track`.
func TestDefaultSCTPWindowFitsBelowPionBuffers(t *testing.T) {
	const pionBuffer = 1_000_000 // ice maxBufferSize, webrtc internal/mux maxBufferSize
	// Worst framing for full-size chunks: I-DATA header 20 + SCTP common
	// header 12 + DTLS record header 13, explicit nonce 8, GCM tag 16 per
	// ~1 160 bytes of payload; keep a further 10 % for smaller messages.
	framed := float64(DefaultSCTPReceiveBufferSize) * (1 + 69.0/1160) * 1.10
	if framed >= pionBuffer {
		t.Fatalf("default window %d B is %.0f B on the wire with framing, not below pion's %d B buffers",
			DefaultSCTPReceiveBufferSize, framed, pionBuffer)
	}
}

// Config.SCTPReceiveBufferSize is the window the engine advertises: the peer
// sees it as its receiver window, less what the engine's SCTP still holds
// (a few bytes not yet read at times, so the check allows
// 16 KiB below the value; the configured values are much further apart).
func TestSCTPReceiveBufferSizeAdvertised(t *testing.T) {
	const slack = 16 << 10
	for _, c := range []struct{ set, want uint32 }{
		{0, DefaultSCTPReceiveBufferSize},
		{MinSCTPReceiveBufferSize, MinSCTPReceiveBufferSize},
		{3 << 20, 3 << 20},
	} {
		eng, peer, _ := connectPair(t, Config{SCTPReceiveBufferSize: c.set})
		var got uint32
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if got = peer.pc.SCTP().Stats().ReceiverWindow; got <= c.want && got+slack >= c.want {
				break
			}
		}
		_ = eng.Close()
		_ = peer.pc.Close()
		if got > c.want || got+slack < c.want {
			t.Errorf("SCTPReceiveBufferSize %d: the peer sees a window of %d, want %d (less at most %d)", c.set, got, c.want, slack)
		}
	}
}
