package room

import "time"

// ConnectionStats describes the room's connection to the server now, for a
// host's diagnostics: whether it is relayed (and how), how long a round trip
// takes, how much the data channels carried.
type ConnectionStats struct {
	// CandidatePair is the ICE candidate pair in use (Local.Type relay:
	// through a TURN server, over Local.RelayProtocol).
	CandidatePair CandidatePair
	// RoundTripTime is ICE's latest measurement on the pair (its
	// connectivity checks, and keepalives while the pair is idle); 0 before
	// the first.
	RoundTripTime time.Duration
	// SCTPRoundTripTime is the data channels' smoothed round-trip time,
	// measured on acknowledged data (so it includes the peers' processing
	// under load); 0 before any data was acknowledged.
	SCTPRoundTripTime time.Duration
	// BytesSent and BytesReceived count the data channels' messages (every
	// channel, data packets and data-track packets alike, without SCTP's,
	// DTLS's and UDP's framing) on this connection: a full reconnect starts
	// a new one from zero, a resume keeps it.
	BytesSent, BytesReceived uint64
}

// ConnectionStats reports the connection's statistics from pion. ok is false
// while no candidate pair is selected (connecting, reconnecting) and after
// the room ended.
func (r *Room) ConnectionStats() (ConnectionStats, bool) {
	eng := r.eng.Load()
	if eng == nil {
		return ConnectionStats{}, false
	}
	st, ok := eng.Stats()
	if !ok {
		return ConnectionStats{}, false
	}
	return ConnectionStats{
		CandidatePair:     CandidatePair{Local: candidateFrom(st.Pair.Local), Remote: candidateFrom(st.Pair.Remote)},
		RoundTripTime:     st.RoundTripTime,
		SCTPRoundTripTime: st.SCTPRoundTripTime,
		BytesSent:         st.BytesSent,
		BytesReceived:     st.BytesReceived,
	}, true
}
