package ffi

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
)

// Data streams. Incoming: handlers are registered per (kind, topic) on the core room (which
// exists before it connects); each incoming stream
// becomes a StreamOpened room event with an owned reader handle, then StreamChunkEvents and a
// final StreamEndedEvent, produced by one goroutine per reader. Outgoing: whole streams
// (SendText/SendBytes/SendFile) and incremental writers whose writes are applied in request
// order.

// DefaultMaxIncomingStreamBytes is RoomOptions.max_incoming_stream_bytes' default: the core's
// own cap on one incoming stream (datastream.DefaultMaxPayloadBytes).
const DefaultMaxIncomingStreamBytes = datastream.DefaultMaxPayloadBytes

// errWriterDropped is the abort reason receivers see when a host drops an unclosed writer.
const errWriterDropped = "writer dropped"

// writerAbortTimeout bounds the abort a released writer sends (it is quick unless the room is
// reconnecting or the channel congested, and then the receivers lose the stream anyway).
const writerAbortTimeout = time.Second

// errWriteCancelled is the abort reason receivers see when a write or close of the writer was
// cancelled (or timed out) before its turn came: skipping it would leave a silent gap in the
// stream, or a stream that never ends.
const errWriteCancelled = "write cancelled"

type streamKey struct {
	kind  ffipb.StreamKind
	topic string
}

type streamHandlerCfg struct {
	delivery ffipb.DeliveryMode
	credits  uint32
}

func (r *Room) maxIncomingStreamBytes() uint64 {
	if n := r.options.GetMaxIncomingStreamBytes(); n > 0 {
		return n
	}
	return DefaultMaxIncomingStreamBytes
}

// textHandler / byteHandler are the core handlers that serve a stream to the host.
func (r *Room) textHandler(cfg streamHandlerCfg) datastream.TextStreamHandler {
	return func(rd *datastream.TextStreamReader, identity string) { r.serveStream(identity, textSource{rd}, cfg) }
}

func (r *Room) byteHandler(cfg streamHandlerCfg) datastream.ByteStreamHandler {
	return func(rd *datastream.ByteStreamReader, identity string) { r.serveStream(identity, byteSource{rd}, cfg) }
}

func (r *Room) installStreamHandler(rm *room.Room, k streamKey, cfg streamHandlerCfg) error {
	var err error
	if k.kind == ffipb.StreamKind_STREAM_KIND_TEXT {
		err = rm.RegisterTextStreamHandler(k.topic, r.textHandler(cfg))
	} else {
		err = rm.RegisterByteStreamHandler(k.topic, r.byteHandler(cfg))
	}
	return fromCore(err)
}

func (c *Client) registerStreamHandler(m *ffipb.RegisterStreamHandlerRequest, resp *ffipb.Response) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	k := streamKey{kind: m.GetKind(), topic: m.GetTopic()}
	if k.kind != ffipb.StreamKind_STREAM_KIND_TEXT && k.kind != ffipb.StreamKind_STREAM_KIND_BYTES {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "stream kind must be TEXT or BYTES")
	}
	cfg := streamHandlerCfg{delivery: m.GetDelivery(), credits: m.GetInitialCredits()}
	if cfg.delivery != ffipb.DeliveryMode_DELIVERY_MODE_EVENTS && cfg.delivery != ffipb.DeliveryMode_DELIVERY_MODE_CREDITS {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "stream readers deliver as EVENTS or CREDITS")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.installStreamHandler(r.core, k, cfg); err != nil {
		return err
	}
	r.streamHandlers[k] = cfg
	resp.Message = &ffipb.Response_RegisterStreamHandler{RegisterStreamHandler: &ffipb.RegisterStreamHandlerResponse{}}
	return nil
}

func (c *Client) unregisterStreamHandler(m *ffipb.UnregisterStreamHandlerRequest, resp *ffipb.Response) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	k := streamKey{kind: m.GetKind(), topic: m.GetTopic()}
	r.mu.Lock()
	if _, ok := r.streamHandlers[k]; !ok {
		r.mu.Unlock()
		return Errorf(ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, "no %s stream handler for topic %q", k.kind, k.topic)
	}
	delete(r.streamHandlers, k)
	if k.kind == ffipb.StreamKind_STREAM_KIND_TEXT {
		r.core.UnregisterTextStreamHandler(k.topic)
	} else {
		r.core.UnregisterByteStreamHandler(k.topic)
	}
	r.mu.Unlock()
	resp.Message = &ffipb.Response_UnregisterStreamHandler{UnregisterStreamHandler: &ffipb.UnregisterStreamHandlerResponse{}}
	return nil
}

