package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Join defaults and caps (Options.JoinAttempts, Options.JoinRetryDelay).
const (
	// DefaultJoinRetryDelay is the pause before the second join attempt; it
	// doubles before each further one.
	DefaultJoinRetryDelay = 500 * time.Millisecond
	// MaxJoinAttempts caps Options.JoinAttempts: with the doubling delay,
	// more attempts could only keep Connect pending without end.
	MaxJoinAttempts = 100
)

// SCTP receive window (Options.SCTPReceiveBufferSize): the default and the
// accepted range of a value other than 0.
const (
	DefaultSCTPReceiveBufferSize = engine.DefaultSCTPReceiveBufferSize
	MinSCTPReceiveBufferSize     = engine.MinSCTPReceiveBufferSize
	MaxSCTPReceiveBufferSize     = engine.MaxSCTPReceiveBufferSize
)

var (
	// ErrAlreadyConnected: Connect on a Room that is connecting or connected.
	ErrAlreadyConnected = errors.New("room: already connecting or connected")
	// ErrRoomEnded: Connect on a Room that was disconnected (Disconnect was
	// called, or the connected session ended). A Room connects at most once
	// successfully; create a new one to join again. A Connect that failed
	// leaves the Room as New made it, so Connect may be called again.
	ErrRoomEnded = errors.New("room: the room was disconnected; create a new Room")
)

// Caps on Options.ICEServers (sizes the application controls).
const (
	MaxICEServers       = 16
	MaxICEServerURLs    = 8
	MaxICEServerURLSize = 1024
)

func checkICEServers(servers []ICEServer) error {
	if len(servers) > MaxICEServers {
		return fmt.Errorf("%w: %d ICE servers, at most %d", ErrInvalidArgument, len(servers), MaxICEServers)
	}
	for i, s := range servers {
		if n := len(s.URLs); n == 0 || n > MaxICEServerURLs {
			return fmt.Errorf("%w: ICEServers[%d] has %d URLs, want 1..%d", ErrInvalidArgument, i, n, MaxICEServerURLs)
		}
		for _, u := range s.URLs {
			if u == "" || len(u) > MaxICEServerURLSize {
				return fmt.Errorf("%w: ICEServers[%d] has an empty or oversized URL", ErrInvalidArgument, i)
			}
		}
		// What pion would refuse when the connection is made (an internal
		// error at Connect) is an invalid option here.
		if err := engine.CheckICEServer(s.URLs, s.Username, s.Credential); err != nil {
			return fmt.Errorf("%w: ICEServers[%d]: %w", ErrInvalidArgument, i, err)
		}
	}
	return nil
}

// errNotConnected is returned by calls that need a session before Connect
// succeeded (it matches ErrDisconnected).
var errNotConnected = fmt.Errorf("%w: not connected", ErrDisconnected)

// lifePhase is where a Room is in its life.
type lifePhase int

const (
	lifeIdle       lifePhase = iota // New, or the last Connect failed
	lifeConnecting                  // Connect is running
	lifeConnected                   // Connect succeeded (until the room ends)
	lifeEnded                       // Disconnect was called or the session ended: terminal
)

// Snapshot is the room as Connect left it. Every event that NextEvent
// returns afterwards is a change relative to it: a participant or data
// track in the snapshot is never announced again by ParticipantConnected or
// DataTrackPublished, and the connection state is StateConnected. Data
// events (DataReceived, DecryptionFailed, EncryptionRecovered) that arrived
// while connecting are still delivered.
type Snapshot struct {
	Room             RoomInfo
	LocalParticipant ParticipantInfo
	// RemoteParticipants are sorted by identity; Room.RemoteParticipant
	// returns the object of each.
	RemoteParticipants []ParticipantInfo
	// RemoteDataTracks are the data tracks published by remote participants.
	RemoteDataTracks []SnapshotDataTrack
	// ActiveSpeakers are the identities of the participants speaking, loudest
	// first (Room.ActiveSpeakers); ActiveSpeakersChanged reports later lists.
	ActiveSpeakers []string
}

// SnapshotDataTrack is a remote data track in a Snapshot.
type SnapshotDataTrack struct {
	Track *RemoteDataTrack
	Info  DataTrackInfo
	// Subscription is the track's subscription with Options.AutoSubscribe
	// (nil without).
	Subscription *DataTrackSubscription
	// SubscriptionRevoked is RemoteDataTrack.SubscriptionRevoked at the
	// snapshot's place among the events.
	SubscriptionRevoked bool
}

