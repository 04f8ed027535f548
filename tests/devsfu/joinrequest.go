package devsfu

import (
	"errors"

	"github.com/lkcore/lkcore/core/joinreq"
	"github.com/lkcore/lkcore/core/lkpb"
)

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

// decodeJoinRequest decodes the join_request query parameter with the
// client's own decoder (same rules as livekit-server: padded base64url of a
// WrappedJoinRequest, gzip or none, at most joinreq.MaxSize bytes)
// and turns its failure stage into the real server's answer text.
func decodeJoinRequest(param string) (*lkpb.JoinRequest, error) {
	jr, _, err := joinreq.Decode(param)
	switch {
	case err == nil:
		return jr, nil
	case errors.Is(err, joinreq.ErrEncoding):
		return nil, errJoinRequestBase64
	case errors.Is(err, joinreq.ErrWrapper):
		return nil, errJoinRequestProto
	case errors.Is(err, joinreq.ErrTooLarge):
		return nil, errJoinRequestTooLarge
	case errors.Is(err, joinreq.ErrMessage):
		return nil, errJoinRequestInner
	default:
		return nil, errJoinRequestGzip
	}
}
