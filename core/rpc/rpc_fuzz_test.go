package rpc_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datastream/dstest"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
)

// fuzzNode is a callee with an "echo" method and one call of its own in flight (request id
// "req-fuzz"), so requests, acks and responses (v1 packets and v2 streams) all find a target.
func fuzzNode(t *testing.T) (*recNode, chan callResult) {
	n := newRecNode(t, "me", []string{"req-fuzz"}, nil, 1700000000000,
		datastream.PeerInfo{Identity: "callee-js", ClientProtocol: 2, Capabilities: capsAll},
		datastream.PeerInfo{Identity: "caller-js", ClientProtocol: 2, Capabilities: capsAll},
		datastream.PeerInfo{Identity: "old", ClientProtocol: 0})
	if err := n.rpc.RegisterMethod("echo", echo); err != nil {
		t.Fatal(err)
	}
	res := callAsyncRec(n, rpc.PerformParams{Destination: "callee-js", Method: "echo", Payload: "x", ResponseTimeout: 10 * time.Second})
	return n, res
}

// finish ends the node (a pending call fails) and waits for the call.
func finish(t *testing.T, n *recNode, res chan callResult) {
	n.clock.Advance(time.Minute) // every timeout (ack, response) fires
	_ = n.rpc.Close()
	_ = n.ds.Close()
	select {
	case <-res:
	case <-time.After(10 * time.Second):
		t.Fatal("the pending call never ended")
	}
}

// FuzzRPCPackets feeds arbitrary sequences of DataPackets (length-prefixed, the first byte of
// each choosing the sender among three peers) to the RPC and data-stream managers of a node
// that serves "echo" and has a call of its own in flight: v1 requests, acks and responses and
// v2 request/response streams. Seeded with the recorded JS RPC session. Nothing may panic or
// hang, and everything the node sends stays within the protocol's limits.
func FuzzRPCPackets(f *testing.F) {
	msgs, err := dstest.ReadTrace("testdata/2b-rpc-js.reliable.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	var all []byte
	for _, m := range msgs {
		if m.Dir != "recv" {
			continue
		}
		b, err := proto.Marshal(m.Packet)
		if err != nil {
			f.Fatal(err)
		}
		one := protowire.AppendBytes([]byte{0}, b)
		f.Add(one)
		all = append(all, one...)
	}
	f.Add(all)
	senders := []string{"caller-js", "callee-js", "old"}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, res := fuzzNode(t)
		for len(data) > 1 {
			who := senders[int(data[0])%len(senders)]
			msg, k := protowire.ConsumeBytes(data[1:])
			if k < 0 {
				break
			}
			data = data[1+k:]
			p := new(lkpb.DataPacket)
			if proto.Unmarshal(msg, p) != nil {
				continue
			}
			p.ParticipantIdentity = who
			n.feed(p)
		}
		n.clock.Advance(time.Second)
		for _, p := range n.rec.Packets() {
			if sz := proto.Size(p); sz > 64000 {
				t.Fatalf("sent a %d-byte packet", sz)
			}
		}
		finish(t, n, res)
	})
}

// FuzzRPCV2Attributes varies the attributes and payload of a v2 request (a text stream on
// lk.rpc_request, inline or chunked) sent to the "echo" callee: request id, method, response
// timeout and version strings of any content, and the sender's client protocol. A request the
// callee accepts is acknowledged and answered under the same id; nothing may panic or hang.
func FuzzRPCV2Attributes(f *testing.F) {
	f.Add("req-1", "echo", "10000", "2", "hello", false, uint8(0))
	f.Add("", "echo", "10000", "2", "x", true, uint8(1))
	f.Add("req-2", "nope", "-1", "1", "", false, uint8(2))
	f.Add("req-3", "echo", "99999999999999999999", "x", "é", true, uint8(0))
	f.Fuzz(func(t *testing.T, id, method, timeout, version, payload string, chunked bool, who uint8) {
		n, res := fuzzNode(t)
		sender := []string{"caller-js", "old", "stranger"}[int(who)%3]
		h := &lkpb.DataStream_Header{
			StreamId:      "S_fuzz",
			Timestamp:     1700000000000,
			Topic:         datastream.RPCRequestTopic,
			MimeType:      datastream.TextMimeType,
			ContentHeader: &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}},
			Attributes: map[string]string{
				"lk.rpc_request_id": id, "lk.rpc_request_method": method,
				"lk.rpc_request_response_timeout_ms": timeout, "lk.rpc_request_version": version,
			},
		}
		if !chunked {
			h.InlineContent = []byte(payload)
			n.feed(&lkpb.DataPacket{ParticipantIdentity: sender, Value: &lkpb.DataPacket_StreamHeader{StreamHeader: h}})
		} else {
			size := uint64(len(payload))
			h.TotalLength = &size
			n.feed(&lkpb.DataPacket{ParticipantIdentity: sender, Value: &lkpb.DataPacket_StreamHeader{StreamHeader: h}})
			n.feed(&lkpb.DataPacket{ParticipantIdentity: sender, Value: &lkpb.DataPacket_StreamChunk{StreamChunk: &lkpb.DataStream_Chunk{StreamId: "S_fuzz", Content: []byte(payload)}}})
			n.feed(&lkpb.DataPacket{ParticipantIdentity: sender, Value: &lkpb.DataPacket_StreamTrailer{StreamTrailer: &lkpb.DataStream_Trailer{StreamId: "S_fuzz"}}})
		}
		finish(t, n, res) // waits for the handler: everything it sent is recorded
		for _, p := range n.rec.Packets() {
			if a := p.GetRpcAck(); a != nil && a.GetRequestId() != id {
				t.Fatalf("ack for %q, request was %q", a.GetRequestId(), id)
			}
		}
	})
}