// streamSource is an incoming core stream of either kind.
type streamSource interface {
	// next returns the next chunk (reader handle not set) and its size in bytes.
	next(ctx context.Context) (*ffipb.StreamChunkEvent, int, error)
	close()
	owned(handle uint64) *ffipb.OwnedStreamReader
	attributes() map[string]string
	// arrival is the stream's place among the room's incoming streams (StreamInfo.Arrival).
	arrival() uint64
}

type textSource struct{ rd *datastream.TextStreamReader }

func (s textSource) next(ctx context.Context) (*ffipb.StreamChunkEvent, int, error) {
	t, err := s.rd.Next(ctx)
	return &ffipb.StreamChunkEvent{Content: &ffipb.StreamChunkEvent_Text{Text: t}}, len(t), err
}
func (s textSource) close()                        { _ = s.rd.Close() }
func (s textSource) attributes() map[string]string { return s.rd.Info().Attributes }
func (s textSource) arrival() uint64               { return s.rd.Info().Arrival }
func (s textSource) owned(h uint64) *ffipb.OwnedStreamReader {
	return &ffipb.OwnedStreamReader{Handle: h, Info: &ffipb.OwnedStreamReader_Text{Text: textStreamInfo(s.rd.Info())}}
}

type byteSource struct{ rd *datastream.ByteStreamReader }

func (s byteSource) next(ctx context.Context) (*ffipb.StreamChunkEvent, int, error) {
	b, err := s.rd.Next(ctx)
	return &ffipb.StreamChunkEvent{Content: &ffipb.StreamChunkEvent_Data{Data: b}}, len(b), err
}
func (s byteSource) close()                        { _ = s.rd.Close() }
func (s byteSource) attributes() map[string]string { return s.rd.Info().Attributes }
func (s byteSource) arrival() uint64               { return s.rd.Info().Arrival }
func (s byteSource) owned(h uint64) *ffipb.OwnedStreamReader {
	return &ffipb.OwnedStreamReader{Handle: h, Info: &ffipb.OwnedStreamReader_Bytes{Bytes: byteStreamInfo(s.rd.Info())}}
}

// StreamReader is the object behind a stream reader handle.
type StreamReader struct {
	ctx    context.Context // cancelled when the handle is released
	cancel context.CancelFunc
	credits
}

// release discards the rest of the stream.
func (s *StreamReader) release(context.Context) { s.cancel() }

// credits counts what a DELIVERY_MODE_CREDITS consumer may still deliver.
type credits struct {
	enabled bool
	mu      sync.Mutex
	n       uint64
	wake    chan struct{} // closed and replaced when credits are granted
}

func newCredits(mode ffipb.DeliveryMode, initial uint32) credits {
	return credits{enabled: mode == ffipb.DeliveryMode_DELIVERY_MODE_CREDITS, n: uint64(initial), wake: make(chan struct{})}
}

// reset makes the consumer use mode with initial credits (a pull subscription switching to
// events); the delivering goroutine sees it after the switch (see Subscription.switchDelivery).
func (c *credits) reset(mode ffipb.DeliveryMode, initial uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enabled, c.n = mode == ffipb.DeliveryMode_DELIVERY_MODE_CREDITS, uint64(initial)
}

// GrantCredits implements CreditGranter.
func (c *credits) GrantCredits(n uint32) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled {
		return 0, Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "consumer does not use DELIVERY_MODE_CREDITS")
	}
	c.n += uint64(n)
	close(c.wake)
	c.wake = make(chan struct{})
	return c.n, nil
}

