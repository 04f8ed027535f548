package devsfu

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/udpbatch"
)

// Recorded server facts (livekit-server v1.13.5, see testdata/README.md).
const (
	// ServerVersion is what the recorded server reports in ServerInfo.
	ServerVersion = "1.13.5"
	// ServerProtocol is ServerInfo.protocol of v1.13.5 (CurrentProtocol 17).
	ServerProtocol = 17
	// DefaultAPIKey and DefaultAPISecret are used when Options leaves them empty.
	DefaultAPIKey    = "devkey"
	DefaultAPISecret = "devsecret-devsecret-devsecret-00"

	defaultPingInterval        = 5 * time.Second
	defaultQualityInterval     = 5 * time.Second
	defaultSpeakerInterval     = 400 * time.Millisecond
	defaultPingTimeout         = 15 * time.Second
	defaultUpdateBatchInterval = 3 * time.Second
	defaultWSPingInterval      = 10 * time.Second
	defaultRefreshInterval     = 5 * time.Minute
	defaultTokenTTL            = time.Hour
	maxIdentityLength          = 256
	udpSocketBuffer            = 4 << 20
	maxRoomNameLength          = 256
)

// Options configures a Server; the zero value is usable.
type Options struct {
	// APIKey and APISecret default to DefaultAPIKey / DefaultAPISecret.
	APIKey, APISecret string
	// Addr is the listen address, default "127.0.0.1:0". Only loopback
	// addresses are accepted. With an IPv6 address ("[::1]:0") the server
	// is IPv6 only: its ICE socket is on ::1 too and it gathers only UDP6
	// candidates (TURN, when enabled, stays on 127.0.0.1).
	Addr string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// DisableDataTracks makes the server behave like one without data-track
	// support: publish/unpublish/subscription requests are never answered
	// and no data_tracks are announced.
	DisableDataTracks bool
	// DataTracksNotAllowed behaves like livekit-server with
	// enable_data_tracks: false: publish → NOT_ALLOWED and the client's
	// _data_track channel is closed when it opens.
	DataTracksNotAllowed bool
	// EnableDataBlobs stores and serves participants' data blobs (the
	// definitions of data-track schemas; datablob.go), as livekit-server
	// with enable_participant_data_blob: true. Off, as the server's default:
	// every store is refused with NOT_ALLOWED.
	EnableDataBlobs bool
	// Region is the server's region, sent in ServerInfo.region as
	// livekit-server sends its `region` setting ("" by default, as a
	// single node; LiveKit Cloud names its regions there).
	Region string
	// UpdateBatchInterval is the period of batched participant updates
	// (0 = the recorded 3 s). Tests may shorten it.
	UpdateBatchInterval time.Duration
	// ReconcileInterval is the period after which subscribers of an
	// unpublished/departed track get their new handle snapshot (livekit's
	// subscription reconcile pass; 0 = UpdateBatchInterval).
	ReconcileInterval time.Duration
	// ConnectionQualityInterval is the period of the connection-quality
	// ratings (quality.go; 0 = 5 s, as livekit-server; negative: none are
	// sent).
	ConnectionQualityInterval time.Duration
	// SpeakerUpdateInterval is the period of the speaker updates
	// (speakers.go; 0 = 400 ms, as livekit-server; negative: none are sent).
	SpeakerUpdateInterval time.Duration
	// PingInterval and PingTimeout are announced in JoinResponse
	// (0 = recorded 5 s / 15 s). Whole seconds on the wire.
	PingInterval, PingTimeout time.Duration
	// WSPingInterval is the period of WebSocket ping control frames
	// (0 = 10 s; negative disables).
	WSPingInterval time.Duration
	// RefreshTokenInterval is the refresh_token period (0 = 5 min). One
	// refresh_token is always sent right after join/reconnect.
	RefreshTokenInterval time.Duration
	// PCFailureGrace is how long a participant whose PeerConnection failed
	// is kept for a resume (0 = 5 s, as livekit-server).
	PCFailureGrace time.Duration
	// RandomizeHandles seeds each subscriber's data-track handle counter
	// randomly in [0,256) like v1.13.5 (true unless DeterministicHandles).
	// DeterministicHandles starts every counter at 0 (first handle 1, like
	// v1.13.11's source).
	DeterministicHandles bool
	// DataTrackDropThreshold is a hard cap: a forwarded data-track packet is
	// dropped when the subscriber channel's buffered amount exceeds it
	// (0 = 4 MiB), whatever the congestion gate says.
	DataTrackDropThreshold int
	// DataTrackTargetLatency turns on a congestion gate on each subscriber's
	// data-track channel that follows livekit-server v1.13.5's: a packet is
	// dropped when the bytes already buffered for that subscriber exceed both
	// DataTrackMinBuffered and what it drains, measured over the time it was
	// backed up in the last two seconds, within this latency (congestion.go;
	// the server uses 100 ms). Until a subscriber has been backed up for
	// 100 ms there is no rate and nothing is dropped, so a burst on an idle
	// subscription passes whole. Drops are counted in
	// Stats.DataTrackCongestionDrops. 0 or negative: off (only the hard cap
	// applies).
	DataTrackTargetLatency time.Duration
	// DataTrackMinBuffered is the gate's floor (0 = 8 KiB, the server's).
	DataTrackMinBuffered int
	// AddParticipantSIDExtension appends the participant-SID extension
	// (tag 255) to forwarded data-track packets. livekit-server v1.13.5
	// does not (traces: forwarded packets are byte-identical except the
	// handle); this exists to test that clients skip unknown extensions.
	AddParticipantSIDExtension bool
	// DisableUDPBatching sends and receives every UDP datagram with its own
	// system call. By default the SFU's socket batches its sends and
	// receives where the kernel can (core/udpbatch, as the clients do), so
	// that in benchmarks on one machine the SFU's part of the CPU is not
	// inflated by a system call per datagram (the real server runs on a
	// machine of its own).
	DisableUDPBatching bool
	// EnableControl serves the HTTP fault-injection endpoints under
	// /devsfu/ (control.go) on the same loopback listener.
	EnableControl bool
	// TURN, when set, runs an embedded TURN server on loopback and hands
	// out its address and per-participant credentials in ice_servers, like
	// livekit-server with turn.enabled (turn.go). nil: no TURN, empty
	// ice_servers.
	TURN *TURNOptions
	// TLSCertificate, when set, serves signalling (and the control
	// endpoints) over TLS with it: URL returns wss://, as a production
	// server behind its TLS terminator. Clients must trust it.
	TLSCertificate *tls.Certificate
	// AlsoTLSCertificate, when set, also serves signalling over TLS with it on a
	// second loopback port (TLSURL), beside the plain listener: one server (the
	// same rooms) for ws:// and wss:// clients.
	AlsoTLSCertificate *tls.Certificate
	// ICETCP also gathers passive ICE/TCP candidates, on a loopback TCP port
	// of their own (RFC 6544 framing), as livekit-server does on its
	// rtc.tcp_port (7881) for clients whose network blocks UDP; a client
	// reaches them with active TCP candidates. ICEUDPOff leaves them the only
	// candidates (a network without UDP).
	ICETCP, ICEUDPOff bool
	// ForceRelay sets ClientConfiguration.force_relay ENABLED in every
	// JoinResponse and ReconnectResponse (Server.SetForceRelay changes it at
	// run time), as livekit-server does for participants it wants relayed.
	ForceRelay bool
}

