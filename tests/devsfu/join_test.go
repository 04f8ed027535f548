package devsfu

import (
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
)

func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	if o.UpdateBatchInterval == 0 {
		o.UpdateBatchInterval = 100 * time.Millisecond
	}
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func typeOf(m *lkpb.SignalResponse) string {
	if m.Message == nil {
		return "<nil>"
	}
	return string(m.ProtoReflect().WhichOneof(m.ProtoReflect().Descriptor().Oneofs().ByName("message")).Name())
}

// TestJoinSequence checks the recorded order after the upgrade — join,
// refresh_token, answer (id echoed), trickles with final on the last —
// and the JoinResponse fields of v1.13.5.
func TestJoinSequence(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, s, "r1", "alice", clientOpts{media: true})
	defer c.close()
	c.waitReady()

	j := c.joinResp()
	if !strings.HasPrefix(j.GetRoom().GetSid(), "RM_") || j.GetRoom().GetName() != "r1" ||
		j.GetRoom().GetEmptyTimeout() != 300 || j.GetRoom().GetDepartureTimeout() != 20 {
		t.Errorf("room: %v", j.GetRoom())
	}
	me := j.GetParticipant()
	if !strings.HasPrefix(me.GetSid(), "PA_") || me.GetIdentity() != "alice" || me.GetState() != lkpb.ParticipantInfo_JOINING ||
		me.GetClientProtocol() != 2 || !me.GetPermission().GetCanPublishData() {
		t.Errorf("participant: %v", me)
	}
	if j.GetPingInterval() != 5 || j.GetPingTimeout() != 15 || len(j.GetIceServers()) != 0 || j.GetSubscriberPrimary() ||
		j.GetServerVersion() != "1.13.5" || j.GetServerInfo().GetVersion() != "1.13.5" || j.GetServerInfo().GetProtocol() != 17 ||
		!strings.HasPrefix(j.GetServerInfo().GetNodeId(), "ND_") || !j.GetFastPublish() || len(j.GetSifTrailer()) != 43 {
		t.Errorf("join: %v", j)
	}

	msgs := c.messages()
	var seq []string
	for _, m := range msgs {
		seq = append(seq, typeOf(m))
	}
	if len(seq) < 4 || seq[0] != "join" || seq[1] != "refresh_token" || seq[2] != "answer" || seq[3] != "trickle" {
		t.Fatalf("sequence %v", seq)
	}
	if id := msgs[2].GetAnswer().GetId(); id != 1 {
		t.Errorf("answer id %d, want echo 1", id)
	}
	if sdp := msgs[2].GetAnswer().GetSdp(); !strings.Contains(sdp, "a=max-message-size:65535") ||
		!strings.Contains(sdp, "m=audio 9 ") || !strings.Contains(sdp, "m=video 9 ") || strings.Contains(sdp, "m=audio 0 ") ||
		strings.Contains(sdp, "m=video 0 ") || !strings.Contains(sdp, "a=sendonly") || !strings.Contains(sdp, "a=setup:active") {
		t.Errorf("answer SDP lacks recorded properties:\n%s", sdp)
	}
	var trickles []*lkpb.TrickleRequest
	for _, m := range msgs {
		if tr := m.GetTrickle(); tr != nil {
			trickles = append(trickles, tr)
		}
	}
	if !trickles[len(trickles)-1].GetFinal() {
		t.Errorf("last server trickle not final")
	}
	for _, tr := range trickles[:len(trickles)-1] {
		if tr.GetFinal() {
			t.Errorf("final before the last trickle")
		}
	}
	if !strings.Contains(trickles[0].GetCandidateInit(), `"usernameFragment":null`) {
		t.Errorf("candidate JSON not pion's ToJSON: %s", trickles[0].GetCandidateInit())
	}
	// refresh token: same identity and room, kind "standard".
	cl, err := auth.Verify(msgs[1].GetRefreshToken(), s.secretFor, time.Now())
	if err != nil || cl.Identity != "alice" || cl.Video.Room != "r1" || cl.Kind != "standard" {
		t.Errorf("refresh token: %v %+v", err, cl)
	}
	// The batched update makes us ACTIVE.
	u := c.wait("self ACTIVE", func(m *lkpb.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.GetIdentity() == "alice" && p.GetState() == lkpb.ParticipantInfo_ACTIVE {
				return true
			}
		}
		return false
	})
	if v := u.GetUpdate().GetParticipants()[0].GetVersion(); v < 2 {
		t.Errorf("ACTIVE version %d", v)
	}
	c.leave()
}

