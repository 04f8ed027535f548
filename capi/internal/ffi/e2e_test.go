package ffi

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// End-to-end tests: FFI clients (the same code paths lk_request and the callback use, minus
// the cgo crossing) against the embedded devsfu server.

// nextClientID gives every test client its own id (ids only need to differ between live
// clients; this keeps them apart across tests too).
var nextClientID atomic.Uint32

func init() { nextClientID.Store(1000) }

// host is a test stand-in for a C host: a callback-mode client plus its delivered events.
type host struct {
	t      *testing.T
	c      *Client
	s      *sink
	logs   *testkit.Capture // everything the client logs
	nextID uint64
}

func newHost(t *testing.T) *host {
	t.Helper()
	s := newSink()
	c, logs := newLoggedClient(t, nextClientID.Add(1), s.deliver)
	return &host{t: t, c: c, s: s, logs: logs, nextID: 100}
}

func (h *host) do(req *ffipb.Request) *ffipb.Response {
	h.t.Helper()
	return do(h.t, h.c, req)
}

// async sends an ASYNC request with a fresh request id and returns the id.
func (h *host) async(req *ffipb.Request) uint64 {
	h.t.Helper()
	h.nextID++
	req.RequestId = h.nextID
	wantRespCode(h.t, h.do(req), ffipb.ErrorCode_ERROR_CODE_OK)
	return req.RequestId
}

// completion waits for the completion of request id.
func (h *host) completion(id uint64) *ffipb.Completion {
	h.t.Helper()
	var out *ffipb.Completion
	h.s.waitFor(h.t, fmt.Sprintf("completion %d", id), func(evs []*ffipb.Event) bool {
		out = completions(evs)[id]
		return out != nil
	})
	return out
}

// call runs an ASYNC request and waits for its successful completion.
func (h *host) call(req *ffipb.Request) *ffipb.Completion {
	h.t.Helper()
	comp := h.completion(h.async(req))
	if comp.GetError() != nil {
		h.t.Fatalf("%T failed: %v", req.Message, comp.GetError())
	}
	return comp
}

// roomEvent waits for the first room event (after index from) matching pred and returns it
// and its index.
func (h *host) roomEvent(what string, from int, pred func(*ffipb.RoomEvent) bool) (*ffipb.RoomEvent, int) {
	h.t.Helper()
	var out *ffipb.RoomEvent
	idx := -1
	h.s.waitFor(h.t, what, func(evs []*ffipb.Event) bool {
		for i := from; i < len(evs); i++ {
			if re := evs[i].GetRoom(); re != nil && pred(re) {
				out, idx = re, i
				return true
			}
		}
		return false
	})
	return out, idx
}

func (h *host) createRoom(opts *ffipb.RoomOptions) uint64 {
	h.t.Helper()
	resp := h.do(&ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{Options: opts}}})
	wantRespCode(h.t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
	return resp.GetCreateRoom().GetRoom().GetHandle()
}

func (h *host) connect(room uint64, url, token string) *ffipb.ConnectResult {
	h.t.Helper()
	h.logs.ForbidToken(token)
	return h.call(&ffipb.Request{Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: room, Url: url, Token: token}}}).GetConnect()
}

func mintToken(t *testing.T, s *sfu.Server, room, identity string) string {
	t.Helper()
	tok, err := s.Token(room, identity, auth.WithGrant(func(g *auth.VideoGrant) { g.CanUpdateOwnMetadata = auth.Bool(true) }))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// joinHost creates a host, a room and connects it as identity.
func joinHost(t *testing.T, s *sfu.Server, roomName, identity string) (*host, uint64, *ffipb.ConnectResult) {
	t.Helper()
	h := newHost(t)
	rh := h.createRoom(nil)
	res := h.connect(rh, s.URL(), mintToken(t, s, roomName, identity))
	return h, rh, res
}

func identities(ps []*ffipb.ParticipantInfo) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.GetIdentity())
	}
	return out
}

