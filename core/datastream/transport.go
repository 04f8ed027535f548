package datastream

import (
	"context"
	"slices"

	"github.com/lkcore/lkcore/core/lkpb"
)

// PeerInfo is what the room knows about a remote participant that matters to
// data streams and RPC: its identity, the client_protocol and the
// capabilities from its latest ParticipantInfo.
type PeerInfo struct {
	// Identity is the participant identity.
	Identity string
	// ClientProtocol is ParticipantInfo.client_protocol (0, 1 or 2 today).
	ClientProtocol int32
	// Capabilities is ParticipantInfo.capabilities.
	Capabilities []lkpb.ClientInfo_Capability
}

// CanInflate reports whether the peer advertises CAP_COMPRESSION_DEFLATE_RAW.
func (p PeerInfo) CanInflate() bool {
	return slices.Contains(p.Capabilities, lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW)
}

// Transport is what the data-stream and RPC managers need from the room.
// Implementations must be safe for concurrent use.
type Transport interface {
	// SendPacket sends pkt on the reliable data channel, in call order. It
	// blocks while the channel is backed up and returns when pkt has been
	// handed to the channel or ctx is done. The packet is fully built
	// (destinations, value); the transport stamps the sequence number and
	// applies E2EE. The transport must not retain pkt after returning unless
	// it copies it, and must not write to pkt's byte slices: they alias the
	// caller's payload (for SendText, the bytes of an immutable string).
	SendPacket(ctx context.Context, pkt *lkpb.DataPacket) error

	// RemotePeer reports what is known about the remote participant with the
	// given identity; ok is false for an identity that is not a currently
	// known remote participant (it is then treated as protocol 0, no
	// capabilities).
	RemotePeer(identity string) (info PeerInfo, ok bool)

	// RemotePeers lists every currently known remote participant (used to
	// decide the format of broadcast streams).
	RemotePeers() []PeerInfo

	// LocalIdentity is the identity of the local participant.
	LocalIdentity() string
}
