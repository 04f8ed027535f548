package datastream_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datastream/dstest"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

func readTrace(t *testing.T) []dstest.TraceMsg {
	t.Helper()
	msgs, err := dstest.ReadTrace("testdata/2c-streams-js.reliable.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 20 {
		t.Fatalf("%d messages", len(msgs))
	}
	return msgs
}

// Every recorded packet re-encodes to exactly the recorded size.
func TestTraceSizes(t *testing.T) {
	for _, m := range readTrace(t) {
		if n := proto.Size(m.Packet); n != m.Len {
			t.Errorf("%s %s: proto.Size %d, recorded %d", m.Dir, m.Type, n, m.Len)
		}
		if n := len(dstest.CanonicalMarshal(m.Packet)); n != m.Len {
			t.Errorf("%s %s: canonical %d, recorded %d", m.Dir, m.Type, n, m.Len)
		}
	}
}

// sent returns the sender's recorded packets (sequence cleared).
func sent(t *testing.T) []*lkpb.DataPacket {
	var out []*lkpb.DataPacket
	for _, m := range readTrace(t) {
		if m.Dir == "send" {
			p := proto.Clone(m.Packet).(*lkpb.DataPacket)
			p.Sequence = 0
			out = append(out, p)
		}
	}
	return out
}

// The 40 960-byte sendText to a v2 room of capable receivers: header
// (DEFLATE_RAW, total 40960, no inline) + chunks of 15 000 bytes + trailer.
// Our header and trailer are equal to the recorded ones as messages; chunk
// contents differ only because the deflate implementations differ.
func TestTraceTextLargeMatchesJS(t *testing.T) {
	rec := sent(t)
	jsHeader, jsTrailer := rec[1], rec[5]
	h := jsHeader.GetStreamHeader()
	m, r := newSenderAt(t, []datastream.PeerInfo{v2peer("receiver-js")}, h.StreamId, h.Timestamp)
	// Printable random text like the recording's (it compresses to ~83 %).
	text := pseudoText(40960)
	if _, err := m.SendText(testkit.Context(t, 0), text, datastream.SendTextOptions{Topic: "text-large"}); err != nil {
		t.Fatal(err)
	}
	p := r.Packets()
	if !proto.Equal(p[0], jsHeader) {
		t.Fatalf("header\n got %v\nwant %v", p[0], jsHeader)
	}
	if proto.Size(p[0]) != proto.Size(jsHeader) {
		t.Fatal("header size differs")
	}
	for i, c := range p[1 : len(p)-1] {
		ch := c.GetStreamChunk()
		if ch.ChunkIndex != uint64(i) || (i < len(p)-3 && len(ch.Content) != datastream.ChunkSize) {
			t.Fatalf("chunk %d: index %d len %d", i, ch.ChunkIndex, len(ch.Content))
		}
	}
	if !proto.Equal(p[len(p)-1], jsTrailer) || proto.Size(p[len(p)-1]) != 43-3 {
		t.Fatalf("trailer %v", p[len(p)-1])
	}
}

// The 20 480 random bytes sendBytes: JS sends DEFLATE_RAW chunks totalling
// 20 490 bytes (larger than the input); we follow the Rust rule
// (docs/protocol.md, Departures) and send the raw bytes. Everything else
// in the header is equal.
func TestTraceBytesHeaderMatchesJSExceptCompression(t *testing.T) {
	rec := sent(t)
	jsHeader := rec[6]
	h := jsHeader.GetStreamHeader()
	m, r := newSenderAt(t, []datastream.PeerInfo{v2peer("receiver-js")}, h.StreamId, h.Timestamp)
	data := pseudoBytes(20480)
	if _, err := m.SendBytes(testkit.Context(t, 0), data, datastream.SendBytesOptions{Topic: "bytes", Name: "payload.bin"}); err != nil {
		t.Fatal(err)
	}
	p := r.Packets()
	if len(p) != 4 { // header + 15 000 + 5 480 + trailer
		t.Fatalf("%d packets", len(p))
	}
	got := proto.Clone(p[0]).(*lkpb.DataPacket)
	if got.GetStreamHeader().Compression != lkpb.DataStream_NONE {
		t.Fatal("random bytes should not be compressed")
	}
	got.GetStreamHeader().Compression = lkpb.DataStream_DEFLATE_RAW
	if !proto.Equal(got, jsHeader) {
		t.Fatalf("header\n got %v\nwant %v", got, jsHeader)
	}
}

// The 100-byte sendText went out inline and uncompressed (the deflated form
// is not smaller): same shape from us.
func TestTraceTextSmallShape(t *testing.T) {
	js := sent(t)[0].GetStreamHeader()
	m, r := newSenderAt(t, []datastream.PeerInfo{v2peer("receiver-js")}, js.StreamId, js.Timestamp)
	if _, err := m.SendText(testkit.Context(t, 0), pseudoText(100), datastream.SendTextOptions{Topic: "text-small"}); err != nil {
		t.Fatal(err)
	}
	got := r.Packets()[0].GetStreamHeader()
	if len(r.Packets()) != 1 || got.Compression != lkpb.DataStream_NONE || len(got.InlineContent) != 100 {
		t.Fatalf("got %v", got)
	}
	got.InlineContent, js.InlineContent = nil, nil
	if !proto.Equal(got, js) {
		t.Fatalf("header\n got %v\nwant %v", got, js)
	}
}

func newSenderAt(t *testing.T, peers []datastream.PeerInfo, id string, ms int64) (*datastream.Manager, *dstest.Recorder) {
	rec := &dstest.Recorder{Identity: "sender-js"}
	for _, p := range peers {
		rec.SetPeer(p)
	}
	m := datastream.NewManager(rec, datastream.Options{Now: func() time.Time { return time.UnixMilli(ms) }, NewStreamID: fixedIDs(id)})
	t.Cleanup(func() { _ = m.Close() })
	return m, rec
}

// pseudoText returns n printable ASCII characters from a fixed xorshift
// sequence.
func pseudoText(n int) string {
	var sb strings.Builder
	x := uint64(88172645463325252)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		sb.WriteByte(byte(33 + x%94))
	}
	return sb.String()
}

func pseudoBytes(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9E3779B97F4A7C15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 32)
	}
	return b
}
