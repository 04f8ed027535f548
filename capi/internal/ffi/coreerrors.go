package ffi

import (
	"context"
	"errors"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/e2ee"
	"github.com/lkcore/lkcore/core/engine"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/core/signal"
)

// coreErrorCodes is the one table mapping the core's typed errors onto the FFI vocabulary.
// Order matters where errors wrap each other: the first match wins, so more specific errors
// come first. Every exported sentinel of core/room is listed (a test checks it).
var coreErrorCodes = []struct {
	err       error
	code      ffipb.ErrorCode
	retryable bool
}{
	// Connecting (core/signal, re-exported by core/room).
	{room.ErrInvalidURL, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{room.ErrUnauthorized, ffipb.ErrorCode_ERROR_CODE_UNAUTHORIZED, false},
	{room.ErrRoomNotFound, ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, false},
	{room.ErrServiceNotFound, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED, false},
	{room.ErrBadRequest, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED, false},
	{room.ErrServerError, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED, true},
	{room.ErrServerUnreachable, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED, true},
	{room.ErrJoinRefused, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED, false},
	{signal.ErrUnexpectedMessage, ffipb.ErrorCode_ERROR_CODE_PROTOCOL_ERROR, false},
	{signal.ErrProtocol, ffipb.ErrorCode_ERROR_CODE_PROTOCOL_ERROR, false},
	// Relay-only ICE without a TURN relay (also an ErrPeerConnectionFailed): not retried, the
	// same TURN configuration would fail the same way.
	{room.ErrRelayUnavailable, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED, false},
	{room.ErrPeerConnectionFailed, ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED, true},
	// A session that ended, or is being re-established.
	{room.ErrReconnectFailed, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, false},
	{room.ErrReconnecting, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, true},
	{room.ErrSignalLost, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, true},
	{room.ErrDisconnected, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, false},
	{engine.ErrClosed, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, false},
	{signal.ErrClosed, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, false},
	// Requests.
	{room.ErrInvalidArgument, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{room.ErrPacketTooLarge, ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE, false},
	{engine.ErrDataTrackBackedUp, ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL, true},
	{engine.ErrChannelNotOpen, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, true},
	// RPC (failed calls are *rpc.RpcError values, mapped to RPC_ERROR before this table).
	{rpc.ErrMethodAlreadyRegistered, ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS, false},
	{rpc.ErrInvalidArgument, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{rpc.ErrClosed, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, false},
	// End-to-end encryption.
	{room.ErrE2EENotConfigured, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR, false},
	{room.ErrEncryptionFailed, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR, false},
	{e2ee.ErrNoKey, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR, false},
	{e2ee.ErrDecrypt, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR, false},
	{e2ee.ErrNotEncrypted, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR, false},
	{e2ee.ErrMalformed, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR, false},
	{e2ee.ErrInvalidKeyIndex, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{e2ee.ErrInvalidOptions, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	// Data tracks (room re-exports most of these; server refusals are
	// *datatrack.PublishError values matching the sentinels).
	{datatrack.ErrQueueFull, ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL, true},
	{datatrack.ErrTimeout, ffipb.ErrorCode_ERROR_CODE_TIMEOUT, true},
	{datatrack.ErrDuplicateName, ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS, false},
	{datatrack.ErrNotAllowed, ffipb.ErrorCode_ERROR_CODE_NOT_ALLOWED, false},
	{datatrack.ErrInvalidName, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{datatrack.ErrInvalidOption, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{datatrack.ErrInvalidSchema, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{datatrack.ErrInvalidRequest, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{datatrack.ErrLimitReached, ffipb.ErrorCode_ERROR_CODE_LIMIT_REACHED, false},
	{datatrack.ErrDuplicateHandle, ffipb.ErrorCode_ERROR_CODE_INTERNAL, false},
	{datatrack.ErrInvalidResponse, ffipb.ErrorCode_ERROR_CODE_PROTOCOL_ERROR, false},
	{datatrack.ErrRejected, ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, false},
	{datatrack.ErrUnknownHandle, ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, false},
	{datatrack.ErrTrackUnpublished, ffipb.ErrorCode_ERROR_CODE_TRACK_UNPUBLISHED, false},
	{datatrack.ErrRepublishing, ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, true},
	{datatrack.ErrFrameTooLarge, ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE, false},
	{datatrack.ErrQueueClosed, ffipb.ErrorCode_ERROR_CODE_TRACK_UNPUBLISHED, false},
	{datatrack.ErrE2EENoKeys, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR, false},
	{datatrack.ErrEncryptionFailed, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR, false},
	{datatrack.ErrUnknownTrack, ffipb.ErrorCode_ERROR_CODE_NOT_FOUND, false},
	{datatrack.ErrSubscribeNotAllowed, ffipb.ErrorCode_ERROR_CODE_NOT_ALLOWED, false},
	{datatrack.ErrStreamEnded, ffipb.ErrorCode_ERROR_CODE_END_OF_STREAM, false},
	{datatrack.ErrDisconnected, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, false},
	// Data streams (*datastream.StreamError matches the sentinel of its reason).
	{datastream.ErrAlreadyOpened, ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS, false},
	{datastream.ErrAbnormalEnd, ffipb.ErrorCode_ERROR_CODE_ABORTED, false},
	{datastream.ErrDecodeFailed, ffipb.ErrorCode_ERROR_CODE_PROTOCOL_ERROR, false},
	{datastream.ErrLengthExceeded, ffipb.ErrorCode_ERROR_CODE_PROTOCOL_ERROR, false},
	{datastream.ErrIncomplete, ffipb.ErrorCode_ERROR_CODE_ABORTED, false},
	{datastream.ErrHandlerAlreadyRegistered, ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS, false},
	{datastream.ErrEncryptionTypeMismatch, ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR, false},
	{datastream.ErrHeaderTooLarge, ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE, false},
	{datastream.ErrPayloadTooLarge, ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE, false},
	{datastream.ErrBufferOverflow, ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL, false},
	{datastream.ErrClosed, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, false},
	{datastream.ErrSendFailed, ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, true},
	{datastream.ErrInvalidArgument, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{datastream.ErrCancelled, ffipb.ErrorCode_ERROR_CODE_CANCELLED, false},
}

// requestReasonCodes maps a server's refusal of a signalling request (room.RequestError).
var requestReasonCodes = map[lkpb.RequestResponse_Reason]ffipb.ErrorCode{
	lkpb.RequestResponse_NOT_FOUND:          ffipb.ErrorCode_ERROR_CODE_NOT_FOUND,
	lkpb.RequestResponse_NOT_ALLOWED:        ffipb.ErrorCode_ERROR_CODE_NOT_ALLOWED,
	lkpb.RequestResponse_LIMIT_EXCEEDED:     ffipb.ErrorCode_ERROR_CODE_LIMIT_REACHED,
	lkpb.RequestResponse_UNSUPPORTED_TYPE:   ffipb.ErrorCode_ERROR_CODE_UNSUPPORTED,
	lkpb.RequestResponse_INVALID_HANDLE:     ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT,
	lkpb.RequestResponse_INVALID_NAME:       ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT,
	lkpb.RequestResponse_INVALID_REQUEST:    ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT,
	lkpb.RequestResponse_DUPLICATE_HANDLE:   ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS,
	lkpb.RequestResponse_DUPLICATE_NAME:     ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS,
	lkpb.RequestResponse_UNCLASSIFIED_ERROR: ffipb.ErrorCode_ERROR_CODE_INTERNAL,
}

// fromCore converts an error of the core into an *Error with the matching code, keeping the
// core's message (core packages keep secrets and payloads out of their errors). *Error values
// pass through; nil stays nil.
func fromCore(err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	var rpcErr *rpc.RpcError
	if errors.As(err, &rpcErr) {
		return &Error{Code: ffipb.ErrorCode_ERROR_CODE_RPC_ERROR, Msg: err.Error(),
			RPC: &ffipb.RpcError{Code: rpcErr.Code, Message: rpcErr.Message, Data: rpcErr.Data}}
	}
	var re *room.RequestError
	if errors.As(err, &re) {
		code, ok := requestReasonCodes[re.Reason]
		if !ok {
			code = ffipb.ErrorCode_ERROR_CODE_INTERNAL
		}
		return &Error{Code: code, Msg: err.Error()}
	}
	for _, m := range coreErrorCodes {
		if errors.Is(err, m.err) {
			return &Error{Code: m.code, Msg: err.Error(), Retryable: m.retryable}
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: ffipb.ErrorCode_ERROR_CODE_TIMEOUT, Msg: err.Error(), Retryable: true}
	case errors.Is(err, context.Canceled):
		return &Error{Code: ffipb.ErrorCode_ERROR_CODE_CANCELLED, Msg: err.Error()}
	}
	return &Error{Code: ffipb.ErrorCode_ERROR_CODE_INTERNAL, Msg: err.Error()}
}
