package datastream

// Protocol constants (docs/protocol.md, Data streams). These are fixed by the
// wire protocol.
const (
	// ChunkSize is the maximum content size of one chunk and the budget for a
	// serialized header packet (JS STREAM_CHUNK_SIZE_BYTES, Rust
	// STREAM_CHUNK_SIZE_BYTES).
	ChunkSize = 15_000

	// TextMimeType is the MIME type of every text stream.
	TextMimeType = "text/plain"

	// DefaultByteMimeType is the MIME type of byte streams when none is given.
	DefaultByteMimeType = "application/octet-stream"

	// DefaultByteStreamName is the byte-stream name used when none is given
	// (JS default for sendBytes and streamBytes).
	DefaultByteStreamName = "unknown"

	// RPCRequestTopic is the reserved text-stream topic of RPC v2 requests.
	RPCRequestTopic = "lk.rpc_request"

	// RPCResponseTopic is the reserved text-stream topic of RPC v2 responses.
	RPCResponseTopic = "lk.rpc_response"

	// ClientProtocolDataStreamRPC is the client protocol from which a peer
	// understands RPC over data streams.
	ClientProtocolDataStreamRPC = 1

	// ClientProtocolDataStreamV2 is the client protocol from which a peer
	// understands inline streams and the compression header field.
	ClientProtocolDataStreamV2 = 2
)

// DefaultMaxPayloadBytes is the default cap on the (decompressed) size of one
// incoming stream: 5 000 000 000 bytes, as in JS and Rust.
const DefaultMaxPayloadBytes uint64 = 5_000_000_000

// Limits bounds everything a remote sender can make this client hold in
// memory. Every limit on remote input lives here; the zero value of a field
// means "use the default" (see [DefaultLimits]).
type Limits struct {
	// MaxPayloadBytes caps the decompressed (delivered) size of one incoming
	// stream; exceeding it, or declaring a larger total_length, fails the
	// reader with ErrPayloadTooLarge. This is the decompression-bomb cap.
	// Default DefaultMaxPayloadBytes (the official SDKs' default).
	MaxPayloadBytes uint64

	// MaxBufferedBytes caps the wire bytes (compressed or not) queued for one
	// reader that has not consumed them yet. When a chunk would exceed it the
	// stream fails with ErrBufferOverflow and is forgotten: a slow or absent
	// reader never makes the client buffer without bound. Default 32 MiB.
	MaxBufferedBytes int

	// MaxOpenStreams caps the number of concurrently open incoming chunked
	// streams (all senders). Headers beyond it are dropped. Default 1024.
	MaxOpenStreams int

	// MaxOpenStreamsPerSender caps the concurrently open incoming chunked
	// streams of one sender identity. Default 256.
	MaxOpenStreamsPerSender int

	// MaxUnfinishedStreams caps the incoming streams (chunked or inline)
	// handed to handlers whose reader has not finished yet — read to its end
	// or error, or abandoned. A stream's trailer ends it on the wire, not for
	// its reader: without this cap a host slow to read could be handed any
	// number of complete streams. Headers beyond it are dropped. Default 1024.
	MaxUnfinishedStreams int

	// MaxBufferedBytesTotal caps the wire bytes queued for all readers
	// together (MaxBufferedBytes caps one). When a chunk would exceed it,
	// that chunk's stream fails with ErrBufferOverflow. Default 128 MiB.
	MaxBufferedBytesTotal int

	// ReadPieceSize is the largest piece of decompressed output a reader
	// returns from one Next call on a compressed stream. Default 64 KiB; a
	// buffer of this size is allocated per Next, so values above
	// MaxReadPieceSize are clamped to it.
	ReadPieceSize int
}

// MaxReadPieceSize caps Limits.ReadPieceSize (16 MiB).
const MaxReadPieceSize = 16 << 20

// maxReadAllPrealloc caps what ReadAll (text and bytes) allocates up front
// from the sender's declared total length (4 MiB); larger streams grow the
// slice as their data actually arrives.
const maxReadAllPrealloc = 4 << 20

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxPayloadBytes:         DefaultMaxPayloadBytes,
		MaxBufferedBytes:        32 << 20,
		MaxOpenStreams:          1024,
		MaxOpenStreamsPerSender: 256,
		MaxUnfinishedStreams:    1024,
		MaxBufferedBytesTotal:   128 << 20,
		ReadPieceSize:           64 << 10,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxPayloadBytes == 0 {
		l.MaxPayloadBytes = d.MaxPayloadBytes
	}
	if l.MaxBufferedBytes <= 0 {
		l.MaxBufferedBytes = d.MaxBufferedBytes
	}
	if l.MaxOpenStreams <= 0 {
		l.MaxOpenStreams = d.MaxOpenStreams
	}
	if l.MaxOpenStreamsPerSender <= 0 {
		l.MaxOpenStreamsPerSender = d.MaxOpenStreamsPerSender
	}
	if l.MaxUnfinishedStreams <= 0 {
		l.MaxUnfinishedStreams = d.MaxUnfinishedStreams
	}
	if l.MaxBufferedBytesTotal <= 0 {
		l.MaxBufferedBytesTotal = d.MaxBufferedBytesTotal
	}
	if l.ReadPieceSize <= 0 {
		l.ReadPieceSize = d.ReadPieceSize
	}
	l.ReadPieceSize = min(l.ReadPieceSize, MaxReadPieceSize)
	return l
}
