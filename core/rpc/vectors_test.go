package rpc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datastream/dstest"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
)

const (
	vecV1          = "2a03626f6252360a2430303030303030302d303030302d343030302d383030302d303030303030303030303031120567726565741a0268692098752801"
	vecV1Forwarded = "2205616c6963652a03626f6252360a2430303030303030302d303030302d343030302d383030302d303030303030303030303031120567726565741a0268692098752801800101" + "8a010850415f616c696365"
	vecV2          = "2a05616c6963655a260a2430303030303030302d303030302d343030302d383030302d303030303030303030303031"
	vecV3          = "2a05616c696365622a0a2430303030303030302d303030302d343030302d383030302d3030303030303030303030311202796f"
	vecV4          = "2a05616c69636562050a01721200"
	vecV5          = "2a05616c69636562500a2430303030303030302d303030302d343030302d383030302d3030303030303030303030311a2808f80a12234d6574686f64206e6f7420737570706f727465642061742064657374696e6174696f6e"
	vecV6          = "2a03626f626ab2010a0273311080d095ffbc311a0e6c6b2e7270635f72657175657374220a746578742f706c61696e280242170a116c6b2e7270635f726571756573745f696412027231421e0a156c6b2e7270635f726571756573745f6d6574686f6412056772656574422b0a226c6b2e7270635f726571756573745f726573706f6e73655f74696d656f75745f6d7312053135303030421b0a166c6b2e7270635f726571756573745f76657273696f6e1201324a005a026869"
	reqID          = "00000000-0000-4000-8000-000000000001"
)

func hexOf(t testing.TB, p *lkpb.DataPacket) string {
	t.Helper()
	b := dstest.CanonicalMarshal(p)
	if len(b) != proto.Size(p) {
		t.Fatal("canonical size differs")
	}
	return hex.EncodeToString(b)
}

