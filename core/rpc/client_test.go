package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/testkit"
)

func asRpc(t *testing.T, err error, code uint32, msg string) *rpc.RpcError {
	t.Helper()
	var re *rpc.RpcError
	if !errors.As(err, &re) || re.Code != code || (msg != "" && re.Message != msg) {
		t.Fatalf("err = %v, want code %d %q", err, code, msg)
	}
	return re
}

func echo(_ context.Context, inv rpc.Invocation) (string, error) { return inv.Payload, nil }

// --- v2 caller → v1 (legacy) callee ---

func TestCallerV1HappyPath(t *testing.T) {
	w := newWorld(t)
	alice, bob := w.join(t, "alice", 2, capsAll...), w.join(t, "bob", 0)
	w.net.IntroduceAll()
	_ = bob.rpc.RegisterMethod("echo", echo)
	rec := recordOn(alice.ep)
	got, err := alice.rpc.PerformRPC(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "echo", Payload: "ping"})
	if err != nil || got != "ping" {
		t.Fatal(got, err)
	}
	p := rec.list()
	if len(p) != 1 || p[0].GetRpcRequest() == nil || p[0].GetRpcRequest().Method != "echo" || p[0].GetRpcRequest().Version != 1 || p[0].GetRpcRequest().ResponseTimeoutMs != 15000 {
		t.Fatalf("sent %v", p)
	}
}

func TestCallerV1PayloadTooLarge(t *testing.T) {
	w := newWorld(t)
	alice := w.join(t, "alice", 2)
	w.sink("bob", 0)
	w.net.IntroduceAll()
	rec := recordOn(alice.ep)
	_, err := alice.rpc.PerformRPC(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "m", Payload: strings.Repeat("x", 20000)})
	asRpc(t, err, 1402, "Request payload too large")
	if !errors.Is(err, rpc.ErrRequestPayloadTooLarge) || len(rec.list()) != 0 || w.clock.Pending() != 0 {
		t.Fatal("something was sent or armed")
	}
}

func TestCallerResponseTimeout(t *testing.T) {
	for _, proto := range []int32{0, 1} {
		w := newWorld(t)
		alice := w.join(t, "alice", 2)
		w.sink("bob", proto)
		w.net.IntroduceAll()
		res := alice.callAsync(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "m", Payload: "x", ResponseTimeout: 50 * time.Millisecond})
		w.clock.WaitTimers(t, 2)
		w.clock.Advance(49 * time.Millisecond)
		select {
		case r := <-res:
			t.Fatalf("finished early: %v", r.err)
		default:
		}
		w.clock.Advance(time.Millisecond)
		r := wait(t, res)
		asRpc(t, r.err, 1502, "Response timeout")
		if w.clock.Pending() != 0 {
			t.Fatal("timers left armed")
		}
	}
}

func TestCallerErrorResponse(t *testing.T) {
	for _, proto := range []int32{0, 1, 2} {
		w := newWorld(t)
		alice, bob := w.join(t, "alice", 2), w.join(t, "bob", proto)
		w.net.IntroduceAll()
		_ = bob.rpc.RegisterMethod("m", func(context.Context, rpc.Invocation) (string, error) {
			return "", rpc.NewRpcError(101, "custom message", "some data")
		})
		_, err := alice.rpc.PerformRPC(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "m"})
		re := asRpc(t, err, 101, "custom message")
		if re.Data != "some data" {
			t.Fatal(re.Data)
		}
	}
}

func TestCallerRecipientDisconnects(t *testing.T) {
	for _, proto := range []int32{0, 1} {
		w := newWorld(t)
		alice := w.join(t, "alice", 2)
		bob := w.sink("bob", proto)
		w.net.IntroduceAll()
		res := alice.callAsync(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "m"})
		w.clock.WaitTimers(t, 2)
		bob.Leave()
		asRpc(t, wait(t, res).err, 1503, "Recipient disconnected")
	}
}

// --- v2 caller → v2 callee ---