func (o *Options) withDefaults() Options {
	c := *o
	if c.APIKey == "" {
		c.APIKey = DefaultAPIKey
	}
	if c.APISecret == "" {
		c.APISecret = DefaultAPISecret
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UpdateBatchInterval <= 0 {
		c.UpdateBatchInterval = defaultUpdateBatchInterval
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = c.UpdateBatchInterval
	}
	if c.ConnectionQualityInterval == 0 {
		c.ConnectionQualityInterval = defaultQualityInterval
	}
	if c.SpeakerUpdateInterval == 0 {
		c.SpeakerUpdateInterval = defaultSpeakerInterval
	}
	if c.PingInterval <= 0 {
		c.PingInterval = defaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = defaultPingTimeout
	}
	if c.WSPingInterval == 0 {
		c.WSPingInterval = defaultWSPingInterval
	}
	if c.RefreshTokenInterval <= 0 {
		c.RefreshTokenInterval = defaultRefreshInterval
	}
	if c.PCFailureGrace <= 0 {
		c.PCFailureGrace = 5 * time.Second
	}
	if c.DataTrackDropThreshold <= 0 {
		c.DataTrackDropThreshold = 4 << 20
	}
	if c.DataTrackMinBuffered <= 0 {
		c.DataTrackMinBuffered = 8 << 10
	}
	return c
}

// Errors returned by Start.
var (
	// ErrNotLoopback: Options.Addr is not a loopback address.
	ErrNotLoopback = errors.New("devsfu: listen address must be loopback")
	// ErrClosed: the server is closed.
	ErrClosed = errors.New("devsfu: server closed")
	// ErrNoICECandidates: Options.ICEUDPOff without Options.ICETCP would
	// leave the server without candidates.
	ErrNoICECandidates = errors.New("devsfu: ICEUDPOff needs ICETCP")
)

// Server is a running devsfu instance.
type Server struct {
	opts   Options
	log    *slog.Logger
	api    *webrtc.API
	udp    net.PacketConn
	cut    *pathCut // between udp and mux: CutPath
	mux    *ice.UDPMuxDefault
	tcpMux ice.TCPMux // nil without Options.ICETCP
	ln     net.Listener
	tlsLn  net.Listener // Options.AlsoTLSCertificate's listener, or nil
	http   *http.Server
	nodeID string
	faults *faultState

	stopTick chan struct{}

	turn       *turnServer // nil without Options.TURN (turn.go)
	forceRelay atomic.Bool

	wg sync.WaitGroup // HTTP serve loop and WebSocket handlers
	bg sync.WaitGroup // timer callbacks doing real work (see goBackground)

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
	conns  map[*signalConn]struct{} // every live WebSocket

	// dtBufs recycles the buffers forwardDataTrack serializes packets into (*[]byte); a
	// buffer is only lent to the synchronous write path (pion copies what it sends, and
	// faults that hold a packet copy it).
	dtBufs sync.Pool
	// apiZeroChecksum is api with SCTP zero checksum offered, for the clients
	// livekit-server offers it to (supportsSCTPZeroChecksum).
	apiZeroChecksum *webrtc.API
}

// Start listens on a loopback address and serves the LiveKit signalling
// endpoints in-process.
func Start(opts Options) (*Server, error) {
	o := opts.withDefaults()
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("devsfu: bad addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, ErrNotLoopback
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("devsfu: listen: %w", err)
	}
	if o.TLSCertificate != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*o.TLSCertificate}, MinVersion: tls.VersionTLS12})
	}
	var tlsLn net.Listener
	if o.AlsoTLSCertificate != nil {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("devsfu: TLS listen: %w", err)
		}
		tlsLn = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{*o.AlsoTLSCertificate}, MinVersion: tls.VersionTLS12})
	}
	closeListeners := func() {
		_ = ln.Close()
		if tlsLn != nil {
			_ = tlsLn.Close()
		}
	}
	ipv6 := host != "localhost" && net.ParseIP(host).To4() == nil
	udpNet, udpAddr := "udp4", "127.0.0.1:0"
	if ipv6 {
		udpNet, udpAddr = "udp6", "[::1]:0"
	}
	udp, err := net.ListenPacket(udpNet, udpAddr)
	if err != nil {
		closeListeners()
		return nil, fmt.Errorf("devsfu: udp listen: %w", err)
	}
	if uc, ok := udp.(*net.UDPConn); ok {
		// Every participant's traffic shares this one socket; the default
		// receive buffer (~208 KiB) overflows under data-track bursts
		// (measured: most of a flat-out 1 KB stream lost to
		// RcvbufErrors). Ask for 4 MiB; the kernel caps it at rmem_max.
		_ = uc.SetReadBuffer(udpSocketBuffer)
		_ = uc.SetWriteBuffer(udpSocketBuffer)
		if !o.DisableUDPBatching {
			udp = udpbatch.Wrap(uc)
		}
	}
	cut := newPathCut(udp)
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: cut.conn(), Logger: pionLoggerFactory{o.Logger}.NewLogger("udpmux")})
	icn := iceNetwork{udp: mux, ipv6: ipv6, noUDP: o.ICEUDPOff}
	closeMuxes := func() {
		_ = mux.Close()
		if icn.tcp != nil {
			_ = icn.tcp.Close()
		}
	}
	if o.ICEUDPOff && !o.ICETCP {
		_ = mux.Close()
		closeListeners()
		return nil, ErrNoICECandidates
	}
	if o.ICETCP {
		tcpNet, tcpAddr := "tcp4", "127.0.0.1:0"
		if ipv6 {
			tcpNet, tcpAddr = "tcp6", "[::1]:0"
		}
		tln, err := net.Listen(tcpNet, tcpAddr)
		if err != nil {
			_ = mux.Close()
			closeListeners()
			return nil, fmt.Errorf("devsfu: ICE/TCP listen: %w", err)
		}
		icn.tcp = webrtc.NewICETCPMux(pionLoggerFactory{o.Logger}.NewLogger("tcpmux"), tln, dataChannelReadBuffer)
	}
	var apiZC *webrtc.API
	api, err := newWebRTCAPI(icn, o.Logger, false)
	if err == nil {
		apiZC, err = newWebRTCAPI(icn, o.Logger, true)
	}
	if err != nil {
		closeMuxes()
		closeListeners()
		return nil, err
	}
	ts, err := startTURN(o)
	if err != nil {
		closeMuxes()
		closeListeners()
		return nil, err
	}
	s := &Server{
		opts:   o,
		log:    o.Logger,
		api:    api,
		udp:    udp,
		cut:    cut,
		mux:    mux,
		tcpMux: icn.tcp,
		ln:     ln,
		tlsLn:  tlsLn,
		nodeID: newID(prefixNode),
		rooms:  map[string]*Room{},
		conns:  map[*signalConn]struct{}{},
		faults: newFaultState(),
		turn:   ts,

		apiZeroChecksum: apiZC,
	}
	s.forceRelay.Store(o.ForceRelay)
	m := http.NewServeMux()
	m.HandleFunc("/rtc", s.handleRTC)
	m.HandleFunc("/rtc/v1", s.handleRTC)
	m.HandleFunc("/rtc/validate", s.handleValidate)
	m.HandleFunc("/rtc/v1/validate", s.handleValidate)
	if o.EnableControl {
		m.Handle("/devsfu/", s.controlHandler())
	}
	// The HTTP server's own errors (a client that refused the TLS certificate, ...) go to
	// the server's log at debug level, not to the process's standard logger.
	s.http = &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
	s.stopTick = make(chan struct{})
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(ln)
	}()
	if tlsLn != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.http.Serve(tlsLn)
		}()
	}
	go s.tickLoop()
	s.log.Info("devsfu listening", "url", s.URL())
	return s, nil
}

