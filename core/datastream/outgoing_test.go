package datastream_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datastream/dstest"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

type shape struct {
	packets     int
	compression lkpb.DataStream_CompressionType
	inline      bool
}

func shapeOf(t *testing.T, p []*lkpb.DataPacket) shape {
	t.Helper()
	h := p[0].GetStreamHeader()
	if h == nil {
		t.Fatal("first packet is not a header")
	}
	return shape{len(p), h.Compression, h.InlineContent != nil}
}

// reassemble decodes a recorded outgoing stream like a receiver would.
func reassemble(t *testing.T, p []*lkpb.DataPacket) []byte {
	t.Helper()
	h := p[0].GetStreamHeader()
	var wire []byte
	if h.InlineContent != nil {
		wire = h.InlineContent
	} else {
		for i, c := range p[1 : len(p)-1] {
			ch := c.GetStreamChunk()
			if ch == nil || ch.ChunkIndex != uint64(i) || ch.StreamId != h.StreamId {
				t.Fatalf("packet %d is not chunk %d of %s", i+1, i, h.StreamId)
			}
			if len(ch.Content) > datastream.ChunkSize {
				t.Fatalf("chunk %d has %d bytes", i, len(ch.Content))
			}
			wire = append(wire, ch.Content...)
		}
		if tr := p[len(p)-1].GetStreamTrailer(); tr == nil || tr.StreamId != h.StreamId || tr.Reason != "" {
			t.Fatal("last packet is not a normal trailer")
		}
	}
	if h.Compression == lkpb.DataStream_DEFLATE_RAW {
		out, err := io.ReadAll(flate.NewReader(bytes.NewReader(wire)))
		if err != nil {
			t.Fatal(err)
		}
		wire = out
	}
	if h.TotalLength != nil && *h.TotalLength != uint64(len(wire)) {
		t.Fatalf("total_length %d, payload %d", *h.TotalLength, len(wire))
	}
	return wire
}

func checkDestinations(t *testing.T, p []*lkpb.DataPacket, want []string) {
	t.Helper()
	for i, pk := range p {
		if strings.Join(pk.DestinationIdentities, ",") != strings.Join(want, ",") {
			t.Fatalf("packet %d destinations %v, want %v", i, pk.DestinationIdentities, want)
		}
		if pk.Kind != lkpb.DataPacket_RELIABLE || pk.Sequence != 0 || pk.ParticipantIdentity != "" {
			t.Fatalf("packet %d envelope %v", i, pk)
		}
	}
}

var (
	compressible = strings.Repeat("hello world ", 20000/12+1)[:20000]
	somewhat     = pseudoText(50000)[:25000] + strings.Repeat("abcdefghij", 2500) // ~50 kB, partly compressible
	v1room       = []datastream.PeerInfo{v0peer("a"), v0peer("b"), v1peer("c")}
	v2room       = []datastream.PeerInfo{v2peer("alice2"), v2peer("bob"), v2noCap("noCompression")}
)

