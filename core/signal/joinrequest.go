package signal

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/proto"
)

// MaxJoinRequestSize is the largest serialised JoinRequest accepted by
// DecodeJoinRequest after decompression (livekit-server rejects more than 1 MiB).
const MaxJoinRequestSize = 1 << 20

// EncodeJoinRequest serialises jr into the value of the `join_request` query
// parameter: base64url WITH padding (the server's decoder rejects unpadded
// input) of a WrappedJoinRequest whose payload is jr, gzip-compressed
// (RFC 1952) when compression is GZIP. JS 2.23.0 always uses GZIP.
func EncodeJoinRequest(jr *lkpb.JoinRequest, compression lkpb.WrappedJoinRequest_Compression) (string, error) {
	raw, err := proto.Marshal(jr)
	if err != nil {
		return "", fmt.Errorf("signal: marshal join request: %w", err)
	}
	payload := raw
	switch compression {
	case lkpb.WrappedJoinRequest_NONE:
	case lkpb.WrappedJoinRequest_GZIP:
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(raw); err != nil {
			return "", fmt.Errorf("signal: gzip join request: %w", err)
		}
		if err := zw.Close(); err != nil {
			return "", fmt.Errorf("signal: gzip join request: %w", err)
		}
		payload = buf.Bytes()
	default:
		return "", fmt.Errorf("signal: unsupported join request compression %v", compression)
	}
	wrapped, err := proto.Marshal(&lkpb.WrappedJoinRequest{Compression: compression, JoinRequest: payload})
	if err != nil {
		return "", fmt.Errorf("signal: marshal wrapped join request: %w", err)
	}
	return base64.URLEncoding.EncodeToString(wrapped), nil
}

// DecodeJoinRequest is the inverse of EncodeJoinRequest, with the server's
// rules: padded base64url only, the decompressed request at most
// MaxJoinRequestSize bytes. It returns the compression that was used.
// Errors match ErrBadRequest and one of the ErrJoinRequest* stage errors.
func DecodeJoinRequest(param string) (*lkpb.JoinRequest, lkpb.WrappedJoinRequest_Compression, error) {
	wrappedBytes, err := base64.URLEncoding.DecodeString(param)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w: %v", ErrBadRequest, ErrJoinRequestEncoding, err)
	}
	var wrapped lkpb.WrappedJoinRequest
	if err := proto.Unmarshal(wrappedBytes, &wrapped); err != nil {
		return nil, 0, fmt.Errorf("%w: %w: %v", ErrBadRequest, ErrJoinRequestWrapper, err)
	}
	raw := wrapped.GetJoinRequest()
	switch wrapped.GetCompression() {
	case lkpb.WrappedJoinRequest_NONE:
		if len(raw) > MaxJoinRequestSize {
			return nil, 0, fmt.Errorf("%w: %w (over %d bytes)", ErrBadRequest, ErrJoinRequestTooLarge, MaxJoinRequestSize)
		}
	case lkpb.WrappedJoinRequest_GZIP:
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w: %v", ErrBadRequest, ErrJoinRequestCompression, err)
		}
		raw, err = io.ReadAll(io.LimitReader(zr, MaxJoinRequestSize+1))
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w: %v", ErrBadRequest, ErrJoinRequestCompression, err)
		}
		if len(raw) > MaxJoinRequestSize {
			return nil, 0, fmt.Errorf("%w: %w (over %d bytes)", ErrBadRequest, ErrJoinRequestTooLarge, MaxJoinRequestSize)
		}
	default:
		return nil, 0, fmt.Errorf("%w: %w: unknown compression %v", ErrBadRequest, ErrJoinRequestCompression, wrapped.GetCompression())
	}
	var jr lkpb.JoinRequest
	if err := proto.Unmarshal(raw, &jr); err != nil {
		return nil, 0, fmt.Errorf("%w: %w: %v", ErrBadRequest, ErrJoinRequestMessage, err)
	}
	return &jr, wrapped.GetCompression(), nil
}

// The stage at which DecodeJoinRequest failed (errors.Is), so a server can
// answer with its own text for each (tests/devsfu answers like livekit-server).
var (
	ErrJoinRequestEncoding    = errors.New("join_request is not padded base64url")
	ErrJoinRequestWrapper     = errors.New("cannot unmarshal the wrapped join request")
	ErrJoinRequestCompression = errors.New("cannot decompress the join request")
	ErrJoinRequestTooLarge    = errors.New("join request too large")
	ErrJoinRequestMessage     = errors.New("cannot unmarshal the join request")
)

var errEmptyHost = errors.New("missing host")