// URL returns the WebSocket base URL, "ws://127.0.0.1:PORT" ("ws://[::1]:PORT"
// for an IPv6 Addr, wss:// with Options.TLSCertificate).
func (s *Server) URL() string {
	if s.opts.TLSCertificate != nil {
		return "wss://" + s.ln.Addr().String()
	}
	return "ws://" + s.ln.Addr().String()
}

// TLSURL returns the wss:// URL of Options.AlsoTLSCertificate's listener, or "".
func (s *Server) TLSURL() string {
	if s.tlsLn == nil {
		return ""
	}
	return "wss://" + s.tlsLn.Addr().String()
}

// APIKey returns the API key tokens must be signed for.
func (s *Server) APIKey() string { return s.opts.APIKey }

// APISecret returns the API secret.
func (s *Server) APISecret() string { return s.opts.APISecret }

// Token mints a 1 h token for identity in room with every data grant
// (roomJoin, canPublish, canSubscribe, canPublishData,
// canUpdateOwnMetadata); opts may change anything.
func (s *Server) Token(room, identity string, opts ...auth.TokenOption) (string, error) {
	c := auth.Claims{
		Identity: identity,
		Video: &auth.VideoGrant{
			RoomJoin:             true,
			Room:                 room,
			CanPublish:           auth.Bool(true),
			CanSubscribe:         auth.Bool(true),
			CanPublishData:       auth.Bool(true),
			CanUpdateOwnMetadata: auth.Bool(true),
		},
	}
	c.Apply(opts...)
	return auth.NewToken(s.opts.APIKey, s.opts.APISecret, c, defaultTokenTTL)
}

