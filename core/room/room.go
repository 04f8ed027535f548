package room

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Room is a connection to a LiveKit room. Create it with New (then
// Room.Connect) or with Connect. All methods are safe for concurrent use.
type Room struct {
	opts  Options
	log   *slog.Logger
	url   string                 // set by Connect before the loop starts
	token atomic.Pointer[string] // latest token (refresh_token), for reconnection
	// cloud: url is LiveKit Cloud's, whose other regions are tried when a
	// join fails (regions.go); set with url. regions is that failover's state.
	cloud   bool
	regions regionList
	// regionFetches: the goroutines fetching the region list from Connect
	// on and keeping it fresh (waited for by finish, and by Connect when it
	// fails).
	regionFetches sync.WaitGroup
	// joinedURL is the URL the session joined with: url, or a region after a
	// failover. Resumes go there. Set before the loop starts, then loop-owned.
	joinedURL string

	// life is where the Room is in its life (lifeIdle … lifeEnded); lifeMu
	// orders Connect and Disconnect (connect.go).
	lifeMu sync.Mutex
	life   lifePhase
	// Per loop run (one join attempt, then the connected session), set by
	// Connect before the loop starts: loopStop is closed when the run ends
	// (engine callbacks of that run stop waiting), loopExited when the loop
	// has returned, abortC asks the run to end (Connect's deadline), with
	// abortErr; attemptErr is why a join attempt failed (read after
	// loopExited).
	loopStop   chan struct{}
	loopExited chan struct{}
	abortC     chan struct{}
	attemptErr error
	snapshot   Snapshot // taken by the loop when first connected (read after r.connected)
	// joinRetired: engines of failed join attempts being closed in the
	// background (waited for by finish).
	joinRetired sync.WaitGroup

	sess  session                       // the current session (loop-owned; session.go)
	eng   atomic.Pointer[engine.Engine] // sess.eng, for other goroutines
	local *LocalParticipant
	parts *participantTable

	infoMu   sync.RWMutex
	roomInfo *lkpb.Room
	// serverInfo is the last JoinResponse's (guarded by infoMu, as roomInfo).
	serverInfo *lkpb.ServerInfo
	state      ConnectionState

	events     *eventQueue
	eventsOnce sync.Once
	eventsCh   chan Event

	engEvents    chan engineEvent
	cmds         chan func()
	snapshotReq  chan struct{} // RequestSnapshot's requests, coalesced (buffered 1)
	disconnectCh chan struct{}
	disconnectOn sync.Once
	abortErr     error         // set before abortC is closed
	connected    chan struct{} // closed when StateConnected is first reached
	closing      chan struct{} // closed when teardown starts (unblocks waiters)
	done         chan struct{} // closed when the loop has exited and everything is closed
	err          error         // why the room ended (read after done)

	// Loop-owned state.
	pcFailed      <-chan time.Time // armed when the PeerConnection failed/closed remotely
	pcConnected   bool
	dataReady     bool
	nextRequestID uint32
	pending       []*pendingUpdate
	subPerm       *lkpb.SubscriptionPermission // the latest SetTrackSubscriptionPermissions (nil: never called)
	schemas       schemaState                  // schema definitions and data-blob requests (schema.go)

	// Reconnection (reconnect.go).
	rc         reconnectState              // loop-owned
	send       sendGate                    // whether data may be sent now
	sigMsgs    <-chan *lkpb.SignalResponse // messages of the live WebSocket, nil when none (loop-owned)
	dataReadyC <-chan struct{}             // the current engine's DataReady until it fired (loop-owned)

	// The sub-protocols, wired one way: the room calls their methods
	// directly (each is nil-safe where it can be absent) and they reach the
	// room through its methods. dt is replaced by each join attempt before
	// its loop starts; dapi and e2ee live as long as the Room.
	dt   *dataTracks      // data-track managers and writer (datatrack.go)
	e2ee *roomE2EE        // nil without E2EE (e2ee.go)
	enc  encryptionStates // per-identity decryption state (encryption_state.go)
	dapi *dataAPI         // RPC and data-stream managers (streams.go)
}

// Disconnect leaves the room gracefully (LeaveRequest CLIENT_INITIATED, as
// recorded from JS) after waiting (≤ 2 s each, bounded by ctx) until running
// RPC handlers have sent their answers and data already published has been
// acknowledged by the SFU, closes the PeerConnection and
// the WebSocket, and waits for all of the room's goroutines, bounded by ctx.
// The final events
// (ConnectionStateChanged{Disconnected}, Disconnected) stay readable.
// Idempotent: later calls return nil at once.
//
// On a Room that never connected (New, or a failed Connect) it ends the
// Room at once: Disconnected{CLIENT_INITIATED} is the final event. While
// Connect runs it aborts it (Connect returns context.Canceled) and ends the
// Room. Either way Connect then fails with ErrRoomEnded.
func (r *Room) Disconnect(ctx context.Context) error {
	if r.endIdle() {
		return nil
	}
	if !r.isClosing() && r.State() == StateConnected {
		// RPC handlers that are finishing get to send their answers first
		// (bounded: a handler that never returns only delays the leave).
		wctx, cancel := context.WithTimeout(ctx, flushTimeout)
		r.log.Debug("room: leaving; waiting for running RPC handlers")
		if err := r.dapi.rpc.WaitIdle(wctx); err != nil {
			r.log.Debug("room: RPC handlers still running at leave", "err", err)
		}
		cancel()
		// Let data published just before Disconnect reach the SFU first.
		fctx, cancel := context.WithTimeout(ctx, flushTimeout)
		err := r.eng.Load().Flush(fctx)
		cancel()
		if err != nil {
			r.log.Debug("room: flush before leave incomplete", "err", err)
		}
	}
	r.disconnectOn.Do(func() { close(r.disconnectCh) })
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the room has disconnected (for any reason) and its
// connections are closed.
func (r *Room) Done() <-chan struct{} { return r.done }

// Err reports why the room disconnected (nil while connected, ErrDisconnected
// after a plain Disconnect).
func (r *Room) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// State is the current connection state.
func (r *Room) State() ConnectionState {
	r.infoMu.RLock()
	defer r.infoMu.RUnlock()
	return r.state
}

// Name is the room name.
func (r *Room) Name() string { return r.info().GetName() }

// SID is the room sid (RM_…); it may be empty until the server assigns it.
func (r *Room) SID() string { return r.info().GetSid() }

// Metadata is the room metadata.
func (r *Room) Metadata() string { return r.info().GetMetadata() }

// Info returns the room's latest state as the server described it.
func (r *Room) Info() RoomInfo {
	r.infoMu.RLock()
	defer r.infoMu.RUnlock()
	return roomInfoFrom(r.roomInfo, r.serverInfo)
}

func (r *Room) info() *lkpb.Room {
	r.infoMu.RLock()
	defer r.infoMu.RUnlock()
	return r.roomInfo
}

// LocalParticipant is this client's participant.
func (r *Room) LocalParticipant() *LocalParticipant { return r.local }

// RemoteParticipants lists the remote participants, sorted by identity.
func (r *Room) RemoteParticipants() []*RemoteParticipant { return r.parts.list() }

// ActiveSpeakers returns the participants the server last reported speaking
// (local included), loudest first, equal levels by identity; empty when
// nobody speaks or the server reports no one (speakers.go: only participants
// whose tracks, data tracks included, this one subscribes to).
func (r *Room) ActiveSpeakers() []Participant { return r.parts.activeSpeakers() }

// RemoteParticipant returns the remote participant with that identity, or nil.
// Its ClientProtocol and Capabilities decide RPC/data-stream formats.
func (r *Room) RemoteParticipant(identity string) *RemoteParticipant {
	return r.parts.remote(identity)
}

// NextEvent returns the next room event in order, waiting for one bounded by
// ctx. After the final Disconnected event has been returned it returns
// ErrDisconnected. See eventQueue for the backpressure policy: signalling
// events never block the room; when MaxPendingDataEvents DataReceived events
// are waiting, incoming data is held back in the transport until the consumer
// catches up; nothing is dropped.
func (r *Room) NextEvent(ctx context.Context) (Event, error) { return r.events.next(ctx) }

// Events returns a channel carrying the same ordered events as NextEvent
// (use one or the other, not both). It is closed after the final
// Disconnected event. The first call starts a forwarding goroutine that ends
// when the channel is closed: keep receiving until then.
func (r *Room) Events() <-chan Event {
	r.eventsOnce.Do(func() {
		r.eventsCh = make(chan Event)
		go func() {
			defer close(r.eventsCh)
			for {
				ev, err := r.events.next(context.Background())
				if err != nil {
					return
				}
				r.eventsCh <- ev
			}
		}()
	})
	return r.eventsCh
}
