package devsfu

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

// resumeClient drops nothing itself: the server side has already cut old's
// WebSocket. It reconnects with reconnect=true, checks the recorded resume
// sequence, sends SyncState and an ICE-restart offer.
func resumeClient(t *testing.T, s *Server, room string, old *testClient, sync *lkpb.SyncState, restart bool) *testClient {
	t.Helper()
	old.waitClosed()
	old.closeSignal()
	c := dial(t, s, room, old.identity, clientOpts{reconnectOf: old})
	first := c.wait("first message", func(*lkpb.SignalResponse) bool { return true })
	if first.GetReconnect() == nil {
		t.Fatalf("first message after resume is %s, want reconnect", typeOf(first))
	}
	rc := first.GetReconnect()
	if rc.GetServerInfo().GetVersion() != ServerVersion || len(rc.GetIceServers()) != 0 {
		t.Errorf("reconnect %v", rc)
	}
	c.wait("refresh", func(m *lkpb.SignalResponse) bool { return m.GetRefreshToken() != "" })
	// The resume's own messages, in this order: an update listing every
	// participant, room_update, refresh_token. Updates the server had batched
	// for this participant before its WebSocket was cut (another participant's
	// state) may be flushed in between, as a real server's batcher may.
	everyone := len(s.Participants(room))
	want := []string{"update", "room_update", "refresh_token"}
	var seq []string
	for _, m := range c.messages()[1:] {
		seq = append(seq, typeOf(m))
		switch {
		case len(want) == 0:
		case want[0] == "update" && len(m.GetUpdate().GetParticipants()) == everyone,
			want[0] != "update" && typeOf(m) == want[0]:
			want = want[1:]
		case m.GetUpdate() == nil && m.GetRoomUpdate() == nil:
			t.Errorf("resume sequence %v: unexpected %s", seq, typeOf(m))
		}
	}
	if len(want) != 0 {
		t.Errorf("resume sequence %v: missing %v (update listing all %d participants first)", seq, want, everyone)
	}
	if sync != nil {
		_ = c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_SyncState{SyncState: sync}})
	}
	if !restart {
		return c
	}
	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	c.offerID++
	_ = c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_Offer{Offer: &lkpb.SessionDescription{Type: "offer", Sdp: offer.SDP, Id: c.offerID}}})
	a := c.wait("restart answer", func(m *lkpb.SignalResponse) bool { return m.GetAnswer() != nil })
	if a.GetAnswer().GetId() != c.offerID {
		t.Errorf("answer id %d want %d", a.GetAnswer().GetId(), c.offerID)
	}
	return c
}

// TestResume follows trace 1d-resume-js: the publisher's WebSocket is cut,
// it resumes (same sid, reconnect, SyncState with its data track, ICE
// restart); publications, subscriptions and handles survive; reliable
// sequence dedupe continues (last_message_seq).
func TestResume(t *testing.T) {
	s := startServer(t, Options{})
	pub := dial(t, s, "res", "pub", clientOpts{})
	sub := dial(t, s, "res", "sub", clientOpts{})
	defer sub.close()
	pub.waitServerReady(s)
	sub.waitServerReady(s)

	_ = pub.send(publishReq(1, "sensor"))
	info := pub.wait("publish", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil }).
		GetPublishDataTrackResponse().GetInfo()
	_ = sub.send(subscribeReq(info.GetSid()))
	hm := sub.wait("handles", func(m *lkpb.SignalResponse) bool { return len(m.GetDataTrackSubscriberHandles().GetSubHandles()) == 1 })
	var subHandle uint32
	for h := range hm.GetDataTrackSubscriberHandles().GetSubHandles() {
		subHandle = h
	}
	pub.sendPacket(labelReliable, &lkpb.DataPacket{Sequence: 1, Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("before")}}})
	sub.waitData(labelReliable, nil)

	if !s.DropSignal("pub") {
		t.Fatal("pub not found")
	}
	pkt := testkit.Unhex(t, vecA)
	binary.BigEndian.PutUint16(pkt[2:4], 1)
	sync := &lkpb.SyncState{PublishDataTracks: []*lkpb.PublishDataTrackResponse{{Info: info}},
		DataChannels: []*lkpb.DataChannelInfo{{Label: labelLossy, Id: 1}, {Label: labelReliable, Id: 3}}}
	pub2 := resumeClient(t, s, "res", pub, sync, true)
	defer pub2.close()
	if pub2.messages()[0].GetReconnect().GetLastMessageSeq() != 1 {
		t.Errorf("last_message_seq %d, want 1", pub2.messages()[0].GetReconnect().GetLastMessageSeq())
	}
	pub2.waitReady()

	// Replay of sequence 1 is dropped, 2 goes through; the data track keeps
	// its subscriber handle.
	pub2.sendPacket(labelReliable, &lkpb.DataPacket{Sequence: 1, Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("replay")}}})
	pub2.sendPacket(labelReliable, &lkpb.DataPacket{Sequence: 2, Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("after")}}})
	var dp lkpb.DataPacket
	_ = proto.Unmarshal(sub.waitData(labelReliable, nil), &dp)
	if string(dp.GetUser().GetPayload()) != "after" || dp.GetParticipantSid() != pub.sid() {
		t.Errorf("after resume got %v", &dp)
	}
	pub2.sendRaw(labelDataTrack, pkt)
	got := sub.waitData(labelDataTrack, nil)
	if binary.BigEndian.Uint16(got[2:4]) != uint16(subHandle) || !bytes.Equal(got[4:], pkt[4:]) {
		t.Errorf("data track after resume: %x", got)
	}
	for _, m := range sub.messages() {
		if m.GetReconnect() != nil || (m.GetDataTrackSubscriberHandles() != nil && m != hm) {
			t.Errorf("subscriber saw resume traffic: %s", typeOf(m))
		}
	}
	pub2.leave()
	sub.leave()
}