// Close disconnects every participant (leave SERVER_SHUTDOWN), stops the
// listeners and waits for every goroutine. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	s.Stall(false) // readers blocked by a stall must see the close

	_ = s.ln.Close()
	if s.tlsLn != nil {
		_ = s.tlsLn.Close()
	}
	close(s.stopTick)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = s.http.Shutdown(ctx)
	cancel()
	for _, r := range rooms {
		r.closeAll(lkpb.DisconnectReason_SERVER_SHUTDOWN, true)
	}
	// Connections not bound to a participant (mid-join, ...). Those closing
	// gracefully keep draining: dropping them could discard the queued
	// leave{SERVER_SHUTDOWN}, and the client would then try to resume a
	// server that is gone. The close handshake timeout bounds the wait.
	s.mu.Lock()
	for c := range s.conns {
		c.dropUnlessGraceful()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.bg.Wait()
	s.faults.close()
	for _, r := range rooms {
		r.stop()
	}
	_ = s.mux.Close()
	if s.tcpMux != nil {
		_ = s.tcpMux.Close()
	}
	_ = s.udp.Close()
	s.turn.close()
	return nil
}

func (s *Server) secretFor(key string) (string, bool) {
	if key == s.opts.APIKey {
		return s.opts.APISecret, true
	}
	return "", false
}

