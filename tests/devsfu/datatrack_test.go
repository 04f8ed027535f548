package devsfu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

// Reference packet vectors (the same byte strings as core/datatrack's
// packet tests; F is B as forwarded to handle 7).
const (
	vecB = "0C 00 8811 4422 4411 44221188 0006 01 0D FA 3C3C3C3C3C3C3C3C3C3C3C3C 02 08 4411221111118811 00 FAFAFAFA"
	vecF = "0C 00 0007 4422 4411 44221188 0006 010DFA3C3C3C3C3C3C3C3C3C3C3C3C 02084411221111118811 00 FAFAFAFA"
	vecC = "14 00 0065 0066 0067 00000068 0004 01 0D FA 3C3C3C3C3C3C3C3C3C3C3C3C 000000 FAFAFAFA"
	vecA = "18 00 0065 0066 0067 00000068 00010203040506070809"
	vecG = "14 00 0D05 1A0A 270F DEADBEEF 0004 FF10 746573745F7061727469636970616E74 FFFEFDFC"
)

func rewrite(t *testing.T, in []byte, h uint16, sid string) []byte {
	t.Helper()
	pk, err := parseDataTrackPacket(in)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return pk.appendTo(nil, h, sid)
}

func TestDataTrackRewriteVectors(t *testing.T) {
	// Vector F: B forwarded to a subscriber with handle 7.
	if got, want := rewrite(t, testkit.Unhex(t, vecB), 7, ""), testkit.Unhex(t, vecF); !bytes.Equal(got, want) {
		t.Errorf("B→F\n got %x\nwant %x", got, want)
	}
	// Correctly written packets come out identical except bytes 2–3.
	for _, v := range []string{vecA, vecC, vecG} {
		in := testkit.Unhex(t, v)
		got := rewrite(t, in, 0x1234, "")
		want := append([]byte(nil), in...)
		binary.BigEndian.PutUint16(want[2:4], 0x1234)
		if !bytes.Equal(got, want) {
			t.Errorf("rewrite changed more than the handle\n got %x\nwant %x", got, want)
		}
	}
	// Reserved bits and byte 1 cleared; padding-only block → L=0 + 2 zeros.
	in := testkit.Unhex(t, "1F FF 0001 0002 0003 00000004 0001 000000000000 AB")
	if got, want := rewrite(t, in, 9, ""), testkit.Unhex(t, "1C 00 0009 0002 0003 00000004 0000 0000 AB"); !bytes.Equal(got, want) {
		t.Errorf("padding-only\n got %x\nwant %x", got, want)
	}
	// A zero byte before more elements: the rest of the block is padding.
	in = testkit.Unhex(t, "1C 00 0001 0000 0000 00000000 0004 0208 0000018BCFE56800 00 02 000000000000 AA")
	if got, want := rewrite(t, in, 2, ""), testkit.Unhex(t, "1C 00 0002 0000 0000 00000000 0002 0208 0000018BCFE56800 AA"); !bytes.Equal(got, want) {
		t.Errorf("zero tag\n got %x\nwant %x", got, want)
	}
	// Version is not checked by the server.
	if _, err := parseDataTrackPacket(testkit.Unhex(t, "20 00 0001 0000 0000 00000000")); err != nil {
		t.Errorf("version>0 must be forwarded: %v", err)
	}
	// Participant-SID extension appended after the client's elements.
	got := rewrite(t, testkit.Unhex(t, vecA), 5, "PA_abc")
	want := testkit.Unhex(t, "1C 00 0005 0066 0067 00000068 0002 FF06 50415F616263 0000 00010203040506070809")
	if !bytes.Equal(got, want) {
		t.Errorf("sid ext\n got %x\nwant %x", got, want)
	}
	for _, bad := range []string{
		"00 00 00 01 00 00 00 00 00 00 00",        // too short
		"04 00 0001 0000 0000 00000000",           // X without L
		"04 00 0001 0000 0000 00000000 0001",      // overrun
		"04 00 0001 0000 0000 00000000 0000 00",   // L=0 needs 2 bytes
		"04 00 0001 0000 0000 00000000 0000 0205", // element past the block
	} {
		if _, err := parseDataTrackPacket(testkit.Unhex(t, bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// subscribeReq asks to subscribe to the data track sid.
func subscribeReq(sid string) *lkpb.SignalRequest {
	return &lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateDataSubscription{UpdateDataSubscription: &lkpb.UpdateDataSubscription{
		Updates: []*lkpb.UpdateDataSubscription_Update{{TrackSid: sid, Subscribe: true}}}}}
}

func publishReq(h uint32, name string) *lkpb.SignalRequest {
	return &lkpb.SignalRequest{Message: &lkpb.SignalRequest_PublishDataTrackRequest{
		PublishDataTrackRequest: &lkpb.PublishDataTrackRequest{PubHandle: h, Name: name}}}
}

func isRR(m *lkpb.SignalResponse) bool { return m.GetRequestResponse() != nil }

// TestDataTrackEndToEnd follows traces 1a/1b/1c: publish, announce,
// errors, subscribe (random handle), byte-exact forwarding, unpublish,
// reconcile snapshots, publisher leave.
func TestDataTrackEndToEnd(t *testing.T) {
	s := startServer(t, Options{})
	pub := dial(t, s, "dt", "pub", clientOpts{})
	defer pub.close()
	pub.waitServerReady(s)

	_ = pub.send(publishReq(1, "sensor"))
	resp := pub.wait("publish response", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil })
	info := resp.GetPublishDataTrackResponse().GetInfo()
	if info.GetPubHandle() != 1 || info.GetName() != "sensor" || !strings.HasPrefix(info.GetSid(), "DTR_") || len(info.GetSid()) != 16 {
		t.Fatalf("info %v", info)
	}
	// Recorded: the publisher's own update follows the response.
	up := pub.wait("own update", func(m *lkpb.SignalResponse) bool { return m.GetUpdate() != nil })
	pi := up.GetUpdate().GetParticipants()[0]
	if pi.GetIdentity() != "pub" || !pi.GetIsPublisher() || len(pi.GetDataTracks()) != 1 || pi.GetDataTracks()[0].GetSid() != info.GetSid() {
		t.Fatalf("update %v", up)
	}

	// Errors (trace 1c): duplicate name with h=2, invalid handle, name.
	_ = pub.send(publishReq(2, "sensor"))
	rr := pub.wait("dup", isRR).GetRequestResponse()
	if rr.GetReason() != lkpb.RequestResponse_DUPLICATE_NAME || rr.GetMessage() != "a data track with same name already exists" ||
		rr.GetPublishDataTrack().GetPubHandle() != 2 || rr.GetPublishDataTrack().GetName() != "sensor" || rr.GetRequestId() != 0 {
		t.Errorf("dup: %v", rr)
	}
	_ = pub.send(publishReq(1, "other"))
	if rr := pub.wait("dup handle", isRR).GetRequestResponse(); rr.GetReason() != lkpb.RequestResponse_DUPLICATE_HANDLE {
		t.Errorf("dup handle: %v", rr)
	}
	_ = pub.send(publishReq(0, "x"))
	if rr := pub.wait("handle 0", isRR).GetRequestResponse(); rr.GetReason() != lkpb.RequestResponse_INVALID_HANDLE ||
		rr.GetMessage() != "handle should be > 0 AND < 65536" {
		t.Errorf("handle 0: %v", rr)
	}
	_ = pub.send(publishReq(70000, "x"))
	if rr := pub.wait("handle big", isRR).GetRequestResponse(); rr.GetReason() != lkpb.RequestResponse_INVALID_HANDLE {
		t.Errorf("handle big: %v", rr)
	}
	_ = pub.send(publishReq(3, strings.Repeat("n", 257)))
	if rr := pub.wait("long name", isRR).GetRequestResponse(); rr.GetReason() != lkpb.RequestResponse_INVALID_NAME {
		t.Errorf("name: %v", rr)
	}

	nodata := dial(t, s, "dt", "nodata", clientOpts{tokenOpts: []auth.TokenOption{auth.WithGrant(func(g *auth.VideoGrant) {
		g.CanPublishData = auth.Bool(false)
	})}})
	defer nodata.close()
	if nodata.joinResp().GetParticipant().GetPermission().GetCanPublishData() {
		t.Error("permission shows canPublishData")
	}
	_ = nodata.send(publishReq(1, "sensor"))
	if rr := nodata.wait("not allowed", isRR).GetRequestResponse(); rr.GetReason() != lkpb.RequestResponse_NOT_ALLOWED ||
		rr.GetMessage() != "does not have permission to publish data" || rr.GetPublishDataTrack().GetPubHandle() != 1 {
		t.Errorf("nodata: %v", rr)
	}
	nodata.leave()

	// A subscriber joining later sees the track in JoinResponse.
	sub := dial(t, s, "dt", "sub", clientOpts{})
	defer sub.close()
	sub.waitServerReady(s)
	others := sub.joinResp().GetOtherParticipants()
	if len(others) != 1 || len(others[0].GetDataTracks()) != 1 || others[0].GetDataTracks()[0].GetSid() != info.GetSid() {
		t.Fatalf("others %v", others)
	}
	_ = sub.send(subscribeReq(info.GetSid()))
	perm := sub.wait("permission", func(m *lkpb.SignalResponse) bool { return m.GetSubscriptionPermissionUpdate() != nil })
	if p := perm.GetSubscriptionPermissionUpdate(); p.GetParticipantSid() != pub.sid() || p.GetTrackSid() != info.GetSid() || !p.GetAllowed() {
		t.Errorf("permission %v", p)
	}
	hm := sub.wait("handles", func(m *lkpb.SignalResponse) bool { return m.GetDataTrackSubscriberHandles() != nil })
	handles := hm.GetDataTrackSubscriberHandles().GetSubHandles()
	if len(handles) != 1 {
		t.Fatalf("handles %v", handles)
	}
	var subHandle uint16
	for h, e := range handles {
		subHandle = uint16(h)
		if h == 0 || h > 256 || e.GetPublisherIdentity() != "pub" || e.GetPublisherSid() != pub.sid() || e.GetTrackSid() != info.GetSid() {
			t.Errorf("handle entry %d %v", h, e)
		}
	}

	// Vector B with the publisher handle 1 → F with the subscriber handle.
	in := testkit.Unhex(t, vecB)
	binary.BigEndian.PutUint16(in[2:4], 1)
	want := testkit.Unhex(t, vecF)
	binary.BigEndian.PutUint16(want[2:4], subHandle)
	pub.sendRaw(labelDataTrack, in)
	if got := sub.waitData(labelDataTrack, nil); !bytes.Equal(got, want) {
		t.Errorf("forwarded\n got %x\nwant %x", got, want)
	}
	// Unknown publisher handle: dropped. Then a 16 000-byte packet.
	stray := testkit.Unhex(t, vecA)
	binary.BigEndian.PutUint16(stray[2:4], 9)
	pub.sendRaw(labelDataTrack, stray)
	big := make([]byte, 16000)
	copy(big, testkit.Unhex(t, "18 00 0001 0001 0001 00000000"))
	for i := 12; i < len(big); i++ {
		big[i] = byte(i)
	}
	pub.sendRaw(labelDataTrack, big)
	got := sub.waitData(labelDataTrack, nil)
	if len(got) != 16000 || binary.BigEndian.Uint16(got[2:4]) != subHandle || !bytes.Equal(got[4:], big[4:]) {
		t.Errorf("big packet mangled (len %d)", len(got))
	}

	// Unpublish: update before the response; subscriber gets the update,
	// then (reconcile) two identical empty snapshots.
	_ = pub.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_UnpublishDataTrackRequest{
		UnpublishDataTrackRequest: &lkpb.UnpublishDataTrackRequest{PubHandle: 1}}})
	u := pub.wait("update or response", func(m *lkpb.SignalResponse) bool {
		return m.GetUnpublishDataTrackResponse() != nil || (m.GetUpdate() != nil && len(m.GetUpdate().GetParticipants()[0].GetDataTracks()) == 0)
	})
	if u.GetUpdate() == nil {
		t.Errorf("response before update")
	}
	ur := pub.wait("unpublish response", func(m *lkpb.SignalResponse) bool { return m.GetUnpublishDataTrackResponse() != nil })
	if ur.GetUnpublishDataTrackResponse().GetInfo().GetSid() != info.GetSid() {
		t.Errorf("unpublish response %v", ur)
	}
	sub.wait("track gone", func(m *lkpb.SignalResponse) bool {
		ps := m.GetUpdate().GetParticipants()
		return len(ps) > 0 && ps[0].GetIdentity() == "pub" && len(ps[0].GetDataTracks()) == 0
	})
	for range 2 {
		e := sub.wait("empty snapshot", func(m *lkpb.SignalResponse) bool { return m.GetDataTrackSubscriberHandles() != nil })
		if len(e.GetDataTrackSubscriberHandles().GetSubHandles()) != 0 {
			t.Errorf("snapshot not empty: %v", e)
		}
	}
	_ = pub.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_UnpublishDataTrackRequest{
		UnpublishDataTrackRequest: &lkpb.UnpublishDataTrackRequest{PubHandle: 1}}})
	if rr := pub.wait("not found", isRR).GetRequestResponse(); rr.GetReason() != lkpb.RequestResponse_NOT_FOUND ||
		rr.GetMessage() != "" || rr.GetUnpublishDataTrack().GetPubHandle() != 1 {
		t.Errorf("unknown unpublish: %v", rr)
	}

	// Publish again, subscribe, then the publisher leaves: immediate
	// DISCONNECTED update without data tracks.
	_ = pub.send(publishReq(4, "again"))
	info2 := pub.wait("publish 2", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil }).
		GetPublishDataTrackResponse().GetInfo()
	_ = sub.send(subscribeReq(info2.GetSid()))
	h2 := sub.wait("handles 2", func(m *lkpb.SignalResponse) bool { return len(m.GetDataTrackSubscriberHandles().GetSubHandles()) == 1 })
	for h := range h2.GetDataTrackSubscriberHandles().GetSubHandles() {
		if uint16(h) != subHandle+1 && !(subHandle == 65535 && h == 1) {
			t.Errorf("second handle %d, want pre-increment of %d", h, subHandle)
		}
	}
	pub.leave()
	d := sub.wait("pub DISCONNECTED", func(m *lkpb.SignalResponse) bool {
		ps := m.GetUpdate().GetParticipants()
		return len(ps) > 0 && ps[0].GetIdentity() == "pub" && ps[0].GetState() == lkpb.ParticipantInfo_DISCONNECTED
	})
	if p := d.GetUpdate().GetParticipants()[0]; len(p.GetDataTracks()) != 0 || p.GetDisconnectReason() != lkpb.DisconnectReason_CLIENT_INITIATED {
		t.Errorf("disconnect info %v", p)
	}
	sub.wait("snapshot after leave", func(m *lkpb.SignalResponse) bool {
		return m.GetDataTrackSubscriberHandles() != nil && len(m.GetDataTrackSubscriberHandles().GetSubHandles()) == 0
	})
	sub.leave()
}

