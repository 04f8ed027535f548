package datastream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

// streamCompressChunks: a payload whose compression probe predicts at least
// this many chunks is compressed while it is sent (streamBody) instead of
// before; smaller ones are compressed whole first, so that the result can
// go inline when it fits one packet and raw when compression does not make
// it smaller.
const streamCompressChunks = 4

// trailerGrace bounds the best-effort trailer sent after a stream failed
// mid-way because its context ended, so receivers do not keep it open.
const trailerGrace = 2 * time.Second

// SendTextOptions configures SendText.
type SendTextOptions struct {
	// Topic routes the stream to the receivers' handlers.
	Topic string
	// DestinationIdentities restricts the recipients; empty = everyone.
	DestinationIdentities []string
	// Attributes are sent in the header.
	Attributes map[string]string
	// StreamID overrides the generated stream id.
	StreamID string
	// AttachedStreamIDs lists byte streams the caller sends as attachments;
	// a text with attachments is never sent inline.
	AttachedStreamIDs []string
	// DisableCompression never compresses this stream (JS compress: false).
	DisableCompression bool
	// OnProgress is called with the fraction of the payload sent, in [0, 1].
	OnProgress func(float64)
	// SenderIdentity, when set, is the participant an agent sends the text
	// on behalf of (for example the user whose speech it transcribes): the
	// SFU keeps it on the stream's header from an agent, and the receivers
	// see it as the sender. "" means the local participant.
	SenderIdentity string
}

// SendBytesOptions configures SendBytes.
type SendBytesOptions struct {
	// Topic routes the stream to the receivers' handlers.
	Topic string
	// DestinationIdentities restricts the recipients; empty = everyone.
	DestinationIdentities []string
	// Attributes are sent in the header.
	Attributes map[string]string
	// StreamID overrides the generated stream id.
	StreamID string
	// Name is the payload name; default DefaultByteStreamName.
	Name string
	// MimeType defaults to DefaultByteMimeType.
	MimeType string
	// DisableCompression never compresses this stream.
	DisableCompression bool
	// OnProgress is called with the fraction of the payload sent, in [0, 1].
	OnProgress func(float64)
}

// SendFileOptions configures SendFile.
type SendFileOptions struct {
	// Topic routes the stream to the receivers' handlers.
	Topic string
	// DestinationIdentities restricts the recipients; empty = everyone.
	DestinationIdentities []string
	// Attributes are sent in the header (JS sendFile has none; harmless).
	Attributes map[string]string
	// StreamID overrides the generated stream id.
	StreamID string
	// Name is the file name.
	Name string
	// MimeType defaults to DefaultByteMimeType.
	MimeType string
	// DisableCompression never compresses this stream.
	DisableCompression bool
	// OnProgress is called with the fraction of the file sent, in [0, 1].
	OnProgress func(float64)
}

// eligibility decides, for a recipient set, whether a stream may be sent
// inline and whether it may be compressed
// (docs/protocol.md, Data streams).
func (m *Manager) eligibility(dests []string, noCompress bool) (inline, compress bool) {
	var peers []PeerInfo
	if len(dests) == 0 {
		peers = m.t.RemotePeers()
	} else {
		peers = make([]PeerInfo, 0, len(dests))
		for _, d := range dests {
			p, ok := m.t.RemotePeer(d)
			if !ok {
				return false, false
			}
			peers = append(peers, p)
		}
	}
	inline, compress = true, !noCompress && !m.noDeflat
	for _, p := range peers {
		if p.ClientProtocol < ClientProtocolDataStreamV2 {
			return false, false
		}
		if !p.CanInflate() {
			compress = false
		}
	}
	return inline, compress
}

