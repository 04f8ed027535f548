package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestResendBufferAlign(t *testing.T) {
	var b ResendBuffer
	for i := 1; i <= 5; i++ {
		b.Push(uint32(i), make([]byte, 100))
	}
	b.Align(250) // last 3 packets (300 bytes) may hold the 250 unacked bytes
	if got := b.Entries(); len(got) != 3 || got[0].Sequence != 3 || b.Bytes() != 300 {
		t.Fatalf("after Align(250): %d entries, first %d, %d bytes", len(got), got[0].Sequence, b.Bytes())
	}
	b.Align(300) // exactly the 3 remaining: keep them
	if b.Len() != 3 {
		t.Fatalf("Align(300) dropped to %d", b.Len())
	}
	b.DropThrough(4)
	if got := b.Entries(); len(got) != 1 || got[0].Sequence != 5 {
		t.Fatalf("after DropThrough(4): %+v", got)
	}
	b.Align(0)
	if b.Len() != 0 || b.Bytes() != 0 {
		t.Fatalf("Align(0) left %d", b.Len())
	}
	// Compaction keeps order over many pushes.
	for i := 1; i <= 1000; i++ {
		b.Push(uint32(i), []byte{byte(i)})
		b.Align(10)
	}
	got := b.Entries()
	if len(got) != 10 || got[0].Sequence != 991 || got[9].Sequence != 1000 {
		t.Fatalf("long run: %d entries from %d", len(got), got[0].Sequence)
	}
}

func TestReceiveDedup(t *testing.T) {
	var d ReceiveDedup
	now := time.Unix(1000, 0)
	steps := []struct {
		sid  string
		seq  uint32
		want bool
	}{
		{"PA_a", 1, true},
		{"PA_a", 2, true},
		{"PA_a", 2, false}, // duplicate
		{"PA_a", 1, false}, // replay of an older packet
		{"PA_b", 1, true},  // per sender
		{"PA_a", 0, true},  // lossy / unsequenced: never deduplicated
		{"", 5, true},      // no sid: never deduplicated
		{"PA_a", 3, true},
	}
	for i, s := range steps {
		if got := d.Accept(s.sid, s.seq, now); got != s.want {
			t.Fatalf("step %d (%s,%d): got %v", i, s.sid, s.seq, got)
		}
	}
	st := d.States()
	if len(st) != 2 {
		t.Fatalf("states: %v", st)
	}
	// After the TTL the sender is forgotten (JS 30 s).
	if !d.Accept("PA_a", 1, now.Add(DedupTTL+time.Second)) {
		t.Fatal("entry not expired")
	}
	d.Reset()
	if len(d.States()) != 0 {
		t.Fatal("reset")
	}
}

func TestEffectiveMaxPacketSize(t *testing.T) {
	cases := map[string]int{
		"": 64000,
		"m=application 9\r\na=max-message-size:65535\r\n": 64000,
		"a=max-message-size:1200\r\n":                     1200,
		"a=max-message-size:0\r\n":                        64000,
	}
	for sdp, want := range cases {
		if got := effectiveMaxPacketSize(sdp); got != want {
			t.Errorf("%q: %d, want %d", sdp, got, want)
		}
	}
}

// echoPeer is a minimal stand-in for an SFU in single-PC mode: it answers
// the engine's offer, adopts its channels and echoes every message back on
// the channel it came from, stamping participant_sid like the server.
type echoPeer struct {
	pc   *webrtc.PeerConnection
	mu   sync.Mutex
	got  map[string][][]byte
	hold chan struct{} // when non-nil, echo waits on it
}

func newEchoPeer(t *testing.T) *echoPeer {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &echoPeer{pc: pc, got: map[string][][]byte{}}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			p.mu.Lock()
			p.got[dc.Label()] = append(p.got[dc.Label()], m.Data)
			hold := p.hold
			p.mu.Unlock()
			if hold != nil {
				<-hold // a stalled reader: the SCTP receive window fills
			}
			out := m.Data
			if dc.Label() != LabelDataTrack {
				var pkt lkpb.DataPacket
				if proto.Unmarshal(m.Data, &pkt) == nil {
					pkt.ParticipantSid = "PA_peer"
					out, _ = proto.Marshal(&pkt)
				}
			}
			_ = dc.Send(out)
		})
	})
	return p
}