// take waits for one credit (immediately true when credits are not enabled).
func (c *credits) take(ctx context.Context) bool {
	if !c.enabled {
		return true
	}
	for {
		c.mu.Lock()
		if c.n > 0 {
			c.n--
			c.mu.Unlock()
			return true
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

// serveStream runs in the core's handler goroutine: it hands the stream to a goroutine of the
// client and returns (the core's readers stay valid after their handler returned).
func (r *Room) serveStream(identity string, src streamSource, cfg streamHandlerCfg) {
	if !r.c.goBackground(func() { r.runReader(identity, src, cfg) }) {
		src.close()
	}
}

// runReader delivers one incoming stream: StreamOpened, chunks in order, StreamEndedEvent.
// Nothing is delivered after the reader handle was dropped.
func (r *Room) runReader(identity string, src streamSource, cfg streamHandlerCfg) {
	defer src.close()
	select {
	case <-r.eventsReady:
	case <-r.ctx.Done():
		return
	}
	// Announced in the order the headers arrived, whichever goroutine runs first.
	arrival := src.arrival()
	if !r.streamOrder.wait(r.ctx, arrival) {
		return
	}
	turn := sync.OnceFunc(func() { r.streamOrder.finish(arrival) })
	defer turn() // whatever ends this goroutine early, the next stream gets its turn
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	sr := &StreamReader{ctx: ctx, cancel: cancel, credits: newCredits(cfg.delivery, cfg.credits)}
	h, err := r.c.handles.Insert(KindStreamReader, sr, r.handle, sr.release)
	if err != nil {
		return // room released meanwhile
	}
	opened := &ffipb.RoomEvent{RoomHandle: r.handle, Message: &ffipb.RoomEvent_StreamOpened{StreamOpened: &ffipb.StreamOpened{
		ParticipantIdentity: identity, Reader: src.owned(h),
	}}}
	err = r.c.Post(ctx, roomEvent(opened))
	turn()
	if err != nil {
		return
	}
	limit, total := r.maxIncomingStreamBytes(), uint64(0)
	var end error
	for {
		chunk, n, err := src.next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				end = err
			}
			break
		}
		if total += uint64(n); total > limit {
			end = Errorf(ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE, "incoming stream exceeds max_incoming_stream_bytes (%d)", limit)
			break
		}
		if !sr.take(ctx) {
			return
		}
		chunk.ReaderHandle = h
		if r.c.Post(ctx, &ffipb.Event{Message: &ffipb.Event_StreamChunk{StreamChunk: chunk}}) != nil {
			return
		}
	}
	if ctx.Err() != nil {
		return // dropped or released: nothing more for the host
	}
	ended := &ffipb.StreamEndedEvent{ReaderHandle: h, Attributes: src.attributes()}
	if end != nil {
		ended.Error = ToProto(fromCore(end))
	}
	_ = r.c.Post(ctx, &ffipb.Event{Message: &ffipb.Event_StreamEnded{StreamEnded: ended}})
}

// ---- conversions ----

func textStreamInfo(i datastream.TextStreamInfo) *ffipb.TextStreamInfo {
	out := &ffipb.TextStreamInfo{
		StreamId:          i.ID,
		Topic:             i.Topic,
		TimestampMs:       i.Timestamp.UnixMilli(),
		TotalLength:       i.Size,
		Attributes:        maps.Clone(i.Attributes),
		OperationType:     ffipb.TextStreamOptions_OperationType(i.OperationType),
		Version:           i.Version,
		ReplyToStreamId:   i.ReplyToStreamID,
		AttachedStreamIds: append([]string(nil), i.AttachedStreamIDs...),
		Generated:         i.Generated,
		Encrypted:         i.EncryptionType != lkpb.Encryption_NONE,
	}
	if i.Size != nil {
		v := *i.Size
		out.TotalLength = &v
	}
	return out
}

func byteStreamInfo(i datastream.ByteStreamInfo) *ffipb.ByteStreamInfo {
	out := &ffipb.ByteStreamInfo{
		StreamId:    i.ID,
		Topic:       i.Topic,
		TimestampMs: i.Timestamp.UnixMilli(),
		Attributes:  maps.Clone(i.Attributes),
		Name:        i.Name,
		MimeType:    i.MimeType,
		Encrypted:   i.EncryptionType != lkpb.Encryption_NONE,
	}
	if i.Size != nil {
		v := *i.Size
		out.TotalLength = &v
	}
	return out
}

// ---- outgoing ----

func (c *Client) sendText(k *call, m *ffipb.SendTextRequest) error {
	_, rm, err := c.connectedRoom(m.GetRoomHandle())
	if err != nil {
		return err
	}
	o, text := m.GetOptions(), m.GetText()
	co := o.GetCommon()
	if o.GetOperationType() != 0 || o.GetVersion() != 0 || o.GetReplyToStreamId() != "" || o.GetGenerated() || co.TotalLength != nil {
		// Fields SendText does not take: send it as a one-write incremental stream.
		return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
			w, err := rm.LocalParticipant().StreamText(ctx, textWriterOptions(o))
			if err != nil {
				return nil, fromCore(err)
			}
			if _, err := w.WriteString(text); err != nil {
				_ = w.CloseWithReason("write failed", nil)
				return nil, fromCore(err)
			}
			if err := w.Close(); err != nil {
				return nil, fromCore(err)
			}
			return &ffipb.Completion{Result: &ffipb.Completion_SendText{SendText: textStreamInfo(w.Info())}}, nil
		})
	}
	opts := datastream.SendTextOptions{
		Topic: co.GetTopic(), DestinationIdentities: co.GetDestinationIdentities(), Attributes: co.GetAttributes(),
		StreamID: co.GetStreamId(), AttachedStreamIDs: o.GetAttachedStreamIds(), SenderIdentity: o.GetSenderIdentity(),
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		info, err := rm.LocalParticipant().SendText(ctx, text, opts)
		if err != nil {
			return nil, fromCore(err)
		}
		return &ffipb.Completion{Result: &ffipb.Completion_SendText{SendText: textStreamInfo(info)}}, nil
	})
}

