package datastream_test

import (
	"encoding/hex"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datastream/dstest"
	"github.com/lkcore/lkcore/core/lkpb"
)

var (
	t0      = time.UnixMilli(1700000000000)
	capsAll = []lkpb.ClientInfo_Capability{lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW}
)

func fixedIDs(ids ...string) func() string {
	i := 0
	return func() string {
		if i < len(ids) {
			i++
			return ids[i-1]
		}
		return datastream.NewStreamID()
	}
}

// newSender returns a manager over a Recorder with a fixed clock.
func newSender(t testing.TB, peers []datastream.PeerInfo, ids ...string) (*datastream.Manager, *dstest.Recorder) {
	rec := &dstest.Recorder{Identity: "alice"}
	for _, p := range peers {
		rec.SetPeer(p)
	}
	m := datastream.NewManager(rec, datastream.Options{Now: func() time.Time { return t0 }, NewStreamID: fixedIDs(ids...)})
	t.Cleanup(func() { _ = m.Close() })
	return m, rec
}

func v2peer(id string) datastream.PeerInfo {
	return datastream.PeerInfo{Identity: id, ClientProtocol: 2, Capabilities: capsAll}
}
func v2noCap(id string) datastream.PeerInfo {
	return datastream.PeerInfo{Identity: id, ClientProtocol: 2}
}
func v1peer(id string) datastream.PeerInfo {
	return datastream.PeerInfo{Identity: id, ClientProtocol: 1}
}
func v0peer(id string) datastream.PeerInfo { return datastream.PeerInfo{Identity: id} }

func wireHex(t testing.TB, p *lkpb.DataPacket) string {
	t.Helper()
	// Go puts oneof members last; the vectors use field-number order (any
	// order is valid on the wire). Check that both encodings agree in size.
	b := dstest.CanonicalMarshal(p)
	if n := proto.Size(p); n != len(b) {
		t.Fatalf("canonical encoding is %d bytes, proto.Size %d", len(b), n)
	}
	return hex.EncodeToString(b)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePkt(t testing.TB, s string) *lkpb.DataPacket {
	t.Helper()
	p := new(lkpb.DataPacket)
	if err := proto.Unmarshal(mustHex(t, s), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// rx is a receiving manager whose handlers for topic "t" (and any topic
// passed) hand readers to channels.
type rx struct {
	m     *datastream.Manager
	texts chan *datastream.TextStreamReader
	bytes chan *datastream.ByteStreamReader
	from  chan string
}

func newRx(t testing.TB, l datastream.Limits, topics ...string) *rx {
	r := &rx{
		m:     datastream.NewManager(&dstest.Recorder{Identity: "bob"}, datastream.Options{Limits: l}),
		texts: make(chan *datastream.TextStreamReader, 64),
		bytes: make(chan *datastream.ByteStreamReader, 64),
		from:  make(chan string, 128),
	}
	if len(topics) == 0 {
		topics = []string{"t"}
	}
	for _, tp := range topics {
		if err := r.m.RegisterTextStreamHandler(tp, func(rd *datastream.TextStreamReader, id string) { r.from <- id; r.texts <- rd }); err != nil {
			t.Fatal(err)
		}
		if err := r.m.RegisterByteStreamHandler(tp, func(rd *datastream.ByteStreamReader, id string) { r.from <- id; r.bytes <- rd }); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = r.m.Close() })
	return r
}

func (r *rx) text(t testing.TB) *datastream.TextStreamReader {
	t.Helper()
	select {
	case rd := <-r.texts:
		return rd
	case <-time.After(10 * time.Second): // hang guard
		t.Fatal("no text stream delivered")
		return nil
	}
}

func (r *rx) byteStream(t testing.TB) *datastream.ByteStreamReader {
	t.Helper()
	select {
	case rd := <-r.bytes:
		return rd
	case <-time.After(10 * time.Second): // hang guard
		t.Fatal("no byte stream delivered")
		return nil
	}
}

// none closes the manager (which waits for every handler goroutine) and
// checks that no handler was invoked.
func (r *rx) none(t testing.TB) {
	t.Helper()
	_ = r.m.Close()
	select {
	case rd := <-r.texts:
		t.Fatalf("unexpected text stream %s", rd.Info().ID)
	case rd := <-r.bytes:
		t.Fatalf("unexpected byte stream %s", rd.Info().ID)
	default:
	}
}

func (r *rx) feed(pkts ...*lkpb.DataPacket) {
	for _, p := range pkts {
		r.m.HandlePacket(p)
	}
}

// packet builders (sender identity "alice")

func u64p(v uint64) *uint64 { return &v }

func hdr(id string, text bool, total *uint64, attrs map[string]string) *lkpb.DataStream_Header {
	h := &lkpb.DataStream_Header{StreamId: id, Timestamp: t0.UnixMilli(), Topic: "t", TotalLength: total, Attributes: attrs}
	if text {
		h.MimeType = datastream.TextMimeType
		h.ContentHeader = &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}}
	} else {
		h.MimeType = datastream.DefaultByteMimeType
		h.ContentHeader = &lkpb.DataStream_Header_ByteHeader{ByteHeader: &lkpb.DataStream_ByteHeader{Name: "unknown"}}
	}
	return h
}

func hp(h *lkpb.DataStream_Header) *lkpb.DataPacket {
	return &lkpb.DataPacket{ParticipantIdentity: "alice", Value: &lkpb.DataPacket_StreamHeader{StreamHeader: h}}
}

func cp(id string, idx uint64, b []byte) *lkpb.DataPacket {
	return &lkpb.DataPacket{ParticipantIdentity: "alice", Value: &lkpb.DataPacket_StreamChunk{StreamChunk: &lkpb.DataStream_Chunk{StreamId: id, ChunkIndex: idx, Content: b}}}
}

func tp(id, reason string, attrs map[string]string) *lkpb.DataPacket {
	return &lkpb.DataPacket{ParticipantIdentity: "alice", Value: &lkpb.DataPacket_StreamTrailer{StreamTrailer: &lkpb.DataStream_Trailer{StreamId: id, Reason: reason, Attributes: attrs}}}
}
