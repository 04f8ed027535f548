package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/tests/devsfu"
)

func TestTokenCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := tokenCmd([]string{"--room", "R", "--identity", "I", "--key", "K", "--secret", "S-secret-S-secret-S-secret-S-sec"}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	c, err := auth.Verify(strings.TrimSpace(out.String()), func(k string) (string, bool) {
		return "S-secret-S-secret-S-secret-S-sec", k == "K"
	}, time.Now())
	if err != nil || c.Identity != "I" || c.Video.Room != "R" || !c.Video.RoomJoin || !c.Video.EffectiveCanPublishData() {
		t.Fatalf("%v %+v", err, c)
	}
	out.Reset()
	if rc := tokenCmd([]string{"--room", "R", "--identity", "I", "--key", "K", "--secret", "S-secret-S-secret-S-secret-S-sec",
		"--kind", "connector", "--kind-details", "connector_twilio,forwarded"}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	c, err = auth.Verify(strings.TrimSpace(out.String()), func(k string) (string, bool) {
		return "S-secret-S-secret-S-secret-S-sec", k == "K"
	}, time.Now())
	if err != nil || c.Kind != "connector" || strings.Join(c.KindDetails, ",") != "connector_twilio,forwarded" {
		t.Fatalf("%v %+v", err, c)
	}
	if rc := tokenCmd([]string{"--room", "R"}, &out, &errb); rc != 2 {
		t.Fatalf("missing identity accepted")
	}
}

func TestTURNFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	get := turnFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if o, force := get(); o != nil || force {
		t.Fatalf("defaults: %+v %v", o, force)
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	get = turnFlags(fs)
	if err := fs.Parse([]string{"--turn", "--turn-tcp", "--turn-no-udp", "--turn-wrong-credentials", "--turn-withhold",
		"--turn-udp-addr", "127.0.0.1:3478", "--turn-tcp-addr", "127.0.0.1:3479", "--force-relay"}); err != nil {
		t.Fatal(err)
	}
	o, force := get()
	want := devsfu.TURNOptions{UDPAddr: "127.0.0.1:3478", TCP: true, TCPAddr: "127.0.0.1:3479", NoUDP: true, Withhold: true, WrongCredentials: true}
	if o == nil || *o != want || !force {
		t.Fatalf("got %+v %v", o, force)
	}
}

func TestPrintProcWritesCumulativeCounters(t *testing.T) {
	var out, errb bytes.Buffer
	printProc(&out, &errb, devsfu.Stats{DataTrackPacketsIn: 7, DataTrackPacketsOut: 5, DataTrackCongestionDrops: 2})
	var line struct {
		Proc struct {
			User    *float64 `json:"cpu_user_ms"`
			Sys     *float64 `json:"cpu_sys_ms"`
			Mallocs uint64   `json:"mallocs"`
		} `json:"proc"`
		DT dtCounters `json:"dt"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil || errb.Len() != 0 {
		t.Fatalf("%v %q %q", err, out.String(), errb.String())
	}
	if line.DT != (dtCounters{In: 7, Out: 5, CongestionDrops: 2}) {
		t.Fatalf("data-track counters %+v", line.DT)
	}
	// Cumulative CPU time since the process started: user time alone can still read 0 (the
	// kernel accounts it in ticks), user + system cannot.
	if line.Proc.User == nil || line.Proc.Sys == nil || *line.Proc.User+*line.Proc.Sys <= 0 || line.Proc.Mallocs == 0 ||
		strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("not one line of cumulative counters: %q", out.String())
	}
}

// The stats command prints the counters of a running server with control endpoints, and fails
// (non-zero, a reason on stderr) for a server without them or a URL that is not ws://.
func TestStatsCommand(t *testing.T) {
	withControl, err := devsfu.Start(devsfu.Options{EnableControl: true})
	if err != nil {
		t.Fatal(err)
	}
	defer withControl.Close()
	var out, errb bytes.Buffer
	if rc := statsCmd([]string{"--url", withControl.URL()}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	var st devsfu.Stats
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st != (devsfu.Stats{}) || !strings.Contains(out.String(), `"DataTrackPacketsOut":0`) {
		t.Fatalf("%v %+v %q", err, st, out.String())
	}

	without, err := devsfu.Start(devsfu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer without.Close()
	errb.Reset()
	if rc := statsCmd([]string{"--url", without.URL()}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "--control") {
		t.Fatalf("without control: rc %d, %q", rc, errb.String())
	}
	if rc := statsCmd([]string{"--url", "http://" + strings.TrimPrefix(without.URL(), "ws://")}, &out, &errb); rc != 2 {
		t.Fatalf("http:// URL accepted: rc %d", rc)
	}
}

// With TURN: the stats command prints the TURN counters, turn-credentials a participant's own
// TURN configuration; without TURN, turn-credentials fails.
func TestTURNCommands(t *testing.T) {
	s, err := devsfu.Start(devsfu.Options{EnableControl: true, TURN: &devsfu.TURNOptions{Withhold: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	if rc := statsCmd([]string{"--url", s.URL(), "--turn"}, &out, &errb); rc != 0 || !strings.Contains(out.String(), `"Allocations":0`) {
		t.Fatalf("stats --turn: rc %d %q %q", rc, out.String(), errb.String())
	}
	out.Reset()
	if rc := turnCredentialsCmd([]string{"--url", s.URL(), "--identity", "al ice"}, &out, &errb); rc != 0 {
		t.Fatalf("turn-credentials: rc %d %q", rc, errb.String())
	}
	var c devsfu.TURNCredentials
	if err := json.Unmarshal(out.Bytes(), &c); err != nil || len(c.URLs) == 0 || !strings.HasSuffix(c.Username, ":al ice") || c.Credential == "" {
		t.Fatalf("%v %+v", err, c)
	}
	want, _ := s.TURNICEServer("al ice")
	if c.URLs[0] != want.GetUrls()[0] {
		t.Fatalf("urls %v, want %v", c.URLs, want.GetUrls())
	}
	if rc := turnCredentialsCmd([]string{"--url", s.URL()}, &out, &errb); rc != 2 {
		t.Fatalf("no identity: rc %d", rc)
	}
	plain, err := devsfu.Start(devsfu.Options{EnableControl: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if rc := turnCredentialsCmd([]string{"--url", plain.URL(), "--identity", "a"}, &out, &errb); rc != 1 {
		t.Fatalf("without TURN: rc %d", rc)
	}
}

// A command this build does not know is refused at once instead of starting a server that runs
// until killed (a test calling a newer command on an older binary would hang).
func TestUnknownCommandRefused(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := serveCmd([]string{"no-such-command", "--url", "ws://x"}, &out, &errb); rc != 2 || !strings.Contains(errb.String(), "no-such-command") {
		t.Fatalf("rc %d, stderr %q", rc, errb.String())
	}
	if rc := serveCmd([]string{"--addr", "127.0.0.1:0", "extra"}, &out, &errb); rc != 2 || out.Len() != 0 {
		t.Fatalf("positional argument after flags: rc %d, stdout %q", rc, out.String())
	}
}

// The control command posts a fault action: the server applies it (a signal connection is
// dropped only for a participant that exists); malformed calls are usage errors.
func TestControlCommand(t *testing.T) {
	s, err := devsfu.Start(devsfu.Options{EnableControl: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	if rc := controlCmd([]string{"--url", s.URL(), "force-full-reconnect", "identity=alice", "on=true"}, &out, &errb); rc != 0 {
		t.Fatalf("force-full-reconnect: rc %d %q", rc, errb.String())
	}
	errb.Reset()
	if rc := controlCmd([]string{"--url", s.URL(), "drop-signal", "identity=nobody"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "not found") {
		t.Fatalf("drop-signal of an unknown participant: rc %d %q", rc, errb.String())
	}
	for _, args := range [][]string{
		{"--url", s.URL()}, // no action
		{"--url", s.URL(), "drop-signal", "identity"}, // not key=value
		{"--url", s.URL(), "../stats"},                // not an action name
		{"--url", "http://x", "drop-signal"},          // not the ws:// URL
	} {
		if rc := controlCmd(args, &out, &errb); rc != 2 {
			t.Fatalf("%q: rc %d, want 2", args, rc)
		}
	}
}