// TestPublisherDepartureBeforeHandleSnapshot: when a publisher leaves, its
// subscribers hear of the departure (the immediate DISCONNECTED update)
// before the subscription reconcile pass sends them a handle snapshot
// without its track, as the server does (trace 1b). The reconcile pass runs
// every millisecond here, so a removal ahead of the announcement would be
// caught by a pass in between.
func TestPublisherDepartureBeforeHandleSnapshot(t *testing.T) {
	s := startServer(t, Options{UpdateBatchInterval: time.Millisecond, ReconcileInterval: time.Millisecond})
	sub := dial(t, s, "dep", "sub", clientOpts{})
	defer sub.close()
	for i := range 10 {
		pub := dial(t, s, "dep", fmt.Sprintf("pub%d", i), clientOpts{})
		pub.waitServerReady(s)
		_ = pub.send(publishReq(1, "t"))
		info := pub.wait("publish", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil }).
			GetPublishDataTrackResponse().GetInfo()
		_ = sub.send(subscribeReq(info.GetSid()))
		sub.wait("handle", func(m *lkpb.SignalResponse) bool {
			for _, st := range m.GetDataTrackSubscriberHandles().GetSubHandles() {
				if st.GetTrackSid() == info.GetSid() {
					return true
				}
			}
			return false
		})
		pub.leave()
		first := sub.wait("departure or snapshot", func(m *lkpb.SignalResponse) bool {
			if h := m.GetDataTrackSubscriberHandles(); h != nil {
				return len(h.GetSubHandles()) == 0
			}
			ps := m.GetUpdate().GetParticipants()
			return len(ps) > 0 && ps[0].GetSid() == pub.sid() && ps[0].GetState() == lkpb.ParticipantInfo_DISCONNECTED
		})
		if first.GetUpdate() == nil {
			t.Fatalf("round %d: the subscriber got a handle snapshot without the track before the publisher's departure", i)
		}
	}
	sub.leave()
}

