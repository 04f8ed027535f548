package ffi

import (
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// TestE2EConnectionStats (ABI 1.26): a connected room's statistics name its candidate pair
// (host to host over UDP on loopback) and ICE's round trip, its byte counts grow with what it
// sends; before connecting and after the room ended it is not connected; an unknown room is an
// error.
func TestE2EConnectionStats(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	h := newHost(t)
	rh := h.createRoom(nil)
	stats := func() *ffipb.GetConnectionStatsResponse {
		t.Helper()
		resp := h.do(&ffipb.Request{Message: &ffipb.Request_GetConnectionStats{GetConnectionStats: &ffipb.GetConnectionStatsRequest{RoomHandle: rh}}})
		wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
		return resp.GetGetConnectionStats()
	}
	if st := stats(); st.GetConnected() || st.GetLocalCandidate() != nil {
		t.Fatalf("before connecting: %v", st)
	}
	h.connect(rh, s.URL(), mintToken(t, s, "cstats", "alice"))
	before := stats()
	l, r := before.GetLocalCandidate(), before.GetRemoteCandidate()
	if !before.GetConnected() || l.GetType() != ffipb.IceCandidateType_ICE_CANDIDATE_TYPE_HOST || l.GetProtocol() != "udp" || l.GetPort() == 0 ||
		r.GetType() != ffipb.IceCandidateType_ICE_CANDIDATE_TYPE_HOST || r.GetIp() == "" || r.GetPort() == 0 || l.GetRelayProtocol() != "" {
		t.Fatalf("connected: %v", before)
	}
	if before.GetRoundTripTimeUs() == 0 || before.GetRoundTripTimeUs() > uint64(hangGuard.Microseconds()) {
		t.Fatalf("ICE round trip %d µs", before.GetRoundTripTimeUs())
	}
	payload := make([]byte, 30_000)
	h.call(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{RoomHandle: rh, Payload: payload, Reliable: true}}})
	// The packet was handed to the data channel; SCTP counts it as it goes out.
	for deadline := time.Now().Add(hangGuard); ; time.Sleep(5 * time.Millisecond) {
		after := stats()
		if after.GetBytesSent() >= before.GetBytesSent()+uint64(len(payload)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bytes sent %d, then %d after %d more", before.GetBytesSent(), after.GetBytesSent(), len(payload))
		}
	}
	h.call(&ffipb.Request{Message: &ffipb.Request_Disconnect{Disconnect: &ffipb.DisconnectRequest{RoomHandle: rh}}})
	if st := stats(); st.GetConnected() || st.GetBytesSent() != 0 {
		t.Fatalf("after the room ended: %v", st)
	}
	resp := h.do(&ffipb.Request{Message: &ffipb.Request_GetConnectionStats{GetConnectionStats: &ffipb.GetConnectionStatsRequest{RoomHandle: rh + 1000}}})
	if resp.GetError() == nil {
		t.Fatalf("unknown room: %v", resp)
	}
}
