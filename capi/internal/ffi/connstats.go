package ffi

import (
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/pion/webrtc/v4"
)

// connectionStats handles GetConnectionStatsRequest: Room.ConnectionStats.
func (c *Client) connectionStats(m *ffipb.GetConnectionStatsRequest, resp *ffipb.Response) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	out := &ffipb.GetConnectionStatsResponse{}
	r.mu.Lock()
	core := r.core
	r.mu.Unlock()
	if core != nil {
		if st, ok := core.ConnectionStats(); ok {
			out = &ffipb.GetConnectionStatsResponse{
				Connected:           true,
				LocalCandidate:      iceCandidate(st.CandidatePair.Local),
				RemoteCandidate:     iceCandidate(st.CandidatePair.Remote),
				RoundTripTimeUs:     uint64(st.RoundTripTime / time.Microsecond),
				SctpRoundTripTimeUs: uint64(st.SCTPRoundTripTime / time.Microsecond),
				BytesSent:           st.BytesSent,
				BytesReceived:       st.BytesReceived,
			}
		}
	}
	resp.Message = &ffipb.Response_GetConnectionStats{GetConnectionStats: out}
	return nil
}

// iceCandidate converts one end of the core's candidate pair.
func iceCandidate(c room.Candidate) *ffipb.IceCandidate {
	out := &ffipb.IceCandidate{Protocol: c.Protocol, Ip: c.IP, Port: uint32(c.Port), RelayProtocol: c.RelayProtocol}
	switch c.Type {
	case webrtc.ICECandidateTypeHost:
		out.Type = ffipb.IceCandidateType_ICE_CANDIDATE_TYPE_HOST
	case webrtc.ICECandidateTypeSrflx:
		out.Type = ffipb.IceCandidateType_ICE_CANDIDATE_TYPE_SRFLX
	case webrtc.ICECandidateTypePrflx:
		out.Type = ffipb.IceCandidateType_ICE_CANDIDATE_TYPE_PRFLX
	case webrtc.ICECandidateTypeRelay:
		out.Type = ffipb.IceCandidateType_ICE_CANDIDATE_TYPE_RELAY
	}
	return out
}
