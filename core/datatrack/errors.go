package datatrack

import (
	"errors"
	"fmt"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Packet decoding errors (docs/protocol.md, Packet format). Every one of them means: drop this packet,
// count it, and keep the subscription going.
var (
	// ErrTooShort: fewer than BaseHeaderSize bytes.
	ErrTooShort = errors.New("datatrack: packet shorter than base header")
	// ErrUnsupportedVersion: version field greater than PacketVersion.
	ErrUnsupportedVersion = errors.New("datatrack: unsupported packet version")
	// ErrInvalidHandle: track handle 0 (decoding) or a handle outside 1..65535 (encoding, publish).
	ErrInvalidHandle = errors.New("datatrack: invalid track handle")
	// ErrMissingExtWords: X bit set but no extension length word.
	ErrMissingExtWords = errors.New("datatrack: extension length word missing")
	// ErrHeaderOverrun: the extension block is longer than the packet.
	ErrHeaderOverrun = errors.New("datatrack: extension block exceeds packet")
	// ErrMalformedExt: an extension element runs past the end of the block.
	ErrMalformedExt = errors.New("datatrack: malformed extension element")
)

// Packet encoding errors.
var (
	// ErrBufferTooSmall: the caller's buffer cannot hold the serialized packet.
	ErrBufferTooSmall = errors.New("datatrack: buffer too small")
	// ErrInvalidExtension: an extension value cannot be encoded (e.g. participant SID of 0 or >255 bytes).
	ErrInvalidExtension = errors.New("datatrack: invalid extension value")
	// ErrMTUTooShort: the MTU leaves no room for payload after the header.
	ErrMTUTooShort = errors.New("datatrack: MTU too short for header")
)

// ErrInvalidOption: a caller-supplied size or count is out of range (e.g. SubscribeOptions.BufferSize
// above MaxSubscriberBufferFrames, PublishOptions.QueueFrames above MaxSendQueueFrames). Nothing
// was allocated. The returned error is an *OptionError that unwraps to it.
var ErrInvalidOption = errors.New("datatrack: option out of range")

// OptionError names the option that is out of range and its allowed range. It unwraps to
// ErrInvalidOption.
type OptionError struct {
	// Option is the option's name, e.g. "BufferSize".
	Option string
	// Value is the value given.
	Value int64
	// Min and Max are the allowed range (inclusive).
	Min, Max int64
}

// Error implements error.
func (e *OptionError) Error() string {
	return fmt.Sprintf("%v: %s %d not in %d..%d", ErrInvalidOption, e.Option, e.Value, e.Min, e.Max)
}

// Unwrap returns ErrInvalidOption.
func (e *OptionError) Unwrap() error { return ErrInvalidOption }

// CheckRange returns an *OptionError when v is outside lo..hi, else nil.
func CheckRange(option string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return &OptionError{Option: option, Value: v, Min: lo, Max: hi}
	}
	return nil
}

// Publishing errors (error mapping: docs/protocol.md, Publish and unpublish). Server answers arrive as *PublishError values that
// wrap one of these sentinels; use errors.Is.
var (
	// ErrNotAllowed: the participant may not publish data, or the server has data tracks disabled.
	ErrNotAllowed = errors.New("datatrack: not allowed to publish data")
	// ErrDuplicateName: the participant already publishes a track with this name.
	ErrDuplicateName = errors.New("datatrack: track name already taken")
	// ErrInvalidName: the name is empty or longer than 256 bytes.
	ErrInvalidName = errors.New("datatrack: invalid track name")
	// ErrDuplicateHandle: the server already knows this publisher handle.
	ErrDuplicateHandle = errors.New("datatrack: duplicate publisher handle")
	// ErrInvalidRequest: the server rejected the request as invalid (e.g. custom encoding length).
	ErrInvalidRequest = errors.New("datatrack: invalid publish request")
	// ErrLimitReached: publisher handles exhausted, or the server reported LIMIT_EXCEEDED.
	ErrLimitReached = errors.New("datatrack: limit reached")
	// ErrRejected: any other server rejection; the *PublishError carries reason and message.
	ErrRejected = errors.New("datatrack: rejected by server")
	// ErrTimeout: no answer from the server in time. A server without data-track support
	// (docs/protocol.md, Servers without data tracks) never answers a publish, so this is also what
	// such a server produces.
	ErrTimeout = errors.New("datatrack: no answer from server (does it support data tracks?)")
	// ErrDisconnected: the room disconnected or fully reconnected while the operation was pending.
	ErrDisconnected = errors.New("datatrack: disconnected")
	// ErrInvalidSchema: frame-encoding / schema metadata failed local validation
	// (docs/protocol.md, Typed tracks).
	ErrInvalidSchema = errors.New("datatrack: invalid schema or frame encoding")
	// ErrInvalidResponse: the server answered with a malformed DataTrackInfo.
	ErrInvalidResponse = errors.New("datatrack: invalid server response")
	// ErrUnknownHandle: no publication with this handle.
	ErrUnknownHandle = errors.New("datatrack: unknown publisher handle")
)