// TestResumeRefused: after Restart (sessions forgotten) a resume gets
// leave{RECONNECT, STATE_MISMATCH}; a SyncState naming an unknown data
// track also forces a full reconnect.
func TestResumeRefused(t *testing.T) {
	s := startServer(t, Options{})
	a := dial(t, s, "rr", "a", clientOpts{})
	a.waitServerReady(s)
	s.Restart()
	a.waitClosed()
	a.closeSignal()
	c := dial(t, s, "rr", "a", clientOpts{reconnectOf: a})
	m := c.wait("leave", func(*lkpb.SignalResponse) bool { return true })
	if l := m.GetLeave(); l == nil || l.GetAction() != lkpb.LeaveRequest_RECONNECT || l.GetReason() != lkpb.DisconnectReason_STATE_MISMATCH {
		t.Fatalf("got %v", m)
	}
	c.waitClosed()
	c.close()

	b := dial(t, s, "rr", "b", clientOpts{})
	b.waitServerReady(s)
	s.DropSignal("b")
	b2 := resumeClient(t, s, "rr", b, &lkpb.SyncState{PublishDataTracks: []*lkpb.PublishDataTrackResponse{{
		Info: &lkpb.DataTrackInfo{PubHandle: 1, Sid: "DTR_unknown", Name: "x"}}}}, false)
	defer b2.close()
	l := b2.wait("leave", func(m *lkpb.SignalResponse) bool { return m.GetLeave() != nil }).GetLeave()
	if l.GetAction() != lkpb.LeaveRequest_RECONNECT {
		t.Errorf("leave %v", l)
	}
}

// TestDuplicateIdentity: a second session with the same identity removes
// the first with leave{DISCONNECT, DUPLICATE_IDENTITY}.
func TestDuplicateIdentity(t *testing.T) {
	s := startServer(t, Options{})
	a := dial(t, s, "dup", "same", clientOpts{})
	defer a.close()
	a2 := dial(t, s, "dup", "same", clientOpts{})
	defer a2.close()
	l := a.wait("leave", func(m *lkpb.SignalResponse) bool { return m.GetLeave() != nil }).GetLeave()
	if l.GetReason() != lkpb.DisconnectReason_DUPLICATE_IDENTITY || l.GetAction() != lkpb.LeaveRequest_DISCONNECT {
		t.Errorf("leave %v", l)
	}
	if code := a.waitClosed(); code != websocket.StatusNormalClosure {
		t.Errorf("close code %v", code)
	}
	if a.sid() == a2.sid() {
		t.Error("same sid")
	}
	a2.leave()
}