func TestE2ETwoClientsSeeEachOtherAndExchangeData(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{Region: "test-region"})
	alice, ar, ares := joinHost(t, s, "r1", "alice")
	if ares.GetLocalParticipant().GetIdentity() != "alice" || ares.GetRoom().GetName() != "r1" ||
		ares.GetRoom().GetConnectionState() != ffipb.ConnectionState_CONNECTION_STATE_CONNECTED || len(ares.GetRemoteParticipants()) != 0 {
		t.Fatalf("alice's connect result: %v", ares)
	}
	// The server of the session (ABI 1.24).
	if srv := ares.GetRoom().GetServer(); srv.GetVersion() != devsfu.ServerVersion || srv.GetProtocol() != devsfu.ServerProtocol ||
		srv.GetRegion() != "test-region" || !strings.HasPrefix(srv.GetNodeId(), "ND_") || srv.GetEdition() != ffipb.ServerEdition_SERVER_EDITION_STANDARD {
		t.Fatalf("server info: %v", srv)
	}
	if ares.GetLocalParticipant().GetSid() == "" || ares.GetRoom().GetSid() == "" {
		t.Fatalf("sids missing: %v", ares)
	}
	bob, br, bres := joinHost(t, s, "r1", "bob")
	if got := identities(bres.GetRemoteParticipants()); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("bob's snapshot lists %v, want [alice]", got)
	}
	pc, _ := alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })
	if pc.GetRoomHandle() != ar || pc.GetParticipantConnected().GetInfo().GetIdentity() != "bob" ||
		pc.GetParticipantConnected().GetInfo().GetSid() != bres.GetLocalParticipant().GetSid() {
		t.Fatalf("participant connected: %v", pc)
	}

	// The connect completion precedes every event of the room, and no synthetic "connected"
	// state change repeats what the snapshot said.
	for _, h := range []*host{alice, bob} {
		seenCompletion := false
		for _, ev := range h.s.snapshot() {
			if c := ev.GetCompletion(); c.GetConnect() != nil {
				seenCompletion = true
			}
			if re := ev.GetRoom(); re != nil {
				if !seenCompletion {
					t.Fatalf("room event %v before the connect completion", re)
				}
				if re.GetConnectionStateChanged() != nil {
					t.Fatalf("unexpected state change %v", re)
				}
			}
		}
	}

	// Data packets, in order, with topic and reliability, both ways.
	const n = 50
	for i := range n {
		bob.async(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{
			RoomHandle: br, Payload: fmt.Appendf(nil, "packet %d", i), Reliable: true, Topic: "chat",
		}}})
	}
	from := 0
	for i := range n {
		ev, idx := alice.roomEvent("data from bob", from, func(e *ffipb.RoomEvent) bool { return e.GetDataReceived() != nil })
		from = idx + 1
		d := ev.GetDataReceived()
		if d.GetParticipantIdentity() != "bob" || d.GetTopic() != "chat" || !d.GetReliable() || string(d.GetPayload()) != fmt.Sprintf("packet %d", i) {
			t.Fatalf("packet %d: %v", i, d)
		}
	}
	for id := bob.nextID - n + 1; id <= bob.nextID; id++ {
		if c := bob.completion(id); c.GetError() != nil {
			t.Fatalf("publish %d: %v", id, c.GetError())
		}
	}
	alice.call(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{
		RoomHandle: ar, Payload: []byte("to bob"), DestinationIdentities: []string{"bob"},
	}}})
	ev, _ := bob.roomEvent("data from alice", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataReceived() != nil })
	if d := ev.GetDataReceived(); d.GetParticipantIdentity() != "alice" || d.GetReliable() || string(d.GetPayload()) != "to bob" || d.GetTopic() != "" {
		t.Fatalf("lossy packet: %v", d)
	}

	// DTMF (ABI 1.19) in request order with data packets, to a destination; bad input is a typed
	// completion and nothing is sent.
	bad := bob.completion(bob.async(&ffipb.Request{Message: &ffipb.Request_PublishSipDtmf{PublishSipDtmf: &ffipb.PublishSipDtmfRequest{
		RoomHandle: br, Code: 256, Digit: "1",
	}}}))
	if bad.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
		t.Fatalf("DTMF code 256: %v", bad)
	}
	from = 0
	for i := range 3 {
		if i == 1 {
			bob.async(&ffipb.Request{Message: &ffipb.Request_PublishSipDtmf{PublishSipDtmf: &ffipb.PublishSipDtmfRequest{
				RoomHandle: br, Code: 11, Digit: "#", DestinationIdentities: []string{"alice"},
			}}})
			continue
		}
		bob.async(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{
			RoomHandle: br, Payload: fmt.Appendf(nil, "around dtmf %d", i), Reliable: true,
		}}})
	}
	var order []string
	for len(order) < 3 {
		ev, idx := alice.roomEvent("data or DTMF from bob", from, func(e *ffipb.RoomEvent) bool {
			return (e.GetDataReceived() != nil && strings.HasPrefix(string(e.GetDataReceived().GetPayload()), "around")) || e.GetSipDtmfReceived() != nil
		})
		from = idx + 1
		if d := ev.GetSipDtmfReceived(); d != nil {
			if d.GetParticipantIdentity() != "bob" || d.GetCode() != 11 || d.GetDigit() != "#" {
				t.Fatalf("DTMF: %v", d)
			}
			order = append(order, "dtmf")
		} else {
			order = append(order, string(ev.GetDataReceived().GetPayload()))
		}
	}
	if strings.Join(order, ", ") != "around dtmf 0, dtmf, around dtmf 2" {
		t.Fatalf("order %q", order)
	}

	// A packet over the 64 000-byte cap fails with a typed completion.
	comp := bob.completion(bob.async(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{
		RoomHandle: br, Payload: make([]byte, 70000), Reliable: true,
	}}}))
	if comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE {
		t.Fatalf("oversized packet: %v", comp)
	}
}

