package engine

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// An ICE restart on a connected engine (the resume path): the restart offer
// gets the next id, TransportConnected is false until the new answer has
// been applied and ICE has selected a pair again, the data channels and the
// SCTP association survive, and sequences continue.
func TestEngineICERestart(t *testing.T) {
	eng, peer, pkts := connectPair(t, Config{})
	defer peer.pc.Close() //nolint:errcheck
	defer eng.Close()     //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	waitTransport(ctx, t, eng)
	send := func(payload string) *lkpb.DataPacket {
		t.Helper()
		p := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte(payload)}}}
		if err := eng.SendPacket(ctx, p, true); err != nil {
			t.Fatal(err)
		}
		return p
	}
	expect := func(payload string) {
		t.Helper()
		select {
		case p := <-pkts:
			if string(p.GetUser().GetPayload()) != payload {
				t.Fatalf("got %q, want %q", p.GetUser().GetPayload(), payload)
			}
		case <-ctx.Done():
			t.Fatalf("no echo of %q", payload)
		}
	}
	send("before")
	expect("before")

	offer0, answer0 := eng.SyncDescriptions()
	if offer0.GetType() != "offer" || answer0.GetType() != "answer" || offer0.GetId() != 0 || answer0.GetSdp() == "" {
		t.Fatalf("sync descriptions %v / %v", offer0, answer0)
	}
	offer, err := eng.CreateOffer(true)
	if err != nil {
		t.Fatal(err)
	}
	if offer.GetId() != 2 || eng.LastOfferID() != 2 || sdpUfrag(offer.GetSdp()) == sdpUfrag(offer0.GetSdp()) {
		t.Fatalf("restart offer id %d, ufrag %q (was %q)", offer.GetId(), sdpUfrag(offer.GetSdp()), sdpUfrag(offer0.GetSdp()))
	}
	if eng.TransportConnected() {
		t.Fatal("transport reported connected before the restart answer")
	}
	answerRestart(t, eng, peer, offer)
	waitTransport(ctx, t, eng)
	if !eng.DataChannelsOpen() {
		t.Fatal("data channels closed by the ICE restart")
	}
	if p := send("after"); p.GetSequence() != 2 {
		t.Fatalf("sequence after restart %d, want 2", p.GetSequence())
	}
	expect("after")
}

// answerRestart has the peer answer an ICE-restart offer and hands the answer to eng.
func answerRestart(t *testing.T, eng *Engine, peer *echoPeer, offer *lkpb.SessionDescription) {
	t.Helper()
	if err := peer.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.GetSdp()}); err != nil {
		t.Fatal(err)
	}
	ans, err := peer.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.pc.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	if err := eng.HandleAnswer(&lkpb.SessionDescription{Type: "answer", Sdp: ans.SDP, Id: offer.GetId()}); err != nil {
		t.Fatal(err)
	}
}

// A resume whose signalling broke after its ICE-restart offer went out never
// gets that answer: the next attempt's restart offer must still be possible
// (the unanswered one abandoned) and connect with its own answer.
func TestEngineICERestartAfterUnansweredOffer(t *testing.T) {
	eng, peer, pkts := connectPair(t, Config{})
	defer peer.pc.Close() //nolint:errcheck
	defer eng.Close()     //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	waitTransport(ctx, t, eng)

	lost, err := eng.CreateOffer(true) // its answer is lost with the WebSocket
	if err != nil {
		t.Fatal(err)
	}
	offer, err := eng.CreateOffer(true)
	if err != nil {
		t.Fatalf("a restart offer after an unanswered one: %v", err)
	}
	if offer.GetId() != lost.GetId()+1 || sdpUfrag(offer.GetSdp()) == sdpUfrag(lost.GetSdp()) {
		t.Fatalf("second restart offer id %d ufrag %q (first %d %q)", offer.GetId(), sdpUfrag(offer.GetSdp()), lost.GetId(), sdpUfrag(lost.GetSdp()))
	}
	answerRestart(t, eng, peer, offer)
	waitTransport(ctx, t, eng)
	p := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("after")}}}
	if err := eng.SendPacket(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-pkts:
		if string(got.GetUser().GetPayload()) != "after" {
			t.Fatalf("echo %q", got.GetUser().GetPayload())
		}
	case <-ctx.Done():
		t.Fatal("no echo after the second restart")
	}
}

// ReplayReliable re-sends the buffered packets after last_message_seq
// unchanged and in order; the receiver's duplicate suppression drops the
// echoes of packets it has already seen.
func TestEngineReplayReliable(t *testing.T) {
	eng, peer, pkts := connectPair(t, Config{})
	defer peer.pc.Close() //nolint:errcheck
	defer eng.Close()     //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	var sent [][]byte
	for i := 1; i <= 4; i++ {
		p := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte{byte(i)}}}}
		if err := eng.SendPacket(ctx, p, true); err != nil {
			t.Fatal(err)
		}
		b, _ := proto.Marshal(p)
		sent = append(sent, b)
	}
	for i := 0; i < 4; i++ {
		select {
		case <-pkts:
		case <-ctx.Done():
			t.Fatal("echo missing")
		}
	}
	// Pretend nothing was acknowledged yet: put the packets back as the
	// buffer held them before the SFU's SACKs trimmed it.
	eng.reliable.sendMu.Lock()
	eng.resend.Reset()
	for i, b := range sent {
		eng.resend.Push(uint32(i+1), b)
	}
	eng.reliable.sendMu.Unlock()
	peer.mu.Lock()
	before := len(peer.got[LabelReliable])
	peer.mu.Unlock()

	n, err := eng.ReplayReliable(2)
	if err != nil || n != 2 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	next := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("next")}}}
	if err := eng.SendPacket(ctx, next, true); err != nil {
		t.Fatal(err)
	}
	if next.GetSequence() != 5 {
		t.Fatalf("sequence after replay %d", next.GetSequence())
	}
	select {
	case p := <-pkts:
		if string(p.GetUser().GetPayload()) != "next" {
			t.Fatalf("replayed duplicate delivered: %v", p)
		}
	case <-ctx.Done():
		t.Fatal("no echo")
	}
	peer.mu.Lock()
	got := peer.got[LabelReliable][before:]
	peer.mu.Unlock()
	if len(got) != 3 || !bytes.Equal(got[0], sent[2]) || !bytes.Equal(got[1], sent[3]) {
		t.Fatalf("peer received %d messages after the replay", len(got))
	}
	if _, err := eng.ReplayReliable(0); err != nil {
		t.Fatal(err)
	}
	_ = eng.Close()
	if _, err := eng.ReplayReliable(0); err == nil {
		t.Fatal("replay after close succeeded")
	}
}

// waitTransport waits the way the room's reconnect does: no timer, only
// StateChanged taken before each check (it fails on ctx if a change that
// makes the transport connected were not notified, e.g. the ICE restart's
// new selected pair).
func waitTransport(ctx context.Context, t *testing.T, eng *Engine) {
	t.Helper()
	for {
		changed := eng.StateChanged()
		if eng.TransportConnected() && eng.DataChannelsOpen() {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("transport not connected")
		case <-changed:
		}
	}
}

func sdpUfrag(sdp string) string {
	for _, line := range bytes.Split([]byte(sdp), []byte("\n")) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("a=ice-ufrag:")); ok {
			return string(v)
		}
	}
	return ""
}