func decode(t testing.TB, s string) *lkpb.DataPacket {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	p := new(lkpb.DataPacket)
	if err := proto.Unmarshal(b, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// recNode is a manager pair over a Recorder: packets are captured, inputs
// are injected with HandlePacket.
type recNode struct {
	rec   *dstest.Recorder
	ds    *datastream.Manager
	rpc   *rpc.Manager
	clock *fakeClock
}

func newRecNode(t testing.TB, self string, ids []string, streamIDs []string, ms int64, peers ...datastream.PeerInfo) *recNode {
	rec := &dstest.Recorder{Identity: self}
	for _, p := range peers {
		rec.SetPeer(p)
	}
	seq := func(list []string) func() string {
		i := 0
		return func() string {
			if i < len(list) {
				i++
				return list[i-1]
			}
			return datastream.NewStreamID()
		}
	}
	ds := datastream.NewManager(rec, datastream.Options{Now: func() time.Time { return time.UnixMilli(ms) }, NewStreamID: seq(streamIDs)})
	clock := newFakeClock()
	r, err := rpc.New(rec, ds, rpc.Options{Clock: clock, NewID: seq(ids)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(); _ = ds.Close() })
	return &recNode{rec: rec, ds: ds, rpc: r, clock: clock}
}

func (n *recNode) feed(p *lkpb.DataPacket) { n.ds.HandlePacket(p); n.rpc.HandlePacket(p) }

// waitPackets waits until at least k packets were sent (hang-guarded).
func (n *recNode) waitPackets(t testing.TB, k int) []*lkpb.DataPacket {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p := n.rec.Packets(); len(p) >= k {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d packets sent, want %d", len(n.rec.Packets()), k)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestVectorV1Request(t *testing.T) {
	n := newRecNode(t, "alice", []string{reqID}, nil, 0, datastream.PeerInfo{Identity: "bob"}) // protocol 0
	res := callAsyncRec(n, rpc.PerformParams{Destination: "bob", Method: "greet", Payload: "hi"})
	p := n.waitPackets(t, 1)
	if got := hexOf(t, p[0]); got != vecV1 {
		t.Fatalf("V1\n got %s\nwant %s", got, vecV1)
	}
	// bob acks and answers (V2/V3 as bob sends them, forwarded with bob's
	// identity).
	ack, resp := decode(t, vecV2), decode(t, vecV3)
	ack.ParticipantIdentity, resp.ParticipantIdentity = "bob", "bob"
	n.feed(ack)
	n.feed(resp)
	if r := <-res; r.err != nil || r.payload != "yo" {
		t.Fatal(r)
	}
}

func callAsyncRec(n *recNode, p rpc.PerformParams) chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		s, err := n.rpc.PerformRPC(context.Background(), p)
		ch <- callResult{s, err}
	}()
	return ch
}

func TestVectorV2V3V5Callee(t *testing.T) {
	n := newRecNode(t, "bob", nil, nil, 0)
	if err := n.rpc.RegisterMethod("greet", func(_ context.Context, inv rpc.Invocation) (string, error) {
		if inv.CallerIdentity != "alice" || inv.Payload != "hi" || inv.RequestID != reqID || inv.ResponseTimeout != 15*time.Second {
			return "", errors.New("bad invocation")
		}
		return "yo", nil
	}); err != nil {
		t.Fatal(err)
	}
	n.feed(decode(t, vecV1Forwarded))
	p := n.waitPackets(t, 2)
	if got := hexOf(t, p[0]); got != vecV2 {
		t.Fatalf("V2\n got %s\nwant %s", got, vecV2)
	}
	if got := hexOf(t, p[1]); got != vecV3 {
		t.Fatalf("V3\n got %s\nwant %s", got, vecV3)
	}
	n.rec.Reset()
	n.rpc.UnregisterMethod("greet")
	n.feed(decode(t, vecV1Forwarded))
	p = n.waitPackets(t, 2)
	if got := hexOf(t, p[1]); got != vecV5 {
		t.Fatalf("V5\n got %s\nwant %s", got, vecV5)
	}
}

func TestVectorV4EmptyPayload(t *testing.T) {
	n := newRecNode(t, "bob", nil, nil, 0)
	_ = n.rpc.RegisterMethod("m", func(context.Context, rpc.Invocation) (string, error) { return "", nil })
	n.feed(&lkpb.DataPacket{ParticipantIdentity: "alice", Value: &lkpb.DataPacket_RpcRequest{RpcRequest: &lkpb.RpcRequest{Id: "r", Method: "m", Version: 1, ResponseTimeoutMs: 8000}}})
	p := n.waitPackets(t, 2)
	if got := hexOf(t, p[1]); got != vecV4 {
		t.Fatalf("V4\n got %s\nwant %s", got, vecV4)
	}
}

func TestVectorV6V2Request(t *testing.T) {
	n := newRecNode(t, "alice", []string{"r1"}, []string{"s1"}, 1700000000000,
		datastream.PeerInfo{Identity: "bob", ClientProtocol: 2, Capabilities: capsAll})
	res := callAsyncRec(n, rpc.PerformParams{Destination: "bob", Method: "greet", Payload: "hi"})
	p := n.waitPackets(t, 1)
	if got := hexOf(t, p[0]); got != vecV6 {
		t.Fatalf("V6\n got %s\nwant %s", got, vecV6)
	}
	// Resolve through a response stream from bob (inline).
	h := &lkpb.DataStream_Header{StreamId: "s9", Topic: datastream.RPCResponseTopic, MimeType: "text/plain",
		Attributes: map[string]string{"lk.rpc_request_id": "r1"}, InlineContent: []byte("yo"),
		ContentHeader: &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}}}
	n.feed(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: "r1"}}})
	n.feed(&lkpb.DataPacket{ParticipantIdentity: "bob", Value: &lkpb.DataPacket_StreamHeader{StreamHeader: h}})
	if r := <-res; r.err != nil || r.payload != "yo" {
		t.Fatal(r)
	}
}

// --- recordings (testdata/2b-rpc-js.reliable.jsonl, see testdata/README.md) ---

func trace(t *testing.T) []dstest.TraceMsg {
	msgs, err := dstest.ReadTrace("testdata/2b-rpc-js.reliable.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 60 {
		t.Fatalf("%d messages", len(msgs))
	}
	return msgs
}