// Push errors (docs/protocol.md, Publish and unpublish).
var (
	// ErrQueueFull: the track's send queue cannot admit the whole frame right now. The frame was
	// not consumed; nothing was sent.
	ErrQueueFull = errors.New("datatrack: send queue full")
	// ErrQueueClosed: the queue was closed (track unpublished or room closed).
	ErrQueueClosed = errors.New("datatrack: send queue closed")
	// ErrTrackUnpublished: the track is no longer published.
	ErrTrackUnpublished = errors.New("datatrack: track unpublished")
	// ErrRepublishing: the track is being republished after a full reconnect (distinct from
	// ErrQueueFull); try again once it is published again.
	ErrRepublishing = errors.New("datatrack: track republishing")
	// ErrFrameTooLarge: the frame would need more than MaxPacketsPerFrame packets.
	ErrFrameTooLarge = errors.New("datatrack: frame too large")
	// ErrEncryptionFailed: the FrameEncryptor failed (e.g. no key); the frame was not sent.
	ErrEncryptionFailed = errors.New("datatrack: frame encryption failed")
)

// Subscription and receive errors (docs/protocol.md: Remote tracks and subscriptions; Data-track E2EE).
var (
	// ErrUnknownTrack: no remote track with this SID.
	ErrUnknownTrack = errors.New("datatrack: unknown remote track")
	// ErrE2EENoKeys: the track is end-to-end encrypted but the room has no keys / decryptor.
	ErrE2EENoKeys = errors.New("datatrack: track is end-to-end encrypted but no decryptor is configured")
	// ErrSubscribeNotAllowed: the server reported that this participant may not subscribe (the
	// publisher's subscription permissions), and did not change its answer within
	// PermissionGrace.
	ErrSubscribeNotAllowed = errors.New("datatrack: subscription not allowed")
	// ErrDecryptionFailed: a received frame could not be decrypted; it was dropped.
	ErrDecryptionFailed = errors.New("datatrack: frame decryption failed")
	// ErrMissingE2EEExtension: a frame of an encrypted track arrived without E2EE extension.
	ErrMissingE2EEExtension = errors.New("datatrack: encrypted frame without E2EE extension")
	// ErrStreamEnded: the subscription ended normally (unsubscribed, track unpublished,
	// publisher left); returned by Recv once the buffered frames are drained.
	ErrStreamEnded = errors.New("datatrack: subscription ended")
	// ErrUnknownSubscription: no local subscription with this id.
	ErrUnknownSubscription = errors.New("datatrack: unknown subscription")
)

// PublishError is a publish request rejected by the server's RequestResponse. It unwraps to
// one of ErrNotAllowed, ErrDuplicateName, ErrInvalidName, ErrInvalidHandle, ErrDuplicateHandle,
// ErrInvalidRequest, ErrLimitReached or ErrRejected.
type PublishError struct {
	// Reason is the server's RequestResponse reason.
	Reason lkpb.RequestResponse_Reason
	// Message is the server's explanation text (never contains payloads or credentials).
	Message  string
	sentinel error
}

// Error implements error.
func (e *PublishError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%v (server reason %v)", e.sentinel, e.Reason)
	}
	return fmt.Sprintf("%v (server reason %v: %s)", e.sentinel, e.Reason, e.Message)
}

// Unwrap returns the sentinel the reason maps to.
func (e *PublishError) Unwrap() error { return e.sentinel }

// publishErrorFromResponse maps a RequestResponse reason to a typed error
// (docs/protocol.md, Publish and unpublish).
func publishErrorFromResponse(reason lkpb.RequestResponse_Reason, msg string) *PublishError {
	var s error
	switch reason {
	case lkpb.RequestResponse_NOT_ALLOWED:
		s = ErrNotAllowed
	case lkpb.RequestResponse_DUPLICATE_NAME:
		s = ErrDuplicateName
	case lkpb.RequestResponse_INVALID_NAME:
		s = ErrInvalidName
	case lkpb.RequestResponse_INVALID_HANDLE:
		s = ErrInvalidHandle
	case lkpb.RequestResponse_DUPLICATE_HANDLE:
		s = ErrDuplicateHandle
	case lkpb.RequestResponse_INVALID_REQUEST:
		s = ErrInvalidRequest
	case lkpb.RequestResponse_LIMIT_EXCEEDED:
		s = ErrLimitReached
	default:
		s = ErrRejected
	}
	return &PublishError{Reason: reason, Message: msg, sentinel: s}
}
