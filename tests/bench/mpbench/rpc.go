package main

// Large payloads, multi-process: RPC echo (this file) and data streams
// (stream.go) between two mpbench processes through the SFU.
//
//	mpbench rpc-callee  -url U -token T                            echo handler; prints its JSON after "done"
//	mpbench rpc-caller  -url U -token T -peer callee -size 1048576 -n 20 -payload random|text
//	mpbench stream-recv -url U -token T                            reads every stream, acks it
//	mpbench stream-send -url U -token T -peer recv -kind bytes|text -size 1048576 -n 20 -payload random|text
//
// The measuring side (caller, sender) brackets the measured calls with two calls of the
// control method "mpbench-mark" ("start", "done") on the other side, so both processes
// measure exactly the same operations: CPU time of the process (getrusage, user + system),
// bytes and objects allocated (runtime.MemStats deltas), all per operation. With -sfu-pid,
// the measuring side also reads the SFU process's CPU time from /proc over the same span.
// -cpuprofile / -memprofile write pprof profiles of the measured span.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
)

const (
	methodEcho = "mpbench-echo"
	methodMark = "mpbench-mark"
	// warmups: calls (or streams) before the measured span; the first pays for compressor
	// pools and SCTP windows.
	warmups = 2
)

// largeFlags are the flags of the large-payload roles.
type largeFlags struct {
	url, token, peer string
	size, n          int
	payload, kind    string
	sfuPid           int
	cpuProfile       string
	memProfile       string
	timeout          time.Duration
}

