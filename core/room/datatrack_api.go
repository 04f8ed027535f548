package room

import (
	"fmt"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
)

// Frame is one data-track frame: Payload plus an optional user timestamp
// (by convention Unix milliseconds). On TryPush a non-zero UserTimestamp is
// sent even when HasUserTimestamp is false; set HasUserTimestamp (or use
// WithUserTimestamp) to send the value 0. Received frames also carry
// FrameNumber and the 90 kHz packet Timestamp. Frame payloads handed to
// subscribers are shared between the subscriptions of one track: do not
// modify them.
type Frame = datatrack.Frame

// Data-track errors (use errors.Is). Server refusals are *datatrack.PublishError
// values (reason and server message) that match these sentinels.
var (
	// ErrQueueFull: TryPush could not queue the frame because the track's
	// send queue is full (16 frames / 4 MiB); nothing was consumed, retry
	// later or skip the frame. Counted in LocalDataTrackStats.Rejected.
	ErrQueueFull = datatrack.ErrQueueFull
	// ErrDataTrackTimeout: the server did not answer a publish (or a
	// subscription) in time; a server without data-track support never
	// answers a publish
	// (docs/protocol.md, Servers without data tracks).
	ErrDataTrackTimeout = datatrack.ErrTimeout
	// ErrDuplicateTrackName: this participant already publishes a data track
	// with that name.
	ErrDuplicateTrackName = datatrack.ErrDuplicateName
	// ErrDataTrackNotAllowed: the token lacks canPublishData, or the server
	// has data tracks disabled.
	ErrDataTrackNotAllowed = datatrack.ErrNotAllowed
	// ErrInvalidTrackName: the name is empty or longer than 256 bytes.
	ErrInvalidTrackName = datatrack.ErrInvalidName
	// ErrTrackUnpublished: the local track is no longer published (TryPush),
	// or the remote track went away (Subscribe).
	ErrTrackUnpublished = datatrack.ErrTrackUnpublished
	// ErrFrameTooLarge: the frame would need more than 128 packets
	// (about 2 MB).
	ErrFrameTooLarge = datatrack.ErrFrameTooLarge
	// ErrE2EENoKeys: Subscribe to an end-to-end encrypted track in a room
	// without E2EE keys (no ciphertext is ever delivered;
	// docs/protocol.md, Data-track E2EE).
	ErrE2EENoKeys = datatrack.ErrE2EENoKeys
	// ErrUnknownDataTrack: the remote track is not (or no longer) known.
	ErrUnknownDataTrack = datatrack.ErrUnknownTrack
	// ErrStreamEnded: a DataTrackSubscription ended; its EndReason tells why.
	ErrStreamEnded = datatrack.ErrStreamEnded
)

// DataTrackOptions configures LocalParticipant.PublishDataTrack.
type DataTrackOptions struct {
	// FrameEncoding and Schema are optional typed-track metadata
	// (docs/protocol.md, Typed tracks), validated locally
	// (datatrack.ErrInvalidSchema) and shown to subscribers.
	// FrameEncoding is a well-known name ("json", "cbor", …, see
	// DataTrackInfo) or a custom one; "" for an untyped track.
	FrameEncoding string
	// Schema is the optional schema id (docs/protocol.md, Typed tracks).
	Schema *DataTrackSchema
	// PublishTimeout bounds the wait for the server's answer and for the
	// `_data_track` channel to open (0: 10 s as both SDKs). On expiry the
	// publish fails with ErrDataTrackTimeout.
	PublishTimeout time.Duration
	// QueueFrames bounds this track's outgoing queue in frames (0:
	// datatrack.DefaultSendQueueFrames, 1,024; at most
	// datatrack.MaxSendQueueFrames; a negative or larger value fails
	// PublishDataTrack with ErrInvalidArgument wrapping a
	// *datatrack.OptionError).
	QueueFrames int
	// QueueBytes bounds this track's outgoing queue in serialized bytes (0:
	// datatrack.DefaultSendQueueBytes, 1 MiB; at most
	// datatrack.MaxSendQueueBytes; negative or larger: ErrInvalidArgument).
	// A frame larger than the budget is still accepted into an empty queue.
	QueueBytes int
	// DropOldest chooses what a full queue does with a new frame. false (the
	// default): TryPush refuses it with ErrQueueFull and the caller keeps it
	// (counted in LocalDataTrackStats.Rejected). true: the oldest waiting
	// frames are evicted, whole, until the new one fits (counted in
	// LocalDataTrackStats.Evicted) — for producers that prefer fresh data;
	// Push then never waits either.
	DropOldest bool
}

