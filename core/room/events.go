package room

import (
	"context"
	"sync"
)

// Event is one room event. The concrete types are the structs in this file;
// switch on them with a type switch. Events are delivered in the order they
// happened (see Room.NextEvent for the delivery guarantees).
type Event interface{ isEvent() }

// ConnectionStateChanged reports a new connection state of the room.
type ConnectionStateChanged struct {
	State ConnectionState
}

// ParticipantConnected reports a remote participant that joined after us.
// Participants already in the room when we joined do not produce it; they
// are in Room.RemoteParticipants from the start (as in JS).
type ParticipantConnected struct {
	Participant *RemoteParticipant
	// Info is the participant as it joined (Participant's getters may
	// already show later changes).
	Info ParticipantInfo
}

// ParticipantDisconnected reports a remote participant that left. Reason is
// the server's DisconnectReason (e.g. CLIENT_INITIATED for a graceful leave).
type ParticipantDisconnected struct {
	Participant *RemoteParticipant
	Reason      DisconnectReason
}

// ParticipantMetadataChanged reports a metadata change of a participant
// (local or remote), as confirmed by the server.
type ParticipantMetadataChanged struct {
	Participant Participant
	OldMetadata string
	NewMetadata string
	// Info is the participant after this change.
	Info ParticipantInfo
}

// ParticipantNameChanged reports a name change of a participant (local or remote).
type ParticipantNameChanged struct {
	Participant Participant
	OldName     string
	NewName     string
	// Info is the participant after this change.
	Info ParticipantInfo
}

// ParticipantAttributesChanged reports changed attributes of a participant
// (local or remote). Changed holds the new value of every key that was added
// or modified, and "" for every key that was removed.
type ParticipantAttributesChanged struct {
	Participant Participant
	Changed     map[string]string
	// OldAttributes and Info.Attributes are the whole sets before and after.
	OldAttributes map[string]string
	// Info is the participant after this change.
	Info ParticipantInfo
}

// RoomMetadataChanged reports a change of the room's metadata.
type RoomMetadataChanged struct {
	OldMetadata string
	NewMetadata string
	// Info is the room after this change.
	Info RoomInfo
}

// LocalParticipantRejoined follows Reconnected{Kind: ReconnectFull}: the new
// session gave the local participant a new SID (and possibly other server
// state). Info is the local participant in the new session.
type LocalParticipantRejoined struct {
	OldSID string
	Info   ParticipantInfo
}

// DataReceived is a user data packet from another participant.
type DataReceived struct {
	// Payload is owned by the receiver of the event.
	Payload []byte
	// Topic is the packet's topic ("" when none was set).
	Topic string
	// SenderIdentity is the sender's identity as stamped by the SFU ("" for
	// packets sent by the server API or by hidden participants).
	SenderIdentity string
	// Participant is the sender if it is currently known, else nil: the SFU
	// announces a new participant to others up to ~3 s after it joined
	// (recorded), so its first packets can arrive before ParticipantConnected.
	Participant *RemoteParticipant
	// Reliable reports whether the packet arrived on the reliable channel.
	Reliable bool
	// Encrypted reports that the packet was end-to-end encrypted (and
	// decrypted with the room's E2EE keys).
	Encrypted bool
}

// Disconnected is always the last event of a room. Reason is the server's
// DisconnectReason when the server ended the session (or CLIENT_INITIATED
// after Disconnect); Err is non-nil when the session ended because of a
// failure (signal lost, PeerConnection failed, …).
type Disconnected struct {
	Reason DisconnectReason
	Err    error
}

func (ConnectionStateChanged) isEvent()       {}
func (ParticipantConnected) isEvent()         {}
func (ParticipantDisconnected) isEvent()      {}
func (ParticipantMetadataChanged) isEvent()   {}
func (ParticipantNameChanged) isEvent()       {}
func (ParticipantAttributesChanged) isEvent() {}
func (RoomMetadataChanged) isEvent()          {}
func (LocalParticipantRejoined) isEvent()     {}
func (DataReceived) isEvent()                 {}
func (Disconnected) isEvent()                 {}