func TestE2ELocalMetadataNameAttributes(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "r2", "alice")
	bob, _, _ := joinHost(t, s, "r2", "bob")
	alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })

	alice.call(&ffipb.Request{Message: &ffipb.Request_SetLocalMetadata{SetLocalMetadata: &ffipb.SetLocalMetadataRequest{RoomHandle: ar, Metadata: "md-1"}}})
	alice.call(&ffipb.Request{Message: &ffipb.Request_SetLocalName{SetLocalName: &ffipb.SetLocalNameRequest{RoomHandle: ar, Name: "Alice"}}})
	alice.call(&ffipb.Request{Message: &ffipb.Request_SetLocalAttributes{SetLocalAttributes: &ffipb.SetLocalAttributesRequest{RoomHandle: ar, Attributes: map[string]string{"a": "1", "b": "2"}}}})

	for _, h := range []*host{alice, bob} {
		ev, _ := h.roomEvent("metadata update", 0, func(e *ffipb.RoomEvent) bool {
			u := e.GetParticipantUpdated()
			return u.GetMetadataChanged() && u.GetInfo().GetIdentity() == "alice"
		})
		if ev.GetParticipantUpdated().GetInfo().GetMetadata() != "md-1" {
			t.Fatalf("metadata update: %v", ev)
		}
		ev, _ = h.roomEvent("name update", 0, func(e *ffipb.RoomEvent) bool {
			u := e.GetParticipantUpdated()
			return u.GetNameChanged() && u.GetInfo().GetIdentity() == "alice"
		})
		if ev.GetParticipantUpdated().GetInfo().GetName() != "Alice" {
			t.Fatalf("name update: %v", ev)
		}
		ev, _ = h.roomEvent("attributes update", 0, func(e *ffipb.RoomEvent) bool {
			u := e.GetParticipantUpdated()
			return len(u.GetChangedAttributes()) > 0 && u.GetInfo().GetIdentity() == "alice"
		})
		u := ev.GetParticipantUpdated()
		if strings.Join(u.GetChangedAttributes(), ",") != "a,b" || u.GetInfo().GetAttributes()["b"] != "2" {
			t.Fatalf("attributes update: %v", u)
		}
	}
	// Alice's handle means nothing to bob's client.
	wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: ar}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	res := alice.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: ar}}}).GetGetRoomSnapshot().GetSnapshot()
	if lp := res.GetLocalParticipant(); lp.GetName() != "Alice" || lp.GetMetadata() != "md-1" || lp.GetAttributes()["a"] != "1" {
		t.Fatalf("snapshot local participant: %v", lp)
	}

	// A second change carries the value it replaced (ABI 1.3), so a host needs no copy.
	alice.call(&ffipb.Request{Message: &ffipb.Request_SetLocalMetadata{SetLocalMetadata: &ffipb.SetLocalMetadataRequest{RoomHandle: ar, Metadata: "md-2"}}})
	alice.call(&ffipb.Request{Message: &ffipb.Request_SetLocalName{SetLocalName: &ffipb.SetLocalNameRequest{RoomHandle: ar, Name: "Alice 2"}}})
	for _, h := range []*host{alice, bob} {
		ev, _ := h.roomEvent("second metadata update", 0, func(e *ffipb.RoomEvent) bool {
			u := e.GetParticipantUpdated()
			return u.GetMetadataChanged() && u.GetInfo().GetIdentity() == "alice" && u.GetInfo().GetMetadata() == "md-2"
		})
		if u := ev.GetParticipantUpdated(); u.GetOldMetadata() != "md-1" {
			t.Fatalf("second metadata update: %v", u)
		}
		ev, _ = h.roomEvent("second name update", 0, func(e *ffipb.RoomEvent) bool {
			u := e.GetParticipantUpdated()
			return u.GetNameChanged() && u.GetInfo().GetIdentity() == "alice" && u.GetInfo().GetName() == "Alice 2"
		})
		if u := ev.GetParticipantUpdated(); u.GetOldName() != "Alice" {
			t.Fatalf("second name update: %v", u)
		}
	}
	// Empty metadata cannot be set (the wire treats it as "unchanged"): typed error.
	comp := alice.completion(alice.async(&ffipb.Request{Message: &ffipb.Request_SetLocalMetadata{SetLocalMetadata: &ffipb.SetLocalMetadataRequest{RoomHandle: ar}}}))
	if comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
		t.Fatalf("empty metadata: %v", comp)
	}

	// The room's metadata, changed by the server, arrives as RoomUpdated with the old value.
	for i, md := range []string{"room-1", "room-2"} {
		if !s.UpdateRoomMetadata("r2", md) {
			t.Fatal("room r2 not found")
		}
		ev, _ := bob.roomEvent("room metadata "+md, 0, func(e *ffipb.RoomEvent) bool {
			return e.GetRoomUpdated().GetInfo().GetMetadata() == md
		})
		if u := ev.GetRoomUpdated(); !u.GetMetadataChanged() || u.GetOldMetadata() != []string{"", "room-1"}[i] || u.GetInfo().GetName() != "r2" {
			t.Fatalf("room metadata update: %v", u)
		}
	}
}

