// Command lkcore-devsfu runs the embedded data-only LiveKit SFU of
// tests/devsfu as a process (for the demo, binding tests and local
// development).
//
//	lkcore-devsfu [--addr 127.0.0.1:7880] [--key K] [--secret S] [flags]
//	    prints {"url":…,"api_key":…,"api_secret":…} (and "turn_urls" with
//	    --turn) once listening and runs until SIGINT/SIGTERM. TURN and
//	    force_relay: --turn [--turn-tcp] [--turn-no-udp] [--turn-withhold]
//	    [--turn-wrong-credentials] [--force-relay]. --tls-ca-out FILE also serves
//	    wss:// on a second loopback port ("tls_url" in the line), with a certificate
//	    for 127.0.0.1 signed by a CA made at start, whose PEM it writes to FILE.
//	    On SIGUSR1 it prints {"proc":{…},"dt":{…}}: its cumulative CPU time (user,
//	    system) and Go allocations, and its data-track packet counters (in, out,
//	    dropped for congestion), for benchmarks that measure the SFU's cost and
//	    losses per interval (tests/bench/mp.sh); --cpuprofile F writes a CPU profile of the
//	    whole run to F, --memprofile F an allocation profile on exit.
//	lkcore-devsfu token --room R --identity I [--key K --secret S] [--ttl 1h] [--name N] [--metadata M] [--no-publish-data]
//	    prints a token.
//	lkcore-devsfu stats --url ws://HOST:PORT [--turn]
//	    prints the counters of a devsfu started with --control (its /devsfu/stats
//	    JSON: data-track packets in and out, drops), so that a test in another
//	    language can wait for what the SFU has forwarded; with --turn, its TURN
//	    server's (allocations, refused authentications).
//	lkcore-devsfu turn-credentials --url ws://HOST:PORT --identity I
//	    prints {"urls":[…],"username":…,"credential":…}: a participant's own TURN
//	    configuration from a devsfu started with --control --turn.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/tests/bench/procstat"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/testca"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "token":
			os.Exit(tokenCmd(os.Args[2:], os.Stdout, os.Stderr))
		case "stats":
			os.Exit(statsCmd(os.Args[2:], os.Stdout, os.Stderr))
		case "turn-credentials":
			os.Exit(turnCredentialsCmd(os.Args[2:], os.Stdout, os.Stderr))
		case "control":
			os.Exit(controlCmd(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	os.Exit(serveCmd(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultGCPercent is the CLI's Go GC target (Go's default is 100). Forwarding allocates
// several short-lived buffers per packet inside pion (SCTP chunks, DTLS records) on a small
// live heap, so at 100 the collector runs every few MB: in the multi-process benchmark
// (tests/bench/mp.sh) the SFU ran ~35 collections per second and spent 10–15 % of its CPU in
// them. 400 cuts the collections about fourfold and the SFU's CPU per forwarded MB by
// roughly 10–20 % (measured), for a heap that grows to 5× its live size instead of 2× — a
// test SFU's trade, which does not change what clients see on the wire.
const defaultGCPercent = 400

func serveCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lkcore-devsfu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7880", "listen address (loopback only)")
	key := fs.String("key", devsfu.DefaultAPIKey, "API key")
	secret := fs.String("secret", devsfu.DefaultAPISecret, "API secret")
	logLevel := fs.String("log-level", "warn", "log level on stderr: debug, info, warn, error")
	noDT := fs.Bool("disable-data-tracks", false, "behave like a server without data tracks (never answer publishes)")
	dtNotAllowed := fs.Bool("data-tracks-not-allowed", false, "behave like enable_data_tracks: false (publish → NOT_ALLOWED)")
	batch := fs.Duration("update-batch-interval", 0, "participant update batch period (default 3s as recorded)")
	reconcile := fs.Duration("reconcile-interval", 0, "data-track subscription reconcile period (default = batch period)")
	quality := fs.Duration("connection-quality-interval", 0, "connection-quality rating period (default 5s as livekit-server; negative: none sent)")
	speakers := fs.Duration("speaker-update-interval", 0, "speaker update period (default 400ms as livekit-server; negative: none sent)")
	blobs := fs.Bool("enable-data-blob", false, "store participants' data blobs (data-track schema definitions), as enable_participant_data_blob")
	region := fs.String("region", "", "the region sent in ServerInfo (livekit-server's region setting; LiveKit Cloud names its regions there)")
	detHandles := fs.Bool("deterministic-handles", false, "first subscriber handle 1 instead of random (v1.13.5 randomises)")
	sidExt := fs.Bool("participant-sid-ext", false, "add the participant-SID extension (tag 255) to forwarded data-track packets")
	control := fs.Bool("control", false, "serve fault-injection endpoints under /devsfu/")
	dropEvery := fs.Int("dt-drop-every", 0, "drop every n-th data-track packet to every subscriber")
	dup := fs.Bool("dt-duplicate", false, "duplicate every data-track packet")
	reorder := fs.Bool("dt-reorder", false, "swap consecutive data-track packets")
	delay := fs.Duration("dt-delay", 0, "delay every data-track packet")
	targetLatency := fs.Duration("dt-target-latency", 0, "congestion gate of each subscriber's data-track channel, e.g. 100ms as livekit-server (0: off)")
	minBuffered := fs.Int("dt-min-buffered", 0, "congestion gate floor in bytes (0: 8192 as livekit-server)")
	fullReconnect := fs.Bool("force-full-reconnect", false, "refuse every resume with leave{RECONNECT}")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memprofile := fs.String("memprofile", "", "write an allocation profile of the whole run to this file on exit")
	noBatch := fs.Bool("disable-udp-batching", false, "send and receive every UDP datagram with its own system call (default: batched where the kernel can, as the clients do)")
	tlsCAOut := fs.String("tls-ca-out", "", "also serve wss:// on a second loopback port, with a certificate signed by a CA made at start whose PEM is written to this file")
	iceTCP := fs.Bool("ice-tcp", false, "also offer passive ICE/TCP candidates, on a loopback TCP port of their own (livekit-server's rtc.tcp_port)")
	iceUDPOff := fs.Bool("ice-udp-off", false, "offer no UDP candidates (needs --ice-tcp): a network that blocks UDP")
	gcPercent := fs.Int("gc-percent", defaultGCPercent, "Go GC target percentage of this process (debug.SetGCPercent; negative: GC off)")
	turnOpts := turnFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		// An unknown command (or one this build does not have) must not start a server that
		// runs until killed.
		fmt.Fprintf(stderr, "unknown command or argument %q (commands: token, stats, turn-credentials, control; else flags only)\n", fs.Arg(0))
		return 2
	}
	debug.SetGCPercent(*gcPercent)
	stopProfile, err := procstat.StartCPUProfile(*cpuprofile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer func() {
		if err := stopProfile(); err != nil {
			fmt.Fprintln(stderr, err)
		}
		if err := procstat.WriteHeapProfile(*memprofile); err != nil {
			fmt.Fprintln(stderr, err)
		}
	}()
	turnConf, forceRelay := turnOpts()
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(stderr, "bad --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var alsoTLS *tls.Certificate
	if *tlsCAOut != "" {
		cert, err := writeTestCA(*tlsCAOut)
		if err != nil {
			fmt.Fprintln(stderr, "--tls-ca-out:", err)
			return 1
		}
		alsoTLS = &cert
	}
	s, err := devsfu.Start(devsfu.Options{
		APIKey: *key, APISecret: *secret, Addr: *addr, Logger: log,
		DisableDataTracks: *noDT, DataTracksNotAllowed: *dtNotAllowed,
		UpdateBatchInterval: *batch, ReconcileInterval: *reconcile, ConnectionQualityInterval: *quality, SpeakerUpdateInterval: *speakers, EnableDataBlobs: *blobs, Region: *region,
		DeterministicHandles: *detHandles, AddParticipantSIDExtension: *sidExt,
		EnableControl: *control,
		TURN:          turnConf, ForceRelay: forceRelay,
		DataTrackTargetLatency: *targetLatency, DataTrackMinBuffered: *minBuffered,
		DisableUDPBatching: *noBatch,
		ICETCP:             *iceTCP, ICEUDPOff: *iceUDPOff,
		AlsoTLSCertificate: alsoTLS,
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if fc := (devsfu.FaultConfig{DropEvery: *dropEvery, Duplicate: *dup, Reorder: *reorder, Delay: *delay}); fc != (devsfu.FaultConfig{}) {
		s.SetDataTrackFaults("", fc)
	}
	if *fullReconnect {
		s.ForceFullReconnect("", true)
	}
	line, _ := json.Marshal(struct {
		URL       string   `json:"url"`
		APIKey    string   `json:"api_key"`
		APISecret string   `json:"api_secret"`
		TURNURLs  []string `json:"turn_urls,omitempty"`
		TLSURL    string   `json:"tls_url,omitempty"`
	}{s.URL(), s.APIKey(), s.APISecret(), s.TURNURLs(), s.TLSURL()})
	fmt.Fprintln(stdout, string(line))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for ctx.Err() == nil {
		select {
		case <-usr1:
			printProc(stdout, stderr, s.Stats())
		case <-ctx.Done():
		}
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// dtCounters are the server's cumulative data-track packet counters (devsfu.Stats).
type dtCounters struct {
	In              uint64 `json:"packets_in"`
	Out             uint64 `json:"packets_out"`
	CongestionDrops uint64 `json:"congestion_drops"`
	FaultDrops      uint64 `json:"fault_drops"`
}

// printProc writes {"proc":{…},"dt":{…}}, the process's cumulative procstat.Sample and the
// server's data-track counters, as one line.
func printProc(stdout, stderr io.Writer, st devsfu.Stats) {
	smp, err := procstat.Now()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return
	}
	line, _ := json.Marshal(struct {
		Proc procstat.Sample `json:"proc"`
		DT   dtCounters      `json:"dt"`
	}{smp, dtCounters{st.DataTrackPacketsIn, st.DataTrackPacketsOut, st.DataTrackCongestionDrops, st.DataTrackFaultDrops}})
	fmt.Fprintln(stdout, string(line))
}

// turnFlags registers the embedded TURN server's flags on fs; the returned
// function (call it after Parse) gives Options.TURN (nil without --turn)
// and Options.ForceRelay.
func turnFlags(fs *flag.FlagSet) func() (*devsfu.TURNOptions, bool) {
	on := fs.Bool("turn", false, "run an embedded TURN server on loopback and hand out its credentials in ice_servers")
	udp := fs.String("turn-udp-addr", "", "TURN over UDP listen address (default 127.0.0.1:0)")
	tcp := fs.Bool("turn-tcp", false, "also serve TURN over TCP")
	tcpAddr := fs.String("turn-tcp-addr", "", "TURN over TCP listen address (default 127.0.0.1:0)")
	noUDP := fs.Bool("turn-no-udp", false, "hand out only the TCP URL (needs --turn-tcp)")
	withhold := fs.Bool("turn-withhold", false, "run TURN but do not list it in ice_servers")
	wrong := fs.Bool("turn-wrong-credentials", false, "hand out TURN credentials the TURN server refuses")
	force := fs.Bool("force-relay", false, "set client_configuration.force_relay in JoinResponse and ReconnectResponse")
	return func() (*devsfu.TURNOptions, bool) {
		if !*on {
			return nil, *force
		}
		return &devsfu.TURNOptions{UDPAddr: *udp, TCP: *tcp, TCPAddr: *tcpAddr, NoUDP: *noUDP, Withhold: *withhold, WrongCredentials: *wrong}, *force
	}
}

func tokenCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lkcore-devsfu token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	room := fs.String("room", "", "room name (required)")
	identity := fs.String("identity", "", "participant identity (required)")
	key := fs.String("key", devsfu.DefaultAPIKey, "API key")
	secret := fs.String("secret", devsfu.DefaultAPISecret, "API secret")
	ttl := fs.Duration("ttl", time.Hour, "validity")
	name := fs.String("name", "", "display name")
	metadata := fs.String("metadata", "", "participant metadata")
	noData := fs.Bool("no-publish-data", false, "canPublishData: false")
	hidden := fs.Bool("hidden", false, "hidden participant")
	kind := fs.String("kind", "", `participant kind ("standard", "agent", "sip", "connector", ...)`)
	kindDetails := fs.String("kind-details", "", `comma-separated kind details ("forwarded,cloud_agent", ...)`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *room == "" || *identity == "" {
		fmt.Fprintln(stderr, "--room and --identity are required")
		return 2
	}
	c := auth.Claims{Identity: *identity, Name: *name, Metadata: *metadata, Video: &auth.VideoGrant{
		RoomJoin: true, Room: *room, Hidden: *hidden,
		CanPublish: auth.Bool(true), CanSubscribe: auth.Bool(true),
		CanPublishData: auth.Bool(!*noData), CanUpdateOwnMetadata: auth.Bool(true),
	}, Kind: *kind}
	if *kindDetails != "" {
		c.KindDetails = strings.Split(*kindDetails, ",")
	}
	tok, err := auth.NewToken(*key, *secret, c, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// statsTimeout bounds the stats request.
const statsTimeout = 5 * time.Second

func statsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lkcore-devsfu stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "the server's URL as it printed it (ws://HOST:PORT; required)")
	turn := fs.Bool("turn", false, "print the embedded TURN server's counters (TURNStats) instead")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *turn {
		var st devsfu.TURNStats
		return controlGet(*url, "/devsfu/turn-stats", &st, stdout, stderr)
	}
	var st devsfu.Stats
	return controlGet(*url, "/devsfu/stats", &st, stdout, stderr)
}

// turnCredentialsCmd prints a participant's own TURN configuration (urls, username,
// credential) from a server started with --control --turn, for a client that sets its ICE
// servers itself (e.g. with --turn-withhold).
func turnCredentialsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lkcore-devsfu turn-credentials", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "the server's URL as it printed it (ws://HOST:PORT; required)")
	identity := fs.String("identity", "", "participant identity (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *identity == "" {
		fmt.Fprintln(stderr, "--identity is required")
		return 2
	}
	var c devsfu.TURNCredentials
	return controlGet(*url, "/devsfu/turn-credentials?identity="+neturl.QueryEscape(*identity), &c, stdout, stderr)
}

// controlCmd posts one fault-injection action to a server started with --control, for test
// hosts without an HTTP client (the C++ suite): `control --url U ACTION [key=value ...]` is
// POST /devsfu/ACTION?key=value&... (the actions are listed in tests/devsfu/control.go).
func controlCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lkcore-devsfu control", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "the server's URL as it printed it (ws://HOST:PORT; required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 || strings.ContainsAny(fs.Arg(0), "/?&=") {
		fmt.Fprintln(stderr, "usage: lkcore-devsfu control --url ws://HOST:PORT ACTION [key=value ...]")
		return 2
	}
	q := neturl.Values{}
	for _, kv := range fs.Args()[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "argument %q is not key=value\n", kv)
			return 2
		}
		q.Add(k, v)
	}
	base, ok := strings.CutPrefix(*url, "ws://")
	if !ok {
		fmt.Fprintln(stderr, "--url must be the ws:// URL the server printed")
		return 2
	}
	c := http.Client{Timeout: statsTimeout}
	resp, err := c.Post("http://"+strings.TrimSuffix(base, "/")+"/devsfu/"+fs.Arg(0)+"?"+q.Encode(), "text/plain", nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "%s: %s (is the server running with --control?)\n", resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	_, _ = stdout.Write(body)
	return 0
}

// controlGet reads one JSON document from a control endpoint of the server at url (its ws://
// URL), decodes it into v and prints it again (one line).
func controlGet(url, path string, v any, stdout, stderr io.Writer) int {
	base, ok := strings.CutPrefix(url, "ws://")
	if !ok {
		fmt.Fprintln(stderr, "--url must be the ws:// URL the server printed")
		return 2
	}
	c := http.Client{Timeout: statsTimeout}
	resp, err := c.Get("http://" + strings.TrimSuffix(base, "/") + path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "%s (is the server running with --control, and --turn for TURN?)\n", resp.Status)
		return 1
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(v); err != nil {
		fmt.Fprintln(stderr, path, err)
		return 1
	}
	_ = json.NewEncoder(stdout).Encode(v)
	return 0
}

// writeTestCA makes a CA, writes its certificate (PEM) to file, and returns a server
// certificate for 127.0.0.1 that it signed.
func writeTestCA(file string) (tls.Certificate, error) {
	ca, cert, err := testca.Localhost()
	if err != nil {
		return tls.Certificate{}, err
	}
	return cert, os.WriteFile(file, ca.PEM(), 0o600)
}