func TestOutgoingShapes(t *testing.T) {
	long := pseudoText(40000)
	rnd := pseudoBytes(50000)
	cases := []struct {
		name  string
		peers []datastream.PeerInfo
		send  func(m *datastream.Manager) ([]byte, error)
		want  shape
		dests []string
	}{
		{"v1 short text", v1room, txt("hi", nil), shape{3, 0, false}, nil},
		{"v1 short streamBytes", v1room, streamBytes([]byte{1, 2, 3}), shape{3, 0, false}, nil},
		{"v1 long text", v1room, txt(long, nil), shape{5, 0, false}, nil},
		{"v1 long bytes", v1room, sendBytes(rnd, nil), shape{6, 0, false}, nil},
		{"v1 sendFile", v1room, sendFile(rnd, nil), shape{6, 0, false}, nil},
		{"v1 compressible text stays legacy", v1room, txt(compressible, nil), shape{4, 0, false}, nil},
		{"v2 short compressible text", []datastream.PeerInfo{v2peer("bob")}, txt(compressible[:600], []string{"bob"}), shape{1, 1, true}, []string{"bob"}},
		{"v2 'short'", []datastream.PeerInfo{v2peer("bob")}, txt("short", []string{"bob"}), shape{1, 0, true}, []string{"bob"}},
		{"v2 no capability", v2room, txt(compressible[:600], []string{"noCompression"}), shape{1, 0, true}, []string{"noCompression"}},
		{"v2 20000 x hello world inline compressed", []datastream.PeerInfo{v2peer("bob")}, txt(strings.Repeat("hello world", 20000), []string{"bob"}), shape{1, 1, true}, []string{"bob"}},
		{"v2 somewhat compressible multi-packet", []datastream.PeerInfo{v2peer("bob")}, txt(somewhat, []string{"bob"}), shape{4, 1, false}, []string{"bob"}},
		{"v2 random file compressed", []datastream.PeerInfo{v2peer("bob")}, sendFile(rnd, []string{"bob"}), shape{6, 1, false}, []string{"bob"}},
		{"v2 compress:false short", []datastream.PeerInfo{v2peer("bob")}, txtNoComp(compressible[:600]), shape{1, 0, true}, nil},
		{"v2 compress:false long", []datastream.PeerInfo{v2peer("bob")}, txtNoComp(compressible), shape{4, 0, false}, nil},
		{"v2 streamText never inline", []datastream.PeerInfo{v2peer("bob")}, streamText(compressible), shape{4, 0, false}, nil},
		{"v2 streamBytes never inline", []datastream.PeerInfo{v2peer("bob")}, streamBytes([]byte(compressible)), shape{4, 0, false}, nil},
		{"v2 sendFile never inline", []datastream.PeerInfo{v2peer("bob")}, sendFile([]byte("tiny"), nil), shape{3, 1, false}, nil},
		{"v2 sendFile to incapable", v2room, sendFile(rnd, nil), shape{6, 0, false}, nil},
		{"v2 empty file", []datastream.PeerInfo{v2peer("bob")}, sendFile(nil, nil), shape{3, 1, false}, nil},
		{"v1 empty file", v1room, sendFile(nil, nil), shape{2, 0, false}, nil},
		{"mixed broadcast legacy", []datastream.PeerInfo{v2peer("bob"), v0peer("old")}, txt(compressible[:600], nil), shape{3, 0, false}, nil},
		{"targeted v2 subset", []datastream.PeerInfo{v2peer("bob"), v2peer("carol"), v0peer("old")}, txt(compressible[:600], []string{"bob", "carol"}), shape{1, 1, true}, []string{"bob", "carol"}},
		{"targeted subset one incapable", v2room, txt(compressible[:600], []string{"bob", "noCompression"}), shape{1, 0, true}, []string{"bob", "noCompression"}},
		{"broadcast all capable", []datastream.PeerInfo{v2peer("bob"), v2peer("carol")}, txt(compressible[:600], nil), shape{1, 1, true}, nil},
		{"broadcast one incapable", v2room, txt(compressible[:600], nil), shape{1, 0, true}, nil},
		{"empty room v2", nil, txt(compressible[:600], nil), shape{1, 1, true}, nil},
		{"unknown destination legacy", []datastream.PeerInfo{v2peer("bob")}, txt(compressible[:600], []string{"ghost"}), shape{3, 0, false}, []string{"ghost"}},
		{"large text to incapable v2 uncompressed", v2room, txt(long, []string{"noCompression"}), shape{5, 0, false}, []string{"noCompression"}},
		{"sendFile compress:false", []datastream.PeerInfo{v2peer("bob")}, sendFileNoComp([]byte(compressible)), shape{4, 0, false}, nil},
		{"empty text pre-v2", v1room, txt("", nil), shape{2, 0, false}, nil},
		{"empty text v2", []datastream.PeerInfo{v2peer("bob")}, txt("", nil), shape{1, 0, true}, nil},
		{"empty bytes pre-v2", v1room, sendBytes(nil, nil), shape{2, 0, false}, nil},
		{"bytes short compressible", []datastream.PeerInfo{v2peer("bob")}, sendBytes([]byte(compressible[:600]), nil), shape{1, 1, true}, nil},
		{"bytes short incompressible", []datastream.PeerInfo{v2peer("bob")}, sendBytes(rnd[:600], nil), shape{1, 0, true}, nil},
		{"bytes no capability", v2room, sendBytes([]byte(compressible[:600]), nil), shape{1, 0, true}, nil},
		{"bytes long highly compressible", []datastream.PeerInfo{v2peer("bob")}, sendBytes([]byte(strings.Repeat("x", 200000)), nil), shape{1, 1, true}, nil},
		{"bytes long somewhat compressible", []datastream.PeerInfo{v2peer("bob")}, sendBytes([]byte(somewhat), nil), shape{4, 1, false}, nil},
		{"bytes compress:false inline", []datastream.PeerInfo{v2peer("bob")}, sendBytesNoComp([]byte(compressible[:600])), shape{1, 0, true}, nil},
		{"bytes compress:false over MTU", []datastream.PeerInfo{v2peer("bob")}, sendBytesNoComp([]byte(compressible)), shape{4, 0, false}, nil},
		{"bytes all-v1 room", v1room, sendBytes([]byte(compressible), nil), shape{4, 0, false}, nil},
		{"v2 random bytes multi-packet stay raw (Rust rule)", []datastream.PeerInfo{v2peer("bob")}, sendBytes(rnd, nil), shape{6, 0, false}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, rec := newSender(t, c.peers)
			want, err := c.send(m)
			if err != nil {
				t.Fatal(err)
			}
			p := rec.Packets()
			if got := shapeOf(t, p); got != c.want {
				t.Fatalf("shape %+v, want %+v", got, c.want)
			}
			checkDestinations(t, p, c.dests)
			if got := reassemble(t, p); !bytes.Equal(got, want) {
				t.Fatalf("payload differs (%d vs %d bytes)", len(got), len(want))
			}
			if c.want.compression == 1 && !c.want.inline && len(p) > 2 {
				if n := len(p[1].GetStreamChunk().Content); len(p) > 3 && n != datastream.ChunkSize {
					t.Fatalf("first compressed chunk %d bytes", n)
				}
			}
		})
	}
}