func (c *Client) sendBytes(k *call, m *ffipb.SendBytesRequest) error {
	_, rm, err := c.connectedRoom(m.GetRoomHandle())
	if err != nil {
		return err
	}
	o, data := m.GetOptions(), m.GetData()
	co := o.GetCommon()
	opts := datastream.SendBytesOptions{
		Topic: co.GetTopic(), DestinationIdentities: co.GetDestinationIdentities(), Attributes: co.GetAttributes(),
		StreamID: co.GetStreamId(), Name: o.GetName(), MimeType: o.GetMimeType(),
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		info, err := rm.LocalParticipant().SendBytes(ctx, data, opts)
		if err != nil {
			return nil, fromCore(err)
		}
		return &ffipb.Completion{Result: &ffipb.Completion_SendBytes{SendBytes: byteStreamInfo(info)}}, nil
	})
}

func (c *Client) sendFile(k *call, m *ffipb.SendFileRequest) error {
	_, rm, err := c.connectedRoom(m.GetRoomHandle())
	if err != nil {
		return err
	}
	if m.GetPath() == "" {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "send_file needs a path")
	}
	o, path := m.GetOptions(), m.GetPath()
	co := o.GetCommon()
	opts := datastream.SendFileOptions{
		Topic: co.GetTopic(), DestinationIdentities: co.GetDestinationIdentities(), Attributes: co.GetAttributes(),
		StreamID: co.GetStreamId(), Name: o.GetName(), MimeType: o.GetMimeType(),
	}
	if opts.Name == "" {
		opts.Name = filepath.Base(path)
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_IO_ERROR, "cannot open the file: %v", errors.Unwrap(err))
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_IO_ERROR, "not a regular file")
		}
		info, err := rm.LocalParticipant().SendFile(ctx, ioErrorReader{f}, uint64(st.Size()), opts)
		if err != nil {
			var ioe *ioError
			if errors.As(err, &ioe) {
				return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_IO_ERROR, "reading the file failed: %v", ioe.err)
			}
			return nil, fromCore(err)
		}
		return &ffipb.Completion{Result: &ffipb.Completion_SendFile{SendFile: byteStreamInfo(info)}}, nil
	})
}

// ioErrorReader marks read errors of the local file so they map to IO_ERROR.
type ioErrorReader struct{ r io.Reader }

type ioError struct{ err error }

func (e *ioError) Error() string { return "reading the file: " + e.err.Error() }

func (r ioErrorReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = &ioError{err}
	}
	return n, err
}

func textWriterOptions(o *ffipb.TextStreamOptions) datastream.StreamTextOptions {
	co := o.GetCommon()
	return datastream.StreamTextOptions{
		Topic: co.GetTopic(), DestinationIdentities: co.GetDestinationIdentities(), Attributes: co.GetAttributes(),
		StreamID: co.GetStreamId(), OperationType: lkpb.DataStream_OperationType(o.GetOperationType()),
		Version: o.GetVersion(), ReplyToStreamID: o.GetReplyToStreamId(), AttachedStreamIDs: o.GetAttachedStreamIds(),
		Generated: o.GetGenerated(), TotalSize: co.TotalLength, SenderIdentity: o.GetSenderIdentity(),
	}
}

