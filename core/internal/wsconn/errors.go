package wsconn

import (
	"errors"
	"fmt"
)

// Sentinel errors (use errors.Is).
var (
	// ErrInvalidURL: the URL cannot be parsed or its scheme is not ws/wss.
	ErrInvalidURL = errors.New("wsconn: invalid URL")
	// ErrHandshake: the server answered the upgrade with 101 but not a valid WebSocket
	// handshake, or with something that is not an HTTP/1.x response.
	ErrHandshake = errors.New("wsconn: bad handshake")
	// ErrProxy: the proxy from the environment is unusable or refused the tunnel.
	ErrProxy = errors.New("wsconn: proxy")
	// ErrProtocol: the server broke the framing rules (masked frame, reserved bits,
	// fragmented or oversized control frame, unexpected continuation, …).
	ErrProtocol = errors.New("wsconn: protocol error")
	// ErrMessageTooLarge: a message is longer than Options.MaxMessageSize.
	ErrMessageTooLarge = errors.New("wsconn: message too large")
	// ErrClosed: the connection was closed locally (CloseNow, or after a read or write
	// failed).
	ErrClosed = errors.New("wsconn: connection closed")
)

// StatusError is returned by Dial when the server answers the upgrade with a status other
// than 101. Body is the beginning of the response body (at most MaxErrorBody bytes).
type StatusError struct {
	StatusCode int
	Body       string
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("wsconn: upgrade refused with HTTP %d", e.StatusCode)
}

// CloseError is returned by Read when the server sent a close frame. Code is the status
// code it carried (1005 when it carried none).
type CloseError struct {
	Code   int
	Reason string
}

// Error implements error.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("wsconn: closed by peer (status %d)", e.Code)
	}
	return fmt.Sprintf("wsconn: closed by peer (status %d: %s)", e.Code, e.Reason)
}