func TestE2EDisconnectDropAndReasons(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "r3", "alice")
	bob, br, _ := joinHost(t, s, "r3", "bob")
	carol, _, _ := joinHost(t, s, "r3", "carol")
	for _, who := range []string{"bob", "carol"} {
		alice.roomEvent("alice sees "+who, 0, func(e *ffipb.RoomEvent) bool {
			return e.GetParticipantConnected().GetInfo().GetIdentity() == who
		})
	}
	publishTrack(t, bob, br, "sensor")
	alice.roomEvent("bob's track", 0, func(e *ffipb.RoomEvent) bool {
		return e.GetDataTrackPublished().GetTrack().GetInfo().GetName() == "sensor"
	})

	// Bob disconnects: his Disconnected event (CLIENT_INITIATED, no error) comes before the
	// completion; the others see him leave with the same reason.
	id := bob.async(&ffipb.Request{Message: &ffipb.Request_Disconnect{Disconnect: &ffipb.DisconnectRequest{RoomHandle: br}}})
	bob.completion(id)
	evs := bob.s.snapshot()
	discIdx, compIdx := -1, -1
	for i, ev := range evs {
		if d := ev.GetRoom().GetDisconnected(); d != nil {
			discIdx = i
			if d.GetReason() != ffipb.DisconnectReason_DISCONNECT_REASON_CLIENT_INITIATED || d.GetError() != nil {
				t.Fatalf("bob's disconnected event: %v", d)
			}
		}
		if ev.GetCompletion().GetRequestId() == id {
			compIdx = i
		}
	}
	if discIdx < 0 || discIdx > compIdx {
		t.Fatalf("disconnected event at %d, completion at %d", discIdx, compIdx)
	}
	if st := evs[discIdx-1].GetRoom().GetConnectionStateChanged().GetState(); st != ffipb.ConnectionState_CONNECTION_STATE_DISCONNECTED {
		t.Fatalf("event before disconnected: %v", evs[discIdx-1])
	}
	ev, left := alice.roomEvent("bob left", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantDisconnected() != nil })
	if pd := ev.GetParticipantDisconnected(); pd.GetIdentity() != "bob" || pd.GetReason() != ffipb.DisconnectReason_DISCONNECT_REASON_CLIENT_INITIATED {
		t.Fatalf("participant disconnected: %v", pd)
	}
	// His track was reported unpublished before (ABI 1.15).
	if _, i := alice.roomEvent("bob's track unpublished", 0, func(e *ffipb.RoomEvent) bool {
		return e.GetDataTrackUnpublished().GetPublisherIdentity() == "bob"
	}); i > left {
		t.Fatalf("bob's track unpublished (event %d) after he left (event %d)", i, left)
	}
	// After a disconnect the room handle stays valid; requests fail with typed errors.
	wantRespCode(t, bob.do(&ffipb.Request{RequestId: 999, Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{RoomHandle: br}}}), ffipb.ErrorCode_ERROR_CODE_DISCONNECTED)
	wantRespCode(t, bob.do(&ffipb.Request{RequestId: 999, Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: br, Url: s.URL(), Token: "t"}}}), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
	bob.call(&ffipb.Request{Message: &ffipb.Request_Disconnect{Disconnect: &ffipb.DisconnectRequest{RoomHandle: br}}}) // idempotent

	// Dropping alice's room handle disconnects her in the background.
	if err := alice.c.DropHandle(ar); err != nil {
		t.Fatal(err)
	}
	carol.roomEvent("alice left", 0, func(e *ffipb.RoomEvent) bool {
		return e.GetParticipantDisconnected().GetIdentity() == "alice"
	})
	wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: ar}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)

	// The server ending carol's session (leave DISCONNECT, as livekit-server does on shutdown)
	// ends her room with that reason. (Closing devsfu outright may instead start reconnection
	// attempts, depending on whether the leave or the socket close is seen first.)
	if !s.SendLeave("carol", lkpb.LeaveRequest_DISCONNECT, lkpb.DisconnectReason_SERVER_SHUTDOWN) {
		t.Fatal("devsfu did not send the leave")
	}
	ev, _ = carol.roomEvent("carol disconnected", 0, func(e *ffipb.RoomEvent) bool { return e.GetDisconnected() != nil })
	if d := ev.GetDisconnected(); d.GetReason() != ffipb.DisconnectReason_DISCONNECT_REASON_SERVER_SHUTDOWN {
		t.Fatalf("server gone: %v", d)
	}
}