// httpError is a validation failure answered before the upgrade.
type httpError struct {
	status int
	msg    string
}

// Error returns the body text.
func (e *httpError) Error() string { return e.msg }

// joinParams is a validated connection request.
type joinParams struct {
	claims *auth.Claims
	jr     *lkpb.JoinRequest
	room   string
}

// validate reproduces livekit-server's checks and HTTP answers
// (pkg/service/auth.go, rtcservice.go validateInternal; docs/protocol.md,
// Signalling: Connecting).
func (s *Server) validate(r *http.Request, v1 bool) (*joinParams, *httpError) {
	var tok string
	if h := r.Header.Get("Authorization"); h != "" {
		var ok bool
		tok, ok = strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, &httpError{http.StatusUnauthorized, "invalid authorization header. Must start with Bearer "}
		}
	} else {
		tok = r.FormValue("access_token")
	}
	var claims *auth.Claims
	if tok != "" {
		c, err := auth.Verify(tok, s.secretFor, time.Now())
		switch {
		case errors.Is(err, auth.ErrMalformed), errors.Is(err, auth.ErrUnsupportedAlgorithm):
			return nil, &httpError{http.StatusUnauthorized, "invalid authorization token"}
		case errors.Is(err, auth.ErrInvalidAPIKey):
			// The real server appends the key; keys are not secret.
			return nil, &httpError{http.StatusUnauthorized, "invalid API key"}
		case err != nil:
			// The real server echoes the whole token here ("invalid token:
			// <jwt>, error: …"); devsfu never echoes tokens.
			return nil, &httpError{http.StatusUnauthorized, "invalid token: <redacted>, error: " + strings.TrimPrefix(err.Error(), "auth: ")}
		}
		claims = c
	}
	if claims == nil || claims.Video == nil || !claims.Video.RoomJoin {
		return nil, &httpError{http.StatusUnauthorized, "permissions denied"}
	}
	if claims.Identity == "" {
		return nil, &httpError{http.StatusBadRequest, "identity cannot be empty"}
	}
	if len(claims.Identity) > maxIdentityLength {
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("participant identity exceeds limits: max length %d", maxIdentityLength)}
	}
	room := claims.Video.Room
	if room == "" {
		return nil, &httpError{http.StatusBadRequest, "no room name"}
	}
	if len(room) > maxRoomNameLength {
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("room name exceeds limits: max length %d", maxRoomNameLength)}
	}
	p := &joinParams{claims: claims, room: room}
	param := r.FormValue("join_request")
	if param == "" {
		if v1 {
			return nil, &httpError{http.StatusBadRequest, errJoinRequestRequired.Error()}
		}
		// /rtc without join_request selects dual-PC mode, which devsfu
		// does not implement (no reference client uses it against v1.13).
		return nil, &httpError{http.StatusBadRequest, "devsfu: dual-PC (v0 without join_request) is not supported"}
	}
	jr, err := decodeJoinRequest(param)
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, err.Error()}
	}
	if (jr.GetMetadata() != "" || len(jr.GetParticipantAttributes()) > 0) && !claims.Video.EffectiveCanUpdateOwnMetadata() {
		return nil, &httpError{http.StatusUnauthorized, "permissions denied"}
	}
	p.jr = jr
	return p, nil
}

