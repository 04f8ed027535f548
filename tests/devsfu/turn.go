package devsfu

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are HMAC-SHA1 by definition
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Embedded TURN server, like livekit-server's (config turn.enabled): a pion
// TURN server on loopback whose address and per-participant credentials are
// handed out in JoinResponse.ice_servers and ReconnectResponse.ice_servers,
// and ClientConfiguration.force_relay, which livekit-server sets when it
// wants a participant to connect through TURN only.
//
// Differences from livekit-server: the listeners and the relay addresses are
// on 127.0.0.1 (the relay is loopback-to-loopback, which is enough to make a
// client's selected pair a relay pair); the credentials are TURN REST style
// ("<expiry>:<participant sid>", HMAC-SHA1 of a per-server secret) instead of
// livekit's base62 "apikey|sid|expiry". TURN over TCP (like an external TURN
// server with protocol tcp) and over TLS (livekit's turns: URL, on its
// turn.tls_port or 443 behind a load balancer) are offered on request.

// TURNRealm is the realm of the embedded TURN server (livekit-server's).
const TURNRealm = "livekit"

// turnCredentialTTL is the validity of handed-out TURN credentials
// (livekit-server's default turn TTL is 24 h; devsfu runs for tests).
const turnCredentialTTL = time.Hour

// TURNOptions configures the embedded TURN server (Options.TURN).
type TURNOptions struct {
	// UDPAddr is the listen address of TURN over UDP, default
	// "127.0.0.1:0". Loopback only.
	UDPAddr string
	// TCP also serves TURN over TCP (URL turn:…?transport=tcp) on TCPAddr
	// (default "127.0.0.1:0"; loopback only).
	TCP     bool
	TCPAddr string
	// TLSCertificate, when set, also serves TURN over TLS with it (URL
	// turns:127.0.0.1:PORT?transport=tcp) on TLSAddr (default "127.0.0.1:0";
	// loopback only). Clients verify it against their system's roots, so
	// it must be valid for 127.0.0.1 and signed by a root they trust.
	TLSCertificate *tls.Certificate
	TLSAddr        string
	// NoUDP omits the UDP URL from the handed-out servers (the UDP listener
	// still runs), so that clients relay over TCP or TLS only. Needs TCP or
	// TLSCertificate.
	NoUDP bool
	// Withhold keeps the TURN server out of ice_servers: clients must be
	// given it otherwise (Server.TURNICEServer), as users who bring their
	// own TURN servers do.
	Withhold bool
	// WrongCredentials hands out a password the TURN server refuses
	// (Server.SetTURNWrongCredentials changes it at run time).
	WrongCredentials bool
}

// Errors of the TURN configuration.
var (
	// ErrTURNConfig: Options.TURN is inconsistent (see the message).
	ErrTURNConfig = errors.New("devsfu: bad TURN options")
)

// turnServer is the running TURN server and its switches.
type turnServer struct {
	srv      *turn.Server
	udpURL   string
	tcpURL   string
	tlsURL   string
	opts     TURNOptions
	secret   []byte
	wrong    atomic.Bool
	allocs   atomic.Int64
	refusals atomic.Int64
}

// TURNStats counts what the embedded TURN server did.
type TURNStats struct {
	// Allocations is the number of relay allocations created.
	Allocations int64
	// AuthRefusals is the number of requests refused because their
	// credentials did not match (wrong password).
	AuthRefusals int64
}

func loopbackAddr(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrTURNConfig, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "", ErrNotLoopback
	}
	return addr, nil
}

// startTURN starts the TURN server of o (nil when o.TURN is nil).
func startTURN(o Options) (*turnServer, error) {
	if o.TURN == nil {
		return nil, nil
	}
	to := *o.TURN
	if to.NoUDP && !to.TCP && to.TLSCertificate == nil {
		return nil, fmt.Errorf("%w: NoUDP needs TCP or TLSCertificate", ErrTURNConfig)
	}
	udpAddr, err := loopbackAddr(to.UDPAddr)
	if err != nil {
		return nil, err
	}
	tcpAddr, err := loopbackAddr(to.TCPAddr)
	if err != nil {
		return nil, err
	}
	tlsAddr, err := loopbackAddr(to.TLSAddr)
	if err != nil {
		return nil, err
	}
	t := &turnServer{opts: to, secret: make([]byte, 32)}
	if _, err := rand.Read(t.secret); err != nil {
		return nil, err
	}
	t.wrong.Store(to.WrongCredentials)

	// Relays are allocated on 127.0.0.1 and may only reach loopback peers.
	gen := &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}
	perm := func(_ net.Addr, peer net.IP) bool { return peer.IsLoopback() }
	cfg := turn.ServerConfig{
		Realm:         TURNRealm,
		AuthHandler:   t.auth,
		LoggerFactory: pionLoggerFactory{o.Logger},
		EventHandler: turn.EventHandler{
			OnAuth: func(_, _ net.Addr, _, _, _, _ string, ok bool) {
				if !ok {
					t.refusals.Add(1)
				}
			},
			OnAllocationCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ int) { t.allocs.Add(1) },
		},
	}
	uc, err := net.ListenPacket("udp4", udpAddr)
	if err != nil {
		return nil, fmt.Errorf("devsfu: TURN udp listen: %w", err)
	}
	cfg.PacketConnConfigs = []turn.PacketConnConfig{{PacketConn: uc, RelayAddressGenerator: gen, PermissionHandler: perm}}
	t.udpURL = "turn:" + uc.LocalAddr().String() + "?transport=udp"
	closeAll := func() {
		_ = uc.Close()
		for _, l := range cfg.ListenerConfigs {
			_ = l.Listener.Close()
		}
	}
	if to.TCP {
		ln, err := net.Listen("tcp4", tcpAddr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("devsfu: TURN tcp listen: %w", err)
		}
		cfg.ListenerConfigs = append(cfg.ListenerConfigs, turn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen, PermissionHandler: perm})
		t.tcpURL = "turn:" + ln.Addr().String() + "?transport=tcp"
	}
	if to.TLSCertificate != nil {
		ln, err := net.Listen("tcp4", tlsAddr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("devsfu: TURN tls listen: %w", err)
		}
		tl := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*to.TLSCertificate}, MinVersion: tls.VersionTLS12})
		cfg.ListenerConfigs = append(cfg.ListenerConfigs, turn.ListenerConfig{Listener: tl, RelayAddressGenerator: gen, PermissionHandler: perm})
		t.tlsURL = "turns:" + ln.Addr().String() + "?transport=tcp"
	}
	srv, err := turn.NewServer(cfg)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("devsfu: TURN server: %w", err)
	}
	t.srv = srv
	return t, nil
}

