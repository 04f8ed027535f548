package engine

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// What a host may want to know about its connection to the server: which
// candidate pair ICE selected (relayed or not, over UDP or TCP), the round
// trips ICE and SCTP measure, and the data channels' byte counts.

// Candidate is one side of an ICE candidate pair, as pion's statistics
// report it.
type Candidate struct {
	// Type is host, srflx, prflx or relay.
	Type webrtc.ICECandidateType
	// Protocol is the candidate's transport, "udp" or "tcp".
	Protocol string
	// IP and Port are the candidate's address (for a local relay candidate:
	// the address the TURN server relays from).
	IP   string
	Port int
	// RelayProtocol is, for a local relay candidate, the transport between
	// this client and the TURN server ("udp", "tcp", "tls"); "" otherwise.
	RelayProtocol string
}

// CandidatePair is the ICE candidate pair the transport sends on.
type CandidatePair struct {
	Local, Remote Candidate
}

// Stats describes the transport now.
type Stats struct {
	// Pair is the candidate pair ICE selected.
	Pair CandidatePair
	// RoundTripTime is ICE's latest measurement on the pair (its
	// connectivity checks and keepalives, which it sends while the pair is
	// idle); 0 before the first.
	RoundTripTime time.Duration
	// SCTPRoundTripTime is SCTP's smoothed round-trip time, measured on
	// acknowledged data (it includes the peers' processing); 0 before any.
	SCTPRoundTripTime time.Duration
	// BytesSent and BytesReceived count the SCTP association's user data
	// (every data channel's messages) since it started.
	BytesSent, BytesReceived uint64
}

// Stats reads the transport's statistics from pion. ok is false while ICE
// is not connected or no pair is selected (connecting, during an ICE
// restart) and after Close.
func (e *Engine) Stats() (st Stats, ok bool) {
	if e.isClosed() {
		return Stats{}, false
	}
	// pion reads the ICE transport's gatherer unlocked in the selected-pair
	// getters while starting the transport writes it: ask only once ICE is
	// connected (the state is published after the start).
	switch e.pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
	default:
		return Stats{}, false
	}
	sctp := e.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return Stats{}, false
	}
	ps, ok := sctp.Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return Stats{}, false
	}
	report := e.pc.GetStats()
	local, lok := report[ps.LocalCandidateID].(webrtc.ICECandidateStats)
	remote, rok := report[ps.RemoteCandidateID].(webrtc.ICECandidateStats)
	if !lok || !rok {
		return Stats{}, false
	}
	ss, _ := report["sctpTransport"].(webrtc.SCTPTransportStats) // collected with the rest
	return Stats{
		Pair:              CandidatePair{Local: candidateFromStats(local), Remote: candidateFromStats(remote)},
		RoundTripTime:     seconds(ps.CurrentRoundTripTime),
		SCTPRoundTripTime: seconds(ss.SmoothedRoundTripTime),
		BytesSent:         ss.BytesSent,
		BytesReceived:     ss.BytesReceived,
	}, true
}

// seconds converts pion's fractional seconds (negative or not a number:
// none).
func seconds(s float64) time.Duration {
	if !(s > 0) {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

func candidateFromStats(s webrtc.ICECandidateStats) Candidate {
	return Candidate{Type: s.CandidateType, Protocol: s.Protocol, IP: s.IP, Port: int(s.Port), RelayProtocol: s.RelayProtocol}
}