func TestPingPong(t *testing.T) {
	s := startServer(t, Options{})
	// Rust-style token header, uncompressed join request, and the deferred
	// offer of the server's own Go test client.
	c := dial(t, s, "r", "p", clientOpts{bearer: true, noGzip: true, deferOffer: true})
	defer c.close()
	c.waitServerReady(s)
	_ = c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_PingReq{PingReq: &lkpb.Ping{Timestamp: 1234, Rtt: 5}}})
	m := c.wait("pong_resp", func(m *lkpb.SignalResponse) bool { return m.GetPongResp() != nil })
	if m.GetPongResp().GetLastPingTimestamp() != 1234 || m.GetPongResp().GetTimestamp() < time.Now().Add(-time.Minute).UnixMilli() {
		t.Errorf("pong_resp %v", m.GetPongResp())
	}
	_ = c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_Ping{Ping: 99}})
	m = c.wait("pong", func(m *lkpb.SignalResponse) bool { return m.GetPong() != 0 })
	if d := time.Now().UnixMilli() - m.GetPong(); d < 0 || d > 60_000 {
		t.Errorf("pong is not unix ms: %d", m.GetPong())
	}
	c.leave()
}

// TestDataForwarding checks the DataPacket path: sender identity/sid and
// kind stamped, sequence kept, reliable duplicates dropped, destinations
// honoured, never echoed to the sender.
func TestDataForwarding(t *testing.T) {
	s := startServer(t, Options{})
	a := dial(t, s, "room", "alice", clientOpts{})
	defer a.close()
	b := dial(t, s, "room", "bob", clientOpts{bearer: true})
	defer b.close()
	carol := dial(t, s, "room", "carol", clientOpts{})
	defer carol.close()
	a.waitServerReady(s)
	b.waitServerReady(s)
	carol.waitServerReady(s)

	user := func(payload string, seq uint32, dest ...string) *lkpb.DataPacket {
		return &lkpb.DataPacket{Sequence: seq, DestinationIdentities: dest,
			Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte(payload), Topic: proto.String("t")}}}
	}
	payloadOf := func(raw []byte) (*lkpb.DataPacket, string) {
		var dp lkpb.DataPacket
		if err := proto.Unmarshal(raw, &dp); err != nil {
			t.Fatal(err)
		}
		return &dp, string(dp.GetUser().GetPayload())
	}

	a.sendPacket(labelReliable, user("one", 1))
	a.sendPacket(labelReliable, user("one-dup", 1)) // same sequence: dropped
	a.sendPacket(labelReliable, user("two-bob-only", 2, "bob"))
	a.sendPacket(labelReliable, user("three", 3))
	a.sendPacket(labelLossy, user("lossy", 0))

	for _, rc := range []*testClient{b, carol} {
		var got []string
		for range 2 {
			dp, p := payloadOf(rc.waitData(labelReliable, nil))
			if dp.GetParticipantIdentity() != "alice" || dp.GetParticipantSid() != a.sid() || dp.GetKind() != lkpb.DataPacket_RELIABLE ||
				dp.GetUser().GetParticipantIdentity() != "alice" || dp.GetUser().GetParticipantSid() != a.sid() {
				t.Errorf("%s: stamping wrong: %v", rc.identity, dp)
			}
			got = append(got, p)
		}
		if rc == b {
			dp, p := payloadOf(rc.waitData(labelReliable, nil))
			got = append(got, p)
			if dp.GetSequence() != 3 {
				t.Errorf("sequence not kept: %d", dp.GetSequence())
			}
		}
		want := "one,three"
		if rc == b {
			want = "one,two-bob-only,three"
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s got %v want %s", rc.identity, got, want)
		}
		dp, p := payloadOf(rc.waitData(labelLossy, nil))
		if p != "lossy" || dp.GetKind() != lkpb.DataPacket_LOSSY {
			t.Errorf("lossy: %v", dp)
		}
	}
	// A marker from bob proves nothing else was queued for carol and that
	// alice never got her own packets back.
	b.sendPacket(labelReliable, user("marker", 1, "alice"))
	_, p := payloadOf(a.waitData(labelReliable, nil))
	if p != "marker" {
		t.Errorf("alice got %q first, want marker", p)
	}
	if n := len(carol.dataMessages(labelReliable)); n != 2 {
		t.Errorf("carol has %d reliable messages, want 2", n)
	}
	a.leave()
	b.leave()
	carol.leave()
}