func TestE2EConnectErrorsAndLogs(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	h := newHost(t)
	wantRespCode(t, h.do(&ffipb.Request{Message: &ffipb.Request_SetLogLevel{SetLogLevel: &ffipb.SetLogLevelRequest{Level: ffipb.LogLevel_LOG_LEVEL_DEBUG}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	rh := h.createRoom(&ffipb.RoomOptions{JoinAttempts: 3})

	// A token signed with another secret: UNAUTHORIZED, not retried, token not leaked.
	bad, err := auth.NewToken(s.APIKey(), "another-secret-another-secret-00", auth.Claims{Identity: "mallory", Video: &auth.VideoGrant{RoomJoin: true, Room: "r4"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	comp := h.completion(h.async(&ffipb.Request{Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: rh, Url: s.URL(), Token: bad}}}))
	if comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_UNAUTHORIZED || comp.GetError().GetRetryable() {
		t.Fatalf("bad token: %v", comp)
	}
	// An invalid URL.
	comp = h.completion(h.async(&ffipb.Request{Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: rh, Url: "ftp://x", Token: bad}}}))
	if comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
		t.Fatalf("bad url: %v", comp)
	}
	// The same room can then connect for real; core log records reach the host.
	good := mintToken(t, s, "r4", "dave")
	res := h.connect(rh, s.URL(), good)
	if res.GetLocalParticipant().GetIdentity() != "dave" {
		t.Fatalf("connect result: %v", res)
	}
	h.s.waitFor(t, "core log records", func(evs []*ffipb.Event) bool {
		for _, ev := range evs {
			if l := ev.GetLog(); l != nil && l.GetMessage() == "room: joined" {
				if got := l.GetAttributes()["room_handle"]; got != strconv.FormatUint(rh, 10) {
					t.Errorf("core log record names room_handle %q, want %d", got, rh)
				}
				return true
			}
		}
		return false
	})
	for _, ev := range h.s.snapshot() {
		if l := ev.GetLog(); l != nil {
			all := l.GetMessage()
			for k, v := range l.GetAttributes() {
				all += k + "=" + v
			}
			if strings.Contains(all, good) || strings.Contains(all, bad) {
				t.Fatalf("token in a log record: %v", l)
			}
		}
	}
	wantRespCode(t, h.do(&ffipb.Request{RequestId: 77, Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: rh, Url: s.URL(), Token: good}}}), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
}

// Disconnecting (or dropping) while a connect is in progress cancels it cleanly.
func TestE2EDisconnectWhileConnecting(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	h := newHost(t)
	rh := h.createRoom(nil)
	cid := h.async(&ffipb.Request{Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: rh, Url: s.URL(), Token: mintToken(t, s, "r5", "eve")}}})
	did := h.async(&ffipb.Request{Message: &ffipb.Request_Disconnect{Disconnect: &ffipb.DisconnectRequest{RoomHandle: rh}}})
	c := h.completion(cid)
	if c.GetError() != nil && c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_CANCELLED {
		t.Fatalf("connect: %v", c)
	}
	if d := h.completion(did); d.GetError() != nil {
		t.Fatalf("disconnect: %v", d)
	}
	// Whichever won, the room ends disconnected and cannot connect again.
	snap := h.do(&ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: rh}}}).GetGetRoomSnapshot().GetSnapshot()
	if snap.GetRoom().GetConnectionState() != ffipb.ConnectionState_CONNECTION_STATE_DISCONNECTED {
		t.Fatalf("state: %v", snap.GetRoom())
	}

	rh2 := h.createRoom(nil)
	cid = h.async(&ffipb.Request{Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: rh2, Url: s.URL(), Token: mintToken(t, s, "r5", "frank")}}})
	if err := h.c.DropHandle(rh2); err != nil {
		t.Fatal(err)
	}
	if c := h.completion(cid); c.GetError() != nil && c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_CANCELLED {
		t.Fatalf("connect after drop: %v", c)
	}
}