// bind derives a context that is also cancelled when the manager closes.
func (m *Manager) bind(ctx context.Context) (context.Context, func()) {
	c, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(m.closeCtx, func() { cancel(ErrClosed) })
	return c, func() { stop(); cancel(nil) }
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func (m *Manager) sendPacket(ctx context.Context, streamID string, pkt *lkpb.DataPacket) error {
	if m.closeCtx.Err() != nil {
		return newErr(ReasonClosed, streamID, "", nil)
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(context.Cause(ctx), ErrClosed) {
			return newErr(ReasonClosed, streamID, "", nil)
		}
		return newErr(ReasonSendFailed, streamID, "", err)
	}
	if err := m.t.SendPacket(ctx, pkt); err != nil {
		if errors.Is(context.Cause(ctx), ErrClosed) {
			return newErr(ReasonClosed, streamID, "", err)
		}
		return newErr(ReasonSendFailed, streamID, "", err)
	}
	return nil
}

// headerPacket is the packet of a stream's header; sender, when not "", is the identity an
// agent sends a text stream on behalf of (the SFU keeps it on a header from an agent only).
func headerPacket(dests []string, sender string, h *lkpb.DataStream_Header) *lkpb.DataPacket {
	return &lkpb.DataPacket{Kind: lkpb.DataPacket_RELIABLE, DestinationIdentities: dests, ParticipantIdentity: sender,
		Value: &lkpb.DataPacket_StreamHeader{StreamHeader: h}}
}

func chunkPacket(dests []string, id string, idx uint64, content []byte) *lkpb.DataPacket {
	return &lkpb.DataPacket{Kind: lkpb.DataPacket_RELIABLE, DestinationIdentities: dests,
		Value: &lkpb.DataPacket_StreamChunk{StreamChunk: &lkpb.DataStream_Chunk{StreamId: id, ChunkIndex: idx, Content: content}}}
}

func trailerPacket(dests []string, id, reason string, attrs map[string]string) *lkpb.DataPacket {
	return &lkpb.DataPacket{Kind: lkpb.DataPacket_RELIABLE, DestinationIdentities: dests,
		Value: &lkpb.DataPacket_StreamTrailer{StreamTrailer: &lkpb.DataStream_Trailer{StreamId: id, Reason: reason, Attributes: maps.Clone(attrs)}}}
}

func (m *Manager) newHeader(id, topic, mime string, attrs map[string]string, total *uint64) *lkpb.DataStream_Header {
	return &lkpb.DataStream_Header{
		StreamId:    id,
		Timestamp:   m.now().UnixMilli(),
		Topic:       topic,
		MimeType:    mime,
		TotalLength: total,
		Attributes:  maps.Clone(attrs),
	}
}

func (m *Manager) streamID(given string) string {
	if given != "" {
		return given
	}
	return m.newID()
}

func u64(v uint64) *uint64 { return &v }

// stringBytes views s as a byte slice without copying it (a 1 MiB RPC
// payload would otherwise be copied once more before it is sent). The
// slice must only be read: sendOneShot and everything it hands the bytes to
// (compressor, chunk packets, protobuf marshalling, transport) only read
// their input.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func progress(f func(float64), done, total uint64) {
	if f == nil {
		return
	}
	if total == 0 {
		f(1)
		return
	}
	f(float64(done) / float64(total))
}

// SendText sends text as one text stream (docs/protocol.md, Data streams):
// a single inline packet (deflate-raw compressed when that is smaller) if
// every recipient speaks client protocol 2, otherwise header + UTF-8-safe
// chunks + trailer. It returns when the last packet has been handed to the
// transport.
func (m *Manager) SendText(ctx context.Context, text string, opts SendTextOptions) (TextStreamInfo, error) {
	id := m.streamID(opts.StreamID)
	h := m.newHeader(id, opts.Topic, TextMimeType, opts.Attributes, u64(uint64(len(text))))
	th := &lkpb.DataStream_TextHeader{AttachedStreamIds: append([]string(nil), opts.AttachedStreamIDs...)}
	h.ContentHeader = &lkpb.DataStream_Header_TextHeader{TextHeader: th}
	info := TextStreamInfo{AttachedStreamIDs: th.AttachedStreamIds}
	si, err := m.sendOneShot(ctx, h, stringBytes(text), true, opts.DestinationIdentities, opts.SenderIdentity, len(opts.AttachedStreamIDs) == 0, opts.DisableCompression, opts.OnProgress)
	info.StreamInfo = si
	return info, err
}

// SendBytes sends data as one byte stream, inline and/or
// compressed when every recipient supports it.
func (m *Manager) SendBytes(ctx context.Context, data []byte, opts SendBytesOptions) (ByteStreamInfo, error) {
	id := m.streamID(opts.StreamID)
	mime := opts.MimeType
	if mime == "" {
		mime = DefaultByteMimeType
	}
	name := opts.Name
	if name == "" {
		name = DefaultByteStreamName
	}
	h := m.newHeader(id, opts.Topic, mime, opts.Attributes, u64(uint64(len(data))))
	h.ContentHeader = &lkpb.DataStream_Header_ByteHeader{ByteHeader: &lkpb.DataStream_ByteHeader{Name: name}}
	si, err := m.sendOneShot(ctx, h, data, false, opts.DestinationIdentities, "", true, opts.DisableCompression, opts.OnProgress)
	return ByteStreamInfo{StreamInfo: si, Name: name}, err
}