func TestTraceSizes(t *testing.T) {
	for i, m := range trace(t) {
		if n := proto.Size(m.Packet); n != m.Len {
			t.Errorf("line %d %s: size %d, recorded %d", i, m.Type, n, m.Len)
		}
	}
}

func clearSeq(p *lkpb.DataPacket) *lkpb.DataPacket {
	c := proto.Clone(p).(*lkpb.DataPacket)
	c.Sequence = 0
	return c
}

// Our caller produces the recorded phase-2 64-byte v2 request header.
func TestTraceCallerRequestMatchesJS(t *testing.T) {
	js := trace(t)[20].Packet
	h := js.GetStreamHeader()
	payload := string(h.InlineContent)
	if got := sha256.Sum256([]byte(payload)); hex.EncodeToString(got[:]) != "09ec1af18aca94e4cd8ff0d4b8a771c04474852dab9f6fcf2775923cb4121e49" {
		t.Fatal("recorded payload does not match the recorded request_sha256")
	}
	n := newRecNode(t, "caller-js", []string{h.Attributes["lk.rpc_request_id"]}, []string{h.StreamId}, h.Timestamp,
		datastream.PeerInfo{Identity: "callee-js", ClientProtocol: 2, Capabilities: capsAll})
	res := callAsyncRec(n, rpc.PerformParams{Destination: "callee-js", Method: "echo", Payload: payload, ResponseTimeout: 10 * time.Second})
	p := n.waitPackets(t, 1)
	if !proto.Equal(p[0], clearSeq(js)) || proto.Size(p[0]) != proto.Size(clearSeq(js)) {
		t.Fatalf("request\n got %v\nwant %v", p[0], js)
	}
	// Feed the recorded ack and response stream (lines 24, 25).
	for _, m := range trace(t)[24:26] {
		n.feed(m.Packet)
	}
	if r := <-res; r.err != nil || r.payload != payload {
		t.Fatal(r.err)
	}
}

// Our callee, fed the recorded requests, sends the recorded acks and error
// responses, and answers the v2 echo with a response stream equal to the
// JS callee's (phase 2). In phase 1 the JS callee did not know the caller and
// answered with a packet; we answer a v2 request with v2 regardless.
func TestTraceCalleeRepliesMatchJS(t *testing.T) {
	msgs := trace(t)
	resp := msgs[23].Packet.GetStreamHeader()
	n := newRecNode(t, "callee-js", nil, []string{resp.StreamId}, resp.Timestamp,
		datastream.PeerInfo{Identity: "caller-js", ClientProtocol: 2, Capabilities: capsAll})
	_ = n.rpc.RegisterMethod("echo", func(_ context.Context, inv rpc.Invocation) (string, error) { return inv.Payload, nil })
	_ = n.rpc.RegisterMethod("fail", func(context.Context, rpc.Invocation) (string, error) {
		return "", rpc.NewRpcError(2001, "boom", "")
	})
	check := func(in int, want ...int) {
		t.Helper()
		n.rec.Reset()
		n.feed(msgs[in].Packet)
		got := n.waitPackets(t, len(want))
		for i, w := range want {
			if !proto.Equal(got[i], clearSeq(msgs[w].Packet)) {
				t.Fatalf("reply %d to line %d\n got %v\nwant %v", i, in, got[i], msgs[w].Packet)
			}
		}
	}
	check(21, 22, 23) // echo 64 B: ack + inline response stream
	check(49, 50, 51) // fail: ack + RpcError 2001 "boom"
	check(55, 56, 57) // unknown method: ack + 1400
	// phase 1 echo: ack equal; the response is a stream, not JS's packet
	n.rec.Reset()
	n.feed(msgs[1].Packet)
	got := n.waitPackets(t, 2)
	if !proto.Equal(got[0], clearSeq(msgs[2].Packet)) || got[1].GetStreamHeader().GetTopic() != datastream.RPCResponseTopic {
		t.Fatalf("phase 1 replies %v", got)
	}
}