// TestParticipantUpdates: others in JoinResponse, batched join update,
// immediate metadata update with request_response, leave handshake and
// the DISCONNECTED update.
func TestParticipantUpdates(t *testing.T) {
	s := startServer(t, Options{})
	a := dial(t, s, "room", "alice", clientOpts{})
	defer a.close()
	a.waitServerReady(s)
	b := dial(t, s, "room", "bob", clientOpts{tokenOpts: []auth.TokenOption{auth.WithName("Bob")}})
	defer b.close()
	b.waitServerReady(s)

	others := b.joinResp().GetOtherParticipants()
	if len(others) != 1 || others[0].GetIdentity() != "alice" || others[0].GetState() != lkpb.ParticipantInfo_ACTIVE {
		t.Fatalf("others: %v", others)
	}
	hasBob := func(st lkpb.ParticipantInfo_State) func(m *lkpb.SignalResponse) bool {
		return func(m *lkpb.SignalResponse) bool {
			for _, p := range m.GetUpdate().GetParticipants() {
				if p.GetIdentity() == "bob" && p.GetState() == st {
					return true
				}
			}
			return false
		}
	}
	u := a.wait("bob ACTIVE", hasBob(lkpb.ParticipantInfo_ACTIVE))
	for _, p := range u.GetUpdate().GetParticipants() {
		if p.GetIdentity() == "bob" && p.GetName() != "Bob" {
			t.Errorf("name %q", p.GetName())
		}
	}

	_ = b.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateMetadata{UpdateMetadata: &lkpb.UpdateParticipantMetadata{
		Metadata: "md1", Attributes: map[string]string{"k": "v"}, RequestId: 7}}})
	rr := b.wait("request_response", func(m *lkpb.SignalResponse) bool { return m.GetRequestResponse() != nil })
	if rr.GetRequestResponse().GetRequestId() != 7 || rr.GetRequestResponse().GetReason() != lkpb.RequestResponse_OK {
		t.Errorf("rr %v", rr)
	}
	u = a.wait("bob metadata", func(m *lkpb.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.GetIdentity() == "bob" && p.GetMetadata() == "md1" && p.GetAttributes()["k"] == "v" {
				return true
			}
		}
		return false
	})
	_ = u
	// Delete the attribute, change the name.
	_ = b.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateMetadata{UpdateMetadata: &lkpb.UpdateParticipantMetadata{
		Name: "Robert", Attributes: map[string]string{"k": ""}, RequestId: 8}}})
	a.wait("bob renamed", func(m *lkpb.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.GetIdentity() == "bob" && p.GetName() == "Robert" && len(p.GetAttributes()) == 0 && p.GetMetadata() == "md1" {
				return true
			}
		}
		return false
	})

	b.leave()
	if code := b.closeCode; code != websocket.StatusNormalClosure {
		t.Errorf("server close code %v, want 1000", code)
	}
	u = a.wait("bob DISCONNECTED", hasBob(lkpb.ParticipantInfo_DISCONNECTED))
	for _, p := range u.GetUpdate().GetParticipants() {
		if p.GetIdentity() == "bob" && p.GetDisconnectReason() != lkpb.DisconnectReason_CLIENT_INITIATED {
			t.Errorf("reason %v", p.GetDisconnectReason())
		}
	}
	a.leave()
}

