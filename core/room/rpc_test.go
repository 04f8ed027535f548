package room_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// dataClient connects identity to roomName with opts (Logger defaulted).
// RPC and data streams produce no events, so nobody needs to read them; the
// room is disconnected at cleanup.
func dataClient(tb testing.TB, ctx context.Context, s *sfu.Server, roomName, identity string, opts room.Options) *room.Room {
	tb.Helper()
	tok, err := s.Token(roomName, identity)
	if err != nil {
		tb.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = s.Logger(identity)
	}
	r, err := room.Connect(ctx, s.URL(), tok, opts)
	if err != nil {
		tb.Fatalf("%s: connect: %v", identity, err)
	}
	tb.Cleanup(func() { _ = r.Disconnect(context.Background()) })
	return r
}

// waitPeer waits until r knows identity (with its client protocol), which is
// what the RPC and stream senders use to pick a format.
func waitPeer(tb testing.TB, ctx context.Context, r *room.Room, identity string) *room.RemoteParticipant {
	tb.Helper()
	for {
		if rp := r.RemoteParticipant(identity); rp != nil {
			return rp
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("%s never saw %s", r.LocalParticipant().Identity(), identity)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitGone waits until r no longer knows identity.
func waitGone(tb testing.TB, ctx context.Context, r *room.Room, identity string) {
	tb.Helper()
	for r.RemoteParticipant(identity) != nil {
		select {
		case <-ctx.Done():
			tb.Fatalf("%s still sees %s", r.LocalParticipant().Identity(), identity)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// dataPair connects alice and bob (both current clients) and waits until
// each sees the other.
func dataPair(tb testing.TB, ctx context.Context) (s *sfu.Server, alice, bob *room.Room) {
	tb.Helper()
	s = sfu.Start(tb, devsfu.Options{})
	alice = dataClient(tb, ctx, s, "data", "alice", room.Options{})
	bob = dataClient(tb, ctx, s, "data", "bob", room.Options{})
	waitPeer(tb, ctx, alice, "bob")
	waitPeer(tb, ctx, bob, "alice")
	return s, alice, bob
}

func randomText(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n*3/4+3)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)[:n]
}

func echo(_ context.Context, inv rpc.Invocation) (string, error) { return inv.Payload, nil }

func wantRPCError(t *testing.T, err error, code uint32) *rpc.RpcError {
	t.Helper()
	var re *rpc.RpcError
	if !errors.As(err, &re) || re.Code != code {
		t.Fatalf("want RPC error %d, got %v", code, err)
	}
	return re
}

func TestRPCEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, bob := dataPair(t, ctx)

	// Both advertise client protocol 2 and deflate-raw
	// (docs/protocol.md, Data streams).
	rp := alice.RemoteParticipant("bob")
	if rp.ClientProtocol() != 2 || !rp.HasCapability(room.CapabilityDeflateRaw) {
		t.Fatalf("bob advertises protocol %d caps %v", rp.ClientProtocol(), rp.Capabilities())
	}

	invs := make(chan rpc.Invocation, 4)
	if err := bob.RegisterRPCMethod("echo", func(ctx context.Context, inv rpc.Invocation) (string, error) {
		invs <- inv
		return inv.Payload, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := bob.RegisterRPCMethod("echo", echo); !errors.Is(err, rpc.ErrMethodAlreadyRegistered) {
		t.Fatalf("duplicate registration: %v", err)
	}

	for _, tc := range []struct {
		name    string
		payload string
	}{
		{"empty", ""},
		{"small", "héllo wörld 😀"},
		{"marker", "the logs must never carry " + testkit.PayloadMarker},
		// Above the v1 limit (15 360) and the 64 000-byte packet cap: only
		// possible over v2 data streams. Random text: chunked compressed.
		{"1MB", randomText(t, 1<<20)},
		// Highly compressible 1 MB: inline compressed request and response.
		{"1MB-compressible", strings.Repeat("lkcore rpc ", 1<<20/11)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "echo", Payload: tc.payload})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.payload {
				t.Fatalf("echo returned %d bytes, want %d", len(got), len(tc.payload))
			}
			inv := <-invs
			if inv.CallerIdentity != "alice" || inv.Payload != tc.payload || inv.RequestID == "" ||
				inv.ResponseTimeout != rpc.DefaultResponseTimeout {
				t.Fatalf("invocation caller %q id %q timeout %v (payload %d bytes)", inv.CallerIdentity, inv.RequestID, inv.ResponseTimeout, len(inv.Payload))
			}
		})
	}

	// The short timeout is advertised as the 8 s minimum. The caller's own
	// 1 s may run out on a loaded machine (a typed timeout, not a failure of
	// this claim): the invocation carries the minimum either way.
	if _, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "echo", Payload: "x", ResponseTimeout: time.Second}); err != nil &&
		!errors.Is(err, rpc.ErrResponseTimeout) && !errors.Is(err, rpc.ErrConnectionTimeout) {
		t.Fatal(err)
	}
	if inv := <-invs; inv.ResponseTimeout != rpc.MinAdvertisedTimeout {
		t.Fatalf("advertised timeout %v", inv.ResponseTimeout)
	}

	// Unregistered: 1400.
	bob.UnregisterRPCMethod("echo")
	_, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "echo", Payload: "x"})
	if !errors.Is(err, rpc.ErrUnsupportedMethod) {
		t.Fatalf("after unregister: %v", err)
	}
}

func TestRPCErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, bob := dataPair(t, ctx)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(bob.RegisterRPCMethod("app-error", func(context.Context, rpc.Invocation) (string, error) {
		return "", rpc.NewRpcError(2001, "bad input ✗", `{"field":"x"}`)
	}))
	must(bob.RegisterRPCMethod("wrapped-app-error", func(context.Context, rpc.Invocation) (string, error) {
		return "", errors.Join(errors.New("ctx"), rpc.NewRpcError(42, "wrapped", ""))
	}))
	must(bob.RegisterRPCMethod("fails", func(context.Context, rpc.Invocation) (string, error) {
		return "", errors.New("boom")
	}))
	must(bob.RegisterRPCMethod("panics", func(context.Context, rpc.Invocation) (string, error) {
		panic("kaboom")
	}))
	must(bob.RegisterRPCMethod("big-answer", func(_ context.Context, inv rpc.Invocation) (string, error) {
		return strings.Repeat("z", 100_000), nil
	}))
	if err := bob.RegisterRPCMethod("", echo); !errors.Is(err, rpc.ErrInvalidArgument) {
		t.Fatalf("empty method: %v", err)
	}
	if err := bob.RegisterRPCMethod("nil", nil); !errors.Is(err, rpc.ErrInvalidArgument) {
		t.Fatalf("nil handler: %v", err)
	}

	call := func(method string) error {
		_, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: method, Payload: "p"})
		return err
	}
	re := wantRPCError(t, call("nope"), rpc.CodeUnsupportedMethod)
	if re.Message != rpc.BuiltinMessage(rpc.CodeUnsupportedMethod) || !errors.Is(re, rpc.ErrUnsupportedMethod) {
		t.Fatalf("1400: %+v", re)
	}
	re = wantRPCError(t, call("app-error"), 2001)
	if re.Message != "bad input ✗" || re.Data != `{"field":"x"}` {
		t.Fatalf("application error: %+v", re)
	}
	if re = wantRPCError(t, call("wrapped-app-error"), 42); re.Message != "wrapped" {
		t.Fatalf("wrapped application error: %+v", re)
	}
	re = wantRPCError(t, call("fails"), rpc.CodeApplicationError)
	if re.Message != rpc.BuiltinMessage(rpc.CodeApplicationError) || re.Data != "Uncaught error: boom" {
		t.Fatalf("handler error: %+v", re)
	}
	re = wantRPCError(t, call("panics"), rpc.CodeApplicationError)
	if re.Data != "Uncaught error: kaboom" {
		t.Fatalf("handler panic: %+v", re)
	}
	// A v2 response has no size limit.
	got, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "big-answer"})
	if err != nil || len(got) != 100_000 {
		t.Fatalf("big answer: %d bytes, %v", len(got), err)
	}
	// Local argument errors.
	if _, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob"}); !errors.Is(err, rpc.ErrInvalidArgument) {
		t.Fatalf("empty method: %v", err)
	}
	// A cancelled ctx returns ctx's error, not an RPC error.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := alice.LocalParticipant().PerformRPC(cctx, rpc.PerformParams{Destination: "bob", Method: "echo"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

