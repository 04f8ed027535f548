package datastream

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

// StreamTextOptions configures StreamText.
type StreamTextOptions struct {
	// Topic routes the stream to the receivers' handlers.
	Topic string
	// DestinationIdentities restricts the recipients; empty = everyone.
	DestinationIdentities []string
	// Attributes are sent in the header.
	Attributes map[string]string
	// StreamID overrides the generated stream id.
	StreamID string
	// OperationType is CREATE (default) or UPDATE etc.
	OperationType lkpb.DataStream_OperationType
	// Version is the edit version.
	Version int32
	// ReplyToStreamID optionally references another stream.
	ReplyToStreamID string
	// AttachedStreamIDs lists byte streams sent as attachments.
	AttachedStreamIDs []string
	// Generated marks generated text (only meaningful with impersonation
	// rights; normally set by the SFU).
	Generated bool
	// TotalSize declares the total UTF-8 length, if known.
	TotalSize *uint64
	// SenderIdentity, when set, is the participant an agent sends the text
	// on behalf of (see SendTextOptions.SenderIdentity).
	SenderIdentity string
}

// StreamBytesOptions configures StreamBytes.
type StreamBytesOptions struct {
	// Topic routes the stream to the receivers' handlers.
	Topic string
	// DestinationIdentities restricts the recipients; empty = everyone.
	DestinationIdentities []string
	// Attributes are sent in the header.
	Attributes map[string]string
	// StreamID overrides the generated stream id.
	StreamID string
	// Name defaults to DefaultByteStreamName.
	Name string
	// MimeType defaults to DefaultByteMimeType.
	MimeType string
	// TotalSize declares the total length, if known.
	TotalSize *uint64
}

// streamWriter is the common part of the incremental writers: never inline,
// never compressed (as JS and Rust writers). Writes are serialized.
type streamWriter struct {
	m       *Manager
	ctx     context.Context
	release func()
	id      string
	dests   []string
	text    bool

	mu     sync.Mutex
	next   uint64
	carry  []byte // text: incomplete UTF-8 tail of the last Write
	closed bool
	err    error
}

func (m *Manager) openWriter(ctx context.Context, h *lkpb.DataStream_Header, dests []string, sender string, text bool) (*streamWriter, error) {
	if m.isClosed() {
		return nil, newErr(ReasonClosed, h.StreamId, "", nil)
	}
	hp := headerPacket(dests, sender, h)
	if n := proto.Size(hp); n > ChunkSize {
		return nil, newErr(ReasonHeaderTooLarge, h.StreamId, fmt.Sprintf("header of data stream %s is %d bytes, more than %d", h.StreamId, n, ChunkSize), nil)
	}
	bctx, release := m.bind(ctx)
	if err := m.sendPacket(bctx, h.StreamId, hp); err != nil {
		release()
		return nil, err
	}
	return &streamWriter{m: m, ctx: bctx, release: release, id: h.StreamId, dests: dests, text: text}, nil
}

func (w *streamWriter) write(p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return newErr(ReasonClosed, w.id, "datastream: writer of stream "+w.id+" is closed", nil)
	}
	if w.err != nil {
		return w.err
	}
	var pieces [][]byte
	if w.text {
		buf := make([]byte, 0, len(w.carry)+len(p))
		buf = append(append(buf, w.carry...), p...)
		w.carry = nil
		if k := incompleteUTF8Tail(buf); k > 0 {
			w.carry = append([]byte(nil), buf[len(buf)-k:]...)
			buf = buf[:len(buf)-k]
		}
		pieces = SplitUTF8(buf, ChunkSize)
	} else {
		// The transport may hold the slices until sent; copy the caller's.
		pieces = splitBytes(append([]byte(nil), p...), ChunkSize)
	}
	for _, piece := range pieces {
		if err := w.m.sendPacket(w.ctx, w.id, chunkPacket(w.dests, w.id, w.next, piece)); err != nil {
			w.err = err
			w.m.abortStream(w.ctx, w.dests, w.id)
			return err
		}
		w.next++
	}
	return nil
}

func (w *streamWriter) close(reason string, attrs map[string]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.release()
	if w.err != nil {
		return w.err
	}
	if len(w.carry) > 0 { // an incomplete UTF-8 sequence: send what we have
		if err := w.m.sendPacket(w.ctx, w.id, chunkPacket(w.dests, w.id, w.next, w.carry)); err != nil {
			return err
		}
		w.next++
		w.carry = nil
	}
	return w.m.sendPacket(w.ctx, w.id, trailerPacket(w.dests, w.id, reason, attrs))
}

// TextStreamWriter writes one outgoing text stream incrementally. Text is
// split into chunks on UTF-8 boundaries; a Write that ends inside a UTF-8
// sequence keeps the incomplete tail for the next Write. It is safe for
// concurrent use (writes are serialized).
type TextStreamWriter struct {
	w    *streamWriter
	info TextStreamInfo
}