// New returns a Room that is not connected yet. RPC methods, stream
// handlers (Register*), the E2EE key provider (Options.E2EE) and event
// consumers (NextEvent, Events) can be set up on it before Room.Connect and
// stay in place across it. Calls that need a session (PublishData, PerformRPC,
// PublishDataTrack, SetMetadata, …) fail with ErrDisconnected until Connect
// succeeds. Release it with Disconnect (also when it never connected).
//
// Errors: ErrInvalidArgument (an option out of range), e2ee.ErrInvalidOptions,
// or the error of an Options.RPCMethods / *StreamHandlers entry.
func New(opts Options) (*Room, error) {
	if err := opts.E2EE.validate(); err != nil {
		return nil, err
	}
	if err := opts.ICETransportPolicy.validate(); err != nil {
		return nil, err
	}
	if opts.JoinAttempts < 0 || opts.JoinAttempts > MaxJoinAttempts {
		return nil, fmt.Errorf("%w: JoinAttempts %d outside 0..%d", ErrInvalidArgument, opts.JoinAttempts, MaxJoinAttempts)
	}
	if err := checkICEServers(opts.ICEServers); err != nil {
		return nil, err
	}
	if b := opts.SCTPReceiveBufferSize; b != 0 && (b < MinSCTPReceiveBufferSize || b > MaxSCTPReceiveBufferSize) {
		return nil, fmt.Errorf("%w: SCTPReceiveBufferSize %d outside %d..%d (0 = default)", ErrInvalidArgument, b, MinSCTPReceiveBufferSize, MaxSCTPReceiveBufferSize)
	}
	if opts.JoinRetryDelay < 0 || opts.JoinAttemptTimeout < 0 {
		return nil, fmt.Errorf("%w: negative JoinRetryDelay or JoinAttemptTimeout", ErrInvalidArgument)
	}
	if err := opts.AutoSubscribeOptions.check("AutoSubscribeOptions."); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := opts.MaxPendingDataEvents
	if limit <= 0 {
		limit = DefaultPendingDataEvents
	}
	r := &Room{
		opts:         opts,
		log:          log,
		events:       newEventQueue(limit),
		engEvents:    make(chan engineEvent, 64),
		cmds:         make(chan func()),
		snapshotReq:  make(chan struct{}, 1),
		disconnectCh: make(chan struct{}),
		connected:    make(chan struct{}),
		closing:      make(chan struct{}),
		done:         make(chan struct{}),
		state:        StateDisconnected,
		roomInfo:     &lkpb.Room{},
	}
	r.rc.m.maxAttempts = opts.MaxReconnectAttempts
	r.local = &LocalParticipant{room: r}
	r.local.store(&lkpb.ParticipantInfo{})
	r.parts = newParticipantTable(r.local)
	if opts.E2EE != nil {
		r.e2ee = &roomE2EE{}
	}
	var err error
	if r.dapi, err = newDataAPI(r); err != nil {
		return nil, err
	}
	return r, nil
}

// Connect creates a Room and joins it: New(opts) then Room.Connect. On
// error nothing is left running.
func Connect(ctx context.Context, url, token string, opts Options) (*Room, error) {
	r, err := New(opts)
	if err != nil {
		return nil, err
	}
	if _, err := r.Connect(ctx, url, token); err != nil {
		_ = r.Disconnect(context.Background())
		return nil, err
	}
	return r, nil
}

