package ffi

import (
	"strings"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// RoomOptions.ice_transport_policy and ice_servers (ABI 1.2).

func TestRelayRoomOptionsValidated(t *testing.T) {
	h := newHost(t)
	url := []string{"turn:127.0.0.1:3478?transport=udp"}
	many := make([]*ffipb.IceServer, 17)
	for i := range many {
		many[i] = &ffipb.IceServer{Urls: url}
	}
	for name, o := range map[string]*ffipb.RoomOptions{
		"unknown policy":   {IceTransportPolicy: 7},
		"too many servers": {IceServers: many},
		"no url":           {IceServers: []*ffipb.IceServer{{Username: "u"}}},
		"too many urls":    {IceServers: []*ffipb.IceServer{{Urls: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}}}},
		"empty url":        {IceServers: []*ffipb.IceServer{{Urls: []string{""}}}},
		"oversized url":    {IceServers: []*ffipb.IceServer{{Urls: []string{"turn:" + strings.Repeat("x", 1100)}}}},
		"unknown scheme":   {IceServers: []*ffipb.IceServer{{Urls: []string{"https://turn.example.com"}}}},
		"turn, no secret":  {IceServers: []*ffipb.IceServer{{Urls: []string{"turn:127.0.0.1:3478"}, Username: "u"}}},
	} {
		resp := h.do(&ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{Options: o}}})
		if resp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
			t.Errorf("%s: %v", name, resp)
		}
	}
}

// A host that must relay: policy RELAY with its own TURN server connects through it; without a
// TURN server the connect fails at once with CONNECTION_FAILED naming the missing relay.
func TestE2ERelayPolicy(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{TURN: &devsfu.TURNOptions{Withhold: true}})
	ts, _ := s.TURNICEServer("alice")
	h := newHost(t)
	rh := h.createRoom(&ffipb.RoomOptions{
		IceTransportPolicy: ffipb.IceTransportPolicy_ICE_TRANSPORT_POLICY_RELAY,
		IceServers:         []*ffipb.IceServer{{Urls: ts.GetUrls(), Username: ts.GetUsername(), Credential: ts.GetCredential()}},
	})
	if res := h.connect(rh, s.URL(), mintToken(t, s, "relay", "alice")); res.GetLocalParticipant().GetIdentity() != "alice" {
		t.Fatalf("connect: %v", res)
	}
	// The host sees the relay in the connection's statistics (ABI 1.26).
	st := h.do(&ffipb.Request{Message: &ffipb.Request_GetConnectionStats{GetConnectionStats: &ffipb.GetConnectionStatsRequest{RoomHandle: rh}}}).GetGetConnectionStats()
	if l := st.GetLocalCandidate(); !st.GetConnected() || l.GetType() != ffipb.IceCandidateType_ICE_CANDIDATE_TYPE_RELAY || l.GetRelayProtocol() != "udp" {
		t.Fatalf("connection stats %v, want a local relay candidate over UDP", st)
	}
	if s.TURNStats().Allocations == 0 {
		t.Fatal("no TURN allocation")
	}

	rh2 := h.createRoom(&ffipb.RoomOptions{IceTransportPolicy: ffipb.IceTransportPolicy_ICE_TRANSPORT_POLICY_RELAY, ConnectTimeoutMs: 600_000})
	comp := h.completion(h.async(&ffipb.Request{Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{
		RoomHandle: rh2, Url: s.URL(), Token: mintToken(t, s, "relay", "bob")}}}))
	if comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED || !strings.Contains(comp.GetError().GetMessage(), "relay") || comp.GetError().GetRetryable() {
		t.Fatalf("relay-only without TURN: %v", comp)
	}
}
