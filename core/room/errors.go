package room

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/internal/signal"
)

// Errors returned by this package (use errors.Is / errors.As). Connection
// errors come from core/internal/signal and are re-exported here so callers need only
// this package.
var (
	// ErrDisconnected: the room is disconnected (after Disconnect, a server
	// leave or a failure); every call on it fails with this error.
	ErrDisconnected = errors.New("room: disconnected")
	// ErrInvalidArgument: a parameter is invalid (see the message).
	ErrInvalidArgument = errors.New("room: invalid argument")
	// ErrPeerConnectionFailed: the PeerConnection failed or did not connect in time.
	ErrPeerConnectionFailed = errors.New("room: peer connection failed")
	// ErrSignalLost: the signalling connection ended without a leave (or
	// timed out); the wrapped signal error tells which.
	ErrSignalLost = errors.New("room: signalling connection lost")
	// ErrRelayUnavailable: ICE was relay-only (Options.ICETransportPolicy
	// relay, or force_relay from the server) and gathering produced no TURN
	// relay candidate: the TURN server refused the credentials or could not
	// be reached, or no TURN server was given (pion does not report which).
	// Errors carrying it also match ErrPeerConnectionFailed.
	ErrRelayUnavailable = errors.New("room: no TURN relay candidate for relay-only ICE")

	// ErrPacketTooLarge: a serialised DataPacket would exceed 64 000 bytes
	// (the message gives the size and the limit).
	ErrPacketTooLarge = engine.ErrPacketTooLarge
	// ErrSignalRequestTooLarge: a request to the server (SetMetadata, SetName,
	// SetAttributes: their values together) would exceed the 2 MiB a LiveKit
	// server reads in one signalling message; nothing was sent.
	ErrSignalRequestTooLarge = signal.ErrRequestTooLarge
	// ErrPublishDataNotAllowed: the server's latest description of the local
	// participant denies it publishing data (canPublishData), so a LiveKit
	// server would drop the packet (data packets, RPC, streams) without a
	// word; nothing was sent.
	ErrPublishDataNotAllowed = errors.New("room: not allowed to publish data")
	// ErrInvalidURL: the server URL is malformed or has an unsupported scheme.
	ErrInvalidURL = signal.ErrInvalidURL
	// ErrUnauthorized: the server refused the token (HTTP 401/403); see *HTTPError.
	ErrUnauthorized = signal.ErrUnauthorized
	// ErrRoomNotFound: the room does not exist and the server does not auto-create rooms.
	ErrRoomNotFound = signal.ErrRoomNotFound
	// ErrServiceNotFound: no LiveKit signalling endpoint at that URL (HTTP 404).
	ErrServiceNotFound = signal.ErrServiceNotFound
	// ErrBadRequest: the server rejected the join request (HTTP 400).
	ErrBadRequest = signal.ErrBadRequest
	// ErrServerError: another HTTP status from the server (5xx, …).
	ErrServerError = signal.ErrServerError
	// ErrServerUnreachable: the server could not be reached (DNS, TCP, TLS).
	ErrServerUnreachable = signal.ErrServerUnreachable
	// ErrJoinRefused: the server answered the join with a leave (see *LeaveError).
	ErrJoinRefused = signal.ErrJoinRefused
	// ErrRequestFailed: the server refused a request (see *RequestError).
	ErrRequestFailed = errors.New("room: request refused by server")
)

// HTTPError is the server's refusal of the signalling upgrade: its status
// and text (trimmed, at most 256 bytes). It unwraps to ErrUnauthorized,
// ErrRoomNotFound, ErrServiceNotFound, ErrBadRequest or ErrServerError.
type HTTPError = signal.HTTPError

// LeaveError is the server's answer to a join (or a reconnect's join) with
// a leave, or its leave between the answer to the join and the connection
// (Connect fails with it). It unwraps to ErrJoinRefused.
type LeaveError struct {
	// Reason is the server's reason (e.g. DisconnectRoomDeleted).
	Reason DisconnectReason
}

// Error implements error.
func (e *LeaveError) Error() string {
	return fmt.Sprintf("room: join refused by server (leave reason %s)", e.Reason)
}

// Unwrap returns ErrJoinRefused.
func (e *LeaveError) Unwrap() error { return ErrJoinRefused }

// dialError turns the signal client's *signal.LeaveError into a
// *LeaveError (the only error type of the signal client that carries
// protocol values); other errors pass through.
func dialError(err error) error {
	var le *signal.LeaveError
	if errors.As(err, &le) {
		return &LeaveError{Reason: DisconnectReason(le.Reason)}
	}
	return err
}

// RequestError is the server's refusal of a signalling request (e.g.
// UpdateParticipantMetadata without the canUpdateOwnMetadata grant →
// NOT_ALLOWED, too-long name → LIMIT_EXCEEDED). It unwraps to ErrRequestFailed.
type RequestError struct {
	Reason  RequestReason
	Message string
}

// Error implements error.
func (e *RequestError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("room: request refused: %s", e.Reason)
	}
	return fmt.Sprintf("room: request refused: %s: %s", e.Reason, e.Message)
}

// Unwrap returns ErrRequestFailed.
func (e *RequestError) Unwrap() error { return ErrRequestFailed }

// Errors of reconnection.
var (
	// ErrReconnecting: a lossy packet or data-track packet was not sent
	// because the room is reconnecting (nothing is queued for lossy
	// channels; reliable sends wait instead).
	ErrReconnecting = errors.New("room: reconnecting")
	// ErrReconnectFailed: the room gave up reconnecting
	// (Options.MaxReconnectAttempts failed attempts, 10 by default, or the
	// token was refused); the wrapped error is the last failure.
	ErrReconnectFailed = errors.New("room: reconnection failed")
)

// checkText refuses with ErrInvalidArgument a text argument (what names it) that is empty,
// longer than max bytes or not UTF-8.
func checkText(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalidArgument, what)
	case len(s) > max:
		return fmt.Errorf("%w: %s of %d bytes, at most %d", ErrInvalidArgument, what, len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalidArgument, what)
	}
	return nil
}
