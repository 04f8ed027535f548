package ffi

import (
	"context"
	"errors"
	"fmt"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// Error is a typed FFI error: a code from the schema's ErrorCode enum plus a message that never
// contains tokens, keys or payloads. errors.Is(err, &Error{Code: c}) matches any *Error with
// code c, so the sentinels below work with errors.Is.
type Error struct {
	Code      ffipb.ErrorCode
	Msg       string
	Retryable bool
	// RPC is set with ERROR_CODE_RPC_ERROR.
	RPC *ffipb.RpcError
}

// Error implements error.
func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Msg
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Sentinels for errors.Is; they carry no message.
var (
	ErrInternal       = &Error{Code: ffipb.ErrorCode_ERROR_CODE_INTERNAL}
	ErrInvalidRequest = &Error{Code: ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST}
	ErrUnimplemented  = &Error{Code: ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED}
	ErrInvalidHandle  = &Error{Code: ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE}
	ErrWrongHandle    = &Error{Code: ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE}
	ErrClientClosed   = &Error{Code: ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED}
	ErrTimeout        = &Error{Code: ffipb.ErrorCode_ERROR_CODE_TIMEOUT}
	ErrCancelled      = &Error{Code: ffipb.ErrorCode_ERROR_CODE_CANCELLED}
	ErrNotFound       = &Error{Code: ffipb.ErrorCode_ERROR_CODE_NOT_FOUND}
)

// Errorf returns an *Error with the given code and a formatted message. Callers must not
// format secrets or payloads into it.
func Errorf(code ffipb.ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf maps any error onto the FFI error vocabulary: *Error keeps its code, context
// deadline/cancellation map to TIMEOUT/CANCELLED, anything else is INTERNAL. nil is OK.
func CodeOf(err error) ffipb.ErrorCode {
	if err == nil {
		return ffipb.ErrorCode_ERROR_CODE_OK
	}
	var fe *Error
	switch {
	case errors.As(err, &fe):
		return fe.Code
	case errors.Is(err, context.DeadlineExceeded):
		return ffipb.ErrorCode_ERROR_CODE_TIMEOUT
	case errors.Is(err, context.Canceled):
		return ffipb.ErrorCode_ERROR_CODE_CANCELLED
	}
	return ffipb.ErrorCode_ERROR_CODE_INTERNAL
}

// ToProto converts err into the schema's Error (nil for nil). Errors that are not *Error keep
// their text as message; core packages guarantee their error strings hold no secrets.
func ToProto(err error) *ffipb.Error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		msg := fe.Msg
		if msg == "" {
			msg = err.Error()
		}
		return &ffipb.Error{Code: fe.Code, Message: msg, Retryable: fe.Retryable, Rpc: fe.RPC}
	}
	return &ffipb.Error{Code: CodeOf(err), Message: err.Error()}
}