// eventQueue is the room's single ordered event queue.
//
// Delivery policy (the documented choice for slow consumers):
//   - Signalling events (participants, metadata, state) are appended without
//     ever blocking, so a slow consumer can never stall the signalling loop
//     (pings, answers, trickles keep flowing). Their number is bounded by what
//     the server sends.
//   - Data events (DataReceived, and later other remote data) count against
//     dataLimit. When that many are pending, the data-channel reader that
//     wants to add one waits until the consumer catches up: the channel is
//     not read meanwhile, SCTP flow control pushes back on the SFU, and no
//     remote input is buffered without bound. Nothing is dropped.
//   - After close (the final Disconnected event was appended) pending events
//     stay readable; new data events are discarded.
type eventQueue struct {
	mu        sync.Mutex
	items     []queued
	head      int
	data      int           // pending data events
	dataLimit int           // max pending data events
	avail     chan struct{} // closed and replaced when items are added or the queue closes
	space     chan struct{} // closed and replaced when a data event is taken
	waiting   int           // data pushers waiting for space
	closed    bool
}

type queued struct {
	ev   Event
	data bool
}

func newEventQueue(dataLimit int) *eventQueue {
	return &eventQueue{dataLimit: dataLimit, avail: make(chan struct{}), space: make(chan struct{})}
}

// push appends a signalling event; it never blocks. Events pushed after close are dropped.
func (q *eventQueue) push(evs ...Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	for _, ev := range evs {
		q.items = append(q.items, queued{ev: ev})
	}
	q.wakeLocked()
}

// pushData appends a data event, waiting while dataLimit data events are
// pending. It returns false (event discarded) when stop is closed first or
// the queue is closed.
func (q *eventQueue) pushData(ev Event, stop <-chan struct{}) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return false
		}
		if q.data < q.dataLimit {
			q.items = append(q.items, queued{ev: ev, data: true})
			q.data++
			q.wakeLocked()
			return true
		}
		space := q.space
		q.waiting++
		q.mu.Unlock()
		select {
		case <-space:
		case <-stop:
			q.mu.Lock()
			q.waiting--
			return false
		}
		q.mu.Lock()
		q.waiting--
	}
}

func (q *eventQueue) wakeLocked() {
	close(q.avail)
	q.avail = make(chan struct{})
}

// closeQueue appends the final events and marks the queue closed.
func (q *eventQueue) closeQueue(final ...Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	for _, ev := range final {
		q.items = append(q.items, queued{ev: ev})
	}
	q.closed = true
	q.wakeLocked()
	close(q.space) // release any waiting data pusher
	q.space = make(chan struct{})
}