func (m *Manager) sendOneShot(ctx context.Context, h *lkpb.DataStream_Header, data []byte, text bool, dests []string, sender string, inlineAllowed, noCompress bool, onProgress func(float64)) (StreamInfo, error) {
	dests = append([]string(nil), dests...)
	info := StreamInfo{
		ID: h.StreamId, Topic: h.Topic, MimeType: h.MimeType, Timestamp: time.UnixMilli(h.Timestamp),
		Size: u64(uint64(len(data))), Attributes: maps.Clone(h.Attributes), DestinationIdentities: dests,
	}
	ctx, release := m.bind(ctx)
	defer release()

	inline, compress := m.eligibility(dests, noCompress)
	z := m.flate
	if compress {
		var worth bool
		var estimate int
		worth, estimate, z = m.probe(data)
		if worth && estimate >= streamCompressChunks*ChunkSize {
			// Large and compressible: compressed while it is sent, so the
			// first chunks travel while the rest is compressed (the probe
			// predicts several chunks, so it would not have gone inline).
			h.Compression = lkpb.DataStream_DEFLATE_RAW
			info.Compression = h.Compression
			return info, m.streamBody(ctx, h, dests, sender, bytes.NewReader(data), uint64(len(data)), onProgress, z)
		}
		compress = worth
	}
	var zPieces [][]byte
	zSize := -1
	if compress {
		zPieces, zSize = z.deflateRaw(data, ChunkSize)
	}
	useZ := zSize >= 0 && zSize < len(data)
	// The inline packet must fit in ChunkSize: compressed output of more
	// than one piece never does (nor the larger raw data).
	if inline && inlineAllowed && !(useZ && len(zPieces) > 1) {
		if useZ {
			h.InlineContent, h.Compression = zPieces[0], lkpb.DataStream_DEFLATE_RAW
		} else {
			h.InlineContent, h.Compression = data, lkpb.DataStream_NONE
			if h.InlineContent == nil {
				h.InlineContent = []byte{}
			}
		}
		pkt := headerPacket(dests, sender, h)
		if proto.Size(pkt) <= ChunkSize {
			info.Inline, info.Compression = true, h.Compression
			if err := m.sendPacket(ctx, h.StreamId, pkt); err != nil {
				return info, err
			}
			progress(onProgress, 1, 1)
			return info, nil
		}
		h.InlineContent = nil
	}
	// Chunked. Rust rule: compressed only when it is smaller (JS 2.23.0
	// compresses whenever eligible, see 2c-streams-js;
	// docs/protocol.md, Departures).
	var pieces [][]byte
	if useZ {
		h.Compression = lkpb.DataStream_DEFLATE_RAW
		pieces = zPieces
	} else {
		h.Compression = lkpb.DataStream_NONE
		if text {
			pieces = SplitUTF8(data, ChunkSize)
		} else {
			pieces = splitBytes(data, ChunkSize)
		}
	}
	info.Compression = h.Compression
	hp := headerPacket(dests, sender, h)
	if proto.Size(hp) > ChunkSize {
		return info, newErr(ReasonHeaderTooLarge, h.StreamId, fmt.Sprintf("header of data stream %s is %d bytes, more than %d", h.StreamId, proto.Size(hp), ChunkSize), nil)
	}
	if err := m.sendPacket(ctx, h.StreamId, hp); err != nil {
		return info, err
	}
	// Progress: fraction of the wire pieces sent (equal to the fraction of
	// uncompressed bytes for uncompressed streams).
	var sentWire, wireTotal uint64
	for _, p := range pieces {
		wireTotal += uint64(len(p))
	}
	for i, p := range pieces {
		if err := m.sendPacket(ctx, h.StreamId, chunkPacket(dests, h.StreamId, uint64(i), p)); err != nil {
			m.abortStream(ctx, dests, h.StreamId)
			return info, err
		}
		sentWire += uint64(len(p))
		if onProgress != nil && wireTotal > 0 && sentWire < wireTotal {
			onProgress(float64(sentWire) / float64(wireTotal))
		}
	}
	if err := m.sendPacket(ctx, h.StreamId, trailerPacket(dests, h.StreamId, "", nil)); err != nil {
		return info, err
	}
	progress(onProgress, 1, 1)
	return info, nil
}

// abortStream sends a best-effort trailer with reason "cancelled" after a
// stream failed because its context ended (not when the manager closed or
// the transport failed).
func (m *Manager) abortStream(ctx context.Context, dests []string, id string) {
	if ctx.Err() == nil || errors.Is(context.Cause(ctx), ErrClosed) || m.closeCtx.Err() != nil {
		return
	}
	c, cancel := context.WithTimeout(m.closeCtx, trailerGrace)
	defer cancel()
	_ = m.t.SendPacket(c, trailerPacket(dests, id, "cancelled", nil))
}