// blockingHandler blocks until released or until its ctx ends (room
// disconnect), reporting each start on started.
type blockingHandler struct {
	started chan rpc.Invocation
	release chan struct{}
	once    sync.Once
}

func newBlockingHandler() *blockingHandler {
	return &blockingHandler{started: make(chan rpc.Invocation, 8), release: make(chan struct{})}
}

func (h *blockingHandler) handle(ctx context.Context, inv rpc.Invocation) (string, error) {
	h.started <- inv
	select {
	case <-h.release:
		return "late", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (h *blockingHandler) unblock() { h.once.Do(func() { close(h.release) }) }

// hangingCall registers a blockingHandler as bob's "hang" method and starts alice's call to
// it (one-minute response timeout); the call's error arrives on the returned channel.
func hangingCall(t *testing.T, ctx context.Context, alice, bob *room.Room) (*blockingHandler, <-chan error) {
	t.Helper()
	h := newBlockingHandler()
	t.Cleanup(h.unblock)
	if err := bob.RegisterRPCMethod("hang", h.handle); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "hang", ResponseTimeout: time.Minute})
		errc <- err
	}()
	return h, errc
}

func TestRPCResponseTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, bob := dataPair(t, ctx)
	h := newBlockingHandler()
	t.Cleanup(h.unblock)
	if err := bob.RegisterRPCMethod("never", h.handle); err != nil {
		t.Fatal(err)
	}
	_, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "never", Payload: "x", ResponseTimeout: 300 * time.Millisecond})
	if !errors.Is(err, rpc.ErrResponseTimeout) {
		t.Fatalf("want 1502, got %v", err)
	}
	<-h.started
	// The late answer is ignored; the next call works normally.
	h.unblock()
	if err := bob.RegisterRPCMethod("echo", echo); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "echo", Payload: "after"}); err != nil || got != "after" {
		t.Fatalf("after timeout: %q %v", got, err)
	}
}

func TestRPCCalleeDisconnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, bob := dataPair(t, ctx)
	h, errc := hangingCall(t, ctx, alice, bob)
	<-h.started
	// bob leaves while its handler runs: Disconnect cancels the handler's
	// ctx and waits for it; alice learns from the participant update.
	if err := bob.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if !errors.Is(err, rpc.ErrRecipientDisconnected) || errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("want 1503 (alice still connected), got %v", err)
	}
	// A call to an identity that is no longer in the room goes out as v1
	// and is silently dropped by the SFU; cancelling it returns ctx's error.
	cctx, ccancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer ccancel()
	if _, err := alice.LocalParticipant().PerformRPC(cctx, rpc.PerformParams{Destination: "bob", Method: "hang"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to departed participant: %v", err)
	}
}

func TestRPCCallerDisconnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, bob := dataPair(t, ctx)
	h, errc := hangingCall(t, ctx, alice, bob)
	inv := <-h.started
	if inv.CallerIdentity != "alice" {
		t.Fatalf("caller %q", inv.CallerIdentity)
	}
	if err := alice.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	wantRPCError(t, err, rpc.CodeRecipientDisconnected)
	if !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("local disconnect should match ErrDisconnected: %v", err)
	}
	// bob's handler finishes later; its answer goes nowhere and bob stays fine.
	waitGone(t, ctx, bob, "alice")
	h.unblock()
	if bob.State() != room.StateConnected {
		t.Fatalf("bob state %v", bob.State())
	}
}

