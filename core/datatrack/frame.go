package datatrack

import (
	"strings"

	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/proto"
)

// Frame is the application unit of a data track: a payload of any length plus an optional
// user timestamp (docs/protocol.md, Concepts). Received frames also carry metadata from the
// packets.
type Frame struct {
	// Payload is the frame's bytes (plaintext).
	Payload []byte
	// UserTimestamp is the application's timestamp, by convention Unix milliseconds; only
	// meaningful when HasUserTimestamp is set. A value of 0 is sent when set
	// (docs/protocol.md, Departures).
	UserTimestamp uint64
	// HasUserTimestamp reports whether UserTimestamp is present.
	HasUserTimestamp bool

	// FrameNumber is the publisher's frame counter (received frames only).
	FrameNumber uint16
	// Timestamp is the 90 kHz packet timestamp (received frames only; informational).
	Timestamp uint32
	// DroppedBefore is, for a frame read from a Subscription, how many of the publisher's
	// frames this stream lost since the frame it delivered before (or since its first frame):
	// frames that never arrived whole (lost by the network or the SFU, incomplete,
	// undecryptable — gaps in the publisher's frame numbers) and frames the stream's buffer
	// dropped because the reader was slow (docs/protocol.md, Frame loss accounting).
	DroppedBefore uint64
}

// NewFrame returns a frame with the given payload and no user timestamp.
func NewFrame(payload []byte) Frame { return Frame{Payload: payload} }

// WithUserTimestamp returns a copy of f carrying the user timestamp ts.
func (f Frame) WithUserTimestamp(ts uint64) Frame {
	f.UserTimestamp, f.HasUserTimestamp = ts, true
	return f
}

// TrackInfo describes a data track (local or remote) as the room layer exposes it.
type TrackInfo struct {
	// Sid is the server-assigned track SID ("DTR_…"); it changes when the track is republished
	// after a full reconnect.
	Sid string
	// Name is the publisher-chosen track name, unique per publisher.
	Name string
	// Handle is the publisher handle (pub_handle), stable across republish.
	Handle uint16
	// Encrypted reports end-to-end encryption (Encryption.Type GCM).
	Encrypted bool
	// PublisherIdentity is the publishing participant's identity (empty for local tracks
	// unless the room layer fills it in).
	PublisherIdentity string
	// FrameEncoding is the optional typed-track frame encoding
	// (docs/protocol.md, Typed tracks); nil for untyped tracks.
	FrameEncoding *lkpb.DataTrackFrameEncoding
	// Schema is the optional schema id (docs/protocol.md, Typed tracks).
	Schema *lkpb.DataTrackSchemaId
}

// Proto returns the DataTrackInfo message for this track (used in SyncState).
func (t *TrackInfo) Proto() *lkpb.DataTrackInfo {
	enc := lkpb.Encryption_NONE
	if t.Encrypted {
		enc = lkpb.Encryption_GCM
	}
	return &lkpb.DataTrackInfo{
		PubHandle:     uint32(t.Handle),
		Sid:           t.Sid,
		Name:          t.Name,
		Encryption:    enc,
		FrameEncoding: cloneMsg(t.FrameEncoding),
		Schema:        cloneMsg(t.Schema),
	}
}

func cloneMsg[M proto.Message](m M) M {
	var zero M
	if any(m) == any(zero) {
		return zero
	}
	return proto.Clone(m).(M)
}

// trackInfoFromProto validates a DataTrackInfo from the server (handle 1..65535, SID with the
// DTR_ prefix, encryption NONE or GCM; the Rust rules;
// docs/protocol.md, Remote tracks and subscriptions) and converts it.
func trackInfoFromProto(info *lkpb.DataTrackInfo, publisher string) (TrackInfo, bool) {
	if info == nil || info.PubHandle == 0 || info.PubHandle > MaxHandle ||
		!strings.HasPrefix(info.Sid, TrackSIDPrefix) {
		return TrackInfo{}, false
	}
	switch info.Encryption {
	case lkpb.Encryption_NONE, lkpb.Encryption_GCM:
	default:
		return TrackInfo{}, false
	}
	return TrackInfo{
		Sid:               info.Sid,
		Name:              info.Name,
		Handle:            uint16(info.PubHandle),
		Encrypted:         info.Encryption == lkpb.Encryption_GCM,
		PublisherIdentity: publisher,
		FrameEncoding:     cloneMsg(info.FrameEncoding),
		Schema:            cloneMsg(info.Schema),
	}, true
}

// sameAttributes reports whether two infos describe the same publication apart from the SID
// (SID reassignment rule, docs/protocol.md, Remote tracks and subscriptions, including Rust's
// schema/encoding comparison).
func sameAttributes(a, b *TrackInfo) bool {
	return a.PublisherIdentity == b.PublisherIdentity && a.Handle == b.Handle && a.Name == b.Name &&
		a.Encrypted == b.Encrypted && proto.Equal(a.FrameEncoding, b.FrameEncoding) &&
		proto.Equal(a.Schema, b.Schema)
}
