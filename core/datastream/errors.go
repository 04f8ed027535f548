package datastream

import (
	"errors"
	"fmt"
)

// Reason classifies a data-stream error. Values 0–10 equal JS
// DataStreamErrorReason; values from 100 are specific to this package. None
// travels on the wire (only Trailer.reason text does).
type Reason int

// Data-stream error reasons.
const (
	ReasonAlreadyOpened            Reason = 0
	ReasonAbnormalEnd              Reason = 1
	ReasonDecodeFailed             Reason = 2
	ReasonLengthExceeded           Reason = 3
	ReasonIncomplete               Reason = 4
	ReasonHandlerAlreadyRegistered Reason = 7
	ReasonEncryptionTypeMismatch   Reason = 8
	ReasonHeaderTooLarge           Reason = 9
	ReasonPayloadTooLarge          Reason = 10
	ReasonBufferOverflow           Reason = 100
	ReasonClosed                   Reason = 101
	ReasonSendFailed               Reason = 102
	ReasonInvalidArgument          Reason = 103
	ReasonCancelled                Reason = 104
)

// Sentinel errors, one per reason; every *StreamError matches the sentinel of
// its reason with errors.Is.
var (
	ErrAlreadyOpened            = errors.New("datastream: stream already in progress")
	ErrAbnormalEnd              = errors.New("datastream: stream ended abnormally")
	ErrDecodeFailed             = errors.New("datastream: decode failed")
	ErrLengthExceeded           = errors.New("datastream: more data than announced")
	ErrIncomplete               = errors.New("datastream: stream incomplete")
	ErrHandlerAlreadyRegistered = errors.New("datastream: handler already registered for topic")
	ErrEncryptionTypeMismatch   = errors.New("datastream: encryption type mismatch")
	ErrHeaderTooLarge           = errors.New("datastream: header too large")
	ErrPayloadTooLarge          = errors.New("datastream: payload exceeds the maximum payload size")
	ErrBufferOverflow           = errors.New("datastream: reader too slow, buffer limit reached")
	ErrClosed                   = errors.New("datastream: manager closed")
	ErrSendFailed               = errors.New("datastream: send failed")
	ErrInvalidArgument          = errors.New("datastream: invalid argument")
	ErrCancelled                = errors.New("datastream: reader cancelled")
)

var reasonSentinel = map[Reason]error{
	ReasonAlreadyOpened:            ErrAlreadyOpened,
	ReasonAbnormalEnd:              ErrAbnormalEnd,
	ReasonDecodeFailed:             ErrDecodeFailed,
	ReasonLengthExceeded:           ErrLengthExceeded,
	ReasonIncomplete:               ErrIncomplete,
	ReasonHandlerAlreadyRegistered: ErrHandlerAlreadyRegistered,
	ReasonEncryptionTypeMismatch:   ErrEncryptionTypeMismatch,
	ReasonHeaderTooLarge:           ErrHeaderTooLarge,
	ReasonPayloadTooLarge:          ErrPayloadTooLarge,
	ReasonBufferOverflow:           ErrBufferOverflow,
	ReasonClosed:                   ErrClosed,
	ReasonSendFailed:               ErrSendFailed,
	ReasonInvalidArgument:          ErrInvalidArgument,
	ReasonCancelled:                ErrCancelled,
}

// Sentinel returns the sentinel error of r (nil for an unknown reason).
func (r Reason) Sentinel() error { return reasonSentinel[r] }

// StreamError is the error type of this package. It matches the sentinel of
// its Reason with errors.Is and carries the stream id and a message in the
// style of the JS client (never payload bytes).
type StreamError struct {
	// Reason classifies the error.
	Reason Reason
	// StreamID is the stream concerned ("" when not stream specific).
	StreamID string
	// Message is a human-readable description.
	Message string
	// Cause is an underlying error, if any.
	Cause error
}

// Error implements error.
func (e *StreamError) Error() string {
	msg := e.Message
	if msg == "" {
		if s := e.Reason.Sentinel(); s != nil {
			msg = s.Error()
		} else {
			msg = fmt.Sprintf("datastream: error reason %d", int(e.Reason))
		}
	}
	if e.Cause != nil {
		return msg + ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the reason's sentinel and the cause.
func (e *StreamError) Unwrap() []error {
	out := make([]error, 0, 2)
	if s := e.Reason.Sentinel(); s != nil {
		out = append(out, s)
	}
	if e.Cause != nil {
		out = append(out, e.Cause)
	}
	return out
}

func newErr(r Reason, streamID, msg string, cause error) *StreamError {
	return &StreamError{Reason: r, StreamID: streamID, Message: msg, Cause: cause}
}
