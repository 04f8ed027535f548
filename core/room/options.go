package room

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/pion/webrtc/v4"
)

// Version is the lkcore version reported in ClientInfo.version.
const Version = "0.1.0"

// Protocol constants advertised in the JoinRequest.
const (
	// signalProtocol is ClientInfo.protocol. 17, like JS 2.23.0 and Rust: 18
	// would make livekit-server ≥ 1.13.11 pre-create negotiated channels
	// 100/101/102 instead of adopting our in-band ones (docs/protocol.md,
	// Peer connection and data channels).
	signalProtocol = 17
	// clientProtocol is ClientInfo.client_protocol:
	// CLIENT_PROTOCOL_DATA_STREAM_V2, as JS 2.23.0 and Rust
	// (docs/protocol.md, Verified against): core/rpc accepts v2 requests and
	// response streams, core/datastream accepts inline headers and the
	// compression field (streams.go, rpc.go).
	clientProtocol = 2
)

// advertisedCapabilities is ClientInfo.capabilities: core/datastream always
// inflates deflate-raw streams. CAP_PACKET_TRAILER is for media frame
// trailers, which a data-only client does not handle.
func advertisedCapabilities() []lkpb.ClientInfo_Capability {
	return []lkpb.ClientInfo_Capability{lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW}
}

// Defaults.
const (
	// DefaultPeerConnectionTimeout bounds the wait for the PeerConnection and
	// both data channels during Connect (JS/Rust: 15 s).
	DefaultPeerConnectionTimeout = 15 * time.Second
	// DefaultPendingDataEvents is the default Options.MaxPendingDataEvents.
	DefaultPendingDataEvents = 1024
	// requestTimeout caps metadata/name/attribute updates when ctx has no
	// earlier deadline (JS: 5 s).
	requestTimeout = 5 * time.Second
	// flushTimeout caps how long Disconnect waits for unacknowledged data
	// channel bytes before leaving.
	flushTimeout = 2 * time.Second
	// pcFailureGrace is how long a failed PeerConnection waits for a leave
	// or signal close that explains it before the room ends.
	pcFailureGrace = 500 * time.Millisecond
)

// ConnectionState is the room's connection state.
type ConnectionState int

// Connection states.
const (
	// StateDisconnected: not connected; terminal for a Room.
	StateDisconnected ConnectionState = iota
	// StateConnecting: Connect is in progress.
	StateConnecting
	// StateConnected: PeerConnection connected and both data channels open.
	StateConnected
	// StateReconnecting: the connection broke and a resume or full reconnect
	// is in progress (see Reconnecting / Reconnected events).
	StateReconnecting
)

// String returns the state's name ("connected", ...).
func (s ConnectionState) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	}
	return fmt.Sprintf("ConnectionState(%d)", int(s))
}