// TestDataTrackFaults: drop every 2nd, duplicate, reorder, kill.
func TestDataTrackFaults(t *testing.T) {
	s := startServer(t, Options{DeterministicHandles: true})
	pub, sub := dialPair(t, s, "f", "pub", "sub")
	_ = pub.send(publishReq(1, "t"))
	info := pub.wait("publish", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil }).
		GetPublishDataTrackResponse().GetInfo()
	_ = sub.send(subscribeReq(info.GetSid()))
	hm := sub.wait("handles", func(m *lkpb.SignalResponse) bool { return len(m.GetDataTrackSubscriberHandles().GetSubHandles()) == 1 })
	if _, ok := hm.GetDataTrackSubscriberHandles().GetSubHandles()[1]; !ok {
		t.Fatalf("DeterministicHandles: first handle must be 1: %v", hm)
	}
	packet := func(seq uint16) []byte {
		p := testkit.Unhex(t, vecA)
		binary.BigEndian.PutUint16(p[2:4], 1)
		binary.BigEndian.PutUint16(p[4:6], seq)
		return p
	}
	seqOf := func(b []byte) uint16 { return binary.BigEndian.Uint16(b[4:6]) }
	recv := func(n int) []uint16 {
		var out []uint16
		for range n {
			out = append(out, seqOf(sub.waitData(labelDataTrack, nil)))
		}
		return out
	}
	eq := func(a, b []uint16) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}

	s.SetDataTrackFaults("sub", FaultConfig{DropEvery: 2})
	for i := range uint16(5) {
		pub.sendRaw(labelDataTrack, packet(i))
	}
	if got := recv(3); !eq(got, []uint16{0, 2, 4}) {
		t.Errorf("drop every 2: %v", got)
	}
	if s.Stats().DataTrackFaultDrops != 2 {
		t.Errorf("stats %+v", s.Stats())
	}

	s.SetDataTrackFaults("sub", FaultConfig{})
	s.SetDataTrackFaults("", FaultConfig{Duplicate: true})
	pub.sendRaw(labelDataTrack, packet(200))
	if got := recv(2); !eq(got, []uint16{200, 200}) {
		t.Errorf("duplicate: %v", got)
	}
	s.SetDataTrackFaults("", FaultConfig{Reorder: true})
	pub.sendRaw(labelDataTrack, packet(300))
	pub.sendRaw(labelDataTrack, packet(301))
	if got := recv(2); !eq(got, []uint16{301, 300}) {
		t.Errorf("reorder: %v", got)
	}
	// Delayed packets are held past the forwarding call, whose buffer is reused for the next
	// packet: each must still arrive with its own content (in either order: one timer each).
	s.SetDataTrackFaults("", FaultConfig{Delay: 20 * time.Millisecond, Duplicate: true})
	pub.sendRaw(labelDataTrack, packet(500))
	pub.sendRaw(labelDataTrack, packet(501))
	if got := recv(4); !eq(slices.Sorted(slices.Values(got)), []uint16{500, 500, 501, 501}) {
		t.Errorf("delay: %v", got)
	}
	s.ClearFaults()

	s.KillICE("pub")
	pub.sendRaw(labelDataTrack, packet(400))
	pub.sendPacket(labelReliable, &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("dead")}}})
	waitServer(t, s, "the kill drops to be counted", func() bool { return s.Stats().TransportKilledDrops >= 2 })
	s.RestoreICE("pub")
	pub.sendRaw(labelDataTrack, packet(401))
	if got := recv(1); !eq(got, []uint16{401}) {
		t.Errorf("after kill: %v", got)
	}
	if n := len(sub.dataMessages(labelReliable)); n != 0 {
		t.Errorf("reliable leaked through KillICE: %d", n)
	}

	// Publish fault and leave injection.
	s.SetPublishFault("pub", &PublishFault{Reason: lkpb.RequestResponse_LIMIT_EXCEEDED, Message: "nope"})
	_ = pub.send(publishReq(2, "u"))
	if rr := pub.wait("fault rr", isRR).GetRequestResponse(); rr.GetReason() != lkpb.RequestResponse_LIMIT_EXCEEDED || rr.GetPublishDataTrack().GetPubHandle() != 2 {
		t.Errorf("publish fault: %v", rr)
	}
	if !s.SendLeave("sub", lkpb.LeaveRequest_DISCONNECT, lkpb.DisconnectReason_PARTICIPANT_REMOVED) {
		t.Fatal("sub not found")
	}
	l := sub.wait("leave", func(m *lkpb.SignalResponse) bool { return m.GetLeave() != nil }).GetLeave()
	if l.GetReason() != lkpb.DisconnectReason_PARTICIPANT_REMOVED || l.GetAction() != lkpb.LeaveRequest_DISCONNECT {
		t.Errorf("leave %v", l)
	}
	sub.waitClosed()
	pub.leave()
}
