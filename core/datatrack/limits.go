package datatrack

import "time"

// Every limit and protocol constant of the package lives here (docs/protocol.md, Sizes).

const (
	// PacketVersion is the only packet format version this package writes and accepts
	// (docs/protocol.md, Packet format).
	PacketVersion = 0

	// BaseHeaderSize is the size of the fixed packet header in bytes
	// (docs/protocol.md, Packet format).
	BaseHeaderSize = 12

	// TransportMTU is the maximum size of one serialized packet, header included, used by
	// both reference SDKs (docs/protocol.md, Packetizer).
	TransportMTU = 16000

	// MaxPacketsPerFrame is the number of packets a receiver reassembles at most for one frame
	// (docs/protocol.md, Depacketizer). Publishers refuse larger frames with ErrFrameTooLarge
	// (docs/protocol.md, Packetizer; a deliberate departure from the reference SDKs, which send
	// them and let receivers drop them).
	MaxPacketsPerFrame = 128

	// DefaultMaxPartialFrames is the default number of frames a depacketizer assembles at the
	// same time (docs/protocol.md, Depacketizer).
	DefaultMaxPartialFrames = 1

	// MaxPartialFramesLimit caps the configurable number of concurrently assembled frames so the
	// memory held for one subscription stays bounded (≈ limit × 128 × 16 000 bytes). The
	// reference SDKs have no cap; this only affects configurations above the cap.
	MaxPartialFramesLimit = 64

	// DefaultPublishTimeout is how long a publish request waits for the server
	// (docs/protocol.md, Publish and unpublish).
	DefaultPublishTimeout = 10 * time.Second

	// DefaultSubscribeTimeout is how long a subscription waits for its subscriber handle
	// (docs/protocol.md, Remote tracks and subscriptions).
	DefaultSubscribeTimeout = 10 * time.Second

	// PermissionGrace is how long a subscription the server refused before it was established
	// waits for the refusal to be lifted before it fails with ErrSubscribeNotAllowed
	// (docs/protocol.md, Subscription permissions): a publisher that reconnected fully names
	// its republished tracks in its permissions only once it knows their new SIDs, so a
	// subscription made in between is refused, then allowed.
	PermissionGrace = 2 * time.Second

	// DefaultUnpublishTimeout bounds how long an unpublish waits for the server's answer before it
	// completes anyway (docs/protocol.md, Publish and unpublish: JS waits forever on NOT_FOUND; Go
	// does not).
	DefaultUnpublishTimeout = 2 * time.Second

	// DefaultSendQueueFrames is the per-track queue's frame bound (docs/protocol.md, Sending
	// and pacing). The queue is meant to be bounded by bytes (DefaultSendQueueBytes); the frame
	// bound only sizes its ring, which is allocated up front (8 KiB per track), and is high
	// enough that a burst of 1,024 small frames is accepted (Rust keeps 16 frames and evicts;
	// JS keeps everything).
	DefaultSendQueueFrames = 1024

	// DefaultSendQueueBytes is the per-track queue budget in serialized bytes: about 50 ms of
	// sending at the ~20 MB/s a loopback path drains, so a full queue adds bounded latency. A
	// single frame larger than the budget is still admitted when the queue is empty, so every
	// frame that fits MaxPacketsPerFrame can be sent.
	DefaultSendQueueBytes = 1 << 20

	// PushQueueFrames is where the waiting push applies back-pressure: it waits while this many
	// frames are queued (until the queue has drained), even though TryPush would still accept
	// them. A producer that uses the waiting push thus keeps its frames' queueing latency to
	// about this many frames, while a bursty TryPush producer gets the whole byte budget.
	PushQueueFrames = 16

	// PushQueueBytes is the same back-pressure point in serialized bytes: the waiting push also
	// waits while this many bytes are queued. For frames up to 16 KB the frame count binds
	// first (16 × 16 KB); for larger frames this keeps what a blocking producer has queued to
	// about 256 KiB instead of the whole byte budget (a megabyte of 100 KB frames waited
	// ~60 ms in the multi-process benchmark), without starving the writer: the channel's own
	// buffer covers the producer's wake-up.
	PushQueueBytes = 256 << 10

	// MaxSendQueueBytes caps PublishOptions.QueueBytes (larger values are refused with
	// ErrInvalidOption): queued frames are held in memory.
	MaxSendQueueBytes = 64 << 20

	// DefaultSubscriberBufferFrames and DefaultSubscriberBufferBytes bound a subscriber's frame
	// buffer by default (docs/protocol.md, Sending and pacing): whichever is reached first. They
	// match what a track accepts by default (a burst of 256 small frames, DefaultSendQueueBytes),
	// so that such a burst, which arrives back to back over a fast path, is delivered whole to a
	// reader that keeps up but is scheduled only after it (16 frames, the Rust SDK's default,
	// lost most of it). A reader that wants only the freshest data sets a small BufferSize.
	DefaultSubscriberBufferFrames = 256
	DefaultSubscriberBufferBytes  = 1 << 20

	// MaxSubscriberBufferFrames caps SubscribeOptions.BufferSize: the buffer's ring grows up to
	// it, so a caller must not be able to make it arbitrarily large. Larger values are refused
	// with ErrInvalidOption (the frames themselves are bounded by MaxPacketsPerFrame ×
	// TransportMTU each).
	MaxSubscriberBufferFrames = 1 << 16

	// MaxSubscriberBufferBytes caps SubscribeOptions.BufferBytes: buffered frames are held in
	// memory, and what fills them comes from a remote publisher. Larger values are refused
	// with ErrInvalidOption.
	MaxSubscriberBufferBytes = 64 << 20

	// MaxSendQueueFrames caps the send queue length (PublishOptions.QueueFrames,
	// LocalConfig.QueueFrames): its ring is allocated up front. Larger values are refused with
	// ErrInvalidOption (PublishOptions) or clamped (LocalConfig).
	MaxSendQueueFrames = 1 << 16

	// MaxTrackNameBytes is the longest track name the server accepts, in bytes (docs/protocol.md, Publish and unpublish).
	MaxTrackNameBytes = 256

	// MaxCustomEncodingBytes is the server's default limit for custom frame/schema encoding
	// identifiers (docs/protocol.md, Typed tracks).
	MaxCustomEncodingBytes = 32

	// MaxHandle is the largest publisher handle; handles are allocated 1..MaxHandle
	// (docs/protocol.md, Concepts).
	MaxHandle = 65535

	// TrackSIDPrefix prefixes every data-track SID (docs/protocol.md, Concepts).
	TrackSIDPrefix = "DTR_"

	// ClockRate is the packet timestamp clock rate in Hz (docs/protocol.md, Packetizer).
	ClockRate = 90000

	// E2EETagSize is the AES-GCM tag appended to every encrypted frame payload
	// (docs/protocol.md, Data-track E2EE).
	E2EETagSize = 16
)

// Extension tags (docs/protocol.md, Packet format). The numbering is that of protocol v1.53.1+
// (lkpb.DataTrackExtensionID); v1.52.1 used 1 for the participant SID, which collides with the E2EE
// tag.
const (
	// ExtTagPadding marks padding inside the extension block.
	ExtTagPadding uint8 = 0
	// ExtTagE2EE carries key index and IV of an encrypted frame (lkpb.DataTrackExtensionID_DTEI_E2EE).
	ExtTagE2EE uint8 = 1
	// ExtTagUserTimestamp carries the application's u64 timestamp (DTEI_USER_TIMESTAMP).
	ExtTagUserTimestamp uint8 = 2
	// ExtTagParticipantSID is the server-internal participant-SID extension (DTEI_PARTICIPANT_SID).
	ExtTagParticipantSID uint8 = 255

	// ExtLenE2EE is the defined length of the E2EE extension value: key index + 12-byte IV.
	ExtLenE2EE = 13
	// ExtLenUserTimestamp is the defined length of the user-timestamp extension value.
	ExtLenUserTimestamp = 8
)
