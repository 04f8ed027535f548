package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// MaxQueuedRemoteCandidates caps the remote candidates kept while no answer
// is applied (before the first answer, during an ICE restart): the server
// decides how many it trickles, so the queue must not grow without bound.
const MaxQueuedRemoteCandidates = 256

// DecodeDataPacket is the receive path of `_reliable` and `_lossy`: it decodes
// one message and applies the duplicate filter d. Errors:
// ErrUndecodablePacket, ErrDuplicatePacket (the packet is dropped).
func DecodeDataPacket(d *ReceiveDedup, data []byte, now time.Time) (*lkpb.DataPacket, error) {
	pkt := &lkpb.DataPacket{}
	if err := proto.Unmarshal(data, pkt); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUndecodablePacket, err)
	}
	if !d.Accept(pkt.GetParticipantSid(), pkt.GetSequence(), now) {
		return nil, fmt.Errorf("%w (sid %q, sequence %d)", ErrDuplicatePacket, pkt.GetParticipantSid(), pkt.GetSequence())
	}
	return pkt, nil
}

// ParseRemoteCandidate decodes TrickleRequest.candidateInit, the JSON of an
// RTCIceCandidateInit (parsed leniently: unknown fields are ignored). An empty
// candidate is the end-of-candidates marker. Error: ErrBadCandidate.
func ParseRemoteCandidate(candidateInit string) (webrtc.ICECandidateInit, error) {
	var c webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(candidateInit), &c); err != nil {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %w", ErrBadCandidate, err)
	}
	return c, nil
}
