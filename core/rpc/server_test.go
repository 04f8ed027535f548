package rpc_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/testkit"
)

func v1req(from, id, method, payload string, version uint32) *lkpb.DataPacket {
	return &lkpb.DataPacket{ParticipantIdentity: from, Value: &lkpb.DataPacket_RpcRequest{RpcRequest: &lkpb.RpcRequest{
		Id: id, Method: method, Payload: payload, ResponseTimeoutMs: 10000, Version: version}}}
}

func v2req(from, streamID string, attrs map[string]string, payload string) *lkpb.DataPacket {
	return &lkpb.DataPacket{ParticipantIdentity: from, Value: &lkpb.DataPacket_StreamHeader{StreamHeader: &lkpb.DataStream_Header{
		StreamId: streamID, Topic: datastream.RPCRequestTopic, MimeType: "text/plain", Attributes: attrs,
		InlineContent: []byte(payload), ContentHeader: &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}}}}}
}

func attrs(id, method, timeout, version string) map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{"lk.rpc_request_id": id, "lk.rpc_request_method": method,
		"lk.rpc_request_response_timeout_ms": timeout, "lk.rpc_request_version": version} {
		if v != "-" {
			m[k] = v
		}
	}
	return m
}

func wantAck(t *testing.T, p *lkpb.DataPacket, to, id string) {
	t.Helper()
	if p.GetRpcAck().GetRequestId() != id || len(p.DestinationIdentities) != 1 || p.DestinationIdentities[0] != to {
		t.Fatalf("want ack %s to %s, got %v", id, to, p)
	}
}

func wantError(t *testing.T, p *lkpb.DataPacket, id string, code uint32, data string) {
	t.Helper()
	e := p.GetRpcResponse().GetError()
	if p.GetRpcResponse().GetRequestId() != id || e == nil || e.Code != code || (data != "*" && e.Data != data) {
		t.Fatalf("want error %d (%q) for %s, got %v", code, data, id, p)
	}
	if m := rpc.BuiltinMessage(code); m != "" && e.Message != m {
		t.Fatalf("message %q", e.Message)
	}
}

func TestCalleeV1(t *testing.T) {
	n := newRecNode(t, "bob", nil, nil, 0)
	var got rpc.Invocation
	_ = n.rpc.RegisterMethod("echo", func(_ context.Context, inv rpc.Invocation) (string, error) {
		got = inv
		return "re:" + inv.Payload, nil
	})
	_ = n.rpc.RegisterMethod("err", func(context.Context, rpc.Invocation) (string, error) { return "", errors.New("kaboom") })
	_ = n.rpc.RegisterMethod("rpcerr", func(context.Context, rpc.Invocation) (string, error) {
		return "", fmtWrap(rpc.NewRpcError(2001, "boom", "d"))
	})
	_ = n.rpc.RegisterMethod("panic", func(context.Context, rpc.Invocation) (string, error) { panic("oops") })
	_ = n.rpc.RegisterMethod("big", func(context.Context, rpc.Invocation) (string, error) { return strings.Repeat("x", 15361), nil })

	n.feed(v1req("alice", "1", "echo", "hi", 1))
	p := n.waitPackets(t, 2)
	wantAck(t, p[0], "alice", "1")
	if r := p[1].GetRpcResponse(); r.GetPayload() != "re:hi" || p[1].DestinationIdentities[0] != "alice" || len(p) != 2 {
		t.Fatalf("response %v", p)
	}
	if got.CallerIdentity != "alice" || got.RequestID != "1" || got.ResponseTimeout != 10*time.Second {
		t.Fatalf("invocation %+v", got)
	}
	for _, c := range []struct {
		method string
		ver    uint32
		code   uint32
		data   string
	}{
		{"err", 1, 1500, "Uncaught error: kaboom"},
		{"rpcerr", 1, 2001, "d"},
		{"panic", 1, 1500, "Uncaught error: oops"},
		{"big", 1, 1504, ""},
		{"nope", 1, 1400, ""},
		{"echo", 2, 1404, ""},
	} {
		n.rec.Reset()
		n.feed(v1req("alice", c.method, c.method, "", c.ver))
		p := n.waitPackets(t, 2)
		wantAck(t, p[0], "alice", c.method)
		wantError(t, p[1], c.method, c.code, c.data)
	}
	// Hidden sender: ignored. Server-originated (caller = request id): packet reply.
	n.rec.Reset()
	n.feed(v1req("", "x", "echo", "hi", 1))
	n.feed(v1req("6b1c4e1e-uuid", "6b1c4e1e-uuid", "echo", "srv", 1))
	p = n.waitPackets(t, 2)
	wantAck(t, p[0], "6b1c4e1e-uuid", "6b1c4e1e-uuid")
	if p[1].GetRpcResponse().GetPayload() != "re:srv" {
		t.Fatal(p[1])
	}
}