func TestCallerV2ShortAndLong(t *testing.T) {
	for _, c := range []struct {
		proto int32
		size  int
	}{{1, 100}, {1, 20000}, {2, 100}, {2, 20000}} {
		w := newWorld(t)
		alice, bob := w.join(t, "alice", 2, capsAll...), w.join(t, "bob", c.proto, capsAll...)
		w.net.IntroduceAll()
		_ = bob.rpc.RegisterMethod("echo", echo)
		rec := recordOn(alice.ep)
		payload := strings.Repeat("é", c.size/2)
		got, err := alice.rpc.PerformRPC(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "echo", Payload: payload})
		if err != nil || got != payload {
			t.Fatal(err)
		}
		p := rec.list()
		h := p[0].GetStreamHeader()
		if h == nil || h.Topic != datastream.RPCRequestTopic || h.Attributes["lk.rpc_request_method"] != "echo" ||
			h.Attributes["lk.rpc_request_version"] != "2" || h.Attributes["lk.rpc_request_response_timeout_ms"] != "15000" ||
			len(h.Attributes["lk.rpc_request_id"]) != 36 || p[0].DestinationIdentities[0] != "bob" {
			t.Fatalf("request header %v", p[0])
		}
		for _, pk := range p {
			if pk.GetRpcRequest() != nil {
				t.Fatal("v1 packet sent to a v2 peer")
			}
		}
		if inline := h.InlineContent != nil; inline != (c.proto == 2) {
			t.Fatalf("proto %d inline %v", c.proto, inline)
		}
	}
}

func TestCallerNonMatchingResponseIgnored(t *testing.T) {
	w := newWorld(t)
	alice := w.join(t, "alice", 2)
	w.sink("bob", 1)
	w.net.IntroduceAll()
	res := alice.callAsync(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "m"})
	w.clock.WaitTimers(t, 2)
	alice.handle(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: "other"}}})
	alice.handle(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_RpcResponse{RpcResponse: &lkpb.RpcResponse{RequestId: "other", Value: &lkpb.RpcResponse_Payload{Payload: "x"}}}})
	select {
	case r := <-res:
		t.Fatalf("resolved by a foreign response: %v", r)
	default:
	}
	_ = alice.rpc.Close()
	r := wait(t, res)
	asRpc(t, r.err, 1503, "")
	if !errors.Is(r.err, rpc.ErrClosed) {
		t.Fatal("close error does not wrap ErrClosed")
	}
	if _, err := alice.rpc.PerformRPC(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "m"}); !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestCallerDistinctIDs(t *testing.T) {
	w := newWorld(t)
	alice, bob := w.join(t, "alice", 2), w.join(t, "bob", 2)
	w.net.IntroduceAll()
	_ = bob.rpc.RegisterMethod("echo", echo)
	rec := recordOn(alice.ep)
	for range 5 {
		if _, err := alice.rpc.PerformRPC(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "echo"}); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]bool{}
	for _, p := range rec.list() {
		ids[p.GetStreamHeader().GetAttributes()["lk.rpc_request_id"]] = true
	}
	if len(ids) != 5 {
		t.Fatalf("%d distinct ids", len(ids))
	}
}

func TestCallerAckAndResponseBeforePublishCompletes(t *testing.T) {
	n := newRecNode(t, "alice", []string{"rid"}, nil, 0, datastream.PeerInfo{Identity: "bob", ClientProtocol: 2})
	n.rec.SendHook = func(_ context.Context, p *lkpb.DataPacket) error {
		if h := p.GetStreamHeader(); h != nil && h.Topic == datastream.RPCRequestTopic {
			n.feed(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: "rid"}}})
			n.feed(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_RpcResponse{RpcResponse: &lkpb.RpcResponse{RequestId: "rid", Value: &lkpb.RpcResponse_Payload{Payload: "early"}}}})
		}
		return nil
	}
	got, err := n.rpc.PerformRPC(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "m"})
	if err != nil || got != "early" {
		t.Fatal(got, err)
	}
	if n.clock.Pending() != 0 {
		t.Fatal("timer left armed")
	}
}