type sendFn = func(m *datastream.Manager) ([]byte, error)

func txt(s string, dests []string) sendFn {
	return func(m *datastream.Manager) ([]byte, error) {
		_, err := m.SendText(context.Background(), s, datastream.SendTextOptions{Topic: "t", DestinationIdentities: dests})
		return []byte(s), err
	}
}

func txtNoComp(s string) sendFn {
	return func(m *datastream.Manager) ([]byte, error) {
		_, err := m.SendText(context.Background(), s, datastream.SendTextOptions{Topic: "t", DisableCompression: true})
		return []byte(s), err
	}
}

func sendBytes(b []byte, dests []string) sendFn {
	return func(m *datastream.Manager) ([]byte, error) {
		_, err := m.SendBytes(context.Background(), b, datastream.SendBytesOptions{Topic: "t", DestinationIdentities: dests})
		if b == nil {
			b = []byte{}
		}
		return b, err
	}
}

func sendBytesNoComp(b []byte) sendFn {
	return func(m *datastream.Manager) ([]byte, error) {
		_, err := m.SendBytes(context.Background(), b, datastream.SendBytesOptions{Topic: "t", DisableCompression: true})
		return b, err
	}
}

func sendFile(b []byte, dests []string) sendFn {
	return func(m *datastream.Manager) ([]byte, error) {
		_, err := m.SendFile(context.Background(), bytes.NewReader(b), uint64(len(b)), datastream.SendFileOptions{Topic: "t", Name: "f.bin", DestinationIdentities: dests})
		if b == nil {
			b = []byte{}
		}
		return b, err
	}
}

func sendFileNoComp(b []byte) sendFn {
	return func(m *datastream.Manager) ([]byte, error) {
		_, err := m.SendFile(context.Background(), bytes.NewReader(b), uint64(len(b)), datastream.SendFileOptions{Topic: "t", DisableCompression: true})
		return b, err
	}
}

func streamText(s string) sendFn {
	return func(m *datastream.Manager) ([]byte, error) {
		w, err := m.StreamText(context.Background(), datastream.StreamTextOptions{Topic: "t"})
		if err != nil {
			return nil, err
		}
		if _, err := w.WriteString(s); err != nil {
			return nil, err
		}
		return []byte(s), w.Close()
	}
}

func streamBytes(b []byte) sendFn {
	return func(m *datastream.Manager) ([]byte, error) {
		w, err := m.StreamBytes(context.Background(), datastream.StreamBytesOptions{Topic: "t"})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		return b, w.Close()
	}
}

func bigAttrs() map[string]string { return map[string]string{"big": strings.Repeat("x", 16000)} }