// StreamWriter is the object behind a stream writer handle.
type StreamWriter struct {
	room   *Room
	text   bool
	ctx    context.Context // bounds the whole stream (the core's writer keeps it)
	cancel context.CancelFunc
	tw     *datastream.TextStreamWriter
	bw     *datastream.ByteStreamWriter

	mu      sync.Mutex
	closed  bool          // a close was requested (or the handle released)
	aborted bool          // an operation was cancelled or timed out: the stream is aborted
	tail    chan struct{} // closed when the last queued operation finished
}

func (w *StreamWriter) write(text string, data []byte) error {
	var err error
	if w.text {
		_, err = w.tw.WriteString(text)
	} else {
		_, err = w.bw.Write(data)
	}
	return err
}

func (w *StreamWriter) closeStream(reason string, attrs map[string]string) error {
	if w.text {
		if reason == "" && len(attrs) == 0 {
			return w.tw.Close()
		}
		return w.tw.CloseWithReason(reason, attrs)
	}
	if reason == "" && len(attrs) == 0 {
		return w.bw.Close()
	}
	return w.bw.CloseWithReason(reason, attrs)
}

// turn reserves the next place in the writer's order; FAILED_PRECONDITION once closing.
func (w *StreamWriter) turn(closing bool) (prev, mine chan struct{}, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted {
		return nil, nil, errWriterAborted()
	}
	if w.closed {
		return nil, nil, Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "stream writer is closed")
	}
	if closing {
		w.closed = true
	}
	mine = make(chan struct{})
	prev, w.tail = w.tail, mine
	return prev, mine, nil
}

func errWriterAborted() error {
	return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION,
		"stream writer is aborted: an earlier write or close was cancelled before it was sent")
}

// markAborted marks the stream aborted because an operation was cancelled or timed out
// (before its turn, or while being sent); false if it already was. Operations queued after it
// then fail, and so do later requests.
func (w *StreamWriter) markAborted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted {
		return false
	}
	w.aborted, w.closed = true, true
	return true
}

func (w *StreamWriter) isAborted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.aborted
}

// release aborts an unclosed stream (after the writes already queued) and ends its context.
func (w *StreamWriter) release(ctx context.Context) {
	defer w.cancel()
	prev, mine, err := w.turn(true)
	if err != nil {
		return // closed by the host: the close operation ends the stream
	}
	defer close(mine)
	select {
	case <-prev:
	case <-ctx.Done():
		return
	}
	// The abort is sent under the writer's own context, which a reconnect or a congested
	// channel could hold for long: a bound of its own ends it (and with it the send), so a
	// room dropped with open writers is released soon, within the release's budget.
	actx, cancel := context.WithTimeout(ctx, writerAbortTimeout)
	defer cancel()
	defer context.AfterFunc(actx, w.cancel)()
	_ = w.closeStream(errWriterDropped, nil)
}

