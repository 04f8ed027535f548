package room

import (
	"context"
	"errors"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/e2ee"
	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/rpc"
)

// ErrorKind classifies an error returned by lkcore (this package and the
// packages it re-exports: core/rpc, core/datastream, core/datatrack,
// core/e2ee) into a small fixed vocabulary, so a binding maps kinds onto its
// own error types instead of knowing every sentinel. See Classify.
type ErrorKind int

// Error kinds. The C ABI's ErrorCode has one code per kind.
const (
	// KindInternal: not a classified lkcore error (a bug, or an error of
	// another package).
	KindInternal           ErrorKind = iota
	KindInvalidArgument              // a bad parameter or option value
	KindTimeout                      // a deadline expired
	KindCancelled                    // cancelled by the caller
	KindNotFound                     // a named thing does not exist (room, participant, track, handle)
	KindAlreadyExists                // a duplicate name (track, RPC method, stream handler)
	KindFailedPrecondition           // the object is in the wrong state for the call
	KindConnectionFailed             // could not connect (network, server error, refused join)
	KindUnauthorized                 // the server refused the token
	KindDisconnected                 // not connected, or the connection was lost
	KindNotAllowed                   // the server denied permission
	KindUnsupported                  // the server or the remote peer lacks the feature
	KindProtocol                     // the remote side violated the protocol
	KindQueueFull                    // a bounded queue is full; nothing was queued
	KindPayloadTooLarge              // a packet, frame or stream exceeds its cap
	KindLimitReached                 // a server-side limit (e.g. number of data tracks)
	KindTrackUnpublished             // the data track is not published (any more)
	KindEndOfStream                  // a subscription or reader ended
	KindEncryption                   // an end-to-end encryption failure
	KindRPC                          // an RPC failed (*rpc.RpcError has the code)
	KindAborted                      // a stream was aborted by its sender or by disconnect
)

var kindNames = [...]string{"internal", "invalid argument", "timeout", "cancelled", "not found",
	"already exists", "failed precondition", "connection failed", "unauthorized", "disconnected",
	"not allowed", "unsupported", "protocol error", "queue full", "payload too large",
	"limit reached", "track unpublished", "end of stream", "encryption error", "rpc error", "aborted"}

