package datastream_test

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

// Reference vectors (derived with @livekit/protocol 1.52.1).
const (
	vecV7        = "6a200a0273321080d095ffbc311a0174220a746578742f706c61696e28004a005a00"
	vecV8Header  = "6a1e0a0273331080d095ffbc311a0174220a746578742f706c61696e280b4a00"
	vecV8Chunk   = "72110a0273331a0b68656c6c6f20776f726c64"
	vecV8Trailer = "7a040a027333"
	vecV9        = "6a3e0a0273341080d095ffbc311a0566696c657322186170706c69636174696f6e2f6f637465742d73747265616d280352090a07756e6b6e6f776e5a03010203"
	vecV10       = "6a3e0a0273351080d095ffbc311a0174220a746578742f706c61696e281e4a005a1ccb48cdc9c957c80093c9f9b90545a9c5c5994939a90ae5f9453929006001"
)

func TestVectorV7EmptyInlineText(t *testing.T) {
	m, rec := newSender(t, nil, "s2") // empty room: v2-eligible
	if _, err := m.SendText(testkit.Context(t, 0), "", datastream.SendTextOptions{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	p := rec.Packets()
	if len(p) != 1 {
		t.Fatalf("got %d packets, want 1", len(p))
	}
	if got := wireHex(t, p[0]); got != vecV7 {
		t.Fatalf("V7 mismatch\n got %s\nwant %s", got, vecV7)
	}
	r := newRx(t, datastream.Limits{})
	r.feed(withSender(decodePkt(t, vecV7)))
	s, err := r.text(t).ReadAll(testkit.Context(t, 0))
	if err != nil || s != "" {
		t.Fatalf("ReadAll = %q, %v", s, err)
	}
}

func withSender(p *lkpb.DataPacket) *lkpb.DataPacket { p.ParticipantIdentity = "alice"; return p }

func TestVectorV8LegacyChunkedText(t *testing.T) {
	m, rec := newSender(t, []datastream.PeerInfo{v0peer("bob")}, "s3")
	if _, err := m.SendText(testkit.Context(t, 0), "hello world", datastream.SendTextOptions{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	p := rec.Packets()
	want := []string{vecV8Header, vecV8Chunk, vecV8Trailer}
	if len(p) != len(want) {
		t.Fatalf("got %d packets, want %d", len(p), len(want))
	}
	for i := range want {
		if got := wireHex(t, p[i]); got != want[i] {
			t.Fatalf("V8 packet %d\n got %s\nwant %s", i, got, want[i])
		}
	}
	r := newRx(t, datastream.Limits{})
	for _, h := range want {
		r.feed(withSender(decodePkt(t, h)))
	}
	s, err := r.text(t).ReadAll(testkit.Context(t, 0))
	if err != nil || s != "hello world" {
		t.Fatalf("ReadAll = %q, %v", s, err)
	}
}

func TestVectorV9InlineBytes(t *testing.T) {
	m, rec := newSender(t, []datastream.PeerInfo{v2peer("bob")}, "s4")
	if _, err := m.SendBytes(testkit.Context(t, 0), []byte{1, 2, 3}, datastream.SendBytesOptions{Topic: "files"}); err != nil {
		t.Fatal(err)
	}
	p := rec.Packets()
	if len(p) != 1 || wireHex(t, p[0]) != vecV9 {
		t.Fatalf("V9 mismatch: %d packets, %s", len(p), wireHex(t, p[0]))
	}
	r := newRx(t, datastream.Limits{}, "files")
	r.feed(withSender(decodePkt(t, vecV9)))
	rd := r.byteStream(t)
	b, err := rd.ReadAll(testkit.Context(t, 0))
	if err != nil || !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Fatalf("ReadAll = %x, %v", b, err)
	}
	if i := rd.Info(); i.Name != "unknown" || i.MimeType != datastream.DefaultByteMimeType || !i.Inline || *i.Size != 3 {
		t.Fatalf("info = %+v", i)
	}
}

func TestVectorV10InlineCompressedText(t *testing.T) {
	const text = "hello hello compressible world"
	// Receive the JS-produced vector.
	r := newRx(t, datastream.Limits{})
	r.feed(withSender(decodePkt(t, vecV10)))
	rd := r.text(t)
	s, err := rd.ReadAll(testkit.Context(t, 0))
	if err != nil || s != text {
		t.Fatalf("ReadAll = %q, %v", s, err)
	}
	if rd.Info().Compression != lkpb.DataStream_DEFLATE_RAW {
		t.Fatal("compression not reported")
	}
	// Send: compressed bytes need only be valid raw DEFLATE (the reference
	// bytes are not normative). compress/flate ends every stream with an empty final
	// stored block (5 bytes more than zlib), so this 30-byte text is not
	// smaller compressed (32 bytes) and goes out raw; three copies do compress.
	m, rec := newSender(t, []datastream.PeerInfo{v2peer("bob")}, "s5", "s5b")
	if _, err := m.SendText(testkit.Context(t, 0), text, datastream.SendTextOptions{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if h := rec.Packets()[0].GetStreamHeader(); h.Compression != lkpb.DataStream_NONE || string(h.InlineContent) != text {
		t.Fatalf("30-byte text: %v", h)
	}
	rec.Reset()
	text3 := text + text + text
	if _, err := m.SendText(testkit.Context(t, 0), text3, datastream.SendTextOptions{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	p := rec.Packets()
	if len(p) != 1 {
		t.Fatalf("%d packets", len(p))
	}
	want := decodePkt(t, vecV10).GetStreamHeader()
	got := p[0].GetStreamHeader()
	if got.Compression != lkpb.DataStream_DEFLATE_RAW || *got.TotalLength != 90 || len(got.InlineContent) >= 90 {
		t.Fatalf("header = %v", got)
	}
	plain, err := io.ReadAll(flate.NewReader(bytes.NewReader(got.InlineContent)))
	if err != nil || string(plain) != text3 {
		t.Fatalf("inflate = %q, %v", plain, err)
	}
	got.InlineContent, want.InlineContent = nil, nil
	got.StreamId, got.TotalLength = "s5", u64p(30)
	if !proto.Equal(got, want) {
		t.Fatalf("header differs from V10:\n got %v\nwant %v", got, want)
	}
}