// SubscribeOptions configures RemoteDataTrack.Subscribe.
type SubscribeOptions struct {
	// BufferSize and BufferBytes bound this subscription's frame buffer:
	// at most BufferSize frames (0: 256; at most
	// datatrack.MaxSubscriberBufferFrames) and BufferBytes bytes of payload
	// (at most datatrack.MaxSubscriberBufferBytes; 0: 1 MiB if BufferSize is
	// 0 too, else that maximum, so that a buffer sized in frames keeps its
	// frames whatever their size), whichever comes first; a value out of
	// range fails Subscribe with
	// ErrInvalidArgument wrapping a *datatrack.OptionError. When the reader
	// is slower than the track the oldest buffered frames are dropped
	// (counted by Dropped) so the reader catches up with fresh data; other
	// subscriptions of the same track are not affected. The defaults take
	// a burst as large as a track accepts by default: such a burst arrives
	// back to back over a fast path and fills the buffer before even a
	// waiting reader is scheduled. A reader that wants only the freshest
	// data sets a small BufferSize (the Rust SDK's default is 16 frames).
	BufferSize  int
	BufferBytes int
	// DropNewest makes a full buffer drop the incoming frame instead of the
	// oldest one (JS ReadableStream behaviour).
	DropNewest bool
}

// check refuses options out of range; field names are prefixed with prefix.
func (o SubscribeOptions) check(prefix string) error {
	if err := datatrack.CheckRange(prefix+"BufferSize", int64(o.BufferSize), 0, datatrack.MaxSubscriberBufferFrames); err != nil {
		return mapDataTrackErr(err)
	}
	if err := datatrack.CheckRange(prefix+"BufferBytes", int64(o.BufferBytes), 0, datatrack.MaxSubscriberBufferBytes); err != nil {
		return mapDataTrackErr(err)
	}
	return nil
}

// core returns the options of the datatrack package's subscription.
func (o SubscribeOptions) core() datatrack.SubscribeOptions {
	policy := datatrack.DropOldestFrame
	if o.DropNewest {
		policy = datatrack.DropNewestFrame
	}
	return datatrack.SubscribeOptions{BufferSize: o.BufferSize, BufferBytes: o.BufferBytes, DropPolicy: policy}
}

// DataTrackEndReason says why a DataTrackSubscription ended.
type DataTrackEndReason int32

// End reasons.
const (
	// EndReasonNone: the subscription has not ended.
	EndReasonNone DataTrackEndReason = iota
	// EndReasonClosed: the application called Close.
	EndReasonClosed
	// EndReasonUnpublished: the publisher unpublished the track.
	EndReasonUnpublished
	// EndReasonPublisherLeft: the publisher left the room.
	EndReasonPublisherLeft
	// EndReasonDisconnected: the local room disconnected.
	EndReasonDisconnected
)

// String returns the reason's name.
func (e DataTrackEndReason) String() string {
	switch e {
	case EndReasonNone:
		return "none"
	case EndReasonClosed:
		return "closed"
	case EndReasonUnpublished:
		return "unpublished"
	case EndReasonPublisherLeft:
		return "publisher left"
	case EndReasonDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("DataTrackEndReason(%d)", int32(e))
}
