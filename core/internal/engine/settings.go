package engine

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Tuning constants. Every limit of the engine is named here.
const (
	// MaxDataPacketSize is the cap on a serialised DataPacket (JS/Rust
	// DEFAULT_MAX_MESSAGE_SIZE); the effective cap is min(this, the answer's
	// a=max-message-size). livekit-server reads with a 65 535-byte buffer.
	MaxDataPacketSize = 64000

	// ReliableLowWater / ReliableHighWater: a reliable send waits while the
	// channel's bufferedAmount is above the high-water mark, until it falls to
	// the low-water mark (JS ReliableDataChannel: 64 KiB / 1 MiB).
	ReliableLowWater  = 64 << 10
	ReliableHighWater = 1 << 20

	// LossyLowWater / LossyHighWater: the same for `_lossy`. JS drops lossy
	// packets above an adaptive 8–256 KiB threshold; lkcore never drops
	// silently, so a lossy send waits (bounded by its ctx) instead.
	LossyLowWater  = 64 << 10
	LossyHighWater = 256 << 10

	// `_data_track` has no constant here: its sends never wait, and its
	// thresholds are the caller's policy (Config.DataTrackHighWater, the
	// level given to DataTrackBelow; core/datatrack.Scheduler decides both).

	// DefaultSCTPReceiveBufferSize is the SCTP receive window this client
	// advertises: at most this much of what the peer sends is in flight
	// toward us. It is kept below pion's fixed 1 MB buffers between the
	// socket and SCTP (ICE, then the DTLS endpoint of pion/webrtc's mux),
	// which drop datagrams silently when full: with a larger window (8 MiB
	// before), a process that stalled for a few tens of ms under a saturating
	// flow overflowed them, and on the unreliable `_data_track` channel the
	// dropped datagrams were lost frames (5 of 86 repeated 100 KB push runs in
	// the multi-process benchmark; 0 of 80 at 768 KiB, with the same
	// throughput, and the same reliable throughput through the SFU). 768 KiB
	// leaves room for the DTLS and SCTP framing (~6 % for chunks of ~1.2 KB,
	// more for messages of a few hundred bytes). The price is a ceiling of
	// window / RTT per connection for what the server sends us (7.5 MB/s at
	// 100 ms); room.Options.SCTPReceiveBufferSize raises it. It is a limit,
	// not an allocation: memory is only used by data not read yet.
	DefaultSCTPReceiveBufferSize = 768 << 10

	// MinSCTPReceiveBufferSize and MaxSCTPReceiveBufferSize bound
	// Config.SCTPReceiveBufferSize. The minimum holds four of the largest
	// messages a LiveKit peer sends (64 KiB): a window smaller than one
	// message could never deliver it, since a message is read only once it
	// is complete. The maximum bounds what a peer may keep in this process's
	// memory per connection (64 MiB; pion's own arithmetic on the window
	// overflows above 1 GiB).
	MinSCTPReceiveBufferSize = 256 << 10
	MaxSCTPReceiveBufferSize = 64 << 20

	// ICE timeouts: disconnected after 10 s without traffic, failed 5 s later,
	// keepalive every 2 s — livekit-server's values, so a dead path reaches
	// `failed` in ~15 s (pion's defaults, 5 s + 25 s, would take 30 s)
	// (the server uses the same values).
	iceDisconnectedTimeout = 10 * time.Second
	iceFailedTimeout       = 5 * time.Second
	iceKeepaliveInterval   = 2 * time.Second
)

// newAPI builds the pion API for one PeerConnection, with each setting chosen
// deliberately for a data-only LiveKit client. relayOnly is the engine's
// current ICE transport policy, read by the network at gathering time.
func newAPI(cfg *Config, relayOnly *atomic.Bool) (*webrtc.API, error) {
	var se webrtc.SettingEngine

	// In-flight bound below pion's buffers: see DefaultSCTPReceiveBufferSize.
	rb := cfg.SCTPReceiveBufferSize
	if rb == 0 {
		rb = DefaultSCTPReceiveBufferSize
	}
	se.SetSCTPMaxReceiveBufferSize(rb)

	// SCTP zero checksum (RFC 9653) is negotiated in SCTP INIT: when the peer
	// (pion-based SFUs, livekit-server for capable clients) supports it, the
	// CRC32c of every packet is skipped (DTLS already authenticates it), which
	// saves CPU per message; peers that do not support it are unaffected.
	se.EnableSCTPZeroChecksum(true)

	// Failure detection in ~15 s instead of ~30 s (reconnect triggers on `failed`).
	se.SetICETimeouts(iceDisconnectedTimeout, iceFailedTimeout, iceKeepaliveInterval)

	// pion nominates a relay pair only after 2 s, to give direct pairs a
	// chance; with the user's relay-only policy there are no direct pairs,
	// so the wait would only delay every connection. (Under the server's
	// force_relay the agent already exists when the policy becomes known,
	// so the default wait stays.)
	if cfg.RelayOnly {
		se.SetRelayAcceptanceMinWait(0)
	}

	// Loopback host candidates: needed to reach an SFU on 127.0.0.1 (devsfu,
	// `livekit-server --dev --node-ip 127.0.0.1`); pion skips loopback by default.
	se.SetIncludeLoopbackCandidate(!cfg.ExcludeLoopbackCandidates)

	// UDP plus active ICE/TCP: livekit-server advertises passive TCP candidates
	// on 7881 as a fallback when UDP is blocked; pion only gathers UDP unless
	// TCP network types are listed.
	se.SetNetworkTypes([]webrtc.NetworkType{
		webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6,
		webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6,
	})

	// No mDNS: the SFU never sends .local candidates (it disables mDNS) and we
	// must not publish .local ones; disabling also avoids a multicast socket
	// and its goroutine per PeerConnection.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)

	// Larger kernel UDP buffers so bursts of data-track packets are not
	// dropped by the kernel (see UDPSocketBufferSize), batched sends and
	// receives (see core/udpbatch), and the relay-only policy applied at
	// gathering time (see policyNet).
	n, err := newBufferedNet(UDPSocketBufferSize, !cfg.DisableUDPBatching)
	if err != nil {
		return nil, fmt.Errorf("engine: network: %w", err)
	}
	se.SetNet(&policyNet{Net: n, relayOnly: relayOnly})

	if cfg.SettingEngineHook != nil {
		cfg.SettingEngineHook(&se)
	}
	// No MediaEngine codecs and no interceptors: the offer carries only
	// m=application, so RTP/RTCP machinery (NACK, TWCC, reports) would only
	// cost goroutines.
	return webrtc.NewAPI(webrtc.WithSettingEngine(se)), nil
}