// TestDisableDataTracks: a server without data tracks never answers.
func TestDisableDataTracks(t *testing.T) {
	s := startServer(t, Options{DisableDataTracks: true})
	c := dial(t, s, "r", "p", clientOpts{})
	defer c.close()
	_ = c.send(publishReq(1, "sensor"))
	_ = c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_PingReq{PingReq: &lkpb.Ping{Timestamp: 42}}})
	c.wait("pong", func(m *lkpb.SignalResponse) bool { return m.GetPongResp() != nil })
	for _, m := range c.messages() {
		if m.GetPublishDataTrackResponse() != nil || m.GetRequestResponse() != nil {
			t.Fatalf("answered: %v", m)
		}
	}
	c.leave()
}

// TestDataTrackAutoSubscribe: auto_subscribe_data_track=true subscribes to
// existing and new tracks without a request.
func TestDataTrackAutoSubscribe(t *testing.T) {
	s := startServer(t, Options{})
	pub := dial(t, s, "auto", "pub", clientOpts{})
	defer pub.close()
	_ = pub.send(publishReq(1, "first"))
	pub.wait("publish", func(m *lkpb.SignalResponse) bool { return m.GetPublishDataTrackResponse() != nil })
	on := true
	sub := dial(t, s, "auto", "sub", clientOpts{autoSubDT: &on})
	defer sub.close()
	_ = pub.send(publishReq(2, "second"))
	hm := sub.wait("handles", func(m *lkpb.SignalResponse) bool { return m.GetDataTrackSubscriberHandles() != nil })
	if len(hm.GetDataTrackSubscriberHandles().GetSubHandles()) == 0 {
		t.Fatalf("empty snapshot")
	}
	sub.wait("both handles", func(m *lkpb.SignalResponse) bool {
		return len(m.GetDataTrackSubscriberHandles().GetSubHandles()) == 2
	})
	sub.leave()
	pub.leave()
}
