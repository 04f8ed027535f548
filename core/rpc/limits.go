package rpc

import "time"

// Protocol constants (docs/protocol.md, RPC).
const (
	// MaxV1PayloadBytes is the largest request or response payload of RPC v1.
	MaxV1PayloadBytes = 15_360
	// MaxErrorMessageBytes bounds RpcError.Message.
	MaxErrorMessageBytes = 256
	// MaxErrorDataBytes bounds RpcError.Data.
	MaxErrorDataBytes = 15_360
	// DefaultAckTimeout is the default "max round-trip latency" within which
	// the callee must ack.
	DefaultAckTimeout = 7 * time.Second
	// DefaultResponseTimeout is used when PerformParams.ResponseTimeout is 0.
	DefaultResponseTimeout = 15 * time.Second
	// MinAdvertisedTimeout is the smallest response timeout advertised to
	// the callee (JS: ack timeout + 1 s).
	MinAdvertisedTimeout = 8 * time.Second

	versionV1 = 1
	versionV2 = 2

	attrRequestID       = "lk.rpc_request_id"
	attrMethod          = "lk.rpc_request_method"
	attrResponseTimeout = "lk.rpc_request_response_timeout_ms"
	attrVersion         = "lk.rpc_request_version"

	minServerVersion = "1.8.0"
)

// Limits bounds what remote participants can make this manager hold. Zero
// fields take the defaults of DefaultLimits.
type Limits struct {
	// MaxPayloadBytes caps the size of a v2 request (callee) or response
	// (caller) payload read from a data stream; larger payloads fail with
	// 1500. Default 64 MiB (the data-stream layer's own cap still applies).
	MaxPayloadBytes uint64
	// MaxConcurrentInvocations caps handler invocations running at once.
	// Requests beyond it are acked and answered with 1500 (data "too many
	// concurrent RPC invocations") without running the handler; beyond twice
	// the cap they are dropped (the caller sees 1501). Default 1024.
	MaxConcurrentInvocations int
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{MaxPayloadBytes: 64 << 20, MaxConcurrentInvocations: 1024}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxPayloadBytes == 0 {
		l.MaxPayloadBytes = d.MaxPayloadBytes
	}
	if l.MaxConcurrentInvocations <= 0 {
		l.MaxConcurrentInvocations = d.MaxConcurrentInvocations
	}
	return l
}
