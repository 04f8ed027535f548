package ffi

import (
	"errors"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
)

// kindCodes maps the core's error kinds (room.Classify) onto the FFI vocabulary: the core
// decides what an error is and whether it is retryable; this table only names the ABI code.
var kindCodes = map[room.ErrorKind]ffipb.ErrorCode{
	room.KindInternal:           ffipb.ErrorCode_ERROR_CODE_INTERNAL,
	room.KindInvalidArgument:    ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT,
	room.KindTimeout:            ffipb.ErrorCode_ERROR_CODE_TIMEOUT,
	room.KindCancelled:          ffipb.ErrorCode_ERROR_CODE_CANCELLED,
	room.KindNotFound:           ffipb.ErrorCode_ERROR_CODE_NOT_FOUND,
	room.KindAlreadyExists:      ffipb.ErrorCode_ERROR_CODE_ALREADY_EXISTS,
	room.KindFailedPrecondition: ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION,
	room.KindConnectionFailed:   ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED,
	room.KindUnauthorized:       ffipb.ErrorCode_ERROR_CODE_UNAUTHORIZED,
	room.KindDisconnected:       ffipb.ErrorCode_ERROR_CODE_DISCONNECTED,
	room.KindNotAllowed:         ffipb.ErrorCode_ERROR_CODE_NOT_ALLOWED,
	room.KindUnsupported:        ffipb.ErrorCode_ERROR_CODE_UNSUPPORTED,
	room.KindProtocol:           ffipb.ErrorCode_ERROR_CODE_PROTOCOL_ERROR,
	room.KindQueueFull:          ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL,
	room.KindPayloadTooLarge:    ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE,
	room.KindLimitReached:       ffipb.ErrorCode_ERROR_CODE_LIMIT_REACHED,
	room.KindTrackUnpublished:   ffipb.ErrorCode_ERROR_CODE_TRACK_UNPUBLISHED,
	room.KindEndOfStream:        ffipb.ErrorCode_ERROR_CODE_END_OF_STREAM,
	room.KindEncryption:         ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR,
	room.KindRPC:                ffipb.ErrorCode_ERROR_CODE_RPC_ERROR,
	room.KindAborted:            ffipb.ErrorCode_ERROR_CODE_ABORTED,
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
	kind, retryable := room.Classify(err)
	code, ok := kindCodes[kind]
	if !ok {
		code = ffipb.ErrorCode_ERROR_CODE_INTERNAL
	}
	return &Error{Code: code, Msg: err.Error(), Retryable: retryable}
}
