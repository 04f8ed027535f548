package room_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// received is what a stream handler read.
type received struct {
	info   datastream.StreamInfo
	name   string // byte streams
	sender string
	sum    [32]byte
	n      int
	err    error
}

// textSink registers a text handler on topic that reads each stream fully.
func textSink(t *testing.T, r *room.Room, topic string) <-chan received {
	t.Helper()
	out := make(chan received, 8)
	err := r.RegisterTextStreamHandler(topic, func(rd *datastream.TextStreamReader, sender string) {
		h := sha256.New()
		n := 0
		var err error
		for piece, e := range rd.All(context.Background()) {
			if e != nil {
				err = e
				break
			}
			n += len(piece)
			io.WriteString(h, piece)
		}
		rc := received{info: rd.Info().StreamInfo, sender: sender, n: n, err: err}
		copy(rc.sum[:], h.Sum(nil))
		out <- rc
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// byteSink registers a byte handler on topic that hashes each stream.
func byteSink(t *testing.T, r *room.Room, topic string) <-chan received {
	t.Helper()
	out := make(chan received, 8)
	err := r.RegisterByteStreamHandler(topic, func(rd *datastream.ByteStreamReader, sender string) {
		h := sha256.New()
		n, err := io.Copy(h, rd)
		rc := received{info: rd.Info().StreamInfo, name: rd.Info().Name, sender: sender, n: int(n), err: err}
		copy(rc.sum[:], h.Sum(nil))
		out <- rc
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func recv(t *testing.T, ctx context.Context, ch <-chan received) received {
	t.Helper()
	select {
	case rc := <-ch:
		return rc
	case <-ctx.Done():
		t.Fatal("stream never received")
		return received{}
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// streamTrio: alice (sender), bob (current client: inflates), carol
// (protocol 2 without deflate-raw, like a runtime without
// CompressionStream) and dave (protocol 0: v1 streams only).
func streamRoom(t *testing.T, ctx context.Context) (alice, bob, carol, dave *room.Room) {
	t.Helper()
	s := sfu.Start(t, devsfu.Options{})
	alice = dataClient(t, ctx, s, "streams", "alice", room.Options{})
	bob = dataClient(t, ctx, s, "streams", "bob", room.Options{})
	carol = dataClient(t, ctx, s, "streams", "carol", room.WithLegacyDataProtocol(room.Options{}, 2))
	dave = dataClient(t, ctx, s, "streams", "dave", room.WithLegacyDataProtocol(room.Options{}, 0))
	for _, id := range []string{"bob", "carol", "dave"} {
		waitPeer(t, ctx, alice, id)
	}
	for _, r := range []*room.Room{bob, carol, dave} {
		waitPeer(t, ctx, r, "alice")
	}
	return alice, bob, carol, dave
}

func TestStreamSendText(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, bob, carol, dave := streamRoom(t, ctx)
	sinks := map[string]<-chan received{
		"bob": textSink(t, bob, "chat"), "carol": textSink(t, carol, "chat"), "dave": textSink(t, dave, "chat"),
	}
	// ~100 KB of multi-byte text: chunk boundaries fall inside characters.
	var sb strings.Builder
	for sb.Len() < 100_000 {
		sb.WriteString("lkcore data stream — ünïcödé ✓ 😀 ")
	}
	text := sb.String()
	want := sha256.Sum256([]byte(text))

	for _, tc := range []struct {
		to          string
		compression lkpb.DataStream_CompressionType
		inline      bool
	}{
		{"bob", lkpb.DataStream_DEFLATE_RAW, true}, // compresses into one packet
		{"carol", lkpb.DataStream_NONE, false},     // v2 without deflate: chunked raw
		{"dave", lkpb.DataStream_NONE, false},      // v1: chunked raw
	} {
		t.Run(tc.to, func(t *testing.T) {
			info, err := alice.LocalParticipant().SendText(ctx, text, datastream.SendTextOptions{
				Topic: "chat", DestinationIdentities: []string{tc.to}, Attributes: map[string]string{"k": "v"},
			})
			if err != nil {
				t.Fatal(err)
			}
			rc := recv(t, ctx, sinks[tc.to])
			if rc.err != nil || rc.sum != want || rc.n != len(text) {
				t.Fatalf("received %d bytes, err %v, hash match %v", rc.n, rc.err, rc.sum == want)
			}
			if rc.sender != "alice" || rc.info.SenderIdentity != "alice" || rc.info.ID != info.ID ||
				rc.info.Topic != "chat" || rc.info.MimeType != datastream.TextMimeType ||
				rc.info.Size == nil || *rc.info.Size != uint64(len(text)) || rc.info.Attributes["k"] != "v" {
				t.Fatalf("info %+v sender %q", rc.info, rc.sender)
			}
			if rc.info.Compression != tc.compression || rc.info.Inline != tc.inline {
				t.Fatalf("wire form: compression %v inline %v", rc.info.Compression, rc.info.Inline)
			}
		})
	}

	// Broadcast in a mixed room falls back to the v1 format for everyone.
	if _, err := alice.LocalParticipant().SendText(ctx, "hi all "+testkit.PayloadMarker, datastream.SendTextOptions{Topic: "chat"}); err != nil {
		t.Fatal(err)
	}
	for id, ch := range sinks {
		rc := recv(t, ctx, ch)
		if rc.err != nil || rc.sum != sha256.Sum256([]byte("hi all "+testkit.PayloadMarker)) || rc.info.Inline || rc.info.Compression != lkpb.DataStream_NONE {
			t.Fatalf("%s: broadcast %+v err %v", id, rc.info, rc.err)
		}
	}
}

func TestStreamBytes5MB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, bob, carol, dave := streamRoom(t, ctx)
	sinks := map[string]<-chan received{
		"bob": byteSink(t, bob, "blob"), "carol": byteSink(t, carol, "blob"), "dave": byteSink(t, dave, "blob"),
	}
	// 5 MiB that deflate shrinks to about half (hex of random bytes): sent
	// as compressed chunks to recipients that can inflate.
	// The fallback formats (carol, dave, compression off) get the first MiB,
	// which keeps the -race run short.
	data := []byte(hex.EncodeToString(randomBytes(t, 5<<20/2)))
	small := data[:1<<20]
	// Each transfer has its own hang guard (several MiB each under -race on a loaded
	// machine); ctx above only bounds joining.
	check := func(t *testing.T, ctx context.Context, to, name string, data []byte, compression lkpb.DataStream_CompressionType) {
		t.Helper()
		rc := recv(t, ctx, sinks[to])
		if rc.err != nil || rc.n != len(data) || rc.sum != sha256.Sum256(data) {
			t.Fatalf("received %d bytes, err %v, hash match %v", rc.n, rc.err, rc.sum == sha256.Sum256(data))
		}
		if rc.sender != "alice" || rc.name != name || rc.info.Compression != compression || rc.info.Inline ||
			rc.info.Size == nil || *rc.info.Size != uint64(len(data)) {
			t.Fatalf("info %+v name %q", rc.info, rc.name)
		}
	}
	for _, tc := range []struct {
		to          string
		data        []byte
		compression lkpb.DataStream_CompressionType
	}{{"bob", data, lkpb.DataStream_DEFLATE_RAW}, {"carol", small, lkpb.DataStream_NONE}, {"dave", small, lkpb.DataStream_NONE}} {
		t.Run("SendBytes-"+tc.to, func(t *testing.T) {
			ctx := testkit.Context(t, testTimeout)
			if _, err := alice.LocalParticipant().SendBytes(ctx, tc.data, datastream.SendBytesOptions{
				Topic: "blob", DestinationIdentities: []string{tc.to}, Name: "data.bin"}); err != nil {
				t.Fatal(err)
			}
			check(t, ctx, tc.to, "data.bin", tc.data, tc.compression)
		})
	}
	t.Run("SendBytes-uncompressed", func(t *testing.T) {
		ctx := testkit.Context(t, testTimeout)
		if _, err := alice.LocalParticipant().SendBytes(ctx, small, datastream.SendBytesOptions{
			Topic: "blob", DestinationIdentities: []string{"bob"}, DisableCompression: true}); err != nil {
			t.Fatal(err)
		}
		check(t, ctx, "bob", datastream.DefaultByteStreamName, small, lkpb.DataStream_NONE)
	})
	t.Run("SendBytes-incompressible", func(t *testing.T) {
		ctx := testkit.Context(t, testTimeout)
		// core/datastream sends chunked streams compressed only when that is
		// smaller (Rust rule; JS compresses whenever eligible).
		random := randomBytes(t, 5<<20)
		if _, err := alice.LocalParticipant().SendBytes(ctx, random, datastream.SendBytesOptions{
			Topic: "blob", DestinationIdentities: []string{"bob"}}); err != nil {
			t.Fatal(err)
		}
		rc := recv(t, ctx, sinks["bob"])
		if rc.err != nil || rc.n != len(random) || rc.sum != sha256.Sum256(random) || rc.info.Compression != lkpb.DataStream_NONE {
			t.Fatalf("received %d bytes, err %v, compression %v", rc.n, rc.err, rc.info.Compression)
		}
	})
	t.Run("SendFile", func(t *testing.T) {
		ctx := testkit.Context(t, testTimeout)
		var progress []float64
		// The first MiB, like the fallback formats: SendFile shares SendBytes' path, and a
		// 5 MiB file under -race on a loaded machine outlasted the hang guard.
		info, err := alice.LocalParticipant().SendFile(ctx, bytes.NewReader(small), uint64(len(small)), datastream.SendFileOptions{
			Topic: "blob", DestinationIdentities: []string{"bob"}, Name: "file.bin", MimeType: "application/x-test",
			OnProgress: func(f float64) { progress = append(progress, f) },
		})
		if err != nil {
			t.Fatal(err)
		}
		check(t, ctx, "bob", "file.bin", small, lkpb.DataStream_DEFLATE_RAW)
		if info.MimeType != "application/x-test" || len(progress) == 0 || progress[len(progress)-1] != 1 {
			t.Fatalf("info %+v progress %v", info, progress)
		}
	})
}

func TestStreamWriters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, bob := dataPair(t, ctx)
	texts := textSink(t, bob, "live")
	blobs := byteSink(t, bob, "live")
	lp := alice.LocalParticipant()

	// Text written in pieces that split a 4-byte character between writes.
	w, err := lp.StreamText(ctx, datastream.StreamTextOptions{Topic: "live", DestinationIdentities: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	smile := []byte("😀")
	parts := [][]byte{[]byte("start "), smile[:2], smile[2:], []byte(strings.Repeat("x", 40_000)), []byte(" end")}
	var all []byte
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		all = append(all, p...)
	}
	if err := w.CloseWithReason("", map[string]string{"final": "yes"}); err != nil {
		t.Fatal(err)
	}
	rc := recv(t, ctx, texts)
	if rc.err != nil || rc.sum != sha256.Sum256(all) || rc.info.Size != nil || rc.info.Inline ||
		rc.info.ID != w.Info().ID || rc.info.Attributes["final"] != "yes" {
		t.Fatalf("text writer: %+v err %v", rc.info, rc.err)
	}

	// Bytes with a declared size.
	total := uint64(3 * 20_000)
	bw, err := lp.StreamBytes(ctx, datastream.StreamBytesOptions{Topic: "live", DestinationIdentities: []string{"bob"}, Name: "parts", TotalSize: &total})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for range 3 {
		p := randomBytes(t, 20_000)
		h.Write(p)
		if _, err := bw.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	rc = recv(t, ctx, blobs)
	if rc.err != nil || !bytes.Equal(rc.sum[:], h.Sum(nil)) || rc.name != "parts" || rc.info.Size == nil || *rc.info.Size != total {
		t.Fatalf("byte writer: %+v err %v", rc.info, rc.err)
	}
	if err := bw.Close(); err != nil { // idempotent
		t.Fatal(err)
	}

	// An abnormal close reaches the reader as ErrAbnormalEnd.
	bw, err = lp.StreamBytes(ctx, datastream.StreamBytesOptions{Topic: "live", DestinationIdentities: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bw.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := bw.CloseWithReason("cancelled", nil); err != nil {
		t.Fatal(err)
	}
	if rc = recv(t, ctx, blobs); !errors.Is(rc.err, datastream.ErrAbnormalEnd) {
		t.Fatalf("abnormal close: %v", rc.err)
	}
}

func TestStreamHandlers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, bob := dataPair(t, ctx)
	if err := bob.RegisterTextStreamHandler(datastream.RPCRequestTopic, func(*datastream.TextStreamReader, string) {}); !errors.Is(err, datastream.ErrHandlerAlreadyRegistered) {
		t.Fatalf("reserved topic: %v", err)
	}
	gone := textSink(t, bob, "gone")
	if err := bob.RegisterTextStreamHandler("gone", func(*datastream.TextStreamReader, string) {}); !errors.Is(err, datastream.ErrHandlerAlreadyRegistered) {
		t.Fatalf("duplicate: %v", err)
	}
	bob.UnregisterTextStreamHandler("gone")
	later := textSink(t, bob, "later")
	lp := alice.LocalParticipant()
	// Streams arrive in order on the reliable channel: once "later" is
	// received, the "gone" stream has been processed and dropped.
	for _, topic := range []string{"gone", "later"} {
		if _, err := lp.SendText(ctx, topic, datastream.SendTextOptions{Topic: topic, DestinationIdentities: []string{"bob"}}); err != nil {
			t.Fatal(err)
		}
	}
	if rc := recv(t, ctx, later); rc.err != nil || rc.sum != sha256.Sum256([]byte("later")) {
		t.Fatalf("later: %+v", rc)
	}
	select {
	case rc := <-gone:
		t.Fatalf("unregistered handler ran: %+v", rc)
	default:
	}
	// Byte and text handlers are separate per topic.
	bytesLater := byteSink(t, bob, "later")
	if _, err := lp.SendBytes(ctx, []byte{1, 2, 3}, datastream.SendBytesOptions{Topic: "later"}); err != nil {
		t.Fatal(err)
	}
	if rc := recv(t, ctx, bytesLater); rc.err != nil || rc.n != 3 {
		t.Fatalf("bytes: %+v", rc)
	}
	bob.UnregisterByteStreamHandler("later")
}

// The sender leaves in the middle of a stream: the reader fails with
// ErrAbnormalEnd once the receiver learns that it left.
func TestStreamSenderDisconnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, bob := dataPair(t, ctx)
	blobs := byteSink(t, bob, "cut")
	w, err := alice.LocalParticipant().StreamBytes(ctx, datastream.StreamBytesOptions{Topic: "cut", DestinationIdentities: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(randomBytes(t, 100_000)); err != nil {
		t.Fatal(err)
	}
	if err := alice.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	rc := recv(t, ctx, blobs)
	if !errors.Is(rc.err, datastream.ErrAbnormalEnd) || rc.n > 100_000 {
		t.Fatalf("reader after sender left: %d bytes, %v", rc.n, rc.err)
	}
	// The writer of a disconnected room fails with ErrClosed.
	if _, err := w.Write([]byte("more")); !errors.Is(err, datastream.ErrClosed) {
		t.Fatalf("write after disconnect: %v", err)
	}
	_ = w.Close()
}

// The receiver leaves in the middle of a stream: its reader fails and
// Disconnect waits for the handler to return.
func TestStreamReceiverDisconnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, bob := dataPair(t, ctx)
	started := make(chan struct{})
	result := make(chan error, 1)
	if err := bob.RegisterByteStreamHandler("cut", func(rd *datastream.ByteStreamReader, _ string) {
		close(started)
		_, err := rd.ReadAll(context.Background())
		result <- err
	}); err != nil {
		t.Fatal(err)
	}
	w, err := alice.LocalParticipant().StreamBytes(ctx, datastream.StreamBytesOptions{Topic: "cut", DestinationIdentities: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	<-started
	if err := bob.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result: // the handler has returned before Disconnect did
		if !errors.Is(err, datastream.ErrAbnormalEnd) {
			t.Fatalf("reader: %v", err)
		}
	default:
		t.Fatal("Disconnect returned before the stream handler")
	}
}

func TestStreamAfterDisconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, alice, _ := dataPair(t, ctx)
	if err := alice.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	lp := alice.LocalParticipant()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, room.ErrDisconnected) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := lp.SendText(ctx, "x", datastream.SendTextOptions{})
	check("SendText", err)
	_, err = lp.SendBytes(ctx, []byte("x"), datastream.SendBytesOptions{})
	check("SendBytes", err)
	_, err = lp.SendFile(ctx, strings.NewReader("x"), 1, datastream.SendFileOptions{})
	check("SendFile", err)
	_, err = lp.StreamText(ctx, datastream.StreamTextOptions{})
	check("StreamText", err)
	_, err = lp.StreamBytes(ctx, datastream.StreamBytesOptions{})
	check("StreamBytes", err)
	check("RegisterTextStreamHandler", alice.RegisterTextStreamHandler("t", func(*datastream.TextStreamReader, string) {}))
	check("RegisterByteStreamHandler", alice.RegisterByteStreamHandler("t", func(*datastream.ByteStreamReader, string) {}))
	alice.UnregisterTextStreamHandler("t")
	alice.UnregisterByteStreamHandler("t")
}
