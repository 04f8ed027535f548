package datastream_test

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"maps"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

func deflate(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func compHdr(h *lkpb.DataStream_Header) *lkpb.DataStream_Header {
	h.Compression = lkpb.DataStream_DEFLATE_RAW
	return h
}

func readErr(t *testing.T, rd interface {
	ReadAll(context.Context) (string, error)
}, want error, sub string) {
	t.Helper()
	_, err := rd.ReadAll(testkit.Context(t, 0))
	if !errors.Is(err, want) || !strings.Contains(err.Error(), sub) {
		t.Fatalf("err = %v, want %v containing %q", err, want, sub)
	}
}

func readBytesErr(t *testing.T, rd *datastream.ByteStreamReader, want error, sub string) {
	t.Helper()
	_, err := rd.ReadAll(testkit.Context(t, 0))
	if !errors.Is(err, want) || !strings.Contains(err.Error(), sub) {
		t.Fatalf("err = %v, want %v containing %q", err, want, sub)
	}
}

func TestIncomingV1Text(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.feed(hp(hdr("s", true, u64p(11), map[string]string{"foo": "bar"})), cp("s", 0, []byte("hello world")), tp("s", "", nil))
	rd := r.text(t)
	if from := <-r.from; from != "alice" {
		t.Fatalf("from %q", from)
	}
	s, err := rd.ReadAll(testkit.Context(t, 0))
	if err != nil || s != "hello world" || rd.Info().Attributes["foo"] != "bar" || rd.Info().SenderIdentity != "alice" {
		t.Fatalf("%q %v %v", s, err, rd.Info())
	}
}

func TestIncomingV1Bytes(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.feed(hp(hdr("s", false, u64p(4), nil)), cp("s", 0, []byte{1, 2}), cp("s", 1, []byte{3, 4}), tp("s", "", nil))
	b, err := r.byteStream(t).ReadAll(testkit.Context(t, 0))
	if err != nil || !bytes.Equal(b, []byte{1, 2, 3, 4}) {
		t.Fatalf("%x %v", b, err)
	}
	if r.m.OpenIncomingStreams() != 0 {
		t.Fatal("stream not forgotten")
	}
}

func TestIncomingTextWithAttachment(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	h := hdr("txt", true, u64p(2), nil)
	h.GetTextHeader().AttachedStreamIds = []string{"att"}
	r.feed(hp(hdr("att", false, u64p(1), nil)), cp("att", 0, []byte{9}), tp("att", "", nil),
		hp(h), cp("txt", 0, []byte("hi")), tp("txt", "", nil))
	rd := r.text(t)
	if ids := rd.Info().AttachedStreamIDs; len(ids) != 1 || ids[0] != "att" {
		t.Fatalf("attachments %v", ids)
	}
	if b, err := r.byteStream(t).ReadAll(testkit.Context(t, 0)); err != nil || !bytes.Equal(b, []byte{9}) {
		t.Fatal(b, err)
	}
}

func TestIncomingTrailerAttributesMerged(t *testing.T) {
	for _, comp := range []bool{false, true} {
		r := newRx(t, datastream.Limits{})
		h := hdr("s", true, u64p(2), map[string]string{"foo": "bar", "hello": "world"})
		content := []byte("hi")
		if comp {
			h, content = compHdr(h), deflate(t, content)
		}
		r.feed(hp(h), cp("s", 0, content), tp("s", "", map[string]string{"foo": "updated", "baz": "quux"}))
		rd := r.text(t)
		if s, err := rd.ReadAll(testkit.Context(t, 0)); err != nil || s != "hi" {
			t.Fatal(s, err)
		}
		a := rd.Info().Attributes
		if len(a) != 3 || a["foo"] != "updated" || a["baz"] != "quux" || a["hello"] != "world" {
			t.Fatalf("attributes %v", a)
		}
	}
}

func TestIncomingEncryptionMismatch(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.m.HandlePacketWithEncryption(hp(hdr("s", true, u64p(2), nil)), lkpb.Encryption_GCM)
	r.m.HandlePacketWithEncryption(cp("s", 0, []byte("h")), lkpb.Encryption_GCM)
	r.m.HandlePacket(cp("s", 1, []byte("i")))
	readErr(t, r.text(t), datastream.ErrEncryptionTypeMismatch, "Encryption type mismatch")
	// Trailer mismatch too.
	r.m.HandlePacketWithEncryption(hp(hdr("s2", true, nil, nil)), lkpb.Encryption_GCM)
	r.m.HandlePacket(tp("s2", "", nil))
	readErr(t, r.text(t), datastream.ErrEncryptionTypeMismatch, "mismatch")
	// Consistent encryption works and is reported.
	r.m.HandlePacketWithEncryption(hp(hdr("s3", true, nil, nil)), lkpb.Encryption_GCM)
	r.m.HandlePacketWithEncryption(cp("s3", 0, []byte("ok")), lkpb.Encryption_GCM)
	r.m.HandlePacketWithEncryption(tp("s3", "", nil), lkpb.Encryption_GCM)
	rd := r.text(t)
	if s, err := rd.ReadAll(testkit.Context(t, 0)); err != nil || s != "ok" || rd.Info().EncryptionType != lkpb.Encryption_GCM {
		t.Fatal(s, err)
	}
}

func TestIncomingLengthChecks(t *testing.T) {
	for _, comp := range []bool{false, true} {
		r := newRx(t, datastream.Limits{})
		h := hdr("few", true, u64p(20), nil)
		c := []byte("hello")
		if comp {
			h, c = compHdr(h), deflate(t, c)
		}
		r.feed(hp(h), cp("few", 0, c), tp("few", "", nil))
		readErr(t, r.text(t), datastream.ErrIncomplete, "Not enough chunk(s)")

		h = hdr("many", true, u64p(3), nil)
		c = []byte("hello")
		if comp {
			h, c = compHdr(h), deflate(t, c)
		}
		r.feed(hp(h), cp("many", 0, c), tp("many", "", nil))
		readErr(t, r.text(t), datastream.ErrLengthExceeded, "Extra chunk(s)")
	}
}

// A sender that reconnected fully has a new session: the streams its old session was sending
// (their header's participant_sid) fail — also one an agent's session sent on behalf of another
// participant (header with the other's identity, the agent's sid) — while those of its new
// session and those without a sid go on.
func TestIncomingSenderSessionEnded(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	withSID := func(id, identity, sid string) *lkpb.DataPacket {
		p := hp(hdr(id, true, nil, nil))
		p.ParticipantIdentity, p.ParticipantSid = identity, sid
		return p
	}
	r.feed(withSID("old", "alice", "PA_1"), withSID("new", "alice", "PA_2"), withSID("none", "alice", ""), withSID("behalf", "user", "PA_1"))
	readers := map[string]*datastream.TextStreamReader{}
	for range 4 {
		rd := r.text(t)
		readers[rd.Info().ID] = rd
	}
	if got := readers["behalf"].Info().SenderIdentity; got != "user" {
		t.Fatalf("the stream sent on behalf of user is from %q", got)
	}
	r.m.HandleParticipantSessionEnded("alice", "")
	r.m.HandleParticipantSessionEnded("alice", "PA_3")
	if r.m.OpenIncomingStreams() != 4 {
		t.Fatal("a stream of another session ended")
	}
	r.m.HandleParticipantSessionEnded("alice", "PA_1")
	readErr(t, readers["old"], datastream.ErrAbnormalEnd, "Participant alice reconnected in the middle of sending data")
	readErr(t, readers["behalf"], datastream.ErrAbnormalEnd, "Participant alice reconnected in the middle of sending data")
	if r.m.OpenIncomingStreams() != 2 {
		t.Fatalf("%d streams open, want the new session's and the one without a sid", r.m.OpenIncomingStreams())
	}
	for _, id := range []string{"new", "none"} {
		r.feed(cp(id, 0, []byte("fine")), tp(id, "", nil))
		if s, err := readers[id].ReadAll(testkit.Context(t, 0)); err != nil || s != "fine" {
			t.Fatal(id, s, err)
		}
	}
}

// A sender that leaves fails the streams its session was sending (the header's sid decides):
// in its name, and on behalf of another participant (its sid on a header with the other's
// identity); a stream another session sends in its name goes on, as does another sender's. A
// header without a sid, or a departure whose sid is not known, goes by identity.
func TestIncomingSenderDisconnect(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	header := func(id, identity, sid string) *lkpb.DataPacket {
		p := hp(hdr(id, true, nil, nil))
		p.ParticipantIdentity, p.ParticipantSid = identity, sid
		return p
	}
	r.feed(header("s", "alice", "PA_alice"), cp("s", 0, []byte("partial")))
	r.feed(header("o", "carol", "PA_carol"), header("b", "carol", "PA_alice"), header("a", "alice", "PA_agent"),
		header("n", "dave", ""), header("n2", "dave", "PA_dave"))
	readers := map[string]*datastream.TextStreamReader{}
	for range 6 {
		rd := r.text(t)
		readers[rd.Info().ID] = rd
	}
	r.m.HandleParticipantDisconnected("alice", "PA_alice")
	readErr(t, readers["s"], datastream.ErrAbnormalEnd, "Participant alice unexpectedly disconnected in the middle of sending data")
	readErr(t, readers["b"], datastream.ErrAbnormalEnd, "Participant alice unexpectedly disconnected in the middle of sending data")
	if r.m.OpenIncomingStreams() != 4 {
		t.Fatal("a stream another session sends (the agent's in alice's name, carol's, dave's) must stay open")
	}
	r.m.HandleParticipantDisconnected("dave", "")
	readErr(t, readers["n"], datastream.ErrAbnormalEnd, "Participant dave unexpectedly disconnected in the middle of sending data")
	readErr(t, readers["n2"], datastream.ErrAbnormalEnd, "Participant dave unexpectedly disconnected in the middle of sending data")
	r.feed(cp("a", 0, []byte("still")), tp("a", "", nil))
	if s, err := readers["a"].ReadAll(testkit.Context(t, 0)); err != nil || s != "still" {
		t.Fatal(s, err)
	}
	if r.m.OpenIncomingStreams() != 1 {
		t.Fatal("the other sender's stream must stay open")
	}
	c := cp("o", 0, []byte("fine"))
	c.ParticipantIdentity = "carol"
	tr := tp("o", "", nil)
	tr.ParticipantIdentity = "carol"
	r.feed(c, tr)
	if s, err := readers["o"].ReadAll(testkit.Context(t, 0)); err != nil || s != "fine" {
		t.Fatal(s, err)
	}
}

func TestIncomingInline(t *testing.T) {
	text := strings.Repeat("inline text ", 50)
	for _, c := range []struct {
		name string
		comp bool
		text bool
	}{{"text raw", false, true}, {"text deflate", true, true}, {"bytes raw", false, false}, {"bytes deflate", true, false}} {
		t.Run(c.name, func(t *testing.T) {
			r := newRx(t, datastream.Limits{})
			h := hdr("s", c.text, u64p(uint64(len(text))), map[string]string{"a": "b"})
			h.InlineContent = []byte(text)
			if c.comp {
				h = compHdr(h)
				h.InlineContent = deflate(t, []byte(text))
			}
			r.feed(hp(h), cp("s", 0, []byte("ignored")), tp("s", "x", nil)) // no chunks/trailer expected: ignored
			var got string
			var err error
			if c.text {
				rd := r.text(t)
				got, err = rd.ReadAll(testkit.Context(t, 0))
				if rd.Info().Attributes["a"] != "b" || !rd.Info().Inline {
					t.Fatal(rd.Info())
				}
			} else {
				var b []byte
				b, err = r.byteStream(t).ReadAll(testkit.Context(t, 0))
				got = string(b)
			}
			if err != nil || got != text {
				t.Fatalf("%q %v", got, err)
			}
		})
	}
}

func TestIncomingInlineZeroLength(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	h := hdr("t0", true, u64p(0), nil)
	h.InlineContent = []byte{}
	b := hdr("b0", false, u64p(0), nil)
	b.InlineContent = []byte{}
	r.feed(hp(h), hp(b))
	if s, err := r.text(t).ReadAll(testkit.Context(t, 0)); err != nil || s != "" {
		t.Fatal(s, err)
	}
	rd := r.byteStream(t)
	// Zero-length inline bytes: Next reports the end at once (Rust
	// behaviour; JS delivers one empty chunk — ReadAll is equal in both).
	if p, err := rd.Next(testkit.Context(t, 0)); err != io.EOF || p != nil {
		t.Fatal(p, err)
	}
}

func TestIncomingMultiPacketCompressed(t *testing.T) {
	payload := []byte(strings.Repeat("Grüße, 世界! 😀 ", 4000) + pseudoText(30000))
	z := deflate(t, payload)
	for _, text := range []bool{true, false} {
		r := newRx(t, datastream.Limits{})
		pk := []*lkpb.DataPacket{hp(compHdr(hdr("s", text, u64p(uint64(len(payload))), nil)))}
		// Deliberately small, odd chunk sizes so multibyte characters
		// straddle chunk boundaries of the compressed and decompressed data.
		for i, off := 0, 0; off < len(z); i++ {
			n := min(997, len(z)-off)
			pk = append(pk, cp("s", uint64(i), z[off:off+n]))
			off += n
		}
		pk = append(pk, tp("s", "", nil))
		r.feed(pk...)
		if text {
			rd := r.text(t)
			var sb strings.Builder
			for {
				piece, err := rd.Next(testkit.Context(t, 0))
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(string(payload[sb.Len():]), piece) {
					t.Fatal("delta out of order")
				}
				sb.WriteString(piece)
			}
			if sb.String() != string(payload) {
				t.Fatal("text differs")
			}
		} else {
			b, err := r.byteStream(t).ReadAll(testkit.Context(t, 0))
			if err != nil || !bytes.Equal(b, payload) {
				t.Fatal(err)
			}
		}
	}
}

func TestIncomingDuplicateAndGap(t *testing.T) {
	payload := []byte(pseudoText(5000))
	z := deflate(t, payload)
	for _, comp := range []bool{false, true} {
		w := payload
		h := hdr("s", true, u64p(uint64(len(payload))), nil)
		if comp {
			w, h = z, compHdr(h)
		}
		half := len(w) / 2
		r := newRx(t, datastream.Limits{})
		r.feed(hp(h), cp("s", 0, w[:half]), cp("s", 0, w[:half]), cp("s", 1, w[half:]), cp("s", 1, w[half:]), tp("s", "", nil))
		if s, err := r.text(t).ReadAll(testkit.Context(t, 0)); err != nil || s != string(payload) {
			t.Fatalf("duplicate: %v", err)
		}
		h2 := hdr("g", true, u64p(uint64(len(payload))), nil)
		if comp {
			h2 = compHdr(h2)
		}
		r.feed(hp(h2), cp("g", 0, w[:half]), cp("g", 2, w[half:]))
		readErr(t, r.text(t), datastream.ErrIncomplete, "Missing chunk(s)")
	}
}

func TestIncomingUnknownCompressionIgnored(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	h := hdr("s", true, u64p(2), nil)
	h.Compression = 7
	r.feed(hp(h), cp("s", 0, []byte("hi")), tp("s", "", nil))
	r.none(t)
}

func TestIncomingNoHandlerDropped(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	h := hdr("s", true, u64p(2), nil)
	h.Topic = "nobody"
	r.feed(hp(h), cp("s", 0, []byte("hi")), tp("s", "", nil))
	if r.m.OpenIncomingStreams() != 0 {
		t.Fatal("stream opened")
	}
	r.none(t)
}

func TestIncomingDuplicateStreamID(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.feed(hp(hdr("s", true, nil, nil)), hp(hdr("s", false, nil, nil)), hp(hdr("s", true, nil, nil)), cp("s", 0, []byte("one")), tp("s", "", nil))
	if s, err := r.text(t).ReadAll(testkit.Context(t, 0)); err != nil || s != "one" {
		t.Fatal(s, err)
	}
	r.none(t) // exactly one reader
}

func TestIncomingEmptyChunks(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.feed(hp(hdr("s", true, u64p(5), nil)), cp("s", 0, nil), cp("s", 1, []byte("hello")), tp("s", "", nil))
	if s, err := r.text(t).ReadAll(testkit.Context(t, 0)); err != nil || s != "hello" {
		t.Fatal(s, err)
	}
}

func TestIncomingAbnormalTrailer(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.feed(hp(hdr("s", true, nil, nil)), cp("s", 0, []byte("x")), tp("s", "cancelled", map[string]string{"why": "user"}))
	rd := r.text(t)
	readErr(t, rd, datastream.ErrAbnormalEnd, "Data stream s closed abnormally: cancelled")
	if rd.Info().Attributes["why"] != "user" {
		t.Fatal("trailer attributes not merged on abnormal end")
	}
}

func TestIncomingPayloadCaps(t *testing.T) {
	l := datastream.Limits{MaxPayloadBytes: 1000}
	big := []byte(strings.Repeat("z", 5000))
	r := newRx(t, l)
	// inline compressed, unknown total
	h := compHdr(hdr("i", true, nil, nil))
	h.InlineContent = deflate(t, big)
	r.feed(hp(h))
	readErr(t, r.text(t), datastream.ErrPayloadTooLarge, "maximum payload size")
	// chunked compressed, unknown total
	r.feed(hp(compHdr(hdr("c", true, nil, nil))), cp("c", 0, deflate(t, big)), tp("c", "", nil))
	readErr(t, r.text(t), datastream.ErrPayloadTooLarge, "maximum payload size")
	// uncompressed, unknown total
	r.feed(hp(hdr("u", false, nil, nil)), cp("u", 0, big), tp("u", "", nil))
	readBytesErr(t, r.byteStream(t), datastream.ErrPayloadTooLarge, "maximum payload size")
	// declared total above the cap fails fast
	r.feed(hp(hdr("d", false, u64p(1001), nil)))
	readBytesErr(t, r.byteStream(t), datastream.ErrPayloadTooLarge, "maximum payload size")
	if r.m.OpenIncomingStreams() != 0 {
		t.Fatal("oversized stream registered")
	}
	// exactly at the cap succeeds
	h = compHdr(hdr("ok", false, u64p(1000), nil))
	h.InlineContent = deflate(t, big[:1000])
	r.feed(hp(h))
	if b, err := r.byteStream(t).ReadAll(testkit.Context(t, 0)); err != nil || len(b) != 1000 {
		t.Fatal(len(b), err)
	}
}

func TestIncomingDecodeErrors(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.feed(hp(hdr("bad", true, nil, nil)), cp("bad", 0, []byte{'a', 0xff, 'b'}), tp("bad", "", nil))
	readErr(t, r.text(t), datastream.ErrDecodeFailed, "UTF-8")
	r.feed(hp(compHdr(hdr("z", false, nil, nil))), cp("z", 0, []byte("not deflate at all")), tp("z", "", nil))
	readBytesErr(t, r.byteStream(t), datastream.ErrDecodeFailed, "inflate")
	r.feed(hp(compHdr(hdr("junk", false, nil, nil))), cp("junk", 0, append(deflate(t, []byte("abc")), 1, 2)), tp("junk", "", nil))
	readBytesErr(t, r.byteStream(t), datastream.ErrDecodeFailed, "trailing data")
	r.feed(hp(compHdr(hdr("trunc", false, nil, nil))), cp("trunc", 0, deflate(t, []byte(pseudoText(3000)))[:100]), tp("trunc", "", nil))
	readBytesErr(t, r.byteStream(t), datastream.ErrDecodeFailed, "truncated")
	// a multibyte character split across uncompressed chunks is re-framed
	e := []byte("€")
	r.feed(hp(hdr("split", true, nil, nil)), cp("split", 0, e[:1]), cp("split", 1, e[1:]), tp("split", "", nil))
	if s, err := r.text(t).ReadAll(testkit.Context(t, 0)); err != nil || s != "€" {
		t.Fatal(s, err)
	}
}

func TestIncomingRoomClose(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.feed(hp(hdr("s", true, nil, nil)), cp("s", 0, []byte("x")))
	rd := r.text(t)
	done := make(chan error, 1)
	go func() { _, err := rd.ReadAll(context.Background()); done <- err }()
	_ = r.m.Close()
	if err := <-done; !errors.Is(err, datastream.ErrAbnormalEnd) || !strings.Contains(err.Error(), "Room disconnected") {
		t.Fatalf("err = %v", err)
	}
	r.feed(hp(hdr("late", true, nil, nil)))
	if r.m.OpenIncomingStreams() != 0 {
		t.Fatal("stream opened after close")
	}
}

func TestIncomingSlowReaderBounded(t *testing.T) {
	r := newRx(t, datastream.Limits{MaxBufferedBytes: 40000})
	r.feed(hp(hdr("s", false, nil, nil)))
	rd := r.byteStream(t)
	chunk := make([]byte, 15000)
	for i := range 10 {
		r.feed(cp("s", uint64(i), chunk))
	}
	if r.m.OpenIncomingStreams() != 0 {
		t.Fatal("overflowing stream still open")
	}
	readBytesErr(t, rd, datastream.ErrBufferOverflow, "too slow")
}

func TestIncomingReaderCancelAbandons(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.feed(hp(hdr("s", true, nil, nil)))
	rd := r.text(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rd.Next(ctx); !errors.Is(err, datastream.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if r.m.OpenIncomingStreams() != 0 {
		t.Fatal("abandoned stream still open")
	}
	r.feed(cp("s", 0, []byte("dropped")))
	if _, err := rd.Next(testkit.Context(t, 0)); !errors.Is(err, datastream.ErrCancelled) {
		t.Fatalf("err = %v", err)
	}
	// Close abandons too.
	r.feed(hp(hdr("c", false, nil, nil)))
	b := r.byteStream(t)
	_ = b.Close()
	if r.m.OpenIncomingStreams() != 0 {
		t.Fatal("closed stream still open")
	}
}

func TestIncomingIOReaderAndProgress(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	payload := pseudoBytes(40000)
	r.feed(hp(hdr("s", false, u64p(40000), nil)))
	rd := r.byteStream(t)
	var prog [][2]uint64
	rd.OnProgress(func(got, total uint64) { prog = append(prog, [2]uint64{got, total}) })
	r.feed(cp("s", 0, payload[:15000]), cp("s", 1, payload[15000:30000]), cp("s", 2, payload[30000:]), tp("s", "", nil))
	got, err := io.ReadAll(rd)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatal(err)
	}
	if len(prog) != 3 || prog[2] != [2]uint64{40000, 40000} || rd.BytesReceived() != 40000 {
		t.Fatalf("progress %v", prog)
	}
}

func TestIncomingUnknownChunkIgnoredAndLimits(t *testing.T) {
	r := newRx(t, datastream.Limits{MaxOpenStreamsPerSender: 2})
	r.feed(cp("nope", 0, []byte("x")), tp("nope", "", nil))
	r.feed(hp(hdr("a", true, nil, nil)), hp(hdr("b", true, nil, nil)), hp(hdr("c", true, nil, nil)))
	if n := r.m.OpenIncomingStreams(); n != 2 {
		t.Fatalf("%d open", n)
	}
}

func TestReservedTopics(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	if err := r.m.RegisterTextStreamHandler(datastream.RPCRequestTopic, func(*datastream.TextStreamReader, string) {}); !errors.Is(err, datastream.ErrHandlerAlreadyRegistered) {
		t.Fatalf("err = %v", err)
	}
	if err := r.m.RegisterTextStreamHandler("t", func(*datastream.TextStreamReader, string) {}); !errors.Is(err, datastream.ErrHandlerAlreadyRegistered) {
		t.Fatalf("duplicate err = %v", err)
	}
	if err := r.m.RegisterReservedTextStreamHandler("t", func(*datastream.TextStreamReader, string) {}); !errors.Is(err, datastream.ErrInvalidArgument) {
		t.Fatalf("err = %v", err)
	}
	// An RPC-topic stream without the reserved handler is dropped, never
	// shown to user handlers.
	h := hdr("s", true, nil, nil)
	h.Topic = datastream.RPCRequestTopic
	r.feed(hp(h))
	r.none(t)
}

func TestReaderIterators(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	r.feed(hp(hdr("s", true, nil, nil)), cp("s", 0, []byte("a")), cp("s", 1, []byte("b")), tp("s", "", nil))
	var got []string
	for s, err := range r.text(t).All(testkit.Context(t, 0)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if strings.Join(got, "|") != "a|b" {
		t.Fatal(got)
	}
	r.feed(hp(hdr("b", false, nil, nil)), cp("b", 0, []byte{1}), tp("b", "stop", nil))
	var n int
	var last error
	for p, err := range r.byteStream(t).All(testkit.Context(t, 0)) {
		n += len(p)
		last = err
	}
	if !errors.Is(last, datastream.ErrAbnormalEnd) {
		t.Fatalf("last = %v (n=%d)", last, n)
	}
}

// Read and ReadAll reuse one inflate buffer per reader: the delivered data
// must be exact whatever the piece size (also below the 512-byte minimum
// read used near the end of a stream of known length), for text (UTF-8
// sequences straddling pieces) and bytes.
func TestIncomingCompressedReadReusesBuffer(t *testing.T) {
	payload := []byte(strings.Repeat("Grüße, 世界! 😀 ", 3000) + pseudoText(20000))
	z := deflate(t, payload)
	for _, piece := range []int{0, 100, 4096} {
		for _, text := range []bool{true, false} {
			for _, readAll := range []bool{true, false} {
				r := newRx(t, datastream.Limits{ReadPieceSize: piece})
				pk := []*lkpb.DataPacket{hp(compHdr(hdr("s", text, u64p(uint64(len(payload))), nil)))}
				for i, off := 0, 0; off < len(z); i++ {
					n := min(1500, len(z)-off)
					pk = append(pk, cp("s", uint64(i), z[off:off+n]))
					off += n
				}
				r.feed(append(pk, tp("s", "", nil))...)
				var got []byte
				var err error
				switch {
				case text && readAll:
					var s string
					s, err = r.text(t).ReadAll(testkit.Context(t, 0))
					got = []byte(s)
				case text:
					got, err = io.ReadAll(iotestHalf{r.text(t)})
				case readAll:
					got, err = r.byteStream(t).ReadAll(testkit.Context(t, 0))
				default:
					got, err = io.ReadAll(iotestHalf{r.byteStream(t)})
				}
				if err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("piece %d text %v readAll %v: %d of %d bytes, err %v", piece, text, readAll, len(got), len(payload), err)
				}
			}
		}
	}
}

// iotestHalf reads at most 777 bytes per call, so Read hands out the
// reader's buffered piece over several calls.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) { return h.r.Read(p[:min(len(p), 777)]) }

// ReadAll reserves room for the size the sender declares only up to 4 MiB: a header that
// declares tens of MiB and sends nothing must not make the receiver allocate them (a remote
// caller's RPC v2 request stream is read this way, and a peer may keep hundreds open).
func TestReadAllDoesNotReserveTheDeclaredSize(t *testing.T) {
	const declared = 60 << 20
	for _, text := range []bool{true, false} {
		r := newRx(t, datastream.Limits{})
		r.feed(hp(hdr("s", text, u64p(declared), nil)), cp("s", 0, []byte("hi")), tp("s", "gone", nil))
		var readAll func(context.Context) error
		if text {
			rd := r.text(t)
			readAll = func(ctx context.Context) error { _, err := rd.ReadAll(ctx); return err }
		} else {
			rd := r.byteStream(t)
			readAll = func(ctx context.Context) error { _, err := rd.ReadAll(ctx); return err }
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := readAll(testkit.Context(t, 0)); err == nil {
			t.Fatal("an aborted stream read without error")
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
			t.Fatalf("text=%v: ReadAll allocated %d MiB for a stream declaring %d MiB and carrying 2 bytes", text, grew>>20, declared>>20)
		}
	}
}

// Streams complete on the wire but not read yet are bounded: in number (a stream counts from
// its header until its reader has seen the end or an error, or abandoned it — the trailer
// does not end it for the reader) and, together with the open ones, in queued bytes.
func TestIncomingUnreadStreamsBounded(t *testing.T) {
	r := newRx(t, datastream.Limits{MaxUnfinishedStreams: 2, MaxBufferedBytesTotal: 100, MaxBufferedBytes: 80})
	whole := func(id string, n int) {
		r.feed(hp(hdr(id, false, nil, nil)), cp(id, 0, make([]byte, n)), tp(id, "", nil))
	}
	whole("a", 60)
	whole("b", 30)
	a, b := r.byteStream(t), r.byteStream(t) // handed over on goroutines of their own: any order
	if a.Info().ID != "a" {
		a, b = b, a
	}
	if n, bytes := r.m.UnfinishedIncomingStreams(); n != 2 || bytes != 90 {
		t.Fatalf("%d unfinished streams, %d bytes queued; want 2, 90", n, bytes)
	}
	whole("c", 1) // a third stream while two are unread: dropped
	if n, _ := r.m.UnfinishedIncomingStreams(); n != 2 {
		t.Fatalf("%d unfinished streams after a third header", n)
	}
	select {
	case rd := <-r.bytes:
		t.Fatalf("stream %s handed over beyond the limit", rd.Info().ID)
	default:
	}
	if got, err := a.ReadAll(testkit.Context(t, 0)); err != nil || len(got) != 60 {
		t.Fatalf("a: %d bytes, %v", len(got), err)
	}
	// a was read to its end: a new stream fits again, but its chunk would take the bytes
	// queued for all readers past 100 (b still holds 30), so that stream fails.
	r.feed(hp(hdr("d", false, nil, nil)))
	d := r.byteStream(t)
	r.feed(cp("d", 0, make([]byte, 75)))
	readBytesErr(t, d, datastream.ErrBufferOverflow, "all of them")
	if got, err := b.ReadAll(testkit.Context(t, 0)); err != nil || len(got) != 30 {
		t.Fatalf("b: %d bytes, %v", len(got), err)
	}
	if n, bytes := r.m.UnfinishedIncomingStreams(); n != 0 || bytes != 0 {
		t.Fatalf("%d unfinished streams, %d bytes queued after every reader finished", n, bytes)
	}
	// A reader closed unread finishes its stream too, and returns its bytes.
	whole("e", 50)
	if err := r.byteStream(t).Close(); err != nil {
		t.Fatal(err)
	}
	if n, bytes := r.m.UnfinishedIncomingStreams(); n != 0 || bytes != 0 {
		t.Fatalf("%d unfinished streams, %d bytes queued after a reader gave up", n, bytes)
	}
}

// StreamInfo.Arrival numbers the streams handed to registered handlers in header order,
// without gaps: a stream of a reserved topic, or one dropped at its header (no handler for
// its topic, a duplicate id), takes no number.
func TestIncomingArrivalNumbersHandledStreamsInHeaderOrder(t *testing.T) {
	r := newRx(t, datastream.Limits{})
	reserved := make(chan *datastream.TextStreamReader, 4)
	if err := r.m.RegisterReservedTextStreamHandler(datastream.RPCRequestTopic, func(rd *datastream.TextStreamReader, _ string) { reserved <- rd }); err != nil {
		t.Fatal(err)
	}
	rpc := hdr("rpc", true, nil, nil)
	rpc.Topic = datastream.RPCRequestTopic
	other := hdr("other", false, nil, nil)
	other.Topic = "nobody"
	r.feed(
		hp(hdr("a", true, nil, nil)),
		hp(rpc),
		hp(hdr("b", false, nil, nil)),
		hp(other),
		hp(hdr("a", true, nil, nil)), // the same id again: ignored
		hp(hdr("c", true, nil, nil)),
	)
	got := map[string]uint64{}
	for range 2 {
		rd := r.text(t)
		got[rd.Info().ID] = rd.Info().Arrival
	}
	rd := r.byteStream(t)
	got[rd.Info().ID] = rd.Info().Arrival
	if want := map[string]uint64{"a": 1, "b": 2, "c": 3}; !maps.Equal(got, want) {
		t.Fatalf("arrivals %v, want %v", got, want)
	}
	select {
	case rd := <-reserved:
		if a := rd.Info().Arrival; a != 0 {
			t.Fatalf("reserved-topic stream has arrival %d, want 0", a)
		}
	case <-time.After(10 * time.Second): // hang guard
		t.Fatal("the reserved-topic stream was not delivered")
	}
}
