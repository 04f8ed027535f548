package ffi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

func registerStreams(t *testing.T, h *host, room uint64, kind ffipb.StreamKind, topic string, mode ffipb.DeliveryMode, credits uint32) {
	t.Helper()
	wantRespCode(t, h.do(&ffipb.Request{Message: &ffipb.Request_RegisterStreamHandler{RegisterStreamHandler: &ffipb.RegisterStreamHandlerRequest{
		RoomHandle: room, Kind: kind, Topic: topic, Delivery: mode, InitialCredits: credits,
	}}}), ffipb.ErrorCode_ERROR_CODE_OK)
}

// readStream collects the chunks of the stream opened by ev until its StreamEndedEvent.
func readStream(t *testing.T, h *host, opened *ffipb.StreamOpened) (string, *ffipb.StreamEndedEvent) {
	t.Helper()
	rh := opened.GetReader().GetHandle()
	var ended *ffipb.StreamEndedEvent
	var sb strings.Builder
	h.s.waitFor(t, "stream end", func(evs []*ffipb.Event) bool {
		sb.Reset()
		for _, ev := range evs {
			if c := ev.GetStreamChunk(); c.GetReaderHandle() == rh {
				sb.WriteString(c.GetText())
				sb.Write(c.GetData())
			}
			if e := ev.GetStreamEnded(); e.GetReaderHandle() == rh {
				ended = e
				return true
			}
		}
		return false
	})
	return sb.String(), ended
}

func streamOpened(t *testing.T, h *host, from int, topic string) (*ffipb.StreamOpened, int) {
	t.Helper()
	ev, idx := h.roomEvent("stream opened on "+topic, from, func(e *ffipb.RoomEvent) bool {
		o := e.GetStreamOpened()
		return o != nil && (o.GetReader().GetText().GetTopic() == topic || o.GetReader().GetBytes().GetTopic() == topic)
	})
	// The reader is handed over: RoomEvent.owned_handles names it (ABI 1.11).
	if r := ev.GetStreamOpened().GetReader().GetHandle(); r == 0 || !slices.Equal(ev.GetOwnedHandles(), []uint64{r}) {
		t.Fatalf("stream_opened owned_handles %v, reader %d", ev.GetOwnedHandles(), r)
	}
	return ev.GetStreamOpened(), idx
}