// Connect joins the room: it dials `<url>/rtc/v1` with the token and an
// offer-with-join (protocol 17, single PeerConnection, data channels
// `_reliable`, `_lossy`, `_data_track`), then waits until the PeerConnection
// is connected and both data channels are open, so PublishData works as soon
// as it returns. Each attempt is bounded by ctx, Options.PeerConnectionTimeout
// and Options.JoinAttemptTimeout; failures that IsRetryable reports are
// retried up to Options.JoinAttempts times with a doubling delay. On
// LiveKit Cloud (a host under livekit.cloud or livekit.run), an attempt
// whose join fails that way goes on in the project's other regions, in the
// order LiveKit Cloud lists them, before the attempt counts as failed (the
// error is then the last region's); reconnections use the URL that joined.
//
// It returns the room's state at the moment it connected (see Snapshot:
// later events are changes relative to it).
//
// Errors: ErrInvalidArgument (empty token), ErrInvalidURL, ErrUnauthorized
// (HTTP 401/403, see *HTTPError for the server's text), ErrRoomNotFound,
// ErrBadRequest, ErrServerError, ErrServerUnreachable, ErrJoinRefused (a
// *LeaveError with the server's reason: it answered the join with a leave,
// or ended the session before it connected), ErrPeerConnectionFailed (also ErrRelayUnavailable when relay-only ICE got
// no TURN relay), ErrSignalLost, ctx's error; ErrAlreadyConnected while
// another Connect runs or after one succeeded; ErrRoomEnded after
// Disconnect; context.Canceled when Disconnect is called meanwhile (the Room
// then ends). A failed Connect leaves nothing running and the Room as New
// made it, so Connect may be called again.
func (r *Room) Connect(ctx context.Context, url, token string) (Snapshot, error) {
	if token == "" {
		return Snapshot{}, fmt.Errorf("%w: empty token", ErrInvalidArgument)
	}
	r.lifeMu.Lock()
	switch r.life {
	case lifeConnecting, lifeConnected:
		r.lifeMu.Unlock()
		return Snapshot{}, ErrAlreadyConnected
	case lifeEnded:
		r.lifeMu.Unlock()
		return Snapshot{}, ErrRoomEnded
	}
	if r.disconnectRequested() {
		r.lifeMu.Unlock()
		return Snapshot{}, ErrRoomEnded
	}
	r.life = lifeConnecting
	if url != r.url {
		r.regions.forget() // a list fetched for another URL (a failed Connect's) is not this one's
	}
	r.url = url
	r.cloud = r.isCloudURL(url)
	r.regions.reset()
	r.token.Store(&token)
	r.lifeMu.Unlock()
	stopRegionRefresh := func() {}
	if r.cloud {
		stopRegionRefresh = r.startRegionRefresh()
	}

	attempts := max(r.opts.JoinAttempts, 1)
	delay := r.opts.JoinRetryDelay
	if delay <= 0 {
		delay = DefaultJoinRetryDelay
	}
	var err error
	joinURL := url
	for i := 1; ; {
		err = r.joinAttempt(ctx, joinURL)
		if err == nil {
			r.regions.reset()
			r.setLife(lifeConnected)
			return r.snapshot, nil
		}
		if r.disconnectRequested() || r.everConnected() {
			break // Disconnect called, or the room connected and already ended: no retry
		}
		err = &joinError{err: err}
		if ctx.Err() != nil || !IsRetryable(err) {
			break
		}
		// On LiveKit Cloud, the same attempt goes on in the next region
		// (Disconnect aborts the fetch of the region list).
		rctx, cancel := r.untilDisconnect(ctx)
		next := r.nextRegion(rctx, joinURL)
		cancel()
		if r.disconnectRequested() {
			break
		}
		if next != "" {
			joinURL = next
			continue
		}
		if i >= attempts {
			break
		}
		r.log.Info("room: join attempt failed, retrying", "attempt", i, "err", err, "delay", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-r.disconnectCh:
		}
		t.Stop()
		if ctx.Err() != nil || r.disconnectRequested() {
			break
		}
		delay *= 2
		i++
		joinURL = url
		r.regions.reset()
	}
	// No loop runs any more: the Room is idle again.
	stopRegionRefresh()
	r.setLife(lifeIdle)
	if r.disconnectRequested() {
		// Disconnect was called while connecting: the Room ends (already
		// did when the attempt's loop saw it).
		r.endIdle()
		<-r.done
		return Snapshot{}, fmt.Errorf("%w: Disconnect called while connecting", context.Canceled)
	}
	return Snapshot{}, err
}

// joinAttempt runs one join at url (the Connect URL or a region's): a new
// engine and signalling session, the loop, and the wait for the transport.
// On failure the attempt's resources are released (endAttempt) and the loop
// has returned.
func (r *Room) joinAttempt(ctx context.Context, url string) error {
	if t := r.opts.JoinAttemptTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	// Disconnect aborts the dial too.
	ctx, cancel := r.untilDisconnect(ctx)
	defer cancel()
	// The previous attempt's loop has returned: the loop-owned state is ours.
	r.loopStop = make(chan struct{})
	r.loopExited = make(chan struct{})
	r.abortC = make(chan struct{})
	r.abortErr, r.attemptErr = nil, nil
	r.pcConnected, r.dataReady, r.pcFailed = false, false, nil
	r.send.set(false, false)

	eng, err := r.newEngine()
	if err != nil {
		close(r.loopStop)
		return err
	}
	offer, err := eng.CreateOffer(false)
	if err != nil {
		close(r.loopStop)
		_ = eng.Close()
		return err
	}
	jr := r.newJoinRequest(offer)
	sig, first, err := signal.Dial(ctx, url, *r.token.Load(), jr, signal.DialOptions{Logger: r.log, TLSConfig: r.opts.TLSConfig, Dial: r.opts.Dial})
	if err != nil {
		close(r.loopStop)
		_ = eng.Close()
		return dialError(err)
	}
	r.joinedURL = url
	join := first.GetJoin()
	r.sess.sig = sig
	r.infoMu.Lock()
	r.state = StateConnecting
	r.infoMu.Unlock()
	r.applyJoin(joinFirst, first, eng)
	r.startKeepalive()
	r.log.Info("room: joined", "room", join.GetRoom().GetName(), "room_sid", join.GetRoom().GetSid(),
		"identity", r.local.Identity(), "sid", r.local.SID(), "server_version", join.GetServerInfo().GetVersion(),
		"others", len(join.GetOtherParticipants()))

	go r.loop()

	pcTimeout := r.pcTimeout()
	timer := time.NewTimer(pcTimeout)
	defer timer.Stop()
	abort := func(err error) {
		r.abortErr = err // published to the loop by the close below
		close(r.abortC)
	}
	select {
	case <-r.connected:
		return nil
	case <-r.loopExited:
	case <-timer.C:
		abort(fmt.Errorf("%w: not connected within %v", ErrPeerConnectionFailed, pcTimeout))
	case <-ctx.Done():
		abort(ctx.Err())
	}
	select {
	case <-r.loopExited:
	case <-r.connected:
		// Connected just as the attempt was aborted: the loop ignores an
		// abort once the room has connected.
		return nil
	}
	if r.disconnectRequested() {
		return ErrDisconnected
	}
	if r.attemptErr != nil {
		return r.attemptErr
	}
	return r.err
}