func fmtWrap(err error) error { return errors.Join(errors.New("context"), err) }

func TestCalleeV2(t *testing.T) {
	n := newRecNode(t, "bob", nil, nil, 0, datastream.PeerInfo{Identity: "alice", ClientProtocol: 2, Capabilities: capsAll})
	var got rpc.Invocation
	_ = n.rpc.RegisterMethod("echo", func(_ context.Context, inv rpc.Invocation) (string, error) { got = inv; return inv.Payload, nil })
	_ = n.rpc.RegisterMethod("err", func(context.Context, rpc.Invocation) (string, error) { return "", errors.New("kaboom") })
	_ = n.rpc.RegisterMethod("rpcerr", func(context.Context, rpc.Invocation) (string, error) { return "", rpc.NewRpcError(2001, "boom", "") })

	n.feed(v2req("alice", "s1", attrs("r1", "echo", "9000", "2"), "small"))
	p := n.waitPackets(t, 2)
	wantAck(t, p[0], "alice", "r1")
	h := p[1].GetStreamHeader()
	if h.Topic != datastream.RPCResponseTopic || string(h.InlineContent) != "small" || len(h.Attributes) != 1 || h.Attributes["lk.rpc_request_id"] != "r1" || p[1].DestinationIdentities[0] != "alice" {
		t.Fatalf("response %v", p[1])
	}
	if got.ResponseTimeout != 9*time.Second || got.CallerIdentity != "alice" || got.Payload != "small" {
		t.Fatalf("invocation %+v", got)
	}

	// Large request as header + chunks + trailer; large response.
	n.rec.Reset()
	large := strings.Repeat("large payload ", 3000)
	hdr := v2req("alice", "s2", attrs("r2", "echo", "15000", "2"), "")
	hdr.GetStreamHeader().InlineContent = nil
	n.feed(hdr)
	for i, piece := range datastream.SplitUTF8([]byte(large), datastream.ChunkSize) {
		n.feed(&lkpb.DataPacket{ParticipantIdentity: "alice", Value: &lkpb.DataPacket_StreamChunk{StreamChunk: &lkpb.DataStream_Chunk{StreamId: "s2", ChunkIndex: uint64(i), Content: piece}}})
	}
	n.feed(&lkpb.DataPacket{ParticipantIdentity: "alice", Value: &lkpb.DataPacket_StreamTrailer{StreamTrailer: &lkpb.DataStream_Trailer{StreamId: "s2"}}})
	p = n.waitPackets(t, 2)
	wantAck(t, p[0], "alice", "r2")
	if got.Payload != large || p[1].GetStreamHeader().GetTotalLength() != uint64(len(large)) {
		t.Fatal("large request/response")
	}

	for _, c := range []struct {
		attrs map[string]string
		ack   bool
		code  uint32
		data  string
	}{
		{attrs("e1", "err", "15000", "2"), true, 1500, "Uncaught error: kaboom"},
		{attrs("e2", "rpcerr", "15000", "2"), true, 2001, ""},
		{attrs("e3", "nope", "15000", "2"), true, 1400, ""},
		{attrs("e4", "echo", "15000", "3"), true, 1404, ""},
		{attrs("e5", "-", "15000", "2"), false, 1500, "RPC data stream malformed"},
		{attrs("e6", "echo", "soon", "2"), false, 1500, "RPC data stream malformed"},
		{attrs("e7", "echo", "15000", "-"), false, 1500, "RPC data stream malformed"},
		{attrs("-", "echo", "15000", "2"), false, 1500, "RPC data stream malformed"},
	} {
		n.rec.Reset()
		id := c.attrs["lk.rpc_request_id"]
		n.feed(v2req("alice", "s-"+id+c.attrs["lk.rpc_request_method"], c.attrs, "payload"))
		want := 1
		if c.ack {
			want = 2
		}
		p := n.waitPackets(t, want)
		if c.ack {
			wantAck(t, p[0], "alice", id)
		}
		wantError(t, p[want-1], id, c.code, c.data)
		for _, pk := range p {
			if pk.GetStreamHeader() != nil {
				t.Fatal("stream sent for an error")
			}
		}
	}
}

