package engine

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the engine (use errors.Is).
var (
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("engine: closed")
	// ErrPacketTooLarge: a serialised DataPacket exceeds the message-size cap
	// (see *PacketTooLargeError).
	ErrPacketTooLarge = errors.New("engine: data packet too large")
	// ErrDataTrackBackedUp: the `_data_track` channel holds more unacknowledged
	// bytes than Config.DataTrackHighWater; the packet was not sent.
	ErrDataTrackBackedUp = errors.New("engine: data track channel backed up")
	// ErrChannelNotOpen: the data channel is not open (yet, or any more).
	ErrChannelNotOpen = errors.New("engine: data channel not open")
	// ErrNoPendingOffer: an answer arrived while no offer was outstanding.
	ErrNoPendingOffer = errors.New("engine: no offer outstanding")
	// ErrStaleAnswer: the answer's id does not match the outstanding offer; it was ignored.
	ErrStaleAnswer = errors.New("engine: answer for an old offer")
	// ErrBadCandidate: a trickled candidate is not valid ICECandidateInit JSON.
	ErrBadCandidate = errors.New("engine: bad candidate JSON")
	// ErrTooManyCandidates: more than MaxQueuedRemoteCandidates remote candidates
	// arrived before the answer they belong to; the candidate was dropped.
	ErrTooManyCandidates = errors.New("engine: too many queued remote candidates")
	// ErrUndecodablePacket: a `_reliable`/`_lossy` message is not a DataPacket.
	ErrUndecodablePacket = errors.New("engine: undecodable data packet")
	// ErrDuplicatePacket: a reliable packet the duplicate filter has seen already.
	ErrDuplicatePacket = errors.New("engine: duplicate reliable packet")
)

// PacketTooLargeError reports a DataPacket whose serialised size (after
// sequencing) exceeds Max. It unwraps to ErrPacketTooLarge.
type PacketTooLargeError struct {
	Size int // serialised DataPacket bytes
	Max  int // the cap in force: min(remote a=max-message-size, 64 000)
}

// Error implements error.
func (e *PacketTooLargeError) Error() string {
	return fmt.Sprintf("engine: data packet of %d bytes exceeds the %d-byte limit", e.Size, e.Max)
}

// Unwrap returns ErrPacketTooLarge.
func (e *PacketTooLargeError) Unwrap() error { return ErrPacketTooLarge }