// endAttempt releases a failed join attempt's session (loop, instead of
// teardown while the room never connected and Disconnect was not called):
// the Room itself stays as New made it.
func (r *Room) endAttempt(err error, sendLeave bool) {
	if err == nil {
		err = ErrDisconnected
	}
	r.attemptErr = err
	close(r.loopStop)
	r.stopReconnect()
	r.sess.endSignal(sendLeave)
	r.sigMsgs, r.dataReadyC = nil, nil
	// The engine's readers may wait on event backpressure until the room
	// ends: close it in the background (waited for by finish).
	eng := r.eng.Load()
	r.joinRetired.Add(1)
	go func() {
		defer r.joinRetired.Done()
		if cerr := eng.Close(); cerr != nil {
			r.log.Debug("room: closing peer connection", "err", cerr)
		}
	}()
	for _, p := range r.pending {
		p.done <- ErrDisconnected
	}
	r.pending = nil
	r.closeDataTracks()
	r.infoMu.Lock()
	r.state = StateDisconnected
	r.infoMu.Unlock()
	r.events.dropState()
	r.log.Info("room: join attempt failed", "err", err)
}

// untilDisconnect returns ctx, also cancelled when Disconnect is called.
func (r *Room) untilDisconnect(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-r.disconnectCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// disconnectRequested reports whether Disconnect was called.
func (r *Room) disconnectRequested() bool {
	select {
	case <-r.disconnectCh:
		return true
	default:
		return false
	}
}

// endIdle ends a Room on which no loop runs (New, or the last Connect
// failed) and reports whether it did. It returns false when Connect is
// running (Connect or its loop's teardown ends the room once Disconnect was
// requested), when the room is connected (the loop's teardown ends it) or
// already ended.
func (r *Room) endIdle() bool {
	r.lifeMu.Lock()
	if r.life != lifeIdle {
		r.lifeMu.Unlock()
		return false
	}
	r.life = lifeEnded
	r.disconnectOn.Do(func() { close(r.disconnectCh) })
	close(r.closing)
	r.lifeMu.Unlock()
	// Not under lifeMu: RPC and stream handlers still running (from a
	// failed join attempt) may call into the room while dapi waits for them.
	r.dapi.close()
	r.log.Info("room: disconnected before connecting")
	r.finish(lkpb.DisconnectReason_CLIENT_INITIATED, nil, false)
	return true
}

// setLife moves the room to phase p unless it has ended.
func (r *Room) setLife(p lifePhase) {
	r.lifeMu.Lock()
	if r.life != lifeEnded {
		r.life = p
	}
	r.lifeMu.Unlock()
}

// finish appends the final events and marks the room done (teardown or
// endIdle, after r.closing was closed and the managers were closed).
func (r *Room) finish(reason lkpb.DisconnectReason, err error, stateEvent bool) {
	r.joinRetired.Wait()
	r.regionFetches.Wait()
	if r.err == nil {
		r.err = ErrDisconnected
	}
	final := []Event{Disconnected{Reason: DisconnectReason(reason), Err: err}}
	if stateEvent {
		final = append([]Event{ConnectionStateChanged{State: StateDisconnected}}, final...)
	}
	r.events.closeQueue(final...)
	close(r.done)
}

// takeSnapshot captures the room for Connect's result (loop, when first
// connected, together with dropping the state events queued so far).
func (r *Room) takeSnapshot() Snapshot {
	s := Snapshot{
		Room:             r.Info(),
		LocalParticipant: r.local.Info(),
	}
	for _, p := range r.parts.list() {
		s.RemoteParticipants = append(s.RemoteParticipants, p.Info())
	}
	if d := r.dt; d != nil {
		s.RemoteDataTracks = d.snapshot()
	}
	for _, p := range r.parts.activeSpeakers() {
		s.ActiveSpeakers = append(s.ActiveSpeakers, p.Identity())
	}
	return s
}

func (r *Room) everConnected() bool {
	select {
	case <-r.connected:
		return true
	default:
		return false
	}
}
