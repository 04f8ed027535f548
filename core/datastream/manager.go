package datastream

import (
	"compress/flate"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// TextStreamHandler receives an incoming text stream and the identity of its
// sender. It runs on its own goroutine; see TextStreamReader.
type TextStreamHandler func(reader *TextStreamReader, participantIdentity string)

// ByteStreamHandler receives an incoming byte stream and the identity of its
// sender. It runs on its own goroutine; see ByteStreamReader.
type ByteStreamHandler func(reader *ByteStreamReader, participantIdentity string)

// Options configures a Manager. The zero value is usable.
type Options struct {
	// Limits bounds remote input; zero fields take DefaultLimits values.
	Limits Limits
	// Logger receives debug/warn records; nil discards.
	Logger *slog.Logger
	// Now is the clock for header timestamps; nil = time.Now.
	Now func() time.Time
	// NewStreamID generates stream ids; nil = NewStreamID (UUID v4).
	NewStreamID func() string
	// CompressionLevel is the compress/flate level used for deflate-raw;
	// 0 = flate.BestSpeed. JS uses zlib's default (6); any level is
	// wire-compatible, and Go's level 1 is about 3× faster than level 6 for
	// a few percent more bytes on typical text. A large payload whose
	// sample shows no repeated strings (e.g. base64 of random bytes) is
	// Huffman-coded only instead, whatever the level (see probe).
	CompressionLevel int
	// DisableCompression never compresses outgoing streams (like a JS
	// runtime without CompressionStream). Incoming compressed streams are
	// always inflated.
	DisableCompression bool
}

// Manager sends and receives the data streams of one room. It is safe for
// concurrent use. Create it with NewManager and stop it with Close.
type Manager struct {
	t        Transport
	log      *slog.Logger
	limits   Limits
	now      func() time.Time
	newID    func() string
	noDeflat bool
	flate    *flatePool // CompressionLevel; also every decompressor
	huff     *flatePool // flate.HuffmanOnly, for payloads without repeated strings

	closeCtx context.Context
	closeFn  context.CancelFunc
	wg       sync.WaitGroup

	mu           sync.Mutex
	closed       bool
	textHandlers map[string]TextStreamHandler
	byteHandlers map[string]ByteStreamHandler
	reserved     map[string]TextStreamHandler
	open         map[string]*inStream
	perSender    map[string]int
	unfinished   int    // streams handed to handlers whose reader has not finished
	arrivals     uint64 // streams handed to registered (not reserved) handlers: StreamInfo.Arrival

	buffered *byteBudget // wire bytes queued for all readers (Limits.MaxBufferedBytesTotal)
}

// inStream is the manager's state of one open chunked incoming stream.
type inStream struct {
	id, sender string
	senderSID  string // the sender's session, as the SFU stamped the header ("" when not)
	enc        lkpb.Encryption_Type
	last       int64 // last accepted chunk index, -1 before the first
	core       *streamCore
}

var reservedTopics = map[string]bool{RPCRequestTopic: true, RPCResponseTopic: true}

// NewManager creates a manager that sends through t.
func NewManager(t Transport, opts Options) *Manager {
	m := &Manager{
		t:            t,
		log:          opts.Logger,
		limits:       opts.Limits.withDefaults(),
		now:          opts.Now,
		newID:        opts.NewStreamID,
		flate:        &flatePool{level: opts.CompressionLevel},
		huff:         &flatePool{level: flate.HuffmanOnly},
		noDeflat:     opts.DisableCompression,
		textHandlers: map[string]TextStreamHandler{},
		byteHandlers: map[string]ByteStreamHandler{},
		reserved:     map[string]TextStreamHandler{},
		open:         map[string]*inStream{},
		perSender:    map[string]int{},
	}
	m.buffered = &byteBudget{max: m.limits.MaxBufferedBytesTotal}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.newID == nil {
		m.newID = NewStreamID
	}
	if m.flate.level == 0 {
		m.flate.level = flate.BestSpeed
	}
	m.closeCtx, m.closeFn = context.WithCancel(context.Background())
	return m
}

// Limits returns the effective limits.
func (m *Manager) Limits() Limits { return m.limits }

// RegisterTextStreamHandler routes incoming text streams with topic to h.
// It fails with ErrHandlerAlreadyRegistered if the topic already has a text
// handler or is reserved for RPC.
func (m *Manager) RegisterTextStreamHandler(topic string, h TextStreamHandler) error {
	if h == nil {
		return newErr(ReasonInvalidArgument, "", "datastream: nil handler", nil)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.textHandlers[topic]; dup || reservedTopics[topic] {
		return newErr(ReasonHandlerAlreadyRegistered, "", fmt.Sprintf("A text stream handler for topic %q has already been set.", topic), nil)
	}
	m.textHandlers[topic] = h
	return nil
}

// UnregisterTextStreamHandler removes the text handler of topic (no error if
// absent; reserved topics are not affected).
func (m *Manager) UnregisterTextStreamHandler(topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.textHandlers, topic)
}

// RegisterByteStreamHandler routes incoming byte streams with topic to h.
func (m *Manager) RegisterByteStreamHandler(topic string, h ByteStreamHandler) error {
	if h == nil {
		return newErr(ReasonInvalidArgument, "", "datastream: nil handler", nil)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.byteHandlers[topic]; dup {
		return newErr(ReasonHandlerAlreadyRegistered, "", fmt.Sprintf("A byte stream handler for topic %q has already been set.", topic), nil)
	}
	m.byteHandlers[topic] = h
	return nil
}

// UnregisterByteStreamHandler removes the byte handler of topic.
func (m *Manager) UnregisterByteStreamHandler(topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byteHandlers, topic)
}

// RegisterReservedTextStreamHandler installs the handler of a reserved topic
// (RPCRequestTopic or RPCResponseTopic). It is meant for core/rpc; passing
// nil removes the handler.
func (m *Manager) RegisterReservedTextStreamHandler(topic string, h TextStreamHandler) error {
	if !reservedTopics[topic] {
		return newErr(ReasonInvalidArgument, "", fmt.Sprintf("datastream: topic %q is not reserved", topic), nil)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h == nil {
		delete(m.reserved, topic)
		return nil
	}
	if _, dup := m.reserved[topic]; dup {
		return newErr(ReasonHandlerAlreadyRegistered, "", fmt.Sprintf("A text stream handler for topic %q has already been set.", topic), nil)
	}
	m.reserved[topic] = h
	return nil
}

// HandlePacket processes a received DataPacket that was not E2EE-wrapped.
// Packets other than stream header/chunk/trailer are ignored. The sender is
// pkt.ParticipantIdentity. The manager keeps references to the packet's
// byte slices; the caller must not modify them afterwards. Call it from one
// goroutine in arrival order; it never blocks on readers.
func (m *Manager) HandlePacket(pkt *lkpb.DataPacket) {
	m.HandlePacketWithEncryption(pkt, lkpb.Encryption_NONE)
}

// HandlePacketWithEncryption is HandlePacket for a packet that arrived inside
// an EncryptedPacket and was decrypted: enc is the wrapper's encryption_type
// as received (docs/protocol.md, End-to-end encryption). Header, chunks and
// trailer of one stream must agree on it, otherwise the stream fails with
// ErrEncryptionTypeMismatch.
func (m *Manager) HandlePacketWithEncryption(pkt *lkpb.DataPacket, enc lkpb.Encryption_Type) {
	if pkt == nil {
		return
	}
	sender := pkt.GetParticipantIdentity()
	switch v := pkt.GetValue().(type) {
	case *lkpb.DataPacket_StreamHeader:
		if v.StreamHeader != nil {
			m.handleHeader(v.StreamHeader, sender, pkt.GetParticipantSid(), enc)
		}
	case *lkpb.DataPacket_StreamChunk:
		if v.StreamChunk != nil {
			m.handleChunk(v.StreamChunk, enc)
		}
	case *lkpb.DataPacket_StreamTrailer:
		if v.StreamTrailer != nil {
			m.handleTrailer(v.StreamTrailer, enc)
		}
	}
}

func (m *Manager) handleHeader(h *lkpb.DataStream_Header, sender, senderSID string, enc lkpb.Encryption_Type) {
	id := h.GetStreamId()
	var compressed bool
	switch h.GetCompression() {
	case lkpb.DataStream_NONE:
	case lkpb.DataStream_DEFLATE_RAW:
		compressed = true
	default:
		m.log.Warn("datastream: ignoring stream with unknown compression type", "stream_id", id, "compression", int32(h.GetCompression()))
		return
	}
	base := StreamInfo{
		ID:             id,
		Topic:          h.GetTopic(),
		MimeType:       h.GetMimeType(),
		Timestamp:      time.UnixMilli(h.GetTimestamp()),
		Attributes:     maps.Clone(h.GetAttributes()),
		EncryptionType: enc,
		Compression:    h.GetCompression(),
		Inline:         h.InlineContent != nil,
		SenderIdentity: sender,
	}
	if h.TotalLength != nil {
		v := *h.TotalLength
		base.Size = &v
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	var (
		textH    TextStreamHandler
		byteH    ByteStreamHandler
		isTxt    bool
		reserved bool
	)
	switch ch := h.GetContentHeader().(type) {
	case *lkpb.DataStream_Header_TextHeader:
		isTxt = true
		textH = m.reserved[base.Topic]
		reserved = textH != nil
		if textH == nil {
			textH = m.textHandlers[base.Topic]
		}
		if textH == nil {
			m.log.Debug("datastream: no text stream handler for topic, dropping stream", "topic", base.Topic, "stream_id", id)
			return
		}
	case *lkpb.DataStream_Header_ByteHeader:
		if byteH = m.byteHandlers[base.Topic]; byteH == nil {
			m.log.Debug("datastream: no byte stream handler for topic, dropping stream", "topic", base.Topic, "stream_id", id)
			return
		}
	default:
		_ = ch
		m.log.Warn("datastream: ignoring stream header without content header", "stream_id", id)
		return
	}

	if m.unfinished >= m.limits.MaxUnfinishedStreams {
		m.log.Warn("datastream: too many incoming streams not read to their end yet, dropping stream", "stream_id", id, "sender", sender)
		return
	}
	core := newCore(base.Attributes, m.limits.MaxBufferedBytes, m.buffered)
	base.Attributes = nil // live attributes come from the core
	switch {
	case base.Size != nil && *base.Size > m.limits.MaxPayloadBytes:
		core.fail(newErr(ReasonPayloadTooLarge, id,
			fmt.Sprintf("data stream %s announces %d bytes, more than the maximum payload size of %d", id, *base.Size, m.limits.MaxPayloadBytes), nil), nil)
	case h.InlineContent != nil:
		if len(h.InlineContent) > 0 && !core.push(h.InlineContent, id) {
			break // the shared buffer budget is spent: the stream fails with ErrBufferOverflow
		}
		core.ended = true
	default:
		if _, dup := m.open[id]; dup {
			m.log.Warn("datastream: a stream with this id is already in progress, ignoring the new header", "stream_id", id)
			return
		}
		if len(m.open) >= m.limits.MaxOpenStreams || m.perSender[sender] >= m.limits.MaxOpenStreamsPerSender {
			m.log.Warn("datastream: too many open incoming streams, dropping stream", "stream_id", id, "sender", sender)
			return
		}
		s := &inStream{id: id, sender: sender, senderSID: senderSID, enc: enc, last: -1, core: core}
		core.onAbandon = func() { m.forget(s) }
		m.open[id] = s
		m.perSender[sender]++
	}
	m.unfinished++
	core.onFinish = func() {
		m.mu.Lock()
		m.unfinished--
		m.mu.Unlock()
	}
	if !reserved {
		m.arrivals++
		base.Arrival = m.arrivals
	}
	rd := newReader(core, id, compressed, isTxt, base.Size, m.limits, m.flate)
	m.wg.Add(1)
	if isTxt {
		th := h.GetTextHeader()
		info := TextStreamInfo{
			StreamInfo:        base,
			OperationType:     th.GetOperationType(),
			Version:           th.GetVersion(),
			ReplyToStreamID:   th.GetReplyToStreamId(),
			AttachedStreamIDs: append([]string(nil), th.GetAttachedStreamIds()...),
			Generated:         th.GetGenerated(),
		}
		tr := &TextStreamReader{r: rd, info: info}
		go m.runHandler(id, func() { textH(tr, sender) })
	} else {
		base.MimeType = h.GetMimeType()
		br := &ByteStreamReader{r: rd, info: ByteStreamInfo{StreamInfo: base, Name: h.GetByteHeader().GetName()}}
		go m.runHandler(id, func() { byteH(br, sender) })
	}
}

func (m *Manager) runHandler(id string, f func()) {
	defer m.wg.Done()
	defer func() {
		if p := recover(); p != nil {
			m.log.Error("datastream: stream handler panicked", "stream_id", id, "panic", fmt.Sprint(p))
		}
	}()
	f()
}

// removeLocked forgets an open stream.
func (m *Manager) removeLocked(s *inStream) {
	if m.open[s.id] != s {
		return
	}
	delete(m.open, s.id)
	if n := m.perSender[s.sender] - 1; n > 0 {
		m.perSender[s.sender] = n
	} else {
		delete(m.perSender, s.sender)
	}
}

func (m *Manager) forget(s *inStream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(s)
}

func (m *Manager) handleChunk(c *lkpb.DataStream_Chunk, enc lkpb.Encryption_Type) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.open[c.GetStreamId()]
	if s == nil {
		return // unknown, finished, dropped or inline stream
	}
	if enc != s.enc {
		m.removeLocked(s)
		s.core.fail(newErr(ReasonEncryptionTypeMismatch, s.id, "Encryption type mismatch for data stream "+s.id, nil), nil)
		return
	}
	idx := c.GetChunkIndex()
	switch {
	case s.last >= 0 && idx <= uint64(s.last):
		m.log.Warn("datastream: dropping duplicate chunk", "stream_id", s.id, "chunk_index", idx)
		return
	case idx > uint64(s.last+1):
		m.removeLocked(s)
		s.core.fail(newErr(ReasonIncomplete, s.id,
			fmt.Sprintf("Missing chunk(s) for data stream %s: expected index %d, received %d", s.id, s.last+1, idx), nil), nil)
		return
	}
	s.last = int64(idx)
	if len(c.GetContent()) == 0 {
		return
	}
	if !s.core.push(c.GetContent(), s.id) {
		m.removeLocked(s)
	}
}

func (m *Manager) handleTrailer(t *lkpb.DataStream_Trailer, enc lkpb.Encryption_Type) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.open[t.GetStreamId()]
	if s == nil {
		return
	}
	m.removeLocked(s)
	if enc != s.enc {
		s.core.fail(newErr(ReasonEncryptionTypeMismatch, s.id, "Encryption type mismatch for data stream "+s.id, nil), nil)
		return
	}
	if r := t.GetReason(); r != "" {
		s.core.fail(newErr(ReasonAbnormalEnd, s.id, "Data stream "+s.id+" closed abnormally: "+r, nil), t.GetAttributes())
		return
	}
	s.core.end(t.GetAttributes())
}

// HandleParticipantDisconnected fails with ErrAbnormalEnd every open stream
// the participant identity, whose last session was sid, was sending. The SFU
// stamps the sending session's sid on every header, so a header's sid decides
// who sends the stream, whatever identity it carries: an agent's session may
// send in another participant's name (the SFU then keeps that identity on the
// header), and such a stream ends when the agent leaves, not when the named
// participant does. Streams whose header carried no sid, and every stream
// when sid is "" (not known), go by identity.
func (m *Manager) HandleParticipantDisconnected(identity, sid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.open {
		if sentBy(s, identity, sid) {
			m.removeLocked(s)
			s.core.fail(newErr(ReasonAbnormalEnd, s.id,
				"Participant "+identity+" unexpectedly disconnected in the middle of sending data", nil), nil)
		}
	}
}

// sentBy reports whether s was sent by the session sid of identity (see
// HandleParticipantDisconnected).
func sentBy(s *inStream, identity, sid string) bool {
	if sid == "" || s.senderSID == "" {
		return s.sender == identity
	}
	return s.senderSID == sid
}

// HandleParticipantSessionEnded fails with ErrAbnormalEnd the open incoming
// streams that the session sid of identity was sending (their header carried
// that participant_sid, whatever identity it carried: see
// HandleParticipantDisconnected), and only those: the participant is still in
// the room with a new session (it reconnected fully), which does not continue
// them, and the server never reports the old session's departure. Streams
// whose header carried no sid are left alone.
func (m *Manager) HandleParticipantSessionEnded(identity, sid string) {
	if sid == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.open {
		if s.senderSID == sid {
			m.removeLocked(s)
			s.core.fail(newErr(ReasonAbnormalEnd, s.id,
				"Participant "+identity+" reconnected in the middle of sending data", nil), nil)
		}
	}
}

// Close stops the manager: open incoming streams fail with ErrAbnormalEnd,
// sends in progress and later ones fail with ErrClosed, and Close waits for
// every handler goroutine to return (handlers must return once their reads
// fail). Close is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for _, s := range m.open {
			m.removeLocked(s)
			s.core.fail(newErr(ReasonAbnormalEnd, s.id, "Room disconnected in the middle of receiving data", nil), nil)
		}
	}
	m.mu.Unlock()
	m.closeFn()
	m.wg.Wait()
	return nil
}

// UnfinishedIncomingStreams reports how many incoming streams were handed to
// handlers and not read to their end (or error) nor abandoned yet, and the wire
// bytes queued for their readers (for tests and metrics).
func (m *Manager) UnfinishedIncomingStreams() (streams, bufferedBytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unfinished, m.buffered.inUse()
}

// OpenIncomingStreams reports how many chunked incoming streams are open
// (for tests and metrics).
func (m *Manager) OpenIncomingStreams() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.open)
}
