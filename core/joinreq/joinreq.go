// Package joinreq is the wire format of the `join_request` query parameter of
// LiveKit's v1 signalling URL (`/rtc/v1?join_request=…`): a WrappedJoinRequest,
// optionally gzip-compressed, encoded as padded base64url. The client
// (core/internal/signal) encodes it and a server (tests/devsfu) decodes it with
// the same rules as livekit-server.
package joinreq

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

// MaxSize is the largest serialised JoinRequest accepted by Decode after
// decompression (livekit-server rejects more than 1 MiB).
const MaxSize = 1 << 20

// The stage at which Decode failed (errors.Is), so a server can answer with
// its own text for each (tests/devsfu answers like livekit-server). Every
// Decode error matches ErrInvalid and exactly one of the stage errors.
var (
	// ErrInvalid: the parameter is not a valid join request (any stage).
	ErrInvalid = errors.New("joinreq: invalid join request")
	// ErrEncoding: not padded base64url.
	ErrEncoding = errors.New("join_request is not padded base64url")
	// ErrWrapper: the WrappedJoinRequest does not unmarshal.
	ErrWrapper = errors.New("cannot unmarshal the wrapped join request")
	// ErrCompression: unknown compression, or the gzip stream is broken.
	ErrCompression = errors.New("cannot decompress the join request")
	// ErrTooLarge: the decompressed request exceeds MaxSize.
	ErrTooLarge = errors.New("join request too large")
	// ErrMessage: the JoinRequest itself does not unmarshal.
	ErrMessage = errors.New("cannot unmarshal the join request")
)

// Encode serialises jr into the value of the `join_request` query parameter:
// base64url WITH padding (the server's decoder rejects unpadded input) of a
// WrappedJoinRequest whose payload is jr, gzip-compressed (RFC 1952) when
// compression is GZIP. JS 2.23.0 always uses GZIP.
func Encode(jr *lkpb.JoinRequest, compression lkpb.WrappedJoinRequest_Compression) (string, error) {
	raw, err := proto.Marshal(jr)
	if err != nil {
		return "", fmt.Errorf("joinreq: marshal join request: %w", err)
	}
	payload := raw
	switch compression {
	case lkpb.WrappedJoinRequest_NONE:
	case lkpb.WrappedJoinRequest_GZIP:
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(raw); err != nil {
			return "", fmt.Errorf("joinreq: gzip join request: %w", err)
		}
		if err := zw.Close(); err != nil {
			return "", fmt.Errorf("joinreq: gzip join request: %w", err)
		}
		payload = buf.Bytes()
	default:
		return "", fmt.Errorf("joinreq: unsupported join request compression %v", compression)
	}
	wrapped, err := proto.Marshal(&lkpb.WrappedJoinRequest{Compression: compression, JoinRequest: payload})
	if err != nil {
		return "", fmt.Errorf("joinreq: marshal wrapped join request: %w", err)
	}
	return base64.URLEncoding.EncodeToString(wrapped), nil
}

// Decode is the inverse of Encode, with the server's rules: padded base64url
// only, the decompressed request at most MaxSize bytes. It returns the
// compression that was used. Errors match ErrInvalid and one stage error.
func Decode(param string) (*lkpb.JoinRequest, lkpb.WrappedJoinRequest_Compression, error) {
	wrappedBytes, err := base64.URLEncoding.DecodeString(param)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w: %v", ErrInvalid, ErrEncoding, err)
	}
	var wrapped lkpb.WrappedJoinRequest
	if err := proto.Unmarshal(wrappedBytes, &wrapped); err != nil {
		return nil, 0, fmt.Errorf("%w: %w: %v", ErrInvalid, ErrWrapper, err)
	}
	raw := wrapped.GetJoinRequest()
	switch wrapped.GetCompression() {
	case lkpb.WrappedJoinRequest_NONE:
		if len(raw) > MaxSize {
			return nil, 0, fmt.Errorf("%w: %w (over %d bytes)", ErrInvalid, ErrTooLarge, MaxSize)
		}
	case lkpb.WrappedJoinRequest_GZIP:
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w: %v", ErrInvalid, ErrCompression, err)
		}
		raw, err = io.ReadAll(io.LimitReader(zr, MaxSize+1))
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w: %v", ErrInvalid, ErrCompression, err)
		}
		if len(raw) > MaxSize {
			return nil, 0, fmt.Errorf("%w: %w (over %d bytes)", ErrInvalid, ErrTooLarge, MaxSize)
		}
	default:
		return nil, 0, fmt.Errorf("%w: %w: unknown compression %v", ErrInvalid, ErrCompression, wrapped.GetCompression())
	}
	var jr lkpb.JoinRequest
	if err := proto.Unmarshal(raw, &jr); err != nil {
		return nil, 0, fmt.Errorf("%w: %w: %v", ErrInvalid, ErrMessage, err)
	}
	return &jr, wrapped.GetCompression(), nil
}