// SendFile streams size bytes read from r as one byte stream:
// never inline, deflate-raw compressed (streaming) when every recipient
// supports it, re-chunked into ChunkSize pieces. If r ends before size bytes,
// the stream is closed with an abnormal trailer and an error is returned.
func (m *Manager) SendFile(ctx context.Context, r io.Reader, size uint64, opts SendFileOptions) (ByteStreamInfo, error) {
	id := m.streamID(opts.StreamID)
	mime := opts.MimeType
	if mime == "" {
		mime = DefaultByteMimeType
	}
	dests := append([]string(nil), opts.DestinationIdentities...)
	h := m.newHeader(id, opts.Topic, mime, opts.Attributes, u64(size))
	h.ContentHeader = &lkpb.DataStream_Header_ByteHeader{ByteHeader: &lkpb.DataStream_ByteHeader{Name: opts.Name}}
	_, compress := m.eligibility(dests, opts.DisableCompression)
	if compress {
		h.Compression = lkpb.DataStream_DEFLATE_RAW
	}
	info := ByteStreamInfo{Name: opts.Name, StreamInfo: StreamInfo{
		ID: id, Topic: h.Topic, MimeType: mime, Timestamp: time.UnixMilli(h.Timestamp), Size: u64(size),
		Attributes: maps.Clone(h.Attributes), Compression: h.Compression, DestinationIdentities: dests,
	}}
	ctx, release := m.bind(ctx)
	defer release()
	return info, m.streamBody(ctx, h, dests, "", r, size, opts.OnProgress, m.flate)
}

// streamBody sends a stream's header, then size bytes read from r in
// ChunkSize chunks — compressed (deflate-raw, streaming, with a compressor
// of z) when h says so — then its trailer. If r fails or ends early the
// stream is closed with an abnormal trailer; if sending fails after the
// header it is aborted.
func (m *Manager) streamBody(ctx context.Context, h *lkpb.DataStream_Header, dests []string, sender string, r io.Reader, size uint64, onProgress func(float64), z *flatePool) error {
	id := h.StreamId
	hp := headerPacket(dests, sender, h)
	if proto.Size(hp) > ChunkSize {
		return newErr(ReasonHeaderTooLarge, id, fmt.Sprintf("header of data stream %s is %d bytes, more than %d", id, proto.Size(hp), ChunkSize), nil)
	}
	if err := m.sendPacket(ctx, id, hp); err != nil {
		return err
	}
	cw := &chunkWriter{m: m, ctx: ctx, dests: dests, id: id}
	var sink io.Writer = cw
	var fw compressor
	if h.Compression == lkpb.DataStream_DEFLATE_RAW {
		fw = z.writer(cw)
		defer z.putWriter(fw)
		sink = fw
	}
	buf := make([]byte, 32<<10)
	var read uint64
	lr := io.LimitReader(r, int64(min(size, 1<<62)))
	for read < size {
		n, rerr := lr.Read(buf)
		if n > 0 {
			if _, err := sink.Write(buf[:n]); err != nil {
				m.abortStream(ctx, dests, id)
				return err
			}
			read += uint64(n)
			if read < size {
				progress(onProgress, read, size)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			m.sendTrailerBestEffort(dests, id, "read error")
			return newErr(ReasonSendFailed, id, "datastream: reading the file failed", rerr)
		}
	}
	if read < size {
		m.sendTrailerBestEffort(dests, id, "incomplete file")
		return newErr(ReasonInvalidArgument, id, fmt.Sprintf("datastream: file ended after %d of %d bytes", read, size), nil)
	}
	if fw != nil {
		if err := fw.Close(); err != nil {
			m.abortStream(ctx, dests, id)
			return err
		}
	}
	if err := cw.flush(); err != nil {
		m.abortStream(ctx, dests, id)
		return err
	}
	if err := m.sendPacket(ctx, id, trailerPacket(dests, id, "", nil)); err != nil {
		return err
	}
	progress(onProgress, 1, 1)
	return nil
}

func (m *Manager) sendTrailerBestEffort(dests []string, id, reason string) {
	if m.closeCtx.Err() != nil {
		return
	}
	c, cancel := context.WithTimeout(m.closeCtx, trailerGrace)
	defer cancel()
	_ = m.t.SendPacket(c, trailerPacket(dests, id, reason, nil))
}

// chunkWriter re-chunks a byte sequence into exactly ChunkSize chunks (the
// last one shorter) and sends each as soon as it is full.
type chunkWriter struct {
	m     *Manager
	ctx   context.Context
	dests []string
	id    string
	next  uint64
	buf   []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if c.buf == nil {
			c.buf = make([]byte, 0, ChunkSize)
		}
		k := min(ChunkSize-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == ChunkSize {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.m.sendPacket(c.ctx, c.id, chunkPacket(c.dests, c.id, c.next, c.buf))
	c.next++
	c.buf = c.buf[:0] // the transport does not retain the packet (Transport.SendPacket)
	return err
}
