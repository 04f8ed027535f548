package devsfu

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/lkcore/lkcore/core/lkpb"
)

// turnClient allocates a relay on the TURN server at url ("turn:host:port?
// transport=udp|tcp") with the given credentials.
func turnClient(t *testing.T, url, username, password string) (*turn.Client, net.PacketConn, error) {
	t.Helper()
	rest, ok := strings.CutPrefix(url, "turn:")
	if !ok {
		t.Fatalf("not a turn: URL: %q", url)
	}
	addr, transport, _ := strings.Cut(rest, "?transport=")
	var conn net.PacketConn
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		c, err := net.DialTimeout("tcp4", addr, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	default:
		t.Fatalf("transport %q in %q", transport, url)
	}
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, Realm: TURNRealm,
		LoggerFactory: pionLoggerFactory{slog.New(slog.DiscardHandler)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		_ = conn.Close()
	})
	relay, err := cl.Allocate()
	if err == nil {
		t.Cleanup(func() { _ = relay.Close() })
	}
	return cl, relay, err
}

// relayEcho checks that a relay allocation really relays: a loopback peer
// receives what is sent through it, from the relay address.
func relayEcho(t *testing.T, relay net.PacketConn) {
	t.Helper()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relay.WriteTo([]byte("through the relay"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 64)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "through the relay" || from.String() != relay.LocalAddr().String() {
		t.Fatalf("peer read %q from %v (relay %v): %v", buf[:n], from, relay.LocalAddr(), err)
	}
}

// The JoinResponse and the ReconnectResponse hand out the TURN server (UDP
// and TCP URLs, per-participant credentials) and force_relay, like
// livekit-server; the credentials allocate working relays on both
// transports, others are refused, and relays reach loopback peers only.
func TestTURNHandedOut(t *testing.T) {
	s := startServer(t, Options{TURN: &TURNOptions{TCP: true}, ForceRelay: true})
	c := dial(t, s, "turn", "alice", clientOpts{})
	defer c.close()
	j := c.joinResp()
	if j.GetClientConfiguration().GetForceRelay() != lkpb.ClientConfigSetting_ENABLED {
		t.Fatalf("client_configuration %v, want force_relay ENABLED", j.GetClientConfiguration())
	}
	if len(j.GetIceServers()) != 1 {
		t.Fatalf("ice_servers %v", j.GetIceServers())
	}
	is := j.GetIceServers()[0]
	if len(is.GetUrls()) != 2 || !strings.HasSuffix(is.GetUrls()[0], "?transport=udp") || !strings.HasSuffix(is.GetUrls()[1], "?transport=tcp") ||
		!strings.HasPrefix(is.GetUrls()[0], "turn:127.0.0.1:") || !strings.HasSuffix(is.GetUsername(), ":"+c.sid()) || is.GetCredential() == "" {
		t.Fatalf("ice server %v (sid %s)", is, c.sid())
	}
	for _, url := range is.GetUrls() {
		cl, relay, err := turnClient(t, url, is.GetUsername(), is.GetCredential())
		if err != nil {
			t.Fatalf("allocate on %s: %v", url, err)
		}
		if !strings.HasPrefix(relay.LocalAddr().String(), "127.0.0.1:") {
			t.Fatalf("relay address %v", relay.LocalAddr())
		}
		relayEcho(t, relay)
		if err := cl.CreatePermission(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}); err == nil {
			t.Fatal("permission for a non-loopback peer granted")
		}
	}
	if st := s.TURNStats(); st.Allocations != 2 || st.AuthRefusals != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, _, err := turnClient(t, is.GetUrls()[0], is.GetUsername(), is.GetCredential()+"x"); err == nil {
		t.Fatal("wrong password allocated")
	}
	if _, _, err := turnClient(t, is.GetUrls()[0], "nobody", is.GetCredential()); err == nil {
		t.Fatal("unknown username allocated")
	}
	if st := s.TURNStats(); st.Allocations != 2 || st.AuthRefusals == 0 {
		t.Fatalf("stats after refusals %+v", st)
	}

	// Resume: the ReconnectResponse repeats both (fresh credentials).
	c.waitReady()
	s.DropSignal("alice")
	c.waitClosed()
	c.closeSignal()
	r := dial(t, s, "turn", "alice", clientOpts{reconnectOf: c})
	defer r.close()
	rc := r.wait("reconnect", func(*lkpb.SignalResponse) bool { return true }).GetReconnect()
	if rc == nil || rc.GetClientConfiguration().GetForceRelay() != lkpb.ClientConfigSetting_ENABLED ||
		len(rc.GetIceServers()) != 1 || !strings.HasSuffix(rc.GetIceServers()[0].GetUsername(), ":"+c.sid()) {
		t.Fatalf("reconnect response %v", rc)
	}
	if _, _, err := turnClient(t, rc.GetIceServers()[0].GetUrls()[0], rc.GetIceServers()[0].GetUsername(), rc.GetIceServers()[0].GetCredential()); err != nil {
		t.Fatalf("allocate with the resume's credentials: %v", err)
	}
}