// password is the TURN REST password of username.
func (t *turnServer) password(username string) string {
	m := hmac.New(sha1.New, t.secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// auth is the TURN server's AuthHandler: "<expiry>:<sid>" usernames with
// the HMAC password; an expired username may still refresh an existing
// allocation (as livekit-server), not allocate.
func (t *turnServer) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	exp, id, ok := strings.Cut(ra.Username, ":")
	if !ok || id == "" {
		return "", nil, false
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", nil, false
	}
	if time.Now().After(time.Unix(sec, 0)) && ra.Method == stun.MethodAllocate {
		return "", nil, false
	}
	return id, turn.GenerateAuthKey(ra.Username, TURNRealm, t.password(ra.Username)), true
}

// entry is an ICEServer entry for id (a participant sid) with the right
// password, or with one the server refuses when wrong.
func (t *turnServer) entry(id string, wrong bool) *lkpb.ICEServer {
	username := strconv.FormatInt(time.Now().Add(turnCredentialTTL).Unix(), 10) + ":" + id
	cred := t.password(username)
	if wrong {
		cred = t.password(username + ":wrong")
	}
	urls := []string{}
	if !t.opts.NoUDP {
		urls = append(urls, t.udpURL)
	}
	if t.tcpURL != "" {
		urls = append(urls, t.tcpURL)
	}
	if t.tlsURL != "" {
		urls = append(urls, t.tlsURL)
	}
	return &lkpb.ICEServer{Urls: urls, Username: username, Credential: cred}
}

func (t *turnServer) close() {
	if t != nil {
		_ = t.srv.Close()
	}
}

// iceServersFor is JoinResponse/ReconnectResponse.ice_servers for a
// session: the embedded TURN server with its credentials, or none.
func (s *Server) iceServersFor(sid string) []*lkpb.ICEServer {
	if s.turn == nil || s.turn.opts.Withhold {
		return []*lkpb.ICEServer{} // loopback: no STUN/TURN
	}
	return []*lkpb.ICEServer{s.turn.entry(sid, s.turn.wrong.Load())}
}

// clientConfiguration is JoinResponse/ReconnectResponse.client_configuration:
// force_relay ENABLED when relay is forced, otherwise absent (as recorded).
func (s *Server) clientConfiguration() *lkpb.ClientConfiguration {
	if !s.forceRelay.Load() {
		return nil
	}
	return &lkpb.ClientConfiguration{ForceRelay: lkpb.ClientConfigSetting_ENABLED}
}

// SetForceRelay sets or clears ClientConfiguration.force_relay for every
// later JoinResponse and ReconnectResponse (livekit-server decides it per
// participant from its ICE history; here it is a switch).
func (s *Server) SetForceRelay(on bool) { s.forceRelay.Store(on) }

// SetTURNWrongCredentials makes later responses hand out a TURN password
// the TURN server refuses (on) or the right one (off). No effect without
// Options.TURN.
func (s *Server) SetTURNWrongCredentials(on bool) {
	if s.turn != nil {
		s.turn.wrong.Store(on)
	}
}

// TURNICEServer returns the embedded TURN server's URLs with valid
// credentials for identity (to configure a client directly, e.g. with
// Options.TURN.Withhold), and false without Options.TURN.
func (s *Server) TURNICEServer(identity string) (*lkpb.ICEServer, bool) {
	if s.turn == nil {
		return nil, false
	}
	return s.turn.entry(identity, false), true
}

// TURNCredentials is a participant's own TURN configuration as the control
// endpoint /devsfu/turn-credentials and the CLI's turn-credentials command
// print it.
type TURNCredentials struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

// TURNURLs lists the embedded TURN server's URLs (nil without
// Options.TURN), including the ones NoUDP keeps out of ice_servers.
func (s *Server) TURNURLs() []string {
	if s.turn == nil {
		return nil
	}
	urls := []string{s.turn.udpURL}
	if s.turn.tcpURL != "" {
		urls = append(urls, s.turn.tcpURL)
	}
	return urls
}

// TURNStats returns the embedded TURN server's counters (zero without
// Options.TURN).
func (s *Server) TURNStats() TURNStats {
	if s.turn == nil {
		return TURNStats{}
	}
	return TURNStats{Allocations: s.turn.allocs.Load(), AuthRefusals: s.turn.refusals.Load()}
}