// A v2 request from a caller we do not know yet (2b-rpc-js phase 1) is still
// answered with a stream: chunked and uncompressed, so any protocol ≥ 1
// caller reads it.
func TestCalleeV2UnknownCallerGetsStream(t *testing.T) {
	n := newRecNode(t, "bob", nil, nil, 0)
	_ = n.rpc.RegisterMethod("echo", echo)
	n.feed(v2req("alice", "s1", attrs("r1", "echo", "15000", "2"), strings.Repeat("z", 51200)))
	p := n.waitPackets(t, 6) // ack, header, 4 chunks... (51 200 / 15 000) + trailer
	if h := p[1].GetStreamHeader(); h == nil || h.InlineContent != nil || h.Compression != 0 {
		t.Fatalf("%v", p[1])
	}
}

func TestCalleeDuplicateRegistration(t *testing.T) {
	n := newRecNode(t, "bob", nil, nil, 0)
	if err := n.rpc.RegisterMethod("m", echo); err != nil {
		t.Fatal(err)
	}
	if err := n.rpc.RegisterMethod("m", echo); !errors.Is(err, rpc.ErrMethodAlreadyRegistered) {
		t.Fatalf("err = %v", err)
	}
	n.rpc.UnregisterMethod("m")
	n.rpc.UnregisterMethod("m")
	if err := n.rpc.RegisterMethod("m", echo); err != nil {
		t.Fatal(err)
	}
	if err := n.rpc.RegisterMethod("", echo); !errors.Is(err, rpc.ErrInvalidArgument) {
		t.Fatal(err)
	}
}

func TestHandlersRunConcurrently(t *testing.T) {
	w := newWorld(t)
	alice, bob := w.join(t, "alice", 2), w.join(t, "bob", 2)
	w.net.IntroduceAll()
	var started sync.WaitGroup
	started.Add(2)
	release := make(chan struct{})
	_ = bob.rpc.RegisterMethod("block", func(ctx context.Context, inv rpc.Invocation) (string, error) {
		started.Done()
		select {
		case <-release:
		case <-ctx.Done():
		}
		return inv.Payload, nil
	})
	r1 := alice.callAsync(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "block", Payload: "1"})
	r2 := alice.callAsync(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "block", Payload: "2"})
	started.Wait() // both handlers run at the same time
	close(release)
	if a, b := wait(t, r1), wait(t, r2); a.payload != "1" || b.payload != "2" {
		t.Fatal(a, b)
	}
}

func TestEcho1MBV2(t *testing.T) {
	w := newWorld(t)
	alice, bob := w.join(t, "alice", 2, capsAll...), w.join(t, "bob", 2, capsAll...)
	w.net.IntroduceAll()
	_ = bob.rpc.RegisterMethod("echo", echo)
	payload := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	got, err := alice.rpc.PerformRPC(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "echo", Payload: payload})
	if err != nil || sha256.Sum256([]byte(got)) != sha256.Sum256([]byte(payload)) {
		t.Fatal(err)
	}
}