// next returns the oldest event, waiting for one; after close and once empty
// it returns ErrDisconnected.
func (q *eventQueue) next(ctx context.Context) (Event, error) {
	for {
		q.mu.Lock()
		if q.head < len(q.items) {
			it := q.items[q.head]
			q.items[q.head] = queued{}
			q.head++
			if q.head == len(q.items) {
				q.items = q.items[:0]
				q.head = 0
			} else if q.head > 256 && q.head*2 > len(q.items) {
				n := copy(q.items, q.items[q.head:])
				clear(q.items[n:])
				q.items = q.items[:n]
				q.head = 0
			}
			if it.data {
				q.data--
				close(q.space)
				q.space = make(chan struct{})
			}
			q.mu.Unlock()
			return it.ev, nil
		}
		if q.closed {
			q.mu.Unlock()
			return nil, ErrDisconnected
		}
		avail := q.avail
		q.mu.Unlock()
		select {
		case <-avail:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// dropState removes the undelivered events that describe the room's state
// (connection state, participants, metadata, data tracks): what a Snapshot
// contains. Data events and DecryptionFailed stay.
func (q *eventQueue) dropState() {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := q.items[:0]
	for _, it := range q.items[q.head:] {
		if _, df := it.ev.(DecryptionFailed); it.data || df {
			kept = append(kept, it)
		}
	}
	clear(q.items[len(kept):])
	q.items = kept
	q.head = 0
}

// pending is the number of undelivered events (tests, diagnostics).
func (q *eventQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// dataBacklog returns the pending data events and the data pushers waiting
// for space (tests, diagnostics).
func (q *eventQueue) dataBacklog() (data, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.data, q.waiting
}

// Reconnecting reports that the connection broke and is being re-established
// (the state is then StateReconnecting). It is emitted when an episode starts
// and again when it escalates from a resume to a full reconnect.
type Reconnecting struct {
	Kind ReconnectKind
	// Err is what broke the connection (nil when the server asked for it).
	Err error
	// Attempt numbers the Reconnecting events of one episode: 1 when it
	// starts, +1 when it escalates to a full reconnect.
	Attempt int
}

// Reconnected reports that the connection has been re-established (the state
// is StateConnected again). For ReconnectFull the local participant has a new
// SID and remote participants have been re-announced (ParticipantDisconnected
// for the old session's view, ParticipantConnected for the new one).
type Reconnected struct {
	Kind ReconnectKind
	// DiscardedPackets counts reliable packets that SendPacket had accepted
	// before the connection broke, that the SFU had not acknowledged, and
	// that a full reconnect had to discard (JS and Rust discard them too:
	// the old session and its sequence numbers are gone, and re-sending on
	// the new session could duplicate them). Always 0 after a resume, which
	// replays them instead.
	DiscardedPackets int
	// ReplayedPackets counts reliable packets sent again after a resume
	// because the SFU had not acknowledged them (docs/protocol.md, Data
	// packets); the SFU drops
	// any it already had, receivers suppress duplicates, so each is
	// delivered once. Always 0 after a full reconnect.
	ReplayedPackets int
}

func (Reconnecting) isEvent() {}

func (Reconnected) isEvent() {}

// DataTrackPublished reports a data track published by a remote participant
// (also for tracks that already existed when we joined). It comes before any
// frame of the track can be received.
type DataTrackPublished struct {
	// Track is the new remote track.
	Track *RemoteDataTrack
	// Subscription is the track's subscription with Options.AutoSubscribe
	// (nil without, or when it could not be requested; logged).
	Subscription *DataTrackSubscription
}

// DataTrackUnpublished reports that a remote data track went away
// (unpublished, its publisher left, or the room disconnected). Its
// subscriptions have ended.
type DataTrackUnpublished struct {
	// Track is the track that went away (IsPublished is false).
	Track *RemoteDataTrack
}

// LocalDataTrackPublished reports that one of our data tracks was published
// (PublishDataTrack is about to return it).
type LocalDataTrackPublished struct {
	// Track is the published local track.
	Track *LocalDataTrack
}

// LocalDataTrackUnpublished reports that one of our data tracks ended. Reason
// is nil after Unpublish, else why the track ended (e.g. the server
// unpublished it, canPublishData was revoked, the room disconnected).
type LocalDataTrackUnpublished struct {
	// Track is the local track that ended.
	Track *LocalDataTrack
	// Reason is nil after Unpublish, else why the track ended.
	Reason error
}

// LocalDataTrackFramesLost reports frames that TryPush had accepted and that
// will never be sent: written while the channel failed under them
// (SendFailed: e.g. the frame in flight when a full reconnect replaced the
// transport) or thrown away while queued (Discarded: unpublish, a failed
// republish, DropOldest eviction). The counts are those since the previous
// report of the track; their running totals are in LocalDataTrack.Stats.
// Frames queued when a full reconnect starts are not lost: they wait and go
// out on the new session once the track is republished.
type LocalDataTrackFramesLost struct {
	// Track is the local track that lost the frames.
	Track *LocalDataTrack
	// SendFailed and Discarded are the frames lost since the previous report.
	SendFailed, Discarded uint64
}

func (DataTrackPublished) isEvent() {}

func (DataTrackUnpublished) isEvent() {}

func (LocalDataTrackPublished) isEvent() {}

func (LocalDataTrackUnpublished) isEvent() {}

func (LocalDataTrackFramesLost) isEvent() {}
