package devsfu

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

// maxJoinRequestSize bounds the decoded JoinRequest (livekit-server rejects
// uncompressed payloads over 1 MiB and bounds gzip output the same way).
const maxJoinRequestSize = 1 << 20

// Texts of the 400 answers for a bad join_request (livekit-server
// pkg/service/rtcservice.go).
var (
	errJoinRequestRequired = errors.New("join_request is required")
	errJoinRequestBase64   = errors.New("cannot base64 decode wrapped join request")
	errJoinRequestProto    = errors.New("cannot unmarshal wrapped join request")
	errJoinRequestGzip     = errors.New("cannot decompress join request")
	errJoinRequestTooLarge = errors.New("join request too large")
	errJoinRequestInner    = errors.New("cannot unmarshal join request")
)

// decodeJoinRequest decodes the join_request query parameter: padded
// base64url of a WrappedJoinRequest whose payload is a JoinRequest, gzipped
// when compression = GZIP. Unpadded base64 is rejected like the real server
// (Go's base64.URLEncoding).
func decodeJoinRequest(param string) (*lkpb.JoinRequest, error) {
	raw, err := base64.URLEncoding.DecodeString(param)
	if err != nil {
		return nil, errJoinRequestBase64
	}
	var w lkpb.WrappedJoinRequest
	if err := proto.Unmarshal(raw, &w); err != nil {
		return nil, errJoinRequestProto
	}
	payload := w.GetJoinRequest()
	switch w.GetCompression() {
	case lkpb.WrappedJoinRequest_NONE:
		if len(payload) > maxJoinRequestSize {
			return nil, errJoinRequestTooLarge
		}
	case lkpb.WrappedJoinRequest_GZIP:
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, errJoinRequestGzip
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxJoinRequestSize+1))
		if err != nil {
			return nil, errJoinRequestGzip
		}
		if len(out) > maxJoinRequestSize {
			return nil, errJoinRequestTooLarge
		}
		payload = out
	default:
		return nil, errJoinRequestGzip
	}
	var jr lkpb.JoinRequest
	if err := proto.Unmarshal(payload, &jr); err != nil {
		return nil, errJoinRequestInner
	}
	return &jr, nil
}