func TestCalleeDisconnectMidCall(t *testing.T) {
	w := newWorld(t)
	alice, bob := w.join(t, "alice", 2), w.join(t, "bob", 2)
	w.net.IntroduceAll()
	entered := make(chan struct{})
	_ = bob.rpc.RegisterMethod("slow", func(ctx context.Context, _ rpc.Invocation) (string, error) {
		close(entered)
		<-ctx.Done()
		return "", ctx.Err()
	})
	res := alice.callAsync(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "slow"})
	<-entered
	bob.ep.Leave()
	asRpc(t, wait(t, res).err, 1503, "Recipient disconnected")
}

func TestCallerDisconnectMidCall(t *testing.T) {
	w := newWorld(t)
	alice, bob := w.join(t, "alice", 2), w.join(t, "bob", 2)
	w.net.IntroduceAll()
	entered, done := make(chan struct{}), make(chan struct{})
	release := make(chan struct{})
	_ = bob.rpc.RegisterMethod("slow", func(context.Context, rpc.Invocation) (string, error) {
		close(entered)
		<-release
		defer close(done)
		return strings.Repeat("r", 40000), nil // response stream to a departed caller
	})
	res := alice.callAsync(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "slow"})
	<-entered
	alice.ep.Leave()
	_ = alice.rpc.Close()
	asRpc(t, wait(t, res).err, 1503, "")
	close(release)
	<-done // the callee finishes; its response goes nowhere, nothing hangs
}

// With MaxConcurrentInvocations 1: a second request while one runs is rejected with 1500; a
// third while both are still in flight (b's goroutine is held at its ack) is dropped without a
// word; the handler runs once. Deterministic: whether c is dropped depends on b still being in
// flight, so b is held there rather than raced against.
func TestTooManyConcurrentInvocations(t *testing.T) {
	rec := newRecNode(t, "bob", nil, nil, 0)
	ds := datastream.NewManager(rec.rec, datastream.Options{})
	defer ds.Close()
	m, err := rpc.New(rec.rec, ds, rpc.Options{Limits: rpc.Limits{MaxConcurrentInvocations: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	release, holdB := make(chan struct{}), make(chan struct{})
	var releaseOnce, holdOnce sync.Once
	unblock := func() {
		releaseOnce.Do(func() { close(release) })
		holdOnce.Do(func() { close(holdB) })
	}
	defer unblock() // runs before m.Close: a failed test must not leave Close waiting on the handler
	var calls atomic.Int32
	entered := make(chan struct{}, 3)
	_ = m.RegisterMethod("block", func(context.Context, rpc.Invocation) (string, error) {
		calls.Add(1)
		entered <- struct{}{}
		<-release
		return "ok", nil
	})
	rec.rec.SendHook = func(ctx context.Context, pkt *lkpb.DataPacket) error {
		if pkt.GetRpcAck().GetRequestId() == "b" {
			select {
			case <-holdB:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	rec.rec.Reset()
	m.HandlePacket(v1req("alice", "a", "block", "", 1))
	<-entered
	m.HandlePacket(v1req("alice", "b", "block", "", 1)) // rejected with 1500 (held at its ack)
	m.HandlePacket(v1req("alice", "c", "block", "", 1)) // over 2× the cap: dropped at once
	holdOnce.Do(func() { close(holdB) })
	p := rec.waitPackets(t, 3) // ack a, ack b, error b
	var errB bool
	for _, pk := range p {
		if pk.GetRpcResponse().GetRequestId() == "b" {
			wantError(t, pk, "b", 1500, "too many concurrent RPC invocations")
			errB = true
		}
	}
	if !errB {
		t.Fatalf("b not rejected: %v", p)
	}
	unblock()
	_ = m.Close() // waits for every invocation goroutine: nothing for c can come after this
	for _, pk := range rec.rec.Packets() {
		if pk.GetRpcAck().GetRequestId() == "c" || pk.GetRpcResponse().GetRequestId() == "c" {
			t.Fatalf("c was answered although it should have been dropped: %v", pk)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

func TestNewFailsWhenReservedTopicsTaken(t *testing.T) {
	n := newRecNode(t, "bob", nil, nil, 0)
	if _, err := rpc.New(n.rec, n.ds, rpc.Options{}); !errors.Is(err, datastream.ErrHandlerAlreadyRegistered) {
		t.Fatalf("err = %v", err)
	}
}