func connectPair(t *testing.T, cfg Config) (*Engine, *echoPeer, chan *lkpb.DataPacket) {
	t.Helper()
	peer := newEchoPeer(t)
	pkts := make(chan *lkpb.DataPacket, 1024)
	var eng *Engine
	cfg.OnLocalCandidate = func(c webrtc.ICECandidateInit) { _ = peer.pc.AddICECandidate(c) }
	cfg.OnPacket = func(p *lkpb.DataPacket, _ bool) {
		select {
		case pkts <- p:
		default:
		}
	}
	eng, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := eng.CreateOffer(false)
	if err != nil {
		t.Fatal(err)
	}
	if offer.Id != 1 || !strings.Contains(offer.Sdp, "m=application") || strings.Contains(offer.Sdp, "m=audio") {
		t.Fatalf("offer id %d / sdp:\n%s", offer.Id, offer.Sdp)
	}
	// The server's candidates may arrive before the answer: they must be queued.
	peer.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			b, _ := json.Marshal(c.ToJSON())
			if err := eng.AddRemoteCandidate(string(b)); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("add remote candidate: %v", err)
			}
		}
	})
	if err := peer.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.Sdp}); err != nil {
		t.Fatal(err)
	}
	answer, err := peer.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	// A stale answer id is refused; the right one is applied.
	if err := eng.HandleAnswer(&lkpb.SessionDescription{Type: "answer", Sdp: answer.SDP, Id: 7}); !errors.Is(err, ErrStaleAnswer) {
		t.Fatalf("stale answer: %v", err)
	}
	if err := eng.HandleAnswer(&lkpb.SessionDescription{Type: "answer", Sdp: answer.SDP, Id: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	select {
	case <-eng.DataReady():
	case <-ctx.Done():
		t.Fatal("data channels did not open")
	}
	return eng, peer, pkts
}

func TestEngineLoopback(t *testing.T) {
	eng, peer, pkts := connectPair(t, Config{})
	defer peer.pc.Close() //nolint:errcheck
	defer eng.Close()     //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	for i := 0; i < 3; i++ {
		p := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte{byte(i)}}}}
		if err := eng.SendPacket(ctx, p, true); err != nil {
			t.Fatal(err)
		}
		if p.Sequence != uint32(i+1) {
			t.Fatalf("sequence %d, want %d", p.Sequence, i+1)
		}
	}
	lossy := &lkpb.DataPacket{Sequence: 99, Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("l")}}}
	if err := eng.SendPacket(ctx, lossy, false); err != nil {
		t.Fatal(err)
	}
	if lossy.Sequence != 0 {
		t.Fatal("lossy packet kept a sequence")
	}
	var seqs []uint32
	for len(seqs) < 4 {
		select {
		case p := <-pkts:
			seqs = append(seqs, p.GetSequence())
		case <-ctx.Done():
			t.Fatalf("echo missing, got %v", seqs)
		}
	}
	if eng.LastSentSequence() != 3 {
		t.Fatalf("last seq %d", eng.LastSentSequence())
	}

	// Oversized: rejected, no sequence used.
	big := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: make([]byte, 64000)}}}
	var tooLarge *PacketTooLargeError
	if err := eng.SendPacket(ctx, big, true); !errors.As(err, &tooLarge) || !errors.Is(err, ErrPacketTooLarge) || tooLarge.Max != 64000 {
		t.Fatalf("oversized: %v", err)
	}
	if eng.LastSentSequence() != 3 {
		t.Fatal("oversized packet consumed a sequence")
	}

	// Echoed duplicates (same sid + seq) are dropped: send a raw replay.
	dup := &lkpb.DataPacket{Sequence: 2, ParticipantSid: "PA_peer", Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("dup")}}}
	b, _ := proto.Marshal(dup)
	_ = eng.reliable.dc.Send(b) // echo comes back with seq 2 from PA_peer: already seen
	next := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("next")}}}
	if err := eng.SendPacket(ctx, next, true); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-pkts:
		if string(p.GetUser().GetPayload()) != "next" {
			t.Fatalf("duplicate delivered: %q", p.GetUser().GetPayload())
		}
	case <-ctx.Done():
		t.Fatal("no echo")
	}

	// Data track: raw bytes both ways.
	if err := eng.SendDataTrackPacket([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	infos := eng.DataChannelInfos()
	if len(infos) != 2 || infos[0].GetLabel() != LabelLossy || infos[1].GetLabel() != LabelReliable {
		t.Fatalf("channel infos %v", infos)
	}

	// After Close every call fails with ErrClosed.
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if err := eng.SendPacket(ctx, next, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if err := eng.SendDataTrackPacket([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("data track after close: %v", err)
	}
	_ = eng.Close()
}

func TestEngineDataTrackReceive(t *testing.T) {
	got := make(chan []byte, 4)
	eng, peer, _ := connectPair(t, Config{OnDataTrackPacket: func(b []byte) { got <- b }})
	defer peer.pc.Close() //nolint:errcheck
	defer eng.Close()     //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := eng.WaitDataTrackOpen(ctx); err != nil {
		t.Fatalf("data track channel not open: %v", err)
	}
	if err := eng.SendDataTrackPacket([]byte("frame")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, []byte("frame")) {
			t.Fatalf("got %q", b)
		}
	case <-ctx.Done():
		t.Fatal("no data track echo")
	}
}

func TestEngineBackpressureHonoursContext(t *testing.T) {
	eng, peer, pkts := connectPair(t, Config{})
	defer peer.pc.Close() //nolint:errcheck
	defer eng.Close()     //nolint:errcheck
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-pkts:
			case <-stop:
				return
			}
		}
	}()
	// The peer stops reading, so the reliable channel fills past its high-water
	// mark; then a send with a context that is already cancelled must fail.
	hold := make(chan struct{})
	peer.mu.Lock()
	peer.hold = hold
	peer.mu.Unlock()
	released := false
	release := func() {
		if !released {
			released = true
			peer.mu.Lock()
			peer.hold = nil
			peer.mu.Unlock()
			close(hold)
		}
	}
	defer release()
	payload := make([]byte, 60000)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	blocked := false
	for i := 0; i < 2000 && !blocked; i++ {
		if eng.reliable.dc.BufferedAmount() > ReliableHighWater {
			short, c2 := context.WithCancel(ctx)
			c2()
			err := eng.SendPacket(short, &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: payload}}}, true)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("blocked send returned %v", err)
			}
			blocked = true
			break
		}
		if err := eng.SendPacket(ctx, &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: payload}}}, true); err != nil {
			t.Fatal(err)
		}
	}
	if !blocked {
		t.Fatal("the buffered amount never passed the high-water mark with a stalled reader")
	}
	// A send with time left eventually succeeds once the reader drains the buffer.
	release()
	if err := eng.SendPacket(ctx, &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("x")}}}, true); err != nil {
		t.Fatal(err)
	}
	if n := len(eng.ReliableResendBuffer()); n == 0 && eng.reliable.dc.BufferedAmount() > 0 {
		t.Fatal("resend buffer empty while bytes are unacknowledged")
	}
}