// StreamText opens an incremental text stream and sends its header. ctx
// bounds the whole stream: every later Write and Close uses it.
func (m *Manager) StreamText(ctx context.Context, opts StreamTextOptions) (*TextStreamWriter, error) {
	id := m.streamID(opts.StreamID)
	var total *uint64
	if opts.TotalSize != nil {
		total = u64(*opts.TotalSize)
	}
	h := m.newHeader(id, opts.Topic, TextMimeType, opts.Attributes, total)
	th := &lkpb.DataStream_TextHeader{
		OperationType:     opts.OperationType,
		Version:           opts.Version,
		ReplyToStreamId:   opts.ReplyToStreamID,
		AttachedStreamIds: append([]string(nil), opts.AttachedStreamIDs...),
		Generated:         opts.Generated,
	}
	h.ContentHeader = &lkpb.DataStream_Header_TextHeader{TextHeader: th}
	dests := append([]string(nil), opts.DestinationIdentities...)
	w, err := m.openWriter(ctx, h, dests, opts.SenderIdentity, true)
	if err != nil {
		return nil, err
	}
	return &TextStreamWriter{w: w, info: TextStreamInfo{
		StreamInfo: StreamInfo{ID: id, Topic: opts.Topic, MimeType: TextMimeType, Timestamp: time.UnixMilli(h.Timestamp),
			Size: total, Attributes: maps.Clone(opts.Attributes), DestinationIdentities: dests},
		OperationType: opts.OperationType, Version: opts.Version, ReplyToStreamID: opts.ReplyToStreamID,
		AttachedStreamIDs: th.AttachedStreamIds, Generated: opts.Generated,
	}}, nil
}

// Write implements io.Writer (UTF-8 bytes).
func (t *TextStreamWriter) Write(p []byte) (int, error) {
	if err := t.w.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString writes text.
func (t *TextStreamWriter) WriteString(s string) (int, error) { return t.Write([]byte(s)) }

// Close ends the stream normally (trailer with an empty reason). Idempotent.
func (t *TextStreamWriter) Close() error { return t.w.close("", nil) }

// CloseWithReason ends the stream with a trailer carrying reason (non-empty
// = abnormal end for receivers) and attributes merged into the stream's.
func (t *TextStreamWriter) CloseWithReason(reason string, attrs map[string]string) error {
	return t.w.close(reason, attrs)
}

// Info describes the stream.
func (t *TextStreamWriter) Info() TextStreamInfo { return t.info.clone() }

// ByteStreamWriter writes one outgoing byte stream incrementally. It is safe
// for concurrent use (writes are serialized).
type ByteStreamWriter struct {
	w    *streamWriter
	info ByteStreamInfo
}

// StreamBytes opens an incremental byte stream and sends its header. ctx
// bounds the whole stream: every later Write and Close uses it.
func (m *Manager) StreamBytes(ctx context.Context, opts StreamBytesOptions) (*ByteStreamWriter, error) {
	id := m.streamID(opts.StreamID)
	mime := opts.MimeType
	if mime == "" {
		mime = DefaultByteMimeType
	}
	name := opts.Name
	if name == "" {
		name = DefaultByteStreamName
	}
	var total *uint64
	if opts.TotalSize != nil {
		total = u64(*opts.TotalSize)
	}
	h := m.newHeader(id, opts.Topic, mime, opts.Attributes, total)
	h.ContentHeader = &lkpb.DataStream_Header_ByteHeader{ByteHeader: &lkpb.DataStream_ByteHeader{Name: name}}
	dests := append([]string(nil), opts.DestinationIdentities...)
	w, err := m.openWriter(ctx, h, dests, "", false)
	if err != nil {
		return nil, err
	}
	return &ByteStreamWriter{w: w, info: ByteStreamInfo{Name: name, StreamInfo: StreamInfo{
		ID: id, Topic: opts.Topic, MimeType: mime, Timestamp: time.UnixMilli(h.Timestamp), Size: total,
		Attributes: maps.Clone(opts.Attributes), DestinationIdentities: dests,
	}}}, nil
}

// Write implements io.Writer; p is split into ChunkSize chunks.
func (b *ByteStreamWriter) Write(p []byte) (int, error) {
	if err := b.w.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close ends the stream normally. Idempotent.
func (b *ByteStreamWriter) Close() error { return b.w.close("", nil) }

// CloseWithReason ends the stream with a trailer carrying reason and
// attributes.
func (b *ByteStreamWriter) CloseWithReason(reason string, attrs map[string]string) error {
	return b.w.close(reason, attrs)
}

// Info describes the stream.
func (b *ByteStreamWriter) Info() ByteStreamInfo { return b.info.clone() }
