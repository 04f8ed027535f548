package room

import (
	"fmt"

	"github.com/lkcore/lkcore/core/lkpb"
)

// ICE transport policy and TURN relay.
//
// The ICE servers and ClientConfiguration.force_relay of a JoinResponse or
// ReconnectResponse govern the next ICE gathering of the connection they
// answer, as in the official clients (JS and Rust call setConfiguration
// with them before the gathering starts):
//   - first join and full reconnect: the join offer travels inside the join
//     request, but the engine applies it as local description only when the
//     answer arrives, after the JoinResponse's servers and policy were set,
//     so the first gathering already uses them;
//   - resume: the ReconnectResponse's servers and policy are set before the
//     ICE-restart offer, whose gathering uses them.
//
// The policy is relay-only when Options.ICETransportPolicy is
// ICETransportPolicyRelay (always) or the latest response has force_relay
// ENABLED. engine/policy.go enforces it in pion.

// ICETransportPolicy selects which ICE candidates a connection may use.
type ICETransportPolicy int

// ICE transport policies.
const (
	// ICETransportPolicyAll uses host, server-reflexive and relay
	// candidates, or relay only when the server sends force_relay.
	ICETransportPolicyAll ICETransportPolicy = iota
	// ICETransportPolicyRelay uses TURN relay candidates only, on every
	// connection of the room (Options.ICEServers or the server's ICE
	// servers must then include a TURN server).
	ICETransportPolicyRelay
)

// String returns "all" or "relay".
func (p ICETransportPolicy) String() string {
	switch p {
	case ICETransportPolicyAll:
		return "all"
	case ICETransportPolicyRelay:
		return "relay"
	}
	return fmt.Sprintf("ICETransportPolicy(%d)", int(p))
}

func (p ICETransportPolicy) validate() error {
	if p != ICETransportPolicyAll && p != ICETransportPolicyRelay {
		return fmt.Errorf("%w: unknown ICE transport policy %d", ErrInvalidArgument, int(p))
	}
	return nil
}

// SelectedCandidatePair reports the ICE candidate pair the connection uses
// now, from pion's statistics (Local.Type is relay when the connection goes
// through a TURN server). ok is false while no pair is selected
// (connecting, reconnecting) or after the room ended. ConnectionStats has
// it with the connection's round trips and byte counts.
func (r *Room) SelectedCandidatePair() (pair CandidatePair, ok bool) {
	st, ok := r.ConnectionStats()
	return st.CandidatePair, ok
}

// onRelayUnavailable: a relay-only gathering of the current engine ended
// without a relay candidate, so ICE cannot connect. While connecting, the
// room ends (Connect returns the error at once instead of after
// PeerConnectionTimeout); during a reconnect attempt, the attempt fails.
// Loop only; returns true when the room ended.
func (r *Room) onRelayUnavailable() loopStep {
	err := fmt.Errorf("%w: %w", ErrPeerConnectionFailed, ErrRelayUnavailable)
	r.log.Warn("room: relay-only ICE without a TURN relay", "err", err)
	if r.rc.m.active {
		if r.rc.phase == phaseSyncing {
			return r.failAttempt(failOther, err)
		}
		return stepContinue
	}
	if !r.everConnected() {
		r.teardown(lkpb.DisconnectReason_UNKNOWN_REASON, err, true)
		return stepStop
	}
	return stepContinue // no gathering runs outside connect and reconnect attempts
}