func TestMetadataNotAllowed(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, s, "room", "x", clientOpts{tokenOpts: []auth.TokenOption{auth.WithGrant(func(g *auth.VideoGrant) {
		g.CanUpdateOwnMetadata = nil
	})}})
	defer c.close()
	_ = c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateMetadata{UpdateMetadata: &lkpb.UpdateParticipantMetadata{
		Metadata: "m", RequestId: 3}}})
	rr := c.wait("rr", func(m *lkpb.SignalResponse) bool { return m.GetRequestResponse() != nil }).GetRequestResponse()
	if rr.GetRequestId() != 3 || rr.GetReason() != lkpb.RequestResponse_NOT_ALLOWED {
		t.Errorf("%v", rr)
	}
	c.leave()
}

// TestHiddenParticipant: a hidden participant is not announced, its data
// arrives without identity, and it still sees the others.
func TestHiddenParticipant(t *testing.T) {
	s := startServer(t, Options{})
	a := dial(t, s, "h", "alice", clientOpts{})
	defer a.close()
	h := dial(t, s, "h", "ghost", clientOpts{tokenOpts: []auth.TokenOption{auth.WithGrant(func(g *auth.VideoGrant) { g.Hidden = true })}})
	defer h.close()
	a.waitServerReady(s)
	h.waitServerReady(s)
	if len(h.joinResp().GetOtherParticipants()) != 1 {
		t.Errorf("hidden participant must see alice")
	}
	h.sendPacket(labelReliable, &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("boo")}}})
	var dp lkpb.DataPacket
	_ = proto.Unmarshal(a.waitData(labelReliable, nil), &dp)
	if dp.GetParticipantIdentity() != "" || dp.GetParticipantSid() != h.sid() {
		t.Errorf("hidden sender stamped %q", dp.GetParticipantIdentity())
	}
	// alice's room_update counts only herself; no update names ghost.
	ru := a.wait("room_update", func(m *lkpb.SignalResponse) bool { return m.GetRoomUpdate() != nil })
	if ru.GetRoomUpdate().GetRoom().GetNumParticipants() != 1 {
		t.Errorf("room_update %v", ru)
	}
	for _, m := range a.messages() {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.GetIdentity() == "ghost" {
				t.Errorf("hidden participant announced")
			}
		}
	}
	h.leave()
	a.leave()
}

// TestNewSessionOfAQueuedParticipantGoesOutAtOnce: the updates about a participant that
// publishes nothing wait for the next batch, but when the same identity joins again while its
// older session's update is still queued, the new session's info goes out at once (livekit's
// pushAndDequeueUpdates), without a DISCONNECTED for the older session (left out for clients
// that reconnect by identity). Before, devsfu held the new session's info for the next batch too.
func TestNewSessionOfAQueuedParticipantGoesOutAtOnce(t *testing.T) {
	s := startServer(t, Options{UpdateBatchInterval: time.Hour})
	a := dial(t, s, "q", "alice", clientOpts{})
	defer a.close()
	a.waitServerReady(s)
	b1 := dial(t, s, "q", "bob", clientOpts{})
	defer b1.close()
	b1.waitServerReady(s) // bob's JOINED and ACTIVE are queued, not sent
	names := func(identity string) (infos []*lkpb.ParticipantInfo) {
		for _, m := range a.messages() {
			for _, p := range m.GetUpdate().GetParticipants() {
				if p.GetIdentity() == identity {
					infos = append(infos, p)
				}
			}
		}
		return infos
	}
	if got := names("bob"); len(got) != 0 {
		t.Fatalf("precondition: bob's first session announced before the batch: %v", got)
	}
	b2 := dial(t, s, "q", "bob", clientOpts{})
	defer b2.close()
	b2.waitServerReady(s)
	a.wait("bob's new session", func(m *lkpb.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.GetIdentity() == "bob" && p.GetSid() == b2.sid() {
				return true
			}
		}
		return false
	})
	for _, p := range names("bob") {
		if p.GetSid() != b2.sid() || p.GetState() == lkpb.ParticipantInfo_DISCONNECTED {
			t.Fatalf("alice was told %v (the new session is %s)", p, b2.sid())
		}
	}
	b2.leave()
	a.leave()
}