func TestHeaderTooLarge(t *testing.T) {
	ctx := testkit.Context(t, 0)
	for _, c := range []struct {
		name  string
		peers []datastream.PeerInfo
		op    func(m *datastream.Manager) error
	}{
		{"chunked text pre-v2", v1room, func(m *datastream.Manager) error {
			_, err := m.SendText(ctx, "hi", datastream.SendTextOptions{Attributes: bigAttrs()})
			return err
		}},
		{"inline fallback v2", []datastream.PeerInfo{v2peer("bob")}, func(m *datastream.Manager) error {
			_, err := m.SendText(ctx, "hi", datastream.SendTextOptions{Attributes: bigAttrs()})
			return err
		}},
		{"streamText", nil, func(m *datastream.Manager) error {
			_, err := m.StreamText(ctx, datastream.StreamTextOptions{Attributes: bigAttrs()})
			return err
		}},
		{"streamBytes", nil, func(m *datastream.Manager) error {
			_, err := m.StreamBytes(ctx, datastream.StreamBytesOptions{Attributes: bigAttrs()})
			return err
		}},
		{"sendFile", nil, func(m *datastream.Manager) error {
			_, err := m.SendFile(ctx, strings.NewReader("x"), 1, datastream.SendFileOptions{Attributes: bigAttrs()})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, rec := newSender(t, c.peers)
			err := c.op(m)
			var se *datastream.StreamError
			if !errors.Is(err, datastream.ErrHeaderTooLarge) || !errors.As(err, &se) || se.Reason != datastream.ReasonHeaderTooLarge {
				t.Fatalf("err = %v", err)
			}
			if n := len(rec.Packets()); n != 0 {
				t.Fatalf("%d packets sent", n)
			}
		})
	}
}

// A large inline candidate whose packet exceeds 15 000 bytes falls back to
// chunks (the budget is measured on the whole packet with destinations).
func TestInlineBudgetIncludesDestinations(t *testing.T) {
	m, rec := newSender(t, []datastream.PeerInfo{v2noCap("bob")})
	text := pseudoText(14900)
	if _, err := m.SendText(testkit.Context(t, 0), text, datastream.SendTextOptions{DestinationIdentities: []string{"bob"}, Attributes: map[string]string{"k": strings.Repeat("v", 200)}}); err != nil {
		t.Fatal(err)
	}
	p := rec.Packets()
	if s := shapeOf(t, p); s.inline || s.packets != 3 {
		t.Fatalf("shape %+v", s)
	}
	for _, pk := range p {
		if proto.Size(pk) > datastream.ChunkSize+100 {
			t.Fatalf("packet of %d bytes", proto.Size(pk))
		}
	}
}