// Switches: force_relay off by default and at run time, withheld servers
// (TURNICEServer gives usable credentials instead), wrong credentials.
func TestTURNSwitches(t *testing.T) {
	s := startServer(t, Options{TURN: &TURNOptions{Withhold: true}})
	c := dial(t, s, "turn", "alice", clientOpts{})
	defer c.close()
	if j := c.joinResp(); len(j.GetIceServers()) != 0 || j.GetClientConfiguration() != nil {
		t.Fatalf("withheld TURN / no force_relay: ice_servers %v, client_configuration %v", j.GetIceServers(), j.GetClientConfiguration())
	}
	is, ok := s.TURNICEServer("someone")
	if !ok || len(is.GetUrls()) != 1 {
		t.Fatalf("TURNICEServer %v %v", is, ok)
	}
	if _, _, err := turnClient(t, is.GetUrls()[0], is.GetUsername(), is.GetCredential()); err != nil {
		t.Fatal(err)
	}

	s2 := startServer(t, Options{TURN: &TURNOptions{WrongCredentials: true}})
	s2.SetForceRelay(true)
	c2 := dial(t, s2, "turn", "bob", clientOpts{})
	defer c2.close()
	j := c2.joinResp()
	if j.GetClientConfiguration().GetForceRelay() != lkpb.ClientConfigSetting_ENABLED || len(j.GetIceServers()) != 1 {
		t.Fatalf("join %v", j)
	}
	if _, _, err := turnClient(t, j.GetIceServers()[0].GetUrls()[0], j.GetIceServers()[0].GetUsername(), j.GetIceServers()[0].GetCredential()); err == nil {
		t.Fatal("the wrong credentials allocated")
	}
	if s2.TURNStats().AuthRefusals == 0 {
		t.Fatal("no refusal counted")
	}
	s2.SetTURNWrongCredentials(false)
	s2.SetForceRelay(false)
	c3 := dial(t, s2, "turn", "carol", clientOpts{})
	defer c3.close()
	j = c3.joinResp()
	if j.GetClientConfiguration() != nil {
		t.Fatalf("force_relay still set: %v", j.GetClientConfiguration())
	}
	if _, _, err := turnClient(t, j.GetIceServers()[0].GetUrls()[0], j.GetIceServers()[0].GetUsername(), j.GetIceServers()[0].GetCredential()); err != nil {
		t.Fatalf("right credentials again: %v", err)
	}

	// No TURN: nothing handed out, the switches are harmless.
	s3 := startServer(t, Options{})
	s3.SetTURNWrongCredentials(true)
	if _, ok := s3.TURNICEServer("x"); ok || s3.TURNStats() != (TURNStats{}) {
		t.Fatal("TURN without Options.TURN")
	}
}

func TestTURNOptionsRejected(t *testing.T) {
	for _, tc := range []struct {
		o    TURNOptions
		want error
	}{
		{TURNOptions{NoUDP: true}, ErrTURNConfig},
		{TURNOptions{UDPAddr: "0.0.0.0:0"}, ErrNotLoopback},
		{TURNOptions{TCP: true, TCPAddr: "192.0.2.1:0"}, ErrNotLoopback},
		{TURNOptions{UDPAddr: "nonsense"}, ErrTURNConfig},
	} {
		if s, err := Start(Options{TURN: &tc.o}); !errors.Is(err, tc.want) {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("%+v: %v, want %v", tc.o, err, tc.want)
		}
	}
}

// The control endpoints switch force_relay and the credentials and report
// the TURN counters.
func TestTURNControlEndpoints(t *testing.T) {
	s := startServer(t, Options{TURN: &TURNOptions{}, EnableControl: true})
	base := "http://" + strings.TrimPrefix(s.URL(), "ws://")
	post := func(path string) {
		t.Helper()
		resp, err := http.Post(base+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}
	post("/devsfu/force-relay?on=true")
	post("/devsfu/turn-wrong-credentials?on=true")
	c := dial(t, s, "ctl", "alice", clientOpts{})
	defer c.close()
	j := c.joinResp()
	if j.GetClientConfiguration().GetForceRelay() != lkpb.ClientConfigSetting_ENABLED {
		t.Fatalf("force_relay not set: %v", j.GetClientConfiguration())
	}
	is := j.GetIceServers()[0]
	if _, _, err := turnClient(t, is.GetUrls()[0], is.GetUsername(), is.GetCredential()); err == nil {
		t.Fatal("wrong credentials allocated")
	}
	resp, err := http.Get(base + "/devsfu/turn-stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st TURNStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.AuthRefusals == 0 || st.Allocations != 0 {
		t.Fatalf("turn-stats %+v %v", st, err)
	}
	post("/devsfu/force-relay?on=false")
	post("/devsfu/turn-wrong-credentials?on=false")
	// A client's own TURN configuration (for a host that sets ice_servers itself).
	cr, err := http.Get(base + "/devsfu/turn-credentials?identity=carol")
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Body.Close()
	var own TURNCredentials
	if err := json.NewDecoder(cr.Body).Decode(&own); err != nil || len(own.URLs) == 0 {
		t.Fatalf("turn-credentials %+v %v", own, err)
	}
	if _, _, err := turnClient(t, own.URLs[0], own.Username, own.Credential); err != nil {
		t.Fatalf("own credentials refused: %v", err)
	}
	c2 := dial(t, s, "ctl", "bob", clientOpts{})
	defer c2.close()
	if j := c2.joinResp(); j.GetClientConfiguration() != nil {
		t.Fatalf("force_relay still set: %v", j.GetClientConfiguration())
	}
}