// runLarge runs a large-payload role and reports whether role was one (main handles the others).
func runLarge(role string, args []string) bool {
	switch role {
	case "rpc-caller", "rpc-callee", "stream-send", "stream-recv":
	default:
		return false
	}
	fs := flag.NewFlagSet(role, flag.ExitOnError)
	var f largeFlags
	fs.StringVar(&f.url, "url", "", "SFU URL")
	fs.StringVar(&f.token, "token", "", "access token")
	fs.StringVar(&f.peer, "peer", "", "caller/sender: identity of the other process")
	fs.IntVar(&f.size, "size", 1<<20, "caller/sender: payload bytes")
	fs.IntVar(&f.n, "n", 20, "caller/sender: measured operations")
	fs.StringVar(&f.payload, "payload", "random", "caller/sender: random (incompressible) or text (natural-language-like)")
	fs.StringVar(&f.kind, "kind", "bytes", "sender: bytes (SendBytes) or text (SendText)")
	fs.IntVar(&f.sfuPid, "sfu-pid", 0, "caller/sender: SFU process whose CPU time is reported (Linux /proc)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured span")
	fs.StringVar(&f.memProfile, "memprofile", "", "write an allocation profile at the end")
	fs.DurationVar(&f.timeout, "timeout", 120*time.Second, "bound on the whole run")
	_ = fs.Parse(args)
	if f.url == "" || f.token == "" {
		fmt.Fprintln(os.Stderr, "mpbench: -url and -token are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	var (
		res any
		err error
	)
	switch role {
	case "rpc-caller":
		res, err = rpcCaller(ctx, &f)
	case "rpc-callee":
		res, err = rpcCallee(ctx, &f)
	case "stream-send":
		res, err = streamSend(ctx, &f)
	case "stream-recv":
		res, err = streamRecv(ctx, &f)
	}
	if err == nil && f.memProfile != "" {
		err = writeHeapProfile(f.memProfile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mpbench:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return true
}

// makePayload returns size bytes: "random" is base64 of random bytes (valid UTF-8 for RPC
// and text streams, and as incompressible as text gets: deflate keeps ~75 %) for RPC and text,
// raw random bytes for byte streams; "text" is a repeated sentence (deflate shrinks it to
// almost nothing).
func makePayload(kind string, size int, rawBytes bool) ([]byte, error) {
	switch kind {
	case "random":
		b := make([]byte, size)
		if rawBytes {
			_, _ = rand.Read(b)
			return b, nil
		}
		raw := make([]byte, size*3/4+3)
		_, _ = rand.Read(raw)
		return []byte(base64.StdEncoding.EncodeToString(raw)[:size]), nil
	case "text":
		const s = "the quick brown fox jumps over the lazy dog; lkcore large payload benchmark. "
		return []byte(strings.Repeat(s, size/len(s)+1)[:size]), nil
	}
	return nil, fmt.Errorf("unknown -payload %q (random or text)", kind)
}

// meter measures CPU time and allocations of this process (and optionally of the SFU) over a span.
type meter struct {
	cpu0, sfu0     time.Duration
	bytes0, objs0  uint64
	sfuPid         int
	profile        *os.File
	profileStarted bool
}

// usage is a meter's result, per operation.
type usage struct {
	CPUMsPerOp    float64  `json:"cpu_ms_per_op"`
	AllocMBPerOp  float64  `json:"alloc_mb_per_op"`
	AllocsPerOp   float64  `json:"allocs_per_op"`
	SFUCPUMsPerOp *float64 `json:"sfu_cpu_ms_per_op,omitempty"`
}

// processCPU is this process's CPU time so far (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads another process's CPU time (user + system) from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statCPU(string(b))
}

// statCPU extracts user + system CPU time from the text of /proc/<pid>/stat.
func statCPU(s string) (time.Duration, error) {
	// The command name (field 2) may contain spaces and parentheses; the fields after the
	// last ')' are fixed.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat line")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 13 {
		return 0, errors.New("unexpected /proc stat line")
	}
	// fields[11], fields[12]: utime, stime (fields 14 and 15 of stat) in clock ticks; Linux
	// reports them in USER_HZ, 100 on every architecture Go supports.
	ut, err1 := strconv.ParseUint(fields[11], 10, 64)
	st, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat line")
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// start begins the measured span (and a CPU profile when cpuProfile is set).
func (m *meter) start(sfuPid int, cpuProfile string) error {
	m.sfuPid = sfuPid
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return err
		}
		m.profile, m.profileStarted = f, true
	}
	if sfuPid > 0 {
		t, err := procCPU(sfuPid)
		if err != nil {
			return fmt.Errorf("SFU CPU time: %w", err)
		}
		m.sfu0 = t
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.bytes0, m.objs0 = ms.TotalAlloc, ms.Mallocs
	m.cpu0 = processCPU()
	return nil
}

// stop ends the measured span and returns its usage divided by ops.
func (m *meter) stop(ops int) (usage, error) {
	cpu := processCPU() - m.cpu0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if m.profileStarted {
		pprof.StopCPUProfile()
		_ = m.profile.Close()
		m.profileStarted = false
	}
	if ops <= 0 {
		ops = 1
	}
	u := usage{
		CPUMsPerOp:   float64(cpu) / float64(time.Millisecond) / float64(ops),
		AllocMBPerOp: float64(ms.TotalAlloc-m.bytes0) / 1e6 / float64(ops),
		AllocsPerOp:  float64(ms.Mallocs-m.objs0) / float64(ops),
	}
	if m.sfuPid > 0 {
		t, err := procCPU(m.sfuPid)
		if err != nil {
			return u, fmt.Errorf("SFU CPU time: %w", err)
		}
		v := float64(t-m.sfu0) / float64(time.Millisecond) / float64(ops)
		u.SFUCPUMsPerOp = &v
	}
	return u, nil
}

// writeHeapProfile writes the allocation profile of the whole run to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// latencies summarises durations in milliseconds.
type latencies struct {
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
}

// summarize returns the median, 99th percentile, maximum and mean of d (zero when empty).
func summarize(d []time.Duration) latencies {
	if len(d) == 0 {
		return latencies{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(v time.Duration) float64 { return float64(v.Microseconds()) / 1000 }
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return latencies{
		P50Ms:  ms(s[len(s)/2]),
		P99Ms:  ms(s[(len(s)-1)*99/100]),
		MaxMs:  ms(s[len(s)-1]),
		MeanMs: ms(sum / time.Duration(len(s))),
	}
}

// waitPeer waits until identity is a remote participant of r.
func waitPeer(ctx context.Context, r *room.Room, identity string) error {
	for r.RemoteParticipant(identity) == nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("peer %q did not join", identity)
		case <-r.Done():
			return errors.New("disconnected while waiting for the peer")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// marked is the passive side's half of the "mpbench-mark" protocol: "start" starts its meter,
// "done" stops it and ends the run with its usage.
type marked struct {
	mu      sync.Mutex
	m       meter
	ops     int // operations counted since "start"
	started bool
	caller  string // identity of the measuring side (from its marks)
	f       *largeFlags
	result  chan usage
	errs    chan error
}

// newMarked returns the mark handler of a passive process run with f.
func newMarked(f *largeFlags) *marked {
	return &marked{f: f, result: make(chan usage, 1), errs: make(chan error, 1)}
}

// count records one measured operation (after "start").
func (k *marked) count() {
	k.mu.Lock()
	if k.started {
		k.ops++
	}
	k.mu.Unlock()
}

// handler is the rpc.Handler of the control method methodMark.
func (k *marked) handler(_ context.Context, inv rpc.Invocation) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.caller = inv.CallerIdentity
	switch inv.Payload {
	case "start":
		if err := k.m.start(0, k.f.cpuProfile); err != nil {
			return "", err
		}
		k.started, k.ops = true, 0
	case "done":
		if !k.started {
			return "", errors.New("done before start")
		}
		u, err := k.m.stop(k.ops)
		k.started = false
		if err != nil {
			k.errs <- err
			return "", err
		}
		k.result <- u
	default:
		return "", fmt.Errorf("unknown mark %q", inv.Payload)
	}
	return "ok", nil
}

// wait returns the usage once "done" was handled.
func (k *marked) wait(ctx context.Context, r *room.Room) (usage, int, error) {
	select {
	case u := <-k.result:
		k.mu.Lock()
		ops, caller := k.ops, k.caller
		k.mu.Unlock()
		// Stay until the measuring side has its "done" response and leaves.
		select {
		case <-waitLeft(r, caller):
		case <-ctx.Done():
		}
		return u, ops, nil
	case err := <-k.errs:
		return usage{}, 0, err
	case <-r.Done():
		return usage{}, 0, errors.New("disconnected before done")
	case <-ctx.Done():
		return usage{}, 0, errors.New("no done mark")
	}
}

// calleeResult is what rpc-callee prints.
type calleeResult struct {
	Role    string `json:"role"`
	Handled int    `json:"handled"`
	usage
}

// measureOps runs op(false) warmups times, tells the peer that measuring starts (so it
// measures the same span), then runs op(true) f.n times under a meter and tells the peer it is
// done. It returns each timed op's latency and this process's usage per op; what names op in
// errors.
func measureOps(ctx context.Context, lp *room.LocalParticipant, f *largeFlags, what string, op func(timed bool) error) ([]time.Duration, usage, error) {
	mark := func(m string) error {
		_, err := lp.PerformRPC(ctx, rpc.PerformParams{Destination: f.peer, Method: methodMark, Payload: m})
		return err
	}
	for range warmups {
		if err := op(false); err != nil {
			return nil, usage{}, fmt.Errorf("warm-up %s: %w", what, err)
		}
	}
	if err := mark("start"); err != nil {
		return nil, usage{}, fmt.Errorf("mark start: %w", err)
	}
	var m meter
	if err := m.start(f.sfuPid, f.cpuProfile); err != nil {
		return nil, usage{}, err
	}
	lat := make([]time.Duration, 0, f.n)
	for i := range f.n {
		t0 := time.Now()
		if err := op(true); err != nil {
			return nil, usage{}, fmt.Errorf("%s %d: %w", what, i, err)
		}
		lat = append(lat, time.Since(t0))
	}
	u, err := m.stop(f.n)
	if err != nil {
		return nil, usage{}, err
	}
	if err := mark("done"); err != nil {
		return nil, usage{}, fmt.Errorf("mark done: %w", err)
	}
	return lat, u, nil
}

// rpcCallee answers echo calls until the caller's "done" mark, then waits for the caller to leave.
func rpcCallee(ctx context.Context, f *largeFlags) (*calleeResult, error) {
	k := newMarked(f)
	echo := func(_ context.Context, inv rpc.Invocation) (string, error) {
		k.count()
		return inv.Payload, nil
	}
	r, err := room.Connect(ctx, f.url, f.token, clientOptions(room.Options{
		RPCMethods: map[string]rpc.Handler{methodEcho: echo, methodMark: k.handler},
	}))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer r.Disconnect(context.Background()) //nolint:errcheck
	u, n, err := k.wait(ctx, r)
	if err != nil {
		return nil, err
	}
	return &calleeResult{Role: "rpc-callee", Handled: n, usage: u}, nil
}

// callerResult is what rpc-caller prints.
type callerResult struct {
	Role    string `json:"role"`
	Size    int    `json:"size"`
	Payload string `json:"payload"`
	N       int    `json:"n"`
	latencies
	usage
}

// rpcCaller makes f.n sequential echo calls of f.size bytes to f.peer and measures them.
func rpcCaller(ctx context.Context, f *largeFlags) (*callerResult, error) {
	if f.peer == "" || f.n <= 0 || f.size <= 0 {
		return nil, errors.New("rpc-caller needs -peer, -n > 0 and -size > 0")
	}
	payload, err := makePayload(f.payload, f.size, false)
	if err != nil {
		return nil, err
	}
	r, err := room.Connect(ctx, f.url, f.token, clientOptions(room.Options{}))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer r.Disconnect(context.Background()) //nolint:errcheck
	if err := waitPeer(ctx, r, f.peer); err != nil {
		return nil, err
	}
	lp := r.LocalParticipant()
	p := rpc.PerformParams{Destination: f.peer, Method: methodEcho, Payload: string(payload)}
	call := func() error {
		out, err := lp.PerformRPC(ctx, p)
		if err != nil {
			return err
		}
		if out != p.Payload {
			return fmt.Errorf("echo returned %d bytes, not the %d sent", len(out), len(p.Payload))
		}
		return nil
	}
	lat, u, err := measureOps(ctx, lp, f, "call", func(bool) error { return call() })
	if err != nil {
		return nil, err
	}
	return &callerResult{Role: "rpc-caller", Size: f.size, Payload: f.payload, N: f.n, latencies: summarize(lat), usage: u}, nil
}