func TestCallerAckTimeoutAndLatePackets(t *testing.T) {
	n := newRecNode(t, "alice", []string{"rid"}, nil, 0, datastream.PeerInfo{Identity: "bob", ClientProtocol: 1})
	res := callAsyncRec(n, rpc.PerformParams{Destination: "bob", Method: "m"})
	n.clock.WaitTimers(t, 2)
	n.clock.Advance(7000*time.Millisecond - time.Nanosecond)
	select {
	case r := <-res:
		t.Fatalf("early: %v", r.err)
	default:
	}
	n.clock.Advance(time.Nanosecond)
	asRpc(t, wait(t, res).err, 1501, "Connection timeout")
	n.feed(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: "rid"}}})
	n.feed(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_RpcResponse{RpcResponse: &lkpb.RpcResponse{RequestId: "rid", Value: &lkpb.RpcResponse_Payload{Payload: "late"}}}})
}

func TestCallerAckStopsAckTimer(t *testing.T) {
	n := newRecNode(t, "alice", []string{"rid"}, nil, 0, datastream.PeerInfo{Identity: "bob"})
	res := callAsyncRec(n, rpc.PerformParams{Destination: "bob", Method: "m", ResponseTimeout: 30 * time.Second})
	n.clock.WaitTimers(t, 2)
	n.feed(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: "rid"}}})
	n.clock.Advance(20 * time.Second) // past the ack timeout: acked, still pending
	select {
	case r := <-res:
		t.Fatalf("early: %v", r.err)
	default:
	}
	if p := n.rec.Packets()[0].GetRpcRequest(); p.ResponseTimeoutMs != 30000 {
		t.Fatal(p)
	}
	n.clock.Advance(10 * time.Second)
	asRpc(t, wait(t, res).err, 1502, "")
}

func TestCallerAdvertisedTimeoutClamp(t *testing.T) {
	n := newRecNode(t, "alice", nil, nil, 0, datastream.PeerInfo{Identity: "bob"})
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := n.rpc.PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "m", ResponseTimeout: time.Second})
		res <- err
	}()
	p := n.waitPackets(t, 1)
	if ms := p[0].GetRpcRequest().ResponseTimeoutMs; ms != 8000 {
		t.Fatalf("advertised %d", ms)
	}
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if n.clock.Pending() != 0 {
		t.Fatal("cancelled call left timers")
	}
}

func TestCallerWrongSenderStreamIgnored(t *testing.T) {
	n := newRecNode(t, "alice", []string{"rid"}, nil, 0, datastream.PeerInfo{Identity: "bob", ClientProtocol: 2})
	res := callAsyncRec(n, rpc.PerformParams{Destination: "bob", Method: "m"})
	n.clock.WaitTimers(t, 2)
	stream := func(from, id string) *lkpb.DataPacket {
		return &lkpb.DataPacket{ParticipantIdentity: from, Value: &lkpb.DataPacket_StreamHeader{StreamHeader: &lkpb.DataStream_Header{
			StreamId: id, Topic: datastream.RPCResponseTopic, InlineContent: []byte("answer-from-" + from),
			Attributes:    map[string]string{"lk.rpc_request_id": "rid"},
			ContentHeader: &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}}}}}
	}
	n.feed(stream("mallory", "s1"))
	n.feed(&lkpb.DataPacket{ParticipantIdentity: "mallory", Value: &lkpb.DataPacket_RpcResponse{RpcResponse: &lkpb.RpcResponse{RequestId: "rid", Value: &lkpb.RpcResponse_Payload{Payload: "x"}}}})
	_ = n.ds.Close() // waits for the mallory stream handler
	select {
	case r := <-res:
		t.Fatalf("resolved by the wrong sender: %v %v", r.payload, r.err)
	default:
	}
	_ = n.rpc.Close()
	asRpc(t, wait(t, res).err, 1503, "")
}

func TestCallerCompressedPayloadRejected(t *testing.T) {
	n := newRecNode(t, "alice", []string{"rid"}, nil, 0, datastream.PeerInfo{Identity: "bob"})
	res := callAsyncRec(n, rpc.PerformParams{Destination: "bob", Method: "m"})
	n.waitPackets(t, 1)
	n.feed(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_RpcResponse{RpcResponse: &lkpb.RpcResponse{RequestId: "rid", Value: &lkpb.RpcResponse_CompressedPayload{CompressedPayload: []byte{1}}}}})
	asRpc(t, wait(t, res).err, 1500, "Application error in method handler")
}

