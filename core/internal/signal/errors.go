package signal

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Sentinel errors. Errors returned by this package wrap one of these (use errors.Is).
var (
	// ErrInvalidURL: the server URL cannot be parsed or has an unsupported scheme.
	ErrInvalidURL = errors.New("signal: invalid server URL")
	// ErrUnauthorized: the server refused the token or its grants (HTTP 401/403).
	// Never retried.
	ErrUnauthorized = errors.New("signal: unauthorized")
	// ErrRoomNotFound: HTTP 404 "requested room does not exist" (room auto-creation is off).
	ErrRoomNotFound = errors.New("signal: room does not exist")
	// ErrServiceNotFound: HTTP 404 for another reason (no LiveKit /rtc/v1 endpoint at that URL).
	ErrServiceNotFound = errors.New("signal: signalling endpoint not found")
	// ErrBadRequest: HTTP 400 (empty identity, no room name, undecodable join_request, …).
	ErrBadRequest = errors.New("signal: bad request")
	// ErrServerError: any other non-101 HTTP status (5xx, 503 node limits, …).
	ErrServerError = errors.New("signal: server error")
	// ErrServerUnreachable: the TCP/TLS/HTTP exchange failed before a status was received.
	ErrServerUnreachable = errors.New("signal: server unreachable")
	// ErrJoinRefused: the server answered the join with a LeaveRequest (see *LeaveError).
	ErrJoinRefused = errors.New("signal: join refused by server")
	// ErrUnexpectedMessage: the first response was neither join/reconnect nor leave.
	ErrUnexpectedMessage = errors.New("signal: unexpected first message")
	// ErrClosed: the client was closed locally.
	ErrClosed = errors.New("signal: closed")
	// ErrRequestTooLarge: a SignalRequest larger than MaxRequestSize, not sent.
	ErrRequestTooLarge = errors.New("signal: request too large")
	// ErrConnectionLost: the WebSocket ended without a prior leave (read error or close frame).
	ErrConnectionLost = errors.New("signal: connection lost")
	// ErrPingTimeout: nothing was received for ping_timeout seconds.
	ErrPingTimeout = errors.New("signal: ping timeout")
	// ErrProtocol: a frame could not be decoded (text frame or invalid protobuf).
	ErrProtocol = errors.New("signal: protocol error")
)

// maxErrorBody is how much of a failed upgrade's body is kept in HTTPError.
const maxErrorBody = 256

// HTTPError is returned when the WebSocket upgrade is answered with a non-101
// status. Body is the server's plain-text reason (trimmed, at most 256 bytes).
// It unwraps to ErrUnauthorized, ErrRoomNotFound, ErrServiceNotFound,
// ErrBadRequest or ErrServerError.
type HTTPError struct {
	StatusCode int    // HTTP status of the refused upgrade
	Body       string // server text, trimmed, at most 256 bytes
}

// Error implements error.
func (e *HTTPError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("signal: upgrade refused with HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("signal: upgrade refused with HTTP %d: %s", e.StatusCode, e.Body)
}

// Unwrap maps the status onto a sentinel error, following the JS classification
// (docs/protocol.md, Signalling: Connecting).
func (e *HTTPError) Unwrap() error {
	switch {
	case e.StatusCode == 401 || e.StatusCode == 403:
		return ErrUnauthorized
	case e.StatusCode == 404 && strings.Contains(e.Body, "requested room does not exist"):
		return ErrRoomNotFound
	case e.StatusCode == 404:
		return ErrServiceNotFound
	case e.StatusCode == 400:
		return ErrBadRequest
	default:
		return ErrServerError
	}
}

// LeaveError reports a LeaveRequest received where a join/reconnect was expected.
// It unwraps to ErrJoinRefused.
type LeaveError struct {
	Reason lkpb.DisconnectReason
	Action lkpb.LeaveRequest_Action
}

// Error implements error.
func (e *LeaveError) Error() string {
	return fmt.Sprintf("signal: join refused by server (leave reason %s, action %s)", e.Reason, e.Action)
}

// Unwrap returns ErrJoinRefused.
func (e *LeaveError) Unwrap() error { return ErrJoinRefused }

// sanitize removes secrets (token, join request) from an error text. Errors
// from net/http embed the full request URL, which carries the token. Values
// shorter than 8 bytes are not secrets worth mangling the text for (a JWT is
// hundreds of bytes).
func sanitize(msg string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 8 {
			msg = strings.ReplaceAll(msg, s, "<redacted>")
		}
	}
	return msg
}

// wrappedError is an error with a fixed (sanitised) message wrapping a sentinel.
type wrappedError struct {
	sentinel error
	msg      string
	cause    error // optional, must not print secrets (never a *url.Error)
}

// Error implements error.
func (e *wrappedError) Error() string { return e.msg }

// Unwrap returns the sentinel and the cause.
func (e *wrappedError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.sentinel, e.cause}
	}
	return []error{e.sentinel}
}
