package rpc

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Built-in RPC error codes (docs/protocol.md, RPC). Codes 1001–1999 are
// reserved.
const (
	CodeUnsupportedMethod       uint32 = 1400
	CodeRecipientNotFound       uint32 = 1401
	CodeRequestPayloadTooLarge  uint32 = 1402
	CodeUnsupportedServer       uint32 = 1403
	CodeUnsupportedVersion      uint32 = 1404
	CodeApplicationError        uint32 = 1500
	CodeConnectionTimeout       uint32 = 1501
	CodeResponseTimeout         uint32 = 1502
	CodeRecipientDisconnected   uint32 = 1503
	CodeResponsePayloadTooLarge uint32 = 1504
	CodeSendFailed              uint32 = 1505
)

var builtinMessages = map[uint32]string{
	CodeUnsupportedMethod:       "Method not supported at destination",
	CodeRecipientNotFound:       "Recipient not found",
	CodeRequestPayloadTooLarge:  "Request payload too large",
	CodeUnsupportedServer:       "RPC not supported by server",
	CodeUnsupportedVersion:      "Unsupported RPC version",
	CodeApplicationError:        "Application error in method handler",
	CodeConnectionTimeout:       "Connection timeout",
	CodeResponseTimeout:         "Response timeout",
	CodeRecipientDisconnected:   "Recipient disconnected",
	CodeResponsePayloadTooLarge: "Response payload too large",
	CodeSendFailed:              "Failed to send",
}

// BuiltinMessage returns the exact built-in message of a built-in code ("" for
// other codes).
func BuiltinMessage(code uint32) string { return builtinMessages[code] }

// RpcError is an RPC failure: received from the callee, produced by a
// handler (returned as-is to the caller), or raised locally (timeouts,
// disconnects, size limits). Use errors.As to obtain it; errors.Is matches
// any *RpcError with the same Code (e.g. errors.Is(err, ErrResponseTimeout)).
type RpcError struct {
	// Code is the error code (1400–1505 built in; anything else is an
	// application code).
	Code uint32
	// Message is at most MaxErrorMessageBytes of UTF-8.
	Message string
	// Data is optional detail, at most MaxErrorDataBytes of UTF-8.
	Data string

	cause error
}

// NewRpcError returns an error with message and data truncated to the
// protocol limits on rune boundaries. Handlers return it to send a specific
// code to the caller.
func NewRpcError(code uint32, message, data string) *RpcError {
	return &RpcError{Code: code, Message: truncateUTF8(message, MaxErrorMessageBytes), Data: truncateUTF8(data, MaxErrorDataBytes)}
}

// builtin returns a built-in error with its exact message.
func builtin(code uint32, data string, cause error) *RpcError {
	e := NewRpcError(code, builtinMessages[code], data)
	e.cause = cause
	return e
}

// Error implements error. Data is not included (it may carry application
// content).
func (e *RpcError) Error() string {
	return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message)
}

// Unwrap returns the local cause, if any (e.g. the transport error of a 1505,
// or ErrClosed).
func (e *RpcError) Unwrap() error { return e.cause }

// Is reports whether target is an *RpcError with the same code.
func (e *RpcError) Is(target error) bool {
	var t *RpcError
	if errors.As(target, &t) && t != nil {
		return t.Code == e.Code
	}
	return false
}

// Sentinels for errors.Is, one per built-in code.
var (
	ErrUnsupportedMethod       = &RpcError{Code: CodeUnsupportedMethod, Message: builtinMessages[CodeUnsupportedMethod]}
	ErrRecipientNotFound       = &RpcError{Code: CodeRecipientNotFound, Message: builtinMessages[CodeRecipientNotFound]}
	ErrRequestPayloadTooLarge  = &RpcError{Code: CodeRequestPayloadTooLarge, Message: builtinMessages[CodeRequestPayloadTooLarge]}
	ErrUnsupportedServer       = &RpcError{Code: CodeUnsupportedServer, Message: builtinMessages[CodeUnsupportedServer]}
	ErrUnsupportedVersion      = &RpcError{Code: CodeUnsupportedVersion, Message: builtinMessages[CodeUnsupportedVersion]}
	ErrApplication             = &RpcError{Code: CodeApplicationError, Message: builtinMessages[CodeApplicationError]}
	ErrConnectionTimeout       = &RpcError{Code: CodeConnectionTimeout, Message: builtinMessages[CodeConnectionTimeout]}
	ErrResponseTimeout         = &RpcError{Code: CodeResponseTimeout, Message: builtinMessages[CodeResponseTimeout]}
	ErrRecipientDisconnected   = &RpcError{Code: CodeRecipientDisconnected, Message: builtinMessages[CodeRecipientDisconnected]}
	ErrResponsePayloadTooLarge = &RpcError{Code: CodeResponsePayloadTooLarge, Message: builtinMessages[CodeResponsePayloadTooLarge]}
	ErrSendFailed              = &RpcError{Code: CodeSendFailed, Message: builtinMessages[CodeSendFailed]}
)

// ErrClosed is the cause of the 1503 error that pending and new calls get
// once the manager is closed.
var ErrClosed = errors.New("rpc: manager closed")

// ErrMethodAlreadyRegistered is returned by RegisterMethod for a duplicate.
var ErrMethodAlreadyRegistered = errors.New("rpc: RPC handler already registered for method, unregister it before registering again")

// ErrInvalidArgument reports a malformed call (empty method or destination,
// nil handler).
var ErrInvalidArgument = errors.New("rpc: invalid argument")

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	k := n
	for k > 0 && !utf8.RuneStart(s[k]) {
		k--
	}
	return s[:k]
}