func (c *Client) openWriter(k *call, roomHandle uint64, text bool, to *ffipb.TextStreamOptions, bo *ffipb.ByteStreamOptions) error {
	r, rm, err := c.connectedRoom(roomHandle)
	if err != nil {
		return err
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		// The core's writer keeps the context it was opened with for the whole stream: it is
		// the writer's own (cancelled on release), and the operation's ctx only bounds opening.
		wctx, cancel := context.WithCancel(r.ctx)
		w := &StreamWriter{room: r, text: text, ctx: wctx, cancel: cancel, tail: closedChan()}
		opened := make(chan error, 1)
		go func() {
			var err error
			if text {
				w.tw, err = rm.LocalParticipant().StreamText(wctx, textWriterOptions(to))
			} else {
				co := bo.GetCommon()
				w.bw, err = rm.LocalParticipant().StreamBytes(wctx, datastream.StreamBytesOptions{
					Topic: co.GetTopic(), DestinationIdentities: co.GetDestinationIdentities(), Attributes: co.GetAttributes(),
					StreamID: co.GetStreamId(), Name: bo.GetName(), MimeType: bo.GetMimeType(), TotalSize: co.TotalLength,
				})
			}
			opened <- err
		}()
		select {
		case err = <-opened:
		case <-ctx.Done():
			cancel()
			<-opened
			return nil, ctx.Err()
		}
		if err != nil {
			cancel()
			return nil, fromCore(err)
		}
		h, err := c.handles.Insert(KindStreamWriter, w, r.handle, w.release)
		if err != nil {
			_ = w.closeStream("room released", nil)
			cancel()
			return nil, err
		}
		var owned *ffipb.OwnedStreamWriter
		if text {
			owned = &ffipb.OwnedStreamWriter{Handle: h, Info: &ffipb.OwnedStreamWriter_Text{Text: textStreamInfo(w.tw.Info())}}
			return &ffipb.Completion{Result: &ffipb.Completion_OpenTextWriter{OpenTextWriter: owned}}, nil
		}
		owned = &ffipb.OwnedStreamWriter{Handle: h, Info: &ffipb.OwnedStreamWriter_Bytes{Bytes: byteStreamInfo(w.bw.Info())}}
		return &ffipb.Completion{Result: &ffipb.Completion_OpenByteWriter{OpenByteWriter: owned}}, nil
	})
}

func (c *Client) writer(h uint64) (*StreamWriter, error) {
	obj, err := c.handles.Get(h, KindStreamWriter)
	if err != nil {
		return nil, err
	}
	return obj.(*StreamWriter), nil
}

// writeStream handles WriteStreamRequest (ASYNC, applied in request order per writer).
func (c *Client) writeStream(k *call, m *ffipb.WriteStreamRequest) error {
	w, err := c.writer(m.GetWriterHandle())
	if err != nil {
		return err
	}
	var text string
	var data []byte
	switch ct := m.GetContent().(type) {
	case *ffipb.WriteStreamRequest_Text:
		if !w.text {
			return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "a byte stream writer takes data, not text")
		}
		text = ct.Text
	case *ffipb.WriteStreamRequest_Data:
		if w.text {
			return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "a text stream writer takes text, not data")
		}
		data = ct.Data
	default:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "write_stream needs text or data")
	}
	return c.sequencedWriterOp(k, w, false, func() error { return w.write(text, data) })
}

// closeStreamWriter handles CloseStreamWriterRequest (ASYNC, after every earlier write).
func (c *Client) closeStreamWriter(k *call, m *ffipb.CloseStreamWriterRequest) error {
	w, err := c.writer(m.GetWriterHandle())
	if err != nil {
		return err
	}
	reason, attrs := m.GetReason(), m.GetAttributes()
	return c.sequencedWriterOp(k, w, true, func() error { return w.closeStream(reason, attrs) })
}

func (c *Client) sequencedWriterOp(k *call, w *StreamWriter, closing bool, do func() error) error {
	prev, mine, err := w.turn(closing)
	if err != nil {
		return err
	}
	err = k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		select {
		case <-prev:
		case <-ctx.Done():
			// Cancelled (or timed out) before its turn. Skipping a write would leave a silent
			// gap in what the receivers read, skipping a close a stream that never ends: the
			// stream is aborted instead, once the operations before this one have run, and
			// every operation after it fails.
			if w.markAborted() {
				w.room.afterTurn(prev, mine, func() { _ = w.closeStream(errWriteCancelled, nil) })
			} else {
				w.room.passTurn(prev, mine)
			}
			return nil, ctx.Err()
		}
		defer w.room.passTurn(prev, mine)
		if w.isAborted() {
			return nil, errWriterAborted()
		}
		// The send runs under the writer's context (the core's writer keeps it for the whole
		// stream), which a reconnect or a congested channel can hold for long. This
		// operation's deadline or cancellation, reached while it sends, ends that context:
		// the stream cannot be completed any more, so it counts as aborted and later
		// operations fail (the receivers see no trailer: nothing can be sent on it).
		stop := context.AfterFunc(ctx, w.cancel)
		err := do()
		if !stop() {
			w.markAborted()
			return nil, ctx.Err()
		}
		return nil, fromCore(err)
	})
	if err != nil {
		if closing {
			w.mu.Lock()
			w.closed = false
			w.mu.Unlock()
		}
		w.room.passTurn(prev, mine)
	}
	return err
}