func TestE2EDataStreams(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice := newHost(t)
	ar := alice.createRoom(nil)
	// Handlers registered before connecting.
	registerStreams(t, alice, ar, ffipb.StreamKind_STREAM_KIND_TEXT, "chat", ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, 0)
	registerStreams(t, alice, ar, ffipb.StreamKind_STREAM_KIND_BYTES, "files", ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, 0)
	wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_RegisterStreamHandler{RegisterStreamHandler: &ffipb.RegisterStreamHandlerRequest{
		RoomHandle: ar, Kind: ffipb.StreamKind_STREAM_KIND_TEXT, Topic: "chat",
	}}}), ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS)
	alice.connect(ar, s.URL(), mintToken(t, s, "streams", "alice"))
	bob, br, _ := joinHost(t, s, "streams", "bob")
	alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })

	// SendText: whole text, with attributes.
	text := strings.Repeat("héllo wörld ", 2000) // > one chunk, multi-byte characters
	comp := bob.call(&ffipb.Request{Message: &ffipb.Request_SendText{SendText: &ffipb.SendTextRequest{
		RoomHandle: br, Text: text, Options: &ffipb.TextStreamOptions{Common: &ffipb.StreamOptions{Topic: "chat", Attributes: map[string]string{"k": "v"}}},
	}}})
	sent := comp.GetSendText()
	if sent.GetStreamId() == "" || sent.GetTopic() != "chat" {
		t.Fatalf("send_text result: %v", sent)
	}
	opened, idx := streamOpened(t, alice, 0, "chat")
	if opened.GetParticipantIdentity() != "bob" || opened.GetReader().GetHandle() == 0 || opened.GetReader().GetText().GetStreamId() != sent.GetStreamId() ||
		opened.GetReader().GetText().GetAttributes()["k"] != "v" {
		t.Fatalf("stream opened: %v", opened)
	}
	got, ended := readStream(t, alice, opened)
	if got != text || ended.GetError() != nil {
		t.Fatalf("text stream: %d bytes (want %d), end %v", len(got), len(text), ended)
	}

	// SendFile: a local file as a byte stream; a missing file is IO_ERROR.
	dir := t.TempDir()
	path := filepath.Join(dir, "blob.bin")
	blob := make([]byte, 100_000)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	comp = bob.call(&ffipb.Request{Message: &ffipb.Request_SendFile{SendFile: &ffipb.SendFileRequest{
		RoomHandle: br, Path: path, Options: &ffipb.ByteStreamOptions{Common: &ffipb.StreamOptions{Topic: "files"}},
	}}})
	if comp.GetSendFile().GetName() != "blob.bin" || comp.GetSendFile().GetTotalLength() != uint64(len(blob)) {
		t.Fatalf("send_file result: %v", comp.GetSendFile())
	}
	opened, _ = streamOpened(t, alice, 0, "files")
	if b := opened.GetReader().GetBytes(); b.GetName() != "blob.bin" || b.GetTotalLength() != uint64(len(blob)) {
		t.Fatalf("byte stream info: %v", b)
	}
	got, ended = readStream(t, alice, opened)
	if got != string(blob) || ended.GetError() != nil {
		t.Fatalf("file stream: %d bytes, end %v", len(got), ended)
	}
	c := bob.completion(bob.async(&ffipb.Request{Message: &ffipb.Request_SendFile{SendFile: &ffipb.SendFileRequest{RoomHandle: br, Path: filepath.Join(dir, "missing")}}}))
	if c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_IO_ERROR || strings.Contains(c.GetError().GetMessage(), dir) {
		t.Fatalf("missing file: %v", c)
	}

	// An incremental writer: writes issued back to back arrive in order; close with trailer
	// attributes; writes after close fail.
	comp = bob.call(&ffipb.Request{Message: &ffipb.Request_OpenTextWriter{OpenTextWriter: &ffipb.OpenTextWriterRequest{
		RoomHandle: br, Options: &ffipb.TextStreamOptions{Common: &ffipb.StreamOptions{Topic: "chat"}},
	}}})
	wh := comp.GetOpenTextWriter().GetHandle()
	if !slices.Equal(comp.GetOwnedHandles(), []uint64{wh}) {
		t.Fatalf("open_text_writer completion hands over %v, want the writer %d", comp.GetOwnedHandles(), wh)
	}
	var want strings.Builder
	var ids []uint64
	for i := range 30 {
		part := strings.Repeat(string(rune('a'+i%26)), 100*(i+1))
		want.WriteString(part)
		ids = append(ids, bob.async(&ffipb.Request{Message: &ffipb.Request_WriteStream{WriteStream: &ffipb.WriteStreamRequest{
			WriterHandle: wh, Content: &ffipb.WriteStreamRequest_Text{Text: part},
		}}}))
	}
	wantRespCode(t, bob.do(&ffipb.Request{RequestId: 9999, Message: &ffipb.Request_WriteStream{WriteStream: &ffipb.WriteStreamRequest{
		WriterHandle: wh, Content: &ffipb.WriteStreamRequest_Data{Data: []byte("x")},
	}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	closeID := bob.async(&ffipb.Request{Message: &ffipb.Request_CloseStreamWriter{CloseStreamWriter: &ffipb.CloseStreamWriterRequest{
		WriterHandle: wh, Attributes: map[string]string{"done": "yes"},
	}}})
	wantRespCode(t, bob.do(&ffipb.Request{RequestId: 9998, Message: &ffipb.Request_WriteStream{WriteStream: &ffipb.WriteStreamRequest{
		WriterHandle: wh, Content: &ffipb.WriteStreamRequest_Text{Text: "late"},
	}}}), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
	for _, id := range append(ids, closeID) {
		if c := bob.completion(id); c.GetError() != nil {
			t.Fatalf("write %d: %v", id, c.GetError())
		}
	}
	opened, _ = streamOpened(t, alice, idx+1, "chat")
	got, ended = readStream(t, alice, opened)
	if got != want.String() || ended.GetError() != nil || ended.GetAttributes()["done"] != "yes" {
		t.Fatalf("writer stream: %d bytes (want %d), end %v", len(got), want.Len(), ended)
	}

	// Dropping an unclosed writer aborts the stream for the receivers.
	comp = bob.call(&ffipb.Request{Message: &ffipb.Request_OpenByteWriter{OpenByteWriter: &ffipb.OpenByteWriterRequest{
		RoomHandle: br, Options: &ffipb.ByteStreamOptions{Common: &ffipb.StreamOptions{Topic: "files"}, Name: "partial"},
	}}})
	wh = comp.GetOpenByteWriter().GetHandle()
	bob.call(&ffipb.Request{Message: &ffipb.Request_WriteStream{WriteStream: &ffipb.WriteStreamRequest{WriterHandle: wh, Content: &ffipb.WriteStreamRequest_Data{Data: []byte("part")}}}})
	if err := bob.c.DropHandle(wh); err != nil {
		t.Fatal(err)
	}
	opened, _ = byteStreamNamed(t, alice, "partial")
	_, ended = readStream(t, alice, opened)
	if ended.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_ABORTED {
		t.Fatalf("dropped writer: %v", ended)
	}
}

// byteStreamNamed finds the byte stream named name.
func byteStreamNamed(t *testing.T, h *host, name string) (*ffipb.StreamOpened, int) {
	t.Helper()
	ev, idx := h.roomEvent("byte stream "+name, 0, func(e *ffipb.RoomEvent) bool {
		return e.GetStreamOpened().GetReader().GetBytes().GetName() == name
	})
	return ev.GetStreamOpened(), idx
}

// Credit-based readers deliver one chunk per credit.
// byteStreamPeers starts a server with two rooms in roomName: alice, whose byte streams on
// topic are delivered with mode (and credits), and bob, who sends them, once alice sees him.
func byteStreamPeers(t *testing.T, roomName, topic string, mode ffipb.DeliveryMode, credits uint32) (alice *host, bob *host, br uint64) {
	t.Helper()
	s := sfu.Start(t, devsfu.Options{})
	alice = newHost(t)
	ar := alice.createRoom(nil)
	registerStreams(t, alice, ar, ffipb.StreamKind_STREAM_KIND_BYTES, topic, mode, credits)
	alice.connect(ar, s.URL(), mintToken(t, s, roomName, "alice"))
	bob, br, _ = joinHost(t, s, roomName, "bob")
	alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })
	return alice, bob, br
}

func TestE2EStreamCredits(t *testing.T) {
	alice, bob, br := byteStreamPeers(t, "credits", "c", ffipb.DeliveryMode_DELIVERY_MODE_CREDITS, 1)

	comp := bob.call(&ffipb.Request{Message: &ffipb.Request_OpenByteWriter{OpenByteWriter: &ffipb.OpenByteWriterRequest{
		RoomHandle: br, Options: &ffipb.ByteStreamOptions{Common: &ffipb.StreamOptions{Topic: "c"}},
	}}})
	wh := comp.GetOpenByteWriter().GetHandle()
	for i := range 3 {
		bob.call(&ffipb.Request{Message: &ffipb.Request_WriteStream{WriteStream: &ffipb.WriteStreamRequest{WriterHandle: wh, Content: &ffipb.WriteStreamRequest_Data{Data: []byte{byte('0' + i)}}}}})
	}
	bob.call(&ffipb.Request{Message: &ffipb.Request_CloseStreamWriter{CloseStreamWriter: &ffipb.CloseStreamWriterRequest{WriterHandle: wh}}})

	opened, _ := streamOpened(t, alice, 0, "c")
	rh := opened.GetReader().GetHandle()
	chunks := func() int {
		n := 0
		for _, ev := range alice.s.snapshot() {
			if ev.GetStreamChunk().GetReaderHandle() == rh {
				n++
			}
		}
		return n
	}
	alice.s.waitFor(t, "first chunk", func([]*ffipb.Event) bool { return chunks() == 1 })
	// Still one after a round trip through the client (no credit, no chunk).
	alice.call(echoAsync(0, "sync", 0))
	if n := chunks(); n != 1 {
		t.Fatalf("%d chunks delivered with one credit", n)
	}
	resp := alice.do(&ffipb.Request{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: rh, Credits: 5}}})
	wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
	if resp.GetGrantCredits().GetAvailableCredits() != 5 {
		t.Fatalf("grant: %v", resp)
	}
	got, ended := readStream(t, alice, opened)
	if got != "012" || ended.GetError() != nil {
		t.Fatalf("credited stream %q, end %v", got, ended)
	}
}