func TestStreamTextSplitsOnRuneBoundaries(t *testing.T) {
	m, rec := newSender(t, nil)
	w, err := m.StreamText(testkit.Context(t, 0), datastream.StreamTextOptions{Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("a", 14999) + "€" + strings.Repeat("😀", 5000) + "é"
	// Write it in awkward byte pieces that cut runes in half.
	b := []byte(text)
	for len(b) > 0 {
		n := min(len(b), 7001)
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := rec.Packets()
	var all []byte
	for _, pk := range p[1 : len(p)-1] {
		c := pk.GetStreamChunk().Content
		if !utf8.Valid(c) || len(c) > datastream.ChunkSize {
			t.Fatalf("chunk %d invalid or too long (%d)", pk.GetStreamChunk().ChunkIndex, len(c))
		}
		all = append(all, c...)
	}
	if string(all) != text {
		t.Fatal("text differs")
	}
	if p[0].GetStreamHeader().TotalLength != nil {
		t.Fatal("streamText without TotalSize must not declare a length")
	}
}

func TestSplitUTF8(t *testing.T) {
	s := []byte(strings.Repeat("a", 14999) + "€b")
	parts := datastream.SplitUTF8(s, datastream.ChunkSize)
	if len(parts) != 2 || len(parts[0]) != 14999 || string(parts[1]) != "€b" {
		t.Fatalf("parts %d/%d", len(parts), len(parts[0]))
	}
}

func TestNoCompressionRuntime(t *testing.T) {
	rec := &dstest.Recorder{}
	rec.SetPeer(v2peer("bob"))
	m := datastream.NewManager(rec, datastream.Options{DisableCompression: true})
	defer m.Close()
	if _, err := m.SendText(testkit.Context(t, 0), compressible[:600], datastream.SendTextOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SendFile(testkit.Context(t, 0), strings.NewReader(compressible), uint64(len(compressible)), datastream.SendFileOptions{}); err != nil {
		t.Fatal(err)
	}
	p := rec.Packets()
	if h := p[0].GetStreamHeader(); h.Compression != 0 || h.InlineContent == nil {
		t.Fatalf("text %v", h)
	}
	if h := p[1].GetStreamHeader(); h.Compression != 0 {
		t.Fatal("file compressed")
	}
}

func TestSendProgress(t *testing.T) {
	m, _ := newSender(t, v1room)
	var got []float64
	if _, err := m.SendBytes(testkit.Context(t, 0), pseudoBytes(40000), datastream.SendBytesOptions{OnProgress: func(f float64) { got = append(got, f) }}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != 15000.0/40000 || got[1] != 30000.0/40000 || got[2] != 1 {
		t.Fatalf("progress %v", got)
	}
	got = nil
	if _, err := m.SendText(testkit.Context(t, 0), "", datastream.SendTextOptions{OnProgress: func(f float64) { got = append(got, f) }}); err != nil || len(got) != 1 || got[0] != 1 {
		t.Fatalf("empty progress %v %v", got, err)
	}
}

func TestSendFileShortReader(t *testing.T) {
	m, rec := newSender(t, v1room)
	_, err := m.SendFile(testkit.Context(t, 0), strings.NewReader("abc"), 10, datastream.SendFileOptions{})
	if !errors.Is(err, datastream.ErrInvalidArgument) {
		t.Fatalf("err = %v", err)
	}
	p := rec.Packets()
	if tr := p[len(p)-1].GetStreamTrailer(); tr == nil || tr.Reason == "" {
		t.Fatal("no abnormal trailer")
	}
}

func TestSendFailureAndCancel(t *testing.T) {
	boom := errors.New("transport down")
	rec := &dstest.Recorder{SendHook: func(ctx context.Context, pkt *lkpb.DataPacket) error {
		if pkt.GetStreamChunk() != nil {
			return boom
		}
		return nil
	}}
	m := datastream.NewManager(rec, datastream.Options{})
	defer m.Close()
	_, err := m.SendBytes(testkit.Context(t, 0), pseudoBytes(40000), datastream.SendBytesOptions{})
	if !errors.Is(err, datastream.ErrSendFailed) || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.SendText(ctx, "x", datastream.SendTextOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled err = %v", err)
	}
	_ = m.Close()
	if _, err := m.SendText(testkit.Context(t, 0), "x", datastream.SendTextOptions{}); !errors.Is(err, datastream.ErrClosed) {
		t.Fatalf("closed err = %v", err)
	}
}

func TestWriterCloseWithReason(t *testing.T) {
	m, rec := newSender(t, nil)
	w, err := m.StreamBytes(testkit.Context(t, 0), datastream.StreamBytesOptions{Topic: "t", TotalSize: u64p(3)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := w.CloseWithReason("cancelled", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{4}); !errors.Is(err, datastream.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	p := rec.Packets()
	tr := p[len(p)-1].GetStreamTrailer()
	if tr.Reason != "cancelled" || tr.Attributes["k"] != "v" || *p[0].GetStreamHeader().TotalLength != 3 || p[0].GetStreamHeader().GetByteHeader().Name != "unknown" {
		t.Fatalf("packets %v", p)
	}
}

// Attachments (ids of byte streams the caller sends) are listed in the text
// header, and such a text is never inline (as in JS sendText).
func TestAttachmentsNeverInline(t *testing.T) {
	m, rec := newSender(t, []datastream.PeerInfo{v2peer("bob")})
	att, err := m.SendFile(testkit.Context(t, 0), strings.NewReader("file"), 4, datastream.SendFileOptions{Topic: "t", Name: "a.txt", DestinationIdentities: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := m.SendText(testkit.Context(t, 0), "see attachment", datastream.SendTextOptions{Topic: "t", DestinationIdentities: []string{"bob"}, AttachedStreamIDs: []string{att.ID}})
	if err != nil {
		t.Fatal(err)
	}
	p := rec.Packets()
	text := p[len(p)-3:]
	if s := shapeOf(t, text); s.inline || s.packets != 3 {
		t.Fatalf("shape %+v", s)
	}
	if ids := text[0].GetStreamHeader().GetTextHeader().AttachedStreamIds; len(ids) != 1 || ids[0] != att.ID || info.AttachedStreamIDs[0] != att.ID {
		t.Fatalf("attached ids %v", ids)
	}
	checkDestinations(t, p, []string{"bob"})
}

// Payloads at or above the probe size: one that deflates into a single
// piece still goes inline; an incompressible one goes raw.
func TestLargePayloadShapes(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		want shape
	}{
		{"highly compressible inline", []byte(strings.Repeat("x", 300_000)), shape{1, lkpb.DataStream_DEFLATE_RAW, true}},
		{"random raw", pseudoBytes(300_000), shape{2 + 300_000/datastream.ChunkSize, lkpb.DataStream_NONE, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, rec := newSender(t, []datastream.PeerInfo{v2peer("bob")})
			if _, err := m.SendBytes(testkit.Context(t, 0), c.data, datastream.SendBytesOptions{Topic: "t"}); err != nil {
				t.Fatal(err)
			}
			p := rec.Packets()
			if got := shapeOf(t, p); got != c.want {
				t.Fatalf("shape %+v, want %+v", got, c.want)
			}
			if got := reassemble(t, p); !bytes.Equal(got, c.data) {
				t.Fatal("payload differs")
			}
		})
	}
}

// A large compressible payload (the probe predicts several chunks) is
// compressed while it is sent: a deflate-raw stream in full chunks (the
// last one shorter) that inflates to the payload, smaller than it, with
// progress rising to 1.
func TestLargeCompressibleStreamed(t *testing.T) {
	text := base64.StdEncoding.EncodeToString(pseudoBytes(786_432)) // 1 MiB
	m, rec := newSender(t, []datastream.PeerInfo{v2peer("bob")})
	var got []float64
	info, err := m.SendText(testkit.Context(t, 0), text, datastream.SendTextOptions{Topic: "t", OnProgress: func(f float64) { got = append(got, f) }})
	if err != nil {
		t.Fatal(err)
	}
	p := rec.Packets()
	if s := shapeOf(t, p); s.compression != lkpb.DataStream_DEFLATE_RAW || s.inline || info.Compression != lkpb.DataStream_DEFLATE_RAW {
		t.Fatalf("shape %+v, info compression %v", s, info.Compression)
	}
	wire := 0
	for i, c := range p[1 : len(p)-1] {
		n := len(c.GetStreamChunk().GetContent())
		if i < len(p)-3 && n != datastream.ChunkSize {
			t.Fatalf("chunk %d of %d has %d bytes", i, len(p)-2, n)
		}
		wire += n
	}
	if wire >= len(text) {
		t.Fatalf("%d bytes on the wire for %d", wire, len(text))
	}
	if string(reassemble(t, p)) != text {
		t.Fatal("payload differs")
	}
	if len(got) < 2 || got[len(got)-1] != 1 || !slices.IsSorted(got) || got[0] <= 0 {
		t.Fatalf("progress %v", got)
	}
}

// A transport failure in the middle of a large compressed stream ends the
// send with ErrSendFailed and nothing after the failed chunk; a context
// cancelled mid-way sends the "cancelled" trailer.
func TestLargeCompressibleSendFailure(t *testing.T) {
	text := base64.StdEncoding.EncodeToString(pseudoBytes(600_000))[:600_000]
	boom := errors.New("transport down")
	rec := &dstest.Recorder{SendHook: func(_ context.Context, pkt *lkpb.DataPacket) error {
		if c := pkt.GetStreamChunk(); c != nil && c.ChunkIndex == 3 {
			return boom
		}
		return nil
	}}
	rec.SetPeer(v2peer("bob"))
	m := datastream.NewManager(rec, datastream.Options{})
	defer m.Close()
	if _, err := m.SendText(testkit.Context(t, 0), text, datastream.SendTextOptions{}); !errors.Is(err, datastream.ErrSendFailed) || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if p := rec.Packets(); len(p) != 4 || p[3].GetStreamChunk().GetChunkIndex() != 2 {
		t.Fatalf("%d packets after the failure", len(p))
	}

	ctx, cancel := context.WithCancel(testkit.Context(t, 0))
	rec2 := &dstest.Recorder{SendHook: func(_ context.Context, pkt *lkpb.DataPacket) error {
		if c := pkt.GetStreamChunk(); c != nil && c.ChunkIndex == 2 {
			cancel()
		}
		return nil
	}}
	rec2.SetPeer(v2peer("bob"))
	m2 := datastream.NewManager(rec2, datastream.Options{})
	defer m2.Close()
	if _, err := m2.SendText(ctx, text, datastream.SendTextOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled err = %v", err)
	}
	p := rec2.Packets()
	if tr := p[len(p)-1].GetStreamTrailer(); tr == nil || tr.Reason != "cancelled" {
		t.Fatalf("last packet %v", p[len(p)-1])
	}
}