// A dropped signalling connection is resumed: Reconnecting / Reconnected (RESUME) events,
// state changes, and data keeps flowing afterwards. A forced full reconnect reports FULL.
func TestE2EReconnect(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "reconnect", "alice")
	bob, _, _ := joinHost(t, s, "reconnect", "bob")
	alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })

	if !s.DropSignal("alice") {
		t.Fatal("devsfu did not drop alice's signal connection")
	}
	ev, from := alice.roomEvent("reconnecting", 0, func(e *ffipb.RoomEvent) bool { return e.GetReconnecting() != nil })
	if r := ev.GetReconnecting(); r.GetKind() != ffipb.ReconnectKind_RECONNECT_KIND_RESUME || r.GetAttempt() != 1 {
		t.Fatalf("reconnecting: %v", r)
	}
	ev, _ = alice.roomEvent("reconnected", from, func(e *ffipb.RoomEvent) bool { return e.GetReconnected() != nil })
	if ev.GetReconnected().GetKind() != ffipb.ReconnectKind_RECONNECT_KIND_RESUME {
		t.Fatalf("reconnected: %v", ev)
	}
	states := []ffipb.ConnectionState{}
	for _, e := range alice.s.snapshot() {
		if c := e.GetRoom().GetConnectionStateChanged(); c != nil {
			states = append(states, c.GetState())
		}
	}
	if len(states) < 2 || states[0] != ffipb.ConnectionState_CONNECTION_STATE_RECONNECTING || states[len(states)-1] != ffipb.ConnectionState_CONNECTION_STATE_CONNECTED {
		t.Fatalf("state changes %v", states)
	}
	alice.call(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{RoomHandle: ar, Payload: []byte("after resume"), Reliable: true}}})
	bob.roomEvent("data after resume", 0, func(e *ffipb.RoomEvent) bool { return string(e.GetDataReceived().GetPayload()) == "after resume" })

	track := publishTrack(t, alice, ar, "sensor")
	s.ForceFullReconnect("alice", true)
	if !s.DropSignal("alice") {
		t.Fatal("second drop failed")
	}
	_, idx := alice.roomEvent("full reconnect", from, func(e *ffipb.RoomEvent) bool {
		return e.GetReconnected().GetKind() == ffipb.ReconnectKind_RECONNECT_KIND_FULL
	})
	next, _ := alice.roomEvent("room event after the full reconnect", idx+1, func(*ffipb.RoomEvent) bool { return true })
	if u := next.GetParticipantUpdated(); u.GetInfo().GetIdentity() != "alice" || u.GetInfo().GetSid() == "" {
		t.Fatalf("after a full reconnect the local participant's new info follows: %v", next)
	}
	// The track was published again: its new sid is told (ABI 1.15).
	ev, _ = alice.roomEvent("local track's new sid", idx, func(e *ffipb.RoomEvent) bool { return e.GetLocalDataTrackSidChanged() != nil })
	if c := ev.GetLocalDataTrackSidChanged(); c.GetTrackHandle() != track.GetHandle() || c.GetOldSid() != track.GetInfo().GetSid() ||
		c.GetInfo().GetSid() == "" || c.GetInfo().GetSid() == c.GetOldSid() || c.GetInfo().GetName() != "sensor" {
		t.Fatalf("local track sid change %v (published as %v)", c, track.GetInfo())
	}
	alice.call(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{RoomHandle: ar, Payload: []byte("after full"), Reliable: true}}})
	bob.roomEvent("data after full reconnect", 0, func(e *ffipb.RoomEvent) bool { return string(e.GetDataReceived().GetPayload()) == "after full" })
}