func TestCallerUnsupportedServer(t *testing.T) {
	n := newRecNode(t, "alice", nil, nil, 0, datastream.PeerInfo{Identity: "bob"})
	for v, fail := range map[string]bool{"1.7.9": true, "v1.7.2-rc1": true, "1.8.0": false, "1.13.5": false, "": false, "garbage": false, "1.8": false, "1": true} {
		n.rec.Version = v
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			_, err := n.rpc.PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "m"})
			res <- err
		}()
		if fail {
			asRpc(t, <-res, 1403, "RPC not supported by server")
			cancel()
			continue
		}
		n.waitPackets(t, 1)
		n.rec.Reset()
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("%q: %v", v, err)
		}
	}
}

func TestCallerSendFailure(t *testing.T) {
	boom := errors.New("channel closed")
	n := newRecNode(t, "alice", nil, nil, 0, datastream.PeerInfo{Identity: "bob"})
	n.rec.SendHook = func(context.Context, *lkpb.DataPacket) error { return boom }
	_, err := n.rpc.PerformRPC(testkit.Context(t, 0), rpc.PerformParams{Destination: "bob", Method: "m"})
	asRpc(t, err, 1505, "Failed to send")
	if !errors.Is(err, boom) || n.clock.Pending() != 0 {
		t.Fatalf("err = %v, timers %d", err, n.clock.Pending())
	}
}

// TestCallerSessionEndedFailsWhatItAcknowledged: when the callee's session is replaced, the
// calls that session acknowledged fail with 1503 at once; a call acknowledged by the new
// session, one not acknowledged yet, one acknowledged without a sid and the calls to someone
// else keep waiting.
func TestCallerSessionEndedFailsWhatItAcknowledged(t *testing.T) {
	w := newWorld(t)
	alice := w.join(t, "alice", 1)
	reqs := make(chan string, 8)
	for _, id := range []string{"bob", "carol"} {
		ep := w.net.Join(id, 0) // v1: the request is one packet, with its id
		ep.Start(func(p *lkpb.DataPacket) {
			if r := p.GetRpcRequest(); r != nil {
				reqs <- r.Id
			}
		}, nil)
	}
	w.net.IntroduceAll()
	ctx := testkit.Context(t, 0)
	// ack: the session of the callee that acknowledges each call ("" = not acknowledged).
	calls := []struct {
		dest, ack string
		fails     bool
	}{
		{"bob", "PA_bob-1", true},
		{"bob", "PA_bob-2", false},
		{"bob", "", false},
		{"bob", "none", false}, // acknowledged without a participant_sid
		{"carol", "PA_bob-1", false},
	}
	res := make([]chan callResult, len(calls))
	for i, c := range calls {
		res[i] = alice.callAsync(ctx, rpc.PerformParams{Destination: c.dest, Method: "m"})
		var id string
		select {
		case id = <-reqs:
		case <-ctx.Done():
			t.Fatal("no request")
		}
		switch c.ack {
		case "":
		case "none":
			alice.handle(&lkpb.DataPacket{ParticipantIdentity: c.dest, Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: id}}})
		default:
			alice.handle(&lkpb.DataPacket{ParticipantIdentity: c.dest, ParticipantSid: c.ack, Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: id}}})
		}
	}
	alice.rpc.HandleParticipantSessionEnded("bob", "")
	alice.rpc.HandleParticipantSessionEnded("bob", "PA_bob-1")
	for i, c := range calls {
		if !c.fails {
			continue
		}
		r := wait(t, res[i])
		asRpc(t, r.err, 1503, "")
		if errors.Is(r.err, rpc.ErrClosed) {
			t.Fatalf("call %d: %v wraps ErrClosed", i, r.err)
		}
	}
	for i, c := range calls {
		if c.fails {
			continue
		}
		select {
		case r := <-res[i]:
			t.Fatalf("call %d (%+v) ended: %v", i, c, r.err)
		default:
		}
	}
	_ = alice.rpc.Close()
	for i, c := range calls {
		if !c.fails {
			asRpc(t, wait(t, res[i]).err, 1503, "")
		}
	}
}