// ICEServer is a STUN/TURN server to use instead of the server-provided ones.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Options configures a Room (New, Connect). The zero value is usable.
type Options struct {
	// Logger receives structured logs; nil discards. Tokens and payloads are never logged.
	Logger *slog.Logger
	// ICEServers, when set, replace the ICE servers sent by the server. New
	// checks them: at most MaxICEServers, 1..MaxICEServerURLs URLs each that
	// parse as stun:, stuns:, turn: or turns: URLs, and a username and a
	// credential with every TURN URL (else ErrInvalidArgument).
	ICEServers []ICEServer
	// ICETransportPolicy ICETransportPolicyRelay makes every connection of
	// this room use TURN relay candidates only (for networks where only a
	// TURN server is reachable, or to hide the host's addresses). The zero
	// value, ICETransportPolicyAll, uses any candidate unless the server
	// sends force_relay (relay.go).
	ICETransportPolicy ICETransportPolicy
	// PeerConnectionTimeout bounds the WebRTC part of Connect (0: 15 s);
	// the ctx passed to Connect bounds everything.
	PeerConnectionTimeout time.Duration
	// MaxPendingDataEvents bounds how many DataReceived events may wait for
	// the consumer before the data channels stop being read (backpressure,
	// nothing is dropped). 0: DefaultPendingDataEvents.
	MaxPendingDataEvents int
	// SCTPReceiveBufferSize overrides the SCTP receive window this client advertises
	// (0: default 768 KiB, DefaultSCTPReceiveBufferSize; otherwise
	// MinSCTPReceiveBufferSize..MaxSCTPReceiveBufferSize, else New fails with
	// ErrInvalidArgument). A larger window lifts the window/RTT ceiling on what the
	// server can send on a long path, but above ~900 KiB a process that stalls under a
	// saturating flow can overflow pion's fixed 1 MB buffers below SCTP, and data-track
	// frames are then lost (docs/performance.md).
	SCTPReceiveBufferSize uint32
	// DisableUDPBatching sends and receives every UDP datagram with its own
	// system call. By default, where the kernel supports it (Linux UDP
	// segmentation and receive offload), consecutive datagrams to the same
	// address are handed to the kernel in batches, and a burst from one sender
	// is received in one call: the peer sees the same datagrams, and both
	// sides spend less CPU per byte.
	DisableUDPBatching bool
	// TLSConfig is used for the signalling connection to a wss:// (https://)
	// URL, e.g. to trust a private CA (cloned; nil: the system roots).
	TLSConfig *tls.Config
	// Dial opens the signalling TCP connection (nil: a net.Dialer). When the
	// environment names a proxy (HTTPS_PROXY for wss://, HTTP_PROXY for ws://,
	// NO_PROXY exceptions, as net/http reads them), Dial opens the connection
	// to the proxy and the signalling is tunnelled through it (HTTP CONNECT or
	// SOCKS5). Only the signalling connection uses Dial and the proxy.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// E2EE, when set, turns on end-to-end encryption for this room: data
	// packets (user, RPC, data streams) and data tracks are encrypted with
	// its key provider (see e2ee.go). nil: no E2EE.
	E2EE *E2EEOptions
	// MaxReconnectAttempts bounds the reconnect attempts of one episode
	// after the connection was lost (0: DefaultMaxReconnectAttempts, 10, as
	// JS and Rust); after that many failures the room ends with
	// ErrReconnectFailed. Negative: never reconnect — any connection loss
	// after Connect ends the room with Disconnected carrying the cause
	// (ErrSignalLost, ErrPeerConnectionFailed, ...), as a loss while
	// connecting does.
	MaxReconnectAttempts int

	// JoinAttempts is how many times Room.Connect tries to join before it
	// gives up (0 or 1: once). Only failures that IsRetryable reports as
	// transient are retried (server unreachable, 5xx, a PeerConnection that
	// did not connect, a per-attempt timeout); a refusal (bad token, room
	// not found, join refused) fails at once. At most MaxJoinAttempts.
	JoinAttempts int
	// JoinRetryDelay is the pause before the second attempt; it doubles
	// before each further one (0: DefaultJoinRetryDelay, 500 ms).
	JoinRetryDelay time.Duration
	// JoinAttemptTimeout bounds each join attempt as a whole (signalling
	// and PeerConnection); an attempt that runs out is retryable. 0: an
	// attempt is bounded only by Connect's ctx and PeerConnectionTimeout.
	JoinAttemptTimeout time.Duration

	// AutoSubscribe subscribes to every remote data track as soon as it is
	// known (with AutoSubscribeOptions): tracks present when Connect returns
	// carry their subscription in Snapshot, later ones in their
	// DataTrackPublished event. A failed subscription ends with the error
	// (DataTrackSubscription.Err). false: subscribe with
	// RemoteDataTrack.Subscribe.
	AutoSubscribe bool
	// AutoSubscribeOptions are the options of AutoSubscribe's subscriptions.
	AutoSubscribeOptions SubscribeOptions

	// RPCMethods (method name → handler), TextStreamHandlers and
	// ByteStreamHandlers (topic → handler) are registered by New, the same
	// as calling Room.RegisterRPCMethod / Register*StreamHandler between New
	// and Connect: a call or stream that a peer sends the moment this
	// participant appears finds its handler. The same rules and errors as
	// the Register methods apply; a failing entry fails New with that error.
	RPCMethods         map[string]rpc.Handler
	TextStreamHandlers map[string]datastream.TextStreamHandler
	ByteStreamHandlers map[string]datastream.ByteStreamHandler

	// legacyData (tests only, see streams.go) advertises an older client
	// protocol and capabilities and sends like such a client.
	legacyData *legacyDataProtocol
	// settingEngineHook (tests only, reconnect_test.go) adjusts each
	// engine's pion SettingEngine (ICE timeouts, a UDP mux that can be cut).
	settingEngineHook func(*webrtc.SettingEngine)
	// cloudHost (tests only, regions_test.go) replaces isCloudHost: which
	// hosts have regions to fail over to.
	cloudHost func(host string) bool
}
