package engine

import "testing"

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
