package engine

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// ICE transport policy (relay-only) and the selected candidate pair.
//
// When does the policy take effect? As in a browser (and in the official
// clients, which call setConfiguration with the server's ICE servers and
// iceTransportPolicy "relay" for force_relay): at the next ICE gathering.
// The join offer is created before the JoinResponse but applied with
// SetLocalDescription only when its answer arrives (CreateOffer keeps it
// pending), so the first gathering starts after SetICEServers applied the
// JoinResponse; a resume applies the ReconnectResponse before the ICE
// restart gathers again; a full reconnect builds a new engine and is a
// first join again.
//
// pion fixes the candidate types of its ICE agent when the agent is created,
// and it creates it in the first CreateOffer (for the offer's ICE
// credentials), i.e. before the JoinResponse. A later SetConfiguration with
// ICETransportPolicyRelay updates the servers but not the candidate types,
// not even for an ICE restart: host candidates would still be gathered and
// win. The engine therefore enforces the policy itself where gathering
// happens: its network (policyNet) shows the agent no local interfaces and
// refuses direct UDP sockets while the policy is relay-only, so the agent
// gathers neither host nor server-reflexive candidates and only TURN
// allocations (sockets to the TURN server) remain. As a second guard,
// non-relay candidates are never trickled under the policy (admitCandidate).

// errRelayOnly is what policyNet answers to a direct socket under the
// relay-only policy (pion logs it and skips that candidate).
var errRelayOnly = errors.New("engine: relay-only ICE transport policy: no direct sockets")

// policyNet is the engine's network with the relay-only policy applied at
// gathering time. pion's ICE agent finds host candidates through
// Interfaces (UDP and TCP) and opens host and server-reflexive UDP sockets
// with ListenUDP; TURN allocations use ListenPacket (UDP) or DialTCP/DialUDP
// (TCP, TLS, DTLS), which stay available.
type policyNet struct {
	transport.Net
	relayOnly *atomic.Bool
}

// Interfaces lists no interface while the policy is relay-only.
func (n *policyNet) Interfaces() ([]*transport.Interface, error) {
	if n.relayOnly.Load() {
		return nil, nil
	}
	return n.Net.Interfaces()
}

// ListenUDP refuses while the policy is relay-only.
func (n *policyNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	if n.relayOnly.Load() {
		return nil, errRelayOnly
	}
	return n.Net.ListenUDP(network, laddr)
}

func transportPolicy(relayOnly bool) webrtc.ICETransportPolicy {
	if relayOnly {
		return webrtc.ICETransportPolicyRelay
	}
	return webrtc.ICETransportPolicyAll
}

// SetForceRelay applies only the force_relay setting of a ReconnectResponse
// that lists no ICE servers (the servers in use stay); like SetICEServers it
// governs the next gathering.
func (e *Engine) SetForceRelay(forceRelay bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	relay := forceRelay || e.cfg.RelayOnly
	conf := e.pc.GetConfiguration()
	conf.ICETransportPolicy = transportPolicy(relay)
	e.relayOnly.Store(relay)
	if err := e.pc.SetConfiguration(conf); err != nil {
		return fmt.Errorf("engine: set ICE transport policy: %w", err)
	}
	return nil
}

// RelayOnly reports whether the next (or current) ICE gathering is
// relay-only (Config.RelayOnly or the server's force_relay).
func (e *Engine) RelayOnly() bool { return e.relayOnly.Load() }

// admitCandidate decides whether a gathered local candidate is trickled,
// and counts relay candidates. Runs on pion's candidate goroutine.
func (e *Engine) admitCandidate(c *webrtc.ICECandidate) bool {
	if c.Typ == webrtc.ICECandidateTypeRelay {
		e.relayGathered.Add(1)
		return true
	}
	if e.relayOnly.Load() {
		e.log.Warn("engine: non-relay candidate not sent under the relay-only policy", "type", c.Typ.String())
		return false
	}
	return true
}

// gatheringComplete runs when pion reports the end of a gathering.
func (e *Engine) gatheringComplete() {
	if !e.relayOnly.Load() || e.relayGathered.Load() > 0 {
		return
	}
	e.log.Warn("engine: ICE gathering ended without a relay candidate under the relay-only policy")
	if e.cfg.OnRelayUnavailable != nil {
		e.cfg.OnRelayUnavailable()
	}
}