func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	v1 := strings.HasPrefix(r.URL.Path, "/rtc/v1")
	if _, herr := s.validate(r, v1); herr != nil {
		http.Error(w, herr.msg, herr.status)
		return
	}
	_, _ = io.WriteString(w, "success")
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func (s *Server) handleRTC(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	jp, herr := s.validate(r, r.URL.Path == "/rtc/v1")
	if herr != nil {
		http.Error(w, herr.msg, herr.status)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // any origin, like livekit-server
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return
	}
	log := s.log.With("identity", jp.claims.Identity, "room", jp.room)
	sc := newSignalConn(ws, log, s.opts.WSPingInterval)
	s.mu.Lock()
	s.conns[sc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		sc.wait()
	}()

	room := s.room(jp.room)
	if room == nil {
		sc.drop()
		return
	}
	var p *Participant
	if jp.jr.GetReconnect() {
		p = room.resume(sc, jp)
	} else {
		p = room.join(sc, jp)
	}
	if p == nil {
		// refused: the leave was queued; drain until the client goes
		for {
			if _, err := sc.read(); err != nil {
				return
			}
		}
	}
	for {
		req, err := sc.read()
		if err != nil {
			p.onSignalClosed(sc)
			return
		}
		p.handleRequest(sc, req)
	}
}

// existingRoom returns the room named name, or nil when there is none (it is
// never created here).
func (s *Server) existingRoom(name string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[name]
}

// room returns (creating on first use) the room named name; nil once closed.
func (s *Server) room(name string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	r := s.rooms[name]
	if r == nil {
		r = newRoom(s, name)
		s.rooms[name] = r
	}
	return r
}

// findParticipant returns the current session of identity in any room.
func (s *Server) findParticipant(identity string) *Participant {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		if p := r.participant(identity); p != nil {
			return p
		}
	}
	return nil
}

func (s *Server) serverInfo() *lkpb.ServerInfo {
	return &lkpb.ServerInfo{
		Edition:       lkpb.ServerInfo_Standard,
		Version:       ServerVersion,
		Protocol:      ServerProtocol,
		Region:        s.opts.Region,
		NodeId:        s.nodeID,
		AgentProtocol: 1,
	}
}

// tickLoop drives every room's periodic work: batched participant updates
// and the subscription reconcile pass; empty rooms are reaped after the
// departure timeout.
func (s *Server) tickLoop() {
	defer s.wg.Done()
	step := min(s.opts.UpdateBatchInterval, s.opts.ReconcileInterval)
	if s.opts.ConnectionQualityInterval > 0 {
		step = min(step, s.opts.ConnectionQualityInterval)
	}
	if s.opts.SpeakerUpdateInterval > 0 {
		step = min(step, s.opts.SpeakerUpdateInterval)
	}
	t := time.NewTicker(step)
	defer t.Stop()
	// Each period counts from the start, also where the tick is shorter than it (a period of
	// an hour never elapses in a test, whatever the other periods).
	start := time.Now()
	lastBatch, lastRec, lastQuality, lastSpeakers := start, start, start, start
	for {
		select {
		case <-s.stopTick:
			return
		case now := <-t.C:
			batch := now.Sub(lastBatch) >= s.opts.UpdateBatchInterval-step/2
			rec := now.Sub(lastRec) >= s.opts.ReconcileInterval-step/2
			if batch {
				lastBatch = now
			}
			if rec {
				lastRec = now
			}
			quality := s.opts.ConnectionQualityInterval > 0 && now.Sub(lastQuality) >= s.opts.ConnectionQualityInterval-step/2
			if quality {
				lastQuality = now
			}
			speakers := s.opts.SpeakerUpdateInterval > 0 && now.Sub(lastSpeakers) >= s.opts.SpeakerUpdateInterval-step/2
			if speakers {
				lastSpeakers = now
			}
			s.mu.Lock()
			rooms := make([]*Room, 0, len(s.rooms))
			for _, r := range s.rooms {
				rooms = append(rooms, r)
			}
			s.mu.Unlock()
			for _, r := range rooms {
				if r.tick(now, batch, rec, quality, speakers) {
					s.mu.Lock()
					if s.rooms[r.name] == r && r.tryReap() {
						delete(s.rooms, r.name)
					}
					s.mu.Unlock()
				}
			}
		}
	}
}

// WaitParticipantReady blocks until identity's session is connected with
// its data channels adopted on the server side (_reliable, _lossy and, if
// the client created it, _data_track), so lossy and data-track traffic to
// it is no longer dropped for lack of a channel.
func (s *Server) WaitParticipantReady(ctx context.Context, identity string, withDataTrack bool) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if p := s.findParticipant(identity); p != nil && p.tr.dataReady() &&
			(!withDataTrack || p.tr.channel(labelDataTrack) != nil) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// goBackground runs f in a goroutine that Close waits for; after Close
// started, f is not run (Close closes everything itself).
func (s *Server) goBackground(f func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.bg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.bg.Done()
		f()
	}()
}