// TestRPCLegacyPeer emulates a client that predates RPC v2 (client_protocol
// 0, no capabilities, sends RPC v1 packets only) with the test-only
// room.WithLegacyDataProtocol: what the SFU announces and what goes on the
// wire are then those of an old SDK, in both directions.
func TestRPCLegacyPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s := sfu.Start(t, devsfu.Options{})
	modern := dataClient(t, ctx, s, "legacy", "modern", room.Options{})
	old := dataClient(t, ctx, s, "legacy", "old", room.WithLegacyDataProtocol(room.Options{}, 0))
	if rp := waitPeer(t, ctx, modern, "old"); rp.ClientProtocol() != 0 || len(rp.Capabilities()) != 0 {
		t.Fatalf("old announced with protocol %d caps %v", rp.ClientProtocol(), rp.Capabilities())
	}
	if rp := waitPeer(t, ctx, old, "modern"); rp.ClientProtocol() != 2 {
		t.Fatalf("modern announced with protocol %d", rp.ClientProtocol())
	}
	big := strings.Repeat("a", rpc.MaxV1PayloadBytes+1)
	for _, r := range []*room.Room{modern, old} {
		if err := r.RegisterRPCMethod("echo", echo); err != nil {
			t.Fatal(err)
		}
		if err := r.RegisterRPCMethod("big", func(context.Context, rpc.Invocation) (string, error) { return big, nil }); err != nil {
			t.Fatal(err)
		}
	}
	edge := strings.Repeat("é", rpc.MaxV1PayloadBytes/2) // exactly the v1 limit in bytes
	for _, dir := range []struct {
		name         string
		caller       *room.Room
		callee       string
		bigAnswerErr uint32 // a v1 request is answered with a v1 packet
	}{
		{"modern-to-old", modern, "old", rpc.CodeResponsePayloadTooLarge},
		{"old-to-modern", old, "modern", rpc.CodeResponsePayloadTooLarge},
	} {
		t.Run(dir.name, func(t *testing.T) {
			lp := dir.caller.LocalParticipant()
			for _, p := range []string{"", "small ✓", edge} {
				got, err := lp.PerformRPC(ctx, rpc.PerformParams{Destination: dir.callee, Method: "echo", Payload: p})
				if err != nil || got != p {
					t.Fatalf("echo %d bytes: got %d bytes, %v", len(p), len(got), err)
				}
			}
			// Over the v1 limit: refused locally before sending (so the
			// request really went as v1).
			_, err := lp.PerformRPC(ctx, rpc.PerformParams{Destination: dir.callee, Method: "echo", Payload: big})
			if !errors.Is(err, rpc.ErrRequestPayloadTooLarge) {
				t.Fatalf("big request: %v", err)
			}
			_, err = lp.PerformRPC(ctx, rpc.PerformParams{Destination: dir.callee, Method: "big"})
			wantRPCError(t, err, dir.bigAnswerErr)
			_, err = lp.PerformRPC(ctx, rpc.PerformParams{Destination: dir.callee, Method: "missing"})
			if !errors.Is(err, rpc.ErrUnsupportedMethod) {
				t.Fatalf("unknown method over v1: %v", err)
			}
		})
	}
}

func TestRPCAfterDisconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, _ := dataPair(t, ctx)
	if err := alice.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	lp := alice.LocalParticipant()
	_, err := lp.PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "echo"})
	if !errors.Is(err, room.ErrDisconnected) || !errors.Is(err, rpc.ErrRecipientDisconnected) {
		t.Fatalf("PerformRPC: %v", err)
	}
	if err := alice.RegisterRPCMethod("m", echo); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("RegisterRPCMethod: %v", err)
	}
	alice.UnregisterRPCMethod("m") // no-op, no panic
}