// A write or close cancelled before its turn aborts the stream (after the writes before it)
// instead of being skipped: skipping a write would leave a silent gap in what the receivers
// read, skipping a close a stream that never ends. Operations after it fail.
func TestE2EStreamOperationCancelledBeforeItsTurn(t *testing.T) {
	alice, bob, br := byteStreamPeers(t, "cancelled-write", "w", ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, 0)

	open := func(name string) (uint64, *StreamWriter) {
		comp := bob.call(&ffipb.Request{Message: &ffipb.Request_OpenByteWriter{OpenByteWriter: &ffipb.OpenByteWriterRequest{
			RoomHandle: br, Options: &ffipb.ByteStreamOptions{Common: &ffipb.StreamOptions{Topic: "w"}, Name: name},
		}}})
		wh := comp.GetOpenByteWriter().GetHandle()
		w, err := bob.c.writer(wh)
		if err != nil {
			t.Fatal(err)
		}
		return wh, w
	}
	write := func(wh uint64, data string) *ffipb.Request {
		return &ffipb.Request{Message: &ffipb.Request_WriteStream{WriteStream: &ffipb.WriteStreamRequest{
			WriterHandle: wh, Content: &ffipb.WriteStreamRequest_Data{Data: []byte(data)},
		}}}
	}
	closeReq := func(wh uint64) *ffipb.Request {
		return &ffipb.Request{Message: &ffipb.Request_CloseStreamWriter{CloseStreamWriter: &ffipb.CloseStreamWriterRequest{WriterHandle: wh}}}
	}
	cancel := func(id uint64) {
		t.Helper()
		wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_Cancel{Cancel: &ffipb.CancelRequest{TargetRequestId: id}}}), ffipb.ErrorCode_ERROR_CODE_OK)
		if c := bob.completion(id); c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_CANCELLED {
			t.Fatalf("cancelled operation: %v", c)
		}
	}
	// holdTurn takes the writer's next place in its order, as a slow operation would, so the
	// operations issued after it wait their turn for as long as the test needs.
	holdTurn := func(w *StreamWriter) (release func()) {
		prev, mine, err := w.turn(false)
		if err != nil {
			t.Fatal(err)
		}
		<-prev
		var once sync.Once
		release = func() { once.Do(func() { close(mine) }) }
		t.Cleanup(release) // a failing test must not leave the writer's order blocked
		return release
	}
	// The receivers read a prefix of what was written before the cancelled operation (an
	// aborted stream's unread chunks are discarded, as in the JS client), then ABORTED.
	wantAborted := func(name, before string) {
		t.Helper()
		opened, _ := byteStreamNamed(t, alice, name)
		got, ended := readStream(t, alice, opened)
		if !strings.HasPrefix(before, got) || ended.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_ABORTED ||
			!strings.Contains(ended.GetError().GetMessage(), errWriteCancelled) {
			t.Fatalf("%s: read %q (a prefix of %q expected), end %v", name, got, before, ended)
		}
	}

	// A write cancelled while an earlier operation holds the turn: the write queued after it
	// fails, so does every later request, and the stream ends ABORTED with nothing after the gap.
	wh, w := open("write")
	bob.call(write(wh, "a"))
	release := holdTurn(w)
	b := bob.async(write(wh, "b"))
	c := bob.async(write(wh, "c"))
	cancel(b)
	late, lateClose := write(wh, "d"), closeReq(wh)
	late.RequestId, lateClose.RequestId = 9001, 9002 // refused at once: never completes
	wantRespCode(t, bob.do(late), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
	wantRespCode(t, bob.do(lateClose), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
	release()
	if comp := bob.completion(c); comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION {
		t.Fatalf("write queued after the cancelled one: %v", comp)
	}
	wantAborted("write", "a")

	// A close cancelled before its turn: the stream still ends (aborted), it does not stay open.
	wh, w = open("close")
	bob.call(write(wh, "x"))
	release = holdTurn(w)
	cl := bob.async(closeReq(wh))
	cancel(cl)
	release()
	wantAborted("close", "x")
	if err := bob.c.DropHandle(wh); err != nil {
		t.Fatal(err)
	}
}

// While the room reconnects, a write being sent waits for the connection; its deadline or a
// CancelRequest still ends it (TIMEOUT / CANCELLED), and ends that stream: later writes fail.
// Dropping the room then releases it within the release bound although a writer is open (the
// writer's abort cannot be sent until the connection is back).
func TestE2EStreamWriteBoundedWhileReconnecting(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice := newHost(t)
	ar := alice.createRoom(&ffipb.RoomOptions{MaxReconnectAttempts: 50})
	alice.connect(ar, s.URL(), mintToken(t, s, "write-reconnect", "alice"))
	open := func() uint64 {
		return alice.call(&ffipb.Request{Message: &ffipb.Request_OpenByteWriter{OpenByteWriter: &ffipb.OpenByteWriterRequest{
			RoomHandle: ar, Options: &ffipb.ByteStreamOptions{Common: &ffipb.StreamOptions{Topic: "w"}},
		}}}).GetOpenByteWriter().GetHandle()
	}
	write := func(wh uint64, timeoutMs uint32) *ffipb.Request {
		return &ffipb.Request{TimeoutMs: timeoutMs, Message: &ffipb.Request_WriteStream{WriteStream: &ffipb.WriteStreamRequest{
			WriterHandle: wh, Content: &ffipb.WriteStreamRequest_Data{Data: []byte("x")}}}}
	}
	timed, cancelled := open(), open()
	open() // a third writer, with nothing pending: dropping the room must abort it
	r, err := alice.c.room(ar)
	if err != nil {
		t.Fatal(err)
	}

	s.Stall(true) // the server stops answering: the resume cannot complete
	t.Cleanup(func() { s.Stall(false) })
	s.DropSignal("alice")
	alice.roomEvent("reconnecting", 0, func(e *ffipb.RoomEvent) bool { return e.GetReconnecting() != nil })

	if c := alice.completion(alice.async(write(timed, 300))); c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_TIMEOUT {
		t.Fatalf("write with a 300 ms deadline during a reconnect: %v", c)
	}
	late := write(timed, 0)
	late.RequestId = 9001 // refused at once: never completes
	wantRespCode(t, alice.do(late), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)

	id := alice.async(write(cancelled, 0))
	wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_Cancel{Cancel: &ffipb.CancelRequest{TargetRequestId: id}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	if c := alice.completion(id); c.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_CANCELLED {
		t.Fatalf("cancelled write during a reconnect: %v", c)
	}

	// The open writer's abort cannot be sent while the server is stalled; the release's bound
	// ends that send, so the room goes.
	if err := alice.c.DropHandle(ar); err != nil {
		t.Fatal(err)
	}
	dropped := time.Now()
	select {
	case <-r.core.Done():
		t.Logf("room ended %v after the drop", time.Since(dropped))
	case <-time.After(ReleaseTimeout + 2*time.Second): // the writer's abort gets 1 s of it
		t.Fatalf("the room still runs (%v) after its handle was dropped", r.core.State())
	}
}

// Streams whose headers arrive back to back, on several topics and of both kinds, are
// announced (stream_opened) in the order their headers arrived, although each is served by
// a goroutine of its own (BINDINGS.md section 3: a room's events arrive in the order the room
// observed them). The sender is a Go room that sends them one after the other from one
// goroutine, so their headers leave, and reach the SFU and alice, in that order.
func TestStreamOpenedFollowsHeaderOrder(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice := newHost(t)
	ar := alice.createRoom(nil)
	for _, topic := range []string{"a", "b"} {
		registerStreams(t, alice, ar, ffipb.StreamKind_STREAM_KIND_TEXT, topic, ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, 0)
		registerStreams(t, alice, ar, ffipb.StreamKind_STREAM_KIND_BYTES, topic, ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, 0)
	}
	alice.connect(ar, s.URL(), mintToken(t, s, "order", "alice"))
	ctx := testkit.Context(t, 0)
	bob, err := room.Connect(ctx, s.URL(), mintToken(t, s, "order", "bob"), room.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bob.Disconnect(context.Background()) })
	alice.roomEvent("alice sees bob", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected() != nil })

	const n = 60
	var want []string
	for i := range n {
		id := fmt.Sprintf("s%02d", i)
		topic := []string{"a", "b"}[i%2]
		if i%3 == 0 {
			_, err = bob.LocalParticipant().SendBytes(ctx, []byte{byte(i)}, datastream.SendBytesOptions{Topic: topic, StreamID: id})
		} else {
			_, err = bob.LocalParticipant().SendText(ctx, id, datastream.SendTextOptions{Topic: topic, StreamID: id})
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	var got []string
	alice.s.waitFor(t, "every stream opened", func(evs []*ffipb.Event) bool {
		got = got[:0]
		for _, ev := range evs {
			if o := ev.GetRoom().GetStreamOpened(); o != nil {
				got = append(got, o.GetReader().GetText().GetStreamId()+o.GetReader().GetBytes().GetStreamId())
			}
		}
		return len(got) == n
	})
	if !slices.Equal(got, want) {
		t.Fatalf("stream_opened order %v, want %v", got, want)
	}
}