// String returns the kind's name.
func (k ErrorKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// errorKinds is the one table classifying the core's sentinel errors. Order
// matters where errors wrap each other: the first match wins, so more
// specific errors come first.
var errorKinds = []struct {
	err       error
	kind      ErrorKind
	retryable bool
}{
	// Connecting.
	{ErrInvalidURL, KindInvalidArgument, false},
	{ErrUnauthorized, KindUnauthorized, false},
	{ErrRoomNotFound, KindNotFound, false},
	{ErrServiceNotFound, KindConnectionFailed, false},
	{ErrBadRequest, KindConnectionFailed, false},
	{ErrServerError, KindConnectionFailed, true},
	{ErrServerUnreachable, KindConnectionFailed, true},
	{ErrJoinRefused, KindConnectionFailed, false},
	{signal.ErrUnexpectedMessage, KindProtocol, false},
	{signal.ErrProtocol, KindProtocol, false},
	// Relay-only ICE without a TURN relay (also an ErrPeerConnectionFailed):
	// not retried, the same TURN configuration would fail the same way.
	{ErrRelayUnavailable, KindConnectionFailed, false},
	{ErrPeerConnectionFailed, KindConnectionFailed, true},
	// Room state.
	{ErrAlreadyConnected, KindFailedPrecondition, false},
	{ErrRoomEnded, KindFailedPrecondition, false},
	// A session that ended, or is being re-established.
	{ErrReconnectFailed, KindDisconnected, false},
	{ErrReconnecting, KindDisconnected, true},
	{ErrSignalLost, KindDisconnected, true},
	{ErrDisconnected, KindDisconnected, false},
	{engine.ErrClosed, KindDisconnected, false},
	{signal.ErrClosed, KindDisconnected, false},
	// Requests.
	{ErrInvalidArgument, KindInvalidArgument, false},
	{ErrPacketTooLarge, KindPayloadTooLarge, false},
	{ErrSignalRequestTooLarge, KindPayloadTooLarge, false},
	{ErrPublishDataNotAllowed, KindNotAllowed, false},
	{engine.ErrDataTrackBackedUp, KindQueueFull, true},
	{engine.ErrChannelNotOpen, KindDisconnected, true},
	// RPC (failed calls are *rpc.RpcError values, classified before this table).
	{rpc.ErrMethodAlreadyRegistered, KindAlreadyExists, false},
	{rpc.ErrInvalidArgument, KindInvalidArgument, false},
	{rpc.ErrClosed, KindDisconnected, false},
	// End-to-end encryption.
	{ErrE2EENotConfigured, KindEncryption, false},
	{ErrEncryptionFailed, KindEncryption, false},
	{e2ee.ErrNoKey, KindEncryption, false},
	{e2ee.ErrDecrypt, KindEncryption, false},
	{e2ee.ErrNotEncrypted, KindEncryption, false},
	{e2ee.ErrMalformed, KindEncryption, false},
	{e2ee.ErrInvalidKeyIndex, KindInvalidArgument, false},
	{e2ee.ErrInvalidOptions, KindInvalidArgument, false},
	// Data tracks (this package re-exports most of these; server refusals
	// are *datatrack.PublishError values matching the sentinels).
	{datatrack.ErrQueueFull, KindQueueFull, true},
	{datatrack.ErrTimeout, KindTimeout, true},
	{datatrack.ErrDuplicateName, KindAlreadyExists, false},
	{datatrack.ErrNotAllowed, KindNotAllowed, false},
	{datatrack.ErrInvalidName, KindInvalidArgument, false},
	{datatrack.ErrInvalidOption, KindInvalidArgument, false},
	{datatrack.ErrInvalidSchema, KindInvalidArgument, false},
	{datatrack.ErrInvalidRequest, KindInvalidArgument, false},
	{datatrack.ErrLimitReached, KindLimitReached, false},
	{datatrack.ErrDuplicateHandle, KindInternal, false},
	{datatrack.ErrInvalidResponse, KindProtocol, false},
	{datatrack.ErrRejected, KindFailedPrecondition, false},
	{datatrack.ErrUnknownHandle, KindNotFound, false},
	{datatrack.ErrTrackUnpublished, KindTrackUnpublished, false},
	{datatrack.ErrRepublishing, KindFailedPrecondition, true},
	{datatrack.ErrFrameTooLarge, KindPayloadTooLarge, false},
	{datatrack.ErrQueueClosed, KindTrackUnpublished, false},
	{datatrack.ErrE2EENoKeys, KindEncryption, false},
	{datatrack.ErrEncryptionFailed, KindEncryption, false},
	{datatrack.ErrUnknownTrack, KindNotFound, false},
	{datatrack.ErrSubscribeNotAllowed, KindNotAllowed, false},
	{datatrack.ErrStreamEnded, KindEndOfStream, false},
	{datatrack.ErrDisconnected, KindDisconnected, false},
	// Data streams (*datastream.StreamError matches the sentinel of its reason).
	{datastream.ErrAlreadyOpened, KindAlreadyExists, false},
	{datastream.ErrAbnormalEnd, KindAborted, false},
	{datastream.ErrDecodeFailed, KindProtocol, false},
	{datastream.ErrLengthExceeded, KindProtocol, false},
	{datastream.ErrIncomplete, KindAborted, false},
	{datastream.ErrHandlerAlreadyRegistered, KindAlreadyExists, false},
	{datastream.ErrEncryptionTypeMismatch, KindEncryption, false},
	{datastream.ErrHeaderTooLarge, KindPayloadTooLarge, false},
	{datastream.ErrPayloadTooLarge, KindPayloadTooLarge, false},
	{datastream.ErrBufferOverflow, KindQueueFull, false},
	{datastream.ErrClosed, KindDisconnected, false},
	{datastream.ErrSendFailed, KindDisconnected, true},
	{datastream.ErrInvalidArgument, KindInvalidArgument, false},
	{datastream.ErrCancelled, KindCancelled, false},
}

// requestReasonKinds classifies a server's refusal of a signalling request (*RequestError).
var requestReasonKinds = map[RequestReason]ErrorKind{
	RequestNotFound:        KindNotFound,
	RequestNotAllowed:      KindNotAllowed,
	RequestLimitExceeded:   KindLimitReached,
	RequestUnsupportedType: KindUnsupported,
	RequestInvalidHandle:   KindInvalidArgument,
	RequestInvalidName:     KindInvalidArgument,
	RequestInvalidRequest:  KindInvalidArgument,
	RequestDuplicateHandle: KindAlreadyExists,
	RequestDuplicateName:   KindAlreadyExists,
	RequestUnclassified:    KindInternal,
}

// Classify returns the kind of an error returned by lkcore and whether
// retrying the same call later can succeed (a transient network or server
// condition, a full queue, an expired deadline) — as opposed to a refusal
// that the same call would meet again. It decides the retries of
// Options.JoinAttempts. Classify(nil) is (KindInternal, false).
func Classify(err error) (kind ErrorKind, retryable bool) {
	if err == nil {
		return KindInternal, false
	}
	var je *joinError
	if errors.As(err, &je) {
		// A session that ended while joining is a failed connection.
		k, retry := Classify(je.err)
		if k == KindDisconnected {
			return KindConnectionFailed, true
		}
		return k, retry
	}
	var rpcErr *rpc.RpcError
	if errors.As(err, &rpcErr) {
		return KindRPC, false
	}
	var re *RequestError
	if errors.As(err, &re) {
		if k, ok := requestReasonKinds[re.Reason]; ok {
			return k, false
		}
		return KindInternal, false
	}
	for _, m := range errorKinds {
		if errors.Is(err, m.err) {
			return m.kind, m.retryable
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout, true
	case errors.Is(err, context.Canceled):
		return KindCancelled, false
	}
	return KindInternal, false
}

// KindOf returns the kind of err (see Classify).
func KindOf(err error) ErrorKind {
	k, _ := Classify(err)
	return k
}

// IsRetryable reports whether retrying the call that returned err can
// succeed (see Classify).
func IsRetryable(err error) bool {
	_, retry := Classify(err)
	return retry
}

// joinError marks an error of a join attempt (Room.Connect): its kind is
// that of the wrapped error, except that a session that ended while joining
// is a retryable KindConnectionFailed rather than KindDisconnected.
type joinError struct{ err error }

// Error implements error.
func (e *joinError) Error() string { return e.err.Error() }

// Unwrap returns the attempt's error.
func (e *joinError) Unwrap() error { return e.err }
