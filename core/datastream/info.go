package datastream

import (
	"maps"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// StreamInfo describes a stream (both directions).
type StreamInfo struct {
	// ID is the stream id (a UUID v4 unless the sender chose one).
	ID string
	// Topic routes the stream to a handler.
	Topic string
	// MimeType is "text/plain" for text streams.
	MimeType string
	// Timestamp is the sender's clock when the stream was opened (ms
	// resolution on the wire).
	Timestamp time.Time
	// Size is the uncompressed total length in bytes, nil when unknown.
	Size *uint64
	// Attributes are the header attributes; on a finished incoming stream the
	// trailer attributes are merged in (trailer keys win).
	Attributes map[string]string
	// EncryptionType is the E2EE type the stream arrived with (incoming only;
	// NONE when not wrapped).
	EncryptionType lkpb.Encryption_Type
	// Compression is the compression of the wire form.
	Compression lkpb.DataStream_CompressionType
	// Inline reports a single-packet (v2 inline) stream.
	Inline bool
	// SenderIdentity is the sending participant (incoming only).
	SenderIdentity string
	// Arrival numbers the incoming streams the manager handed to the
	// handlers registered with RegisterTextStreamHandler and
	// RegisterByteStreamHandler, in the order their headers arrived: 1, 2,
	// 3, … without gaps (streams of reserved topics, such as RPC's, and
	// streams dropped at their header do not count). Handlers run
	// concurrently, each in its own goroutine; a layer that reports streams
	// as ordered events (the C ABI's stream_opened) restores their order
	// with it. 0 on outgoing streams.
	Arrival uint64
	// DestinationIdentities are the recipients (outgoing only; empty =
	// broadcast).
	DestinationIdentities []string
}

// TextStreamInfo describes a text stream.
type TextStreamInfo struct {
	StreamInfo
	// OperationType is CREATE unless the sender marked an update.
	OperationType lkpb.DataStream_OperationType
	// Version is the edit version (0 normally).
	Version int32
	// ReplyToStreamID optionally references another stream.
	ReplyToStreamID string
	// AttachedStreamIDs lists byte streams sent as attachments.
	AttachedStreamIDs []string
	// Generated is set by the SFU for agent-generated transcriptions.
	Generated bool
}

// ByteStreamInfo describes a byte stream.
type ByteStreamInfo struct {
	StreamInfo
	// Name is the file or payload name.
	Name string
}

func (s StreamInfo) clone() StreamInfo {
	s.Attributes = maps.Clone(s.Attributes)
	if s.Size != nil {
		v := *s.Size
		s.Size = &v
	}
	s.DestinationIdentities = append([]string(nil), s.DestinationIdentities...)
	return s
}

func (t TextStreamInfo) clone() TextStreamInfo {
	t.StreamInfo = t.StreamInfo.clone()
	t.AttachedStreamIDs = append([]string(nil), t.AttachedStreamIDs...)
	return t
}

func (b ByteStreamInfo) clone() ByteStreamInfo {
	b.StreamInfo = b.StreamInfo.clone()
	return b
}
