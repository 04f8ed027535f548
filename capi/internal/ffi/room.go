package ffi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/e2ee"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"google.golang.org/protobuf/proto"
)

// Room option defaults (RoomOptions fields left at zero). They follow the core's own
// defaults; the schema documents the same numbers.
const (
	// DefaultConnectTimeout bounds one join attempt: signalling plus PeerConnection
	// (the core's room.DefaultPeerConnectionTimeout).
	DefaultConnectTimeout = room.DefaultPeerConnectionTimeout
	// DefaultJoinAttempts is the number of join attempts of a ConnectRequest.
	DefaultJoinAttempts = 1
	// joinRetryDelay is the pause before the second join attempt; it doubles per attempt.
	joinRetryDelay = 500 * time.Millisecond
)

var (
	errRoomReleased        = Errorf(ffipb.ErrorCode_ERROR_CODE_CANCELLED, "room handle dropped")
	errDisconnectRequested = Errorf(ffipb.ErrorCode_ERROR_CODE_CANCELLED, "disconnect requested while connecting")
	errNotConnected        = Errorf(ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, "room is not connected")
)

// roomPhase is where a Room is in its life.
type roomPhase int

const (
	phaseIdle       roomPhase = iota // created, or the last connect attempt failed
	phaseConnecting                  // a ConnectRequest is in progress
	phaseConnected                   // connected to the core room (until its Disconnected event)
	phaseEnded                       // disconnected after a connection, or disconnect requested: terminal
	phaseReleased                    // handle dropped or client closed: terminal
)

// Room is the object behind a room handle: created unconnected by CreateRoomRequest so the
// host can register RPC methods and stream handlers before connecting; ConnectRequest
// attaches a core room.Room. Its events reach the client through one pump goroutine that
// starts right after the connect completion was queued, so the completion precedes every
// event of the room.
type Room struct {
	c       *Client
	handle  uint64
	options *ffipb.RoomOptions // immutable copy
	log     *slog.Logger

	// ctx is cancelled when the handle is released (drop or client close): it stops the pump
	// and aborts a connect attempt.
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu             sync.Mutex
	phase          roomPhase
	state          ffipb.ConnectionState
	core           *room.Room
	connectCancel  context.CancelCauseFunc // aborts the attempt in progress
	connectDone    chan struct{}           // closed when the attempt in progress ended
	pumpDone       chan struct{}           // closed when the event pump ended (set with core)
	sendTail       chan struct{}           // closed when the last queued PublishData finished
	rpc            rpcState
	streamHandlers map[streamKey]streamHandlerCfg
	// preRPC / preStreams: what coreOptions handed to room.Connect (installed
	// while joining); installHandlers installs only what was added since.
	preRPC      map[string]struct{}
	preStreams  map[streamKey]struct{}
	localTracks map[*room.LocalDataTrack]uint64 // published local tracks and their handles
	keys        *e2ee.SharedKeyProvider         // E2EE keys; nil without E2EE (immutable)

	// eventsReady is closed once the connect completion was queued: producers of room events
	// other than the pump (RPC invocations, opened streams) wait for it.
	eventsReady chan struct{}
}

// Handle returns the room's handle.
func (r *Room) Handle() uint64 { return r.handle }

// Options returns the room's options (do not modify).
func (r *Room) Options() *ffipb.RoomOptions { return r.options }

// Info returns a snapshot of the room's info.
func (r *Room) Info() *ffipb.RoomInfo {
	r.mu.Lock()
	core, state := r.core, r.state
	r.mu.Unlock()
	if core == nil {
		return &ffipb.RoomInfo{ConnectionState: state}
	}
	return roomInfo(core.Info(), state)
}

// Caps on RoomOptions.ice_servers (host-controlled sizes).
const (
	maxICEServers       = 16
	maxICEServerURLs    = 8
	maxICEServerURLSize = 1024
)

func validateRoomOptions(o *ffipb.RoomOptions) error {
	if e := o.GetE2Ee(); e != nil && len(e.GetSharedKey()) == 0 {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "e2ee options need a non-empty shared_key")
	}
	switch o.GetIceTransportPolicy() {
	case ffipb.IceTransportPolicy_ICE_TRANSPORT_POLICY_ALL, ffipb.IceTransportPolicy_ICE_TRANSPORT_POLICY_RELAY:
	default:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "unknown ice_transport_policy %d", int32(o.GetIceTransportPolicy()))
	}
	if n := len(o.GetIceServers()); n > maxICEServers {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "%d ice_servers, at most %d", n, maxICEServers)
	}
	for i, s := range o.GetIceServers() {
		if n := len(s.GetUrls()); n == 0 || n > maxICEServerURLs {
			return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "ice_servers[%d] has %d urls, want 1..%d", i, n, maxICEServerURLs)
		}
		for _, u := range s.GetUrls() {
			if u == "" || len(u) > maxICEServerURLSize {
				return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "ice_servers[%d] has an empty or oversized url", i)
			}
		}
	}
	if err := checkBufferSize("data_track_buffer_size", o.GetDataTrackBufferSize()); err != nil {
		return err
	}
	if n := o.GetJoinAttempts(); n > MaxJoinAttempts {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "join_attempts %d above %d", n, MaxJoinAttempts)
	}
	return nil
}

// MaxJoinAttempts caps RoomOptions.join_attempts: each attempt waits up to connect_timeout_ms and
// the retry delay doubles, so more attempts than this could only keep a ConnectRequest pending
// without end.
const MaxJoinAttempts = 100

func (c *Client) createRoom(m *ffipb.CreateRoomRequest, resp *ffipb.Response) error {
	opts := m.GetOptions()
	if opts == nil {
		opts = &ffipb.RoomOptions{}
	}
	if err := validateRoomOptions(opts); err != nil {
		return err
	}
	keys, err := sharedKeyProvider(opts.GetE2Ee())
	if err != nil {
		return err
	}
	r := &Room{keys: keys, c: c, options: proto.Clone(opts).(*ffipb.RoomOptions), sendTail: closedChan(), eventsReady: make(chan struct{})}
	r.rpcInit()
	r.streamHandlers = map[streamKey]streamHandlerCfg{}
	r.localTracks = map[*room.LocalDataTrack]uint64{}
	r.ctx, r.cancel = context.WithCancelCause(c.ctx)
	h, err := c.handles.Insert(KindRoom, r, 0, r.release)
	if err != nil {
		r.cancel(nil)
		return err
	}
	r.handle = h
	r.log = c.logger.With("room_handle", h)
	resp.Message = &ffipb.Response_CreateRoom{CreateRoom: &ffipb.CreateRoomResponse{
		Room: &ffipb.OwnedRoom{Handle: h, Info: r.Info()},
	}}
	return nil
}

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// room returns the Room behind a room handle.
func (c *Client) room(h uint64) (*Room, error) {
	obj, err := c.handles.Get(h, KindRoom)
	if err != nil {
		return nil, err
	}
	return obj.(*Room), nil
}

// connected returns the core room if the room is connected.
func (r *Room) connected() (*room.Room, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase != phaseConnected {
		return nil, errNotConnected
	}
	return r.core, nil
}

// release runs when the room handle is dropped or the client closes: it stops the pump,
// aborts a connect attempt and disconnects the core room, bounded by ctx. Children (tracks,
// subscriptions, readers, writers) were released before it.
func (r *Room) release(ctx context.Context) {
	r.mu.Lock()
	r.phase = phaseReleased
	core, pumpDone, connectDone := r.core, r.pumpDone, r.connectDone
	r.mu.Unlock()
	r.cancel(errRoomReleased)
	if connectDone != nil {
		select {
		case <-connectDone:
		case <-ctx.Done():
		}
		r.mu.Lock()
		core, pumpDone = r.core, r.pumpDone
		r.mu.Unlock()
	}
	if core != nil {
		if err := core.Disconnect(ctx); err != nil {
			r.log.Warn("disconnecting a released room did not finish", "err", err)
		}
	}
	if pumpDone != nil {
		select {
		case <-pumpDone:
		case <-ctx.Done():
		}
	}
}

// connect handles ConnectRequest (ASYNC).
func (c *Client) connect(k *call, m *ffipb.ConnectRequest) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	if m.GetUrl() == "" || m.GetToken() == "" {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "connect needs a url and a token")
	}
	r.mu.Lock()
	switch r.phase {
	case phaseConnecting:
		r.mu.Unlock()
		return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "room is already connecting")
	case phaseConnected:
		r.mu.Unlock()
		return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "room is already connected")
	case phaseEnded, phaseReleased:
		r.mu.Unlock()
		return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "room was disconnected; create a new room to connect again")
	}
	prevState := r.state
	r.phase, r.state = phaseConnecting, ffipb.ConnectionState_CONNECTION_STATE_CONNECTING
	done := make(chan struct{})
	r.connectDone = done
	r.mu.Unlock()

	url, token := m.GetUrl(), m.GetToken()
	var (
		core      *room.Room
		announced *announcedSet
	)
	run := func(ctx context.Context) (*ffipb.Completion, error) {
		defer close(done)
		actx, acancel := context.WithCancelCause(ctx)
		defer acancel(nil)
		stop := context.AfterFunc(r.ctx, func() { acancel(errRoomReleased) })
		defer stop()
		r.mu.Lock()
		r.connectCancel = acancel
		r.mu.Unlock()

		rm, err := r.dial(actx, url, token)

		r.mu.Lock()
		r.connectCancel = nil
		if err != nil {
			r.state = ffipb.ConnectionState_CONNECTION_STATE_DISCONNECTED
			if r.phase == phaseConnecting {
				r.phase = phaseIdle
			}
			r.mu.Unlock()
			if cause := context.Cause(actx); cause != nil && ctx.Err() == nil {
				return nil, cause // released or disconnect requested
			}
			return nil, err
		}
		if r.phase != phaseConnecting {
			// Released or disconnect requested while the last step completed.
			r.state = ffipb.ConnectionState_CONNECTION_STATE_DISCONNECTED
			r.mu.Unlock()
			dctx, cancel := context.WithTimeout(context.Background(), ReleaseTimeout)
			defer cancel()
			_ = rm.Disconnect(dctx)
			if cause := context.Cause(actx); cause != nil {
				return nil, cause
			}
			return nil, errDisconnectRequested
		}
		r.core, core = rm, rm
		r.phase, r.state = phaseConnected, ffipb.ConnectionState_CONNECTION_STATE_CONNECTED
		r.pumpDone = make(chan struct{})
		var snap *ffipb.ConnectResult
		snap, announced = snapshot(rm, r.state)
		r.mu.Unlock()
		// Handlers registered before connecting went to the core through
		// room.Options (in place while joining); install those registered or
		// removed while the connect was under way.
		if err := r.installHandlers(rm); err != nil {
			r.log.Error("installing RPC methods / stream handlers failed", "err", err)
		}
		r.log.Info("room connected", "room", rm.Name(), "identity", rm.LocalParticipant().Identity())
		return &ffipb.Completion{Result: &ffipb.Completion_Connect{Connect: snap}}, nil
	}
	after := func(delivered, ok bool) {
		if core == nil {
			return
		}
		r.mu.Lock()
		pumpDone := r.pumpDone
		r.mu.Unlock()
		if !delivered {
			close(pumpDone) // the client is closing; its release disconnects the room
			return
		}
		close(r.eventsReady)
		r.pump(core, announced, pumpDone)
	}
	if err := k.startThen(run, after); err != nil {
		r.mu.Lock()
		if r.phase == phaseConnecting {
			r.phase, r.state = phaseIdle, prevState
		}
		r.connectDone = nil
		r.mu.Unlock()
		close(done)
		return err
	}
	return nil
}

// installHandlers brings a newly connected core room's RPC methods and stream handlers in
// line with the FFI room's: it installs those registered after coreOptions ran and removes
// those unregistered since.
func (r *Room) installHandlers(rm *room.Room) error {
	return errors.Join(r.installRPCMethods(rm), r.installStreamHandlers(rm))
}

// preinstall adds the RPC methods and stream handlers registered so far to o, so room.Connect
// installs them before the room can receive anything, and remembers which ones it added.
func (r *Room) preinstall(o *room.Options) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.preRPC = make(map[string]struct{}, len(r.rpc.methods))
	r.preStreams = make(map[streamKey]struct{}, len(r.streamHandlers))
	for m := range r.rpc.methods {
		if o.RPCMethods == nil {
			o.RPCMethods = map[string]rpc.Handler{}
		}
		o.RPCMethods[m] = r.rpcHandler(m)
		r.preRPC[m] = struct{}{}
	}
	for k, cfg := range r.streamHandlers {
		if k.kind == ffipb.StreamKind_STREAM_KIND_TEXT {
			if o.TextStreamHandlers == nil {
				o.TextStreamHandlers = map[string]datastream.TextStreamHandler{}
			}
			o.TextStreamHandlers[k.topic] = r.textHandler(cfg)
		} else {
			if o.ByteStreamHandlers == nil {
				o.ByteStreamHandlers = map[string]datastream.ByteStreamHandler{}
			}
			o.ByteStreamHandlers[k.topic] = r.byteHandler(cfg)
		}
		r.preStreams[k] = struct{}{}
	}
}

// coreOptions derives the core's options from RoomOptions.
func (r *Room) coreOptions() room.Options {
	timeout := time.Duration(r.options.GetConnectTimeoutMs()) * time.Millisecond
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	o := room.Options{
		Logger:                r.log,
		PeerConnectionTimeout: timeout,
		HTTPClient:            r.c.httpClient,
		// 0: the core's default (10); negative: never reconnect.
		MaxReconnectAttempts: int(r.options.GetMaxReconnectAttempts()),
	}
	if r.options.GetIceTransportPolicy() == ffipb.IceTransportPolicy_ICE_TRANSPORT_POLICY_RELAY {
		o.ICETransportPolicy = room.ICETransportPolicyRelay
	}
	for _, s := range r.options.GetIceServers() {
		o.ICEServers = append(o.ICEServers, room.ICEServer{URLs: s.GetUrls(), Username: s.GetUsername(), Credential: s.GetCredential()})
	}
	if r.keys != nil {
		o.E2EE = &room.E2EEOptions{KeyProvider: r.keys}
	}
	r.preinstall(&o)
	return o
}

// dial joins the room, retrying retryable failures up to join_attempts times.
func (r *Room) dial(ctx context.Context, url, token string) (*room.Room, error) {
	opts := r.coreOptions()
	attempts := int(r.options.GetJoinAttempts())
	if attempts <= 0 {
		attempts = DefaultJoinAttempts
	}
	delay := joinRetryDelay
	var last error
	for i := 1; i <= attempts; i++ {
		actx, cancel := context.WithTimeout(ctx, opts.PeerConnectionTimeout)
		rm, err := room.Connect(actx, url, token, opts)
		cancel()
		if err == nil {
			return rm, nil
		}
		last = connectError(err)
		if ctx.Err() != nil {
			return nil, last
		}
		var fe *Error
		if i == attempts || !asError(last, &fe) || !fe.Retryable {
			return nil, last
		}
		r.log.Info("join attempt failed, retrying", "attempt", i, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, last
		}
		delay *= 2
	}
	return nil, last
}

// connectError maps a failed room.Connect: a session that ends while joining is a failed
// connection, not a disconnect, and an attempt's own deadline is a retryable TIMEOUT.
func connectError(err error) error {
	e := fromCore(err).(*Error)
	if e.Code == ffipb.ErrorCode_ERROR_CODE_DISCONNECTED {
		return &Error{Code: ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED, Msg: e.Msg, Retryable: true}
	}
	return e
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

// announcedSet is what the host was told exists (by the snapshot or by an event), so the
// pump does not repeat what the snapshot contains. Owned by the pump.
type announcedSet struct {
	participants   map[*room.RemoteParticipant]bool
	tracks         map[*room.RemoteDataTrack]bool
	autoSubscribed map[*room.RemoteDataTrack]bool
	// reconnectAttempts numbers the Reconnecting events of the current episode (the core
	// announces the start of an episode and each escalation to a full reconnect).
	reconnectAttempts uint32
}

func reconnectKind(k room.ReconnectKind) ffipb.ReconnectKind {
	switch k {
	case room.ReconnectResume:
		return ffipb.ReconnectKind_RECONNECT_KIND_RESUME
	case room.ReconnectFull:
		return ffipb.ReconnectKind_RECONNECT_KIND_FULL
	}
	return ffipb.ReconnectKind_RECONNECT_KIND_UNSPECIFIED
}

// snapshot captures the connected room for ConnectResult / GetRoomSnapshotResponse and
// returns the remote participants and data tracks it contains.
func snapshot(rm *room.Room, state ffipb.ConnectionState) (*ffipb.ConnectResult, *announcedSet) {
	res := &ffipb.ConnectResult{
		Room:             roomInfo(rm.Info(), state),
		LocalParticipant: participantInfo(rm.LocalParticipant().Info()),
	}
	announced := &announcedSet{participants: map[*room.RemoteParticipant]bool{}, tracks: map[*room.RemoteDataTrack]bool{}, autoSubscribed: map[*room.RemoteDataTrack]bool{}}
	for _, p := range rm.RemoteParticipants() {
		res.RemoteParticipants = append(res.RemoteParticipants, participantInfo(p.Info()))
		announced.participants[p] = true
		for _, t := range p.DataTracks() {
			res.RemoteDataTracks = append(res.RemoteDataTracks, remoteTrackInfo(t))
			announced.tracks[t] = true
		}
	}
	return res, announced
}

// pump forwards the core room's events, in order, until the room's final event was queued
// or the handle is released. It waits for event-queue space (room events are never dropped),
// which holds back the core room and, through it, the data channels.
func (r *Room) pump(rm *room.Room, announced *announcedSet, done chan struct{}) {
	defer close(done)
	last := ffipb.ConnectionState_CONNECTION_STATE_CONNECTED // what the snapshot said
	if r.options.GetAutoSubscribe() {
		// The core announces no track of the snapshot again: give each its
		// auto-subscription event here.
		for _, p := range rm.RemoteParticipants() {
			for _, t := range p.DataTracks() {
				if out := r.remoteTrackPublished(rm, t, announced); out != nil {
					out.RoomHandle = r.handle
					if r.c.Post(r.ctx, &ffipb.Event{Message: &ffipb.Event_Room{Room: out}}) != nil {
						return
					}
				}
			}
		}
	}
	for {
		ev, err := rm.NextEvent(r.ctx)
		if err != nil {
			return // ErrDisconnected after the final event, or released
		}
		out := r.translate(rm, ev, announced, &last)
		if out == nil {
			continue
		}
		if _, final := out.Message.(*ffipb.RoomEvent_Disconnected); final {
			r.mu.Lock()
			if r.phase == phaseConnected {
				r.phase = phaseEnded
			}
			r.state = ffipb.ConnectionState_CONNECTION_STATE_DISCONNECTED
			r.mu.Unlock()
		}
		out.RoomHandle = r.handle
		if r.c.Post(r.ctx, &ffipb.Event{Message: &ffipb.Event_Room{Room: out}}) != nil {
			return
		}
	}
}

// translate turns one core event into a RoomEvent (nil = nothing for the host).
// announced holds the remote participants the host knows (snapshot or ParticipantConnected):
// the core may queue a ParticipantConnected for a participant that joined while we connected
// and is therefore already in the snapshot; that one is not repeated.
func (r *Room) translate(rm *room.Room, ev room.Event, announced *announcedSet, last *ffipb.ConnectionState) *ffipb.RoomEvent {
	switch e := ev.(type) {
	case room.ConnectionStateChanged:
		s := connectionState(e.State)
		if s == *last {
			return nil
		}
		*last = s
		r.mu.Lock()
		if r.phase == phaseConnected {
			r.state = s
		}
		r.mu.Unlock()
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ConnectionStateChanged{ConnectionStateChanged: &ffipb.ConnectionStateChanged{State: s}}}
	case room.ParticipantConnected:
		if announced.participants[e.Participant] {
			return nil
		}
		announced.participants[e.Participant] = true
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantConnected{ParticipantConnected: &ffipb.ParticipantConnected{Info: participantInfo(e.Participant.Info())}}}
	case room.ParticipantDisconnected:
		delete(announced.participants, e.Participant)
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantDisconnected{ParticipantDisconnected: &ffipb.ParticipantDisconnected{
			Identity: e.Participant.Identity(), Reason: disconnectReason(e.Reason),
		}}}
	case room.ParticipantMetadataChanged:
		return participantUpdated(e.Participant, func(u *ffipb.ParticipantUpdated) {
			u.MetadataChanged, u.OldMetadata, u.Info.Metadata = true, e.OldMetadata, e.NewMetadata
		})
	case room.ParticipantNameChanged:
		return participantUpdated(e.Participant, func(u *ffipb.ParticipantUpdated) {
			u.NameChanged, u.OldName, u.Info.Name = true, e.OldName, e.NewName
		})
	case room.ParticipantAttributesChanged:
		keys := make([]string, 0, len(e.Changed))
		for k := range e.Changed {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return participantUpdated(e.Participant, func(u *ffipb.ParticipantUpdated) { u.ChangedAttributes = keys })
	case room.RoomMetadataChanged:
		// The event's own values, not the room's current ones (a later change may be queued).
		info := roomInfo(rm.Info(), *last)
		info.Metadata = e.NewMetadata
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_RoomUpdated{RoomUpdated: &ffipb.RoomUpdated{
			Info: info, MetadataChanged: true, OldMetadata: e.OldMetadata,
		}}}
	case room.DataReceived:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataReceived{DataReceived: &ffipb.DataPacketReceived{
			ParticipantIdentity: e.SenderIdentity,
			Payload:             e.Payload,
			Topic:               e.Topic,
			Reliable:            e.Reliable,
			Encrypted:           e.Encryption != lkpb.Encryption_NONE,
		}}}
	case room.DecryptionFailed:
		state := ffipb.EncryptionState_ENCRYPTION_STATE_DECRYPTION_FAILED
		if errors.Is(e.Err, e2ee.ErrNoKey) || errors.Is(e.Err, room.ErrE2EENotConfigured) {
			state = ffipb.EncryptionState_ENCRYPTION_STATE_MISSING_KEY
		}
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_EncryptionStateChanged{EncryptionStateChanged: &ffipb.EncryptionStateChanged{
			ParticipantIdentity: e.ParticipantIdentity, State: state,
		}}}
	case room.DataTrackPublished:
		return r.remoteTrackPublished(rm, e.Track, announced)
	case room.DataTrackUnpublished:
		delete(announced.tracks, e.Track)
		info := e.Track.Info()
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataTrackUnpublished{DataTrackUnpublished: &ffipb.RemoteDataTrackUnpublished{
			PublisherIdentity: info.PublisherIdentity, Sid: info.Sid, Name: info.Name,
		}}}
	case room.LocalDataTrackPublished:
		return nil // the publish completion carries it
	case room.LocalDataTrackFramesLost:
		// No schema event yet: the host sees it as a warning LogRecord; the counts are also
		// in the track's stats.
		r.mu.Lock()
		h := r.localTracks[e.Track]
		r.mu.Unlock()
		r.log.Warn("data track frames lost", "track_handle", h, "send_failed", e.SendFailed, "discarded", e.Discarded)
		return nil
	case room.LocalDataTrackUnpublished:
		r.mu.Lock()
		h, ok := r.localTracks[e.Track]
		delete(r.localTracks, e.Track)
		r.mu.Unlock()
		if !ok || e.Reason == nil {
			return nil // dropped, or unpublished by the host
		}
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_LocalDataTrackUnpublished{LocalDataTrackUnpublished: &ffipb.LocalDataTrackUnpublished{
			TrackHandle: h, Reason: ToProto(fromCore(e.Reason)),
		}}}
	case room.Reconnecting:
		announced.reconnectAttempts++
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_Reconnecting{Reconnecting: &ffipb.Reconnecting{
			Kind: reconnectKind(e.Kind), Attempt: announced.reconnectAttempts,
		}}}
	case room.LocalParticipantRejoined:
		// A full reconnect gave the local participant a new sid: tell the host.
		return participantUpdated(rm.LocalParticipant(), func(*ffipb.ParticipantUpdated) {})
	case room.Reconnected:
		announced.reconnectAttempts = 0
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_Reconnected{Reconnected: &ffipb.Reconnected{Kind: reconnectKind(e.Kind)}}}
	case room.Disconnected:
		d := &ffipb.Disconnected{Reason: disconnectReason(e.Reason)}
		if e.Err != nil {
			d.Error = ToProto(fromCore(e.Err))
		}
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_Disconnected{Disconnected: d}}
	}
	r.log.Debug("room event not forwarded", "type", fmt.Sprintf("%T", ev))
	return nil
}

func participantUpdated(p room.Participant, set func(*ffipb.ParticipantUpdated)) *ffipb.RoomEvent {
	u := &ffipb.ParticipantUpdated{Info: participantInfo(p.Info())}
	set(u)
	return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: u}}
}

// disconnect handles DisconnectRequest (ASYNC): it completes after the room's Disconnected
// event was queued. Disconnecting a room that is not connected completes at once; a connect
// in progress is aborted (its completion reports CANCELLED). The room cannot connect again.
func (c *Client) disconnect(k *call, m *ffipb.DisconnectRequest) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		r.mu.Lock()
		phase := r.phase
		if phase == phaseIdle || phase == phaseConnecting {
			r.phase = phaseEnded
		}
		if phase == phaseConnecting && r.connectCancel != nil {
			r.connectCancel(errDisconnectRequested)
		}
		connectDone := r.connectDone
		r.mu.Unlock()
		if phase == phaseConnecting && connectDone != nil {
			select {
			case <-connectDone:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		r.mu.Lock()
		core, pumpDone := r.core, r.pumpDone
		r.mu.Unlock()
		if core == nil {
			return nil, nil
		}
		if err := core.Disconnect(ctx); err != nil {
			return nil, fromCore(err)
		}
		if pumpDone != nil {
			select {
			case <-pumpDone:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	})
}

// sharedKeyProvider builds the E2EE key provider of RoomOptions.e2ee (nil without E2EE).
// failure_tolerance is not honoured: the core never gives up on a sender, it reports each
// failure (EncryptionStateChanged) and drops what it cannot decrypt.
func sharedKeyProvider(o *ffipb.E2EeOptions) (*e2ee.SharedKeyProvider, error) {
	if o == nil {
		return nil, nil
	}
	kp, err := e2ee.NewSharedKeyProvider(o.GetSharedKey(), e2ee.Options{
		RatchetSalt:       o.GetRatchetSalt(),
		RatchetWindowSize: int(o.GetRatchetWindowSize()),
		KeyRingSize:       int(o.GetKeyRingSize()),
	})
	if err != nil {
		return nil, fromCore(err)
	}
	return kp, nil
}

// setSharedKey handles SetSharedKeyRequest: the key at key_index is replaced and becomes the
// one used for sending.
func (c *Client) setSharedKey(m *ffipb.SetSharedKeyRequest, resp *ffipb.Response) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	if r.keys == nil {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "the room was created without e2ee options")
	}
	if len(m.GetSharedKey()) == 0 || m.GetKeyIndex() > 255 {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "set_shared_key needs a key and a key index within the key ring")
	}
	if err := r.keys.SetKey(uint8(m.GetKeyIndex()), m.GetSharedKey()); err != nil {
		return fromCore(err)
	}
	resp.Message = &ffipb.Response_SetSharedKey{SetSharedKey: &ffipb.SetSharedKeyResponse{}}
	return nil
}

// getRoomSnapshot handles GetRoomSnapshotRequest.
func (c *Client) getRoomSnapshot(m *ffipb.GetRoomSnapshotRequest, resp *ffipb.Response) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	r.mu.Lock()
	core, state := r.core, r.state
	r.mu.Unlock()
	snap := &ffipb.ConnectResult{Room: &ffipb.RoomInfo{ConnectionState: state}}
	if core != nil {
		snap, _ = snapshot(core, state)
	}
	resp.Message = &ffipb.Response_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotResponse{Snapshot: snap}}
	return nil
}

// takeSendTurn reserves the next place in the room's send order: the caller sends after prev
// is closed and closes mine (with passTurn) when done.
func (r *Room) takeSendTurn() (prev, mine chan struct{}) {
	mine = make(chan struct{})
	r.mu.Lock()
	prev, r.sendTail = r.sendTail, mine
	r.mu.Unlock()
	return prev, mine
}

// passTurn closes mine once prev is closed, without blocking the caller (used for every
// ordered chain of operations: the room's sends, a stream writer's writes).
func (r *Room) passTurn(prev, mine chan struct{}) {
	select {
	case <-prev:
		close(mine)
		return
	default:
	}
	if !r.c.goBackground(func() {
		<-prev
		close(mine)
	}) {
		// The client is closing: every later send is cancelled anyway.
		close(mine)
	}
}

// publishData handles PublishDataRequest (ASYNC). Packets of one room are sent in request
// order: each operation waits for the previous one before handing its packet to the core.
func (c *Client) publishData(k *call, m *ffipb.PublishDataRequest) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	rm, err := r.connected()
	if err != nil {
		return err
	}
	payload := m.GetPayload()
	opts := room.DataPublishOptions{Reliable: m.GetReliable(), Topic: m.GetTopic(), DestinationIdentities: m.GetDestinationIdentities()}
	prev, mine := r.takeSendTurn()
	err = k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		defer r.passTurn(prev, mine)
		select {
		case <-prev:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, fromCore(rm.LocalParticipant().PublishData(ctx, payload, opts))
	})
	if err != nil {
		r.passTurn(prev, mine)
	}
	return err
}

// setLocal starts one of the ASYNC local-participant updates.
func (c *Client) setLocal(k *call, roomHandle uint64, update func(ctx context.Context, lp *room.LocalParticipant) error) error {
	r, err := c.room(roomHandle)
	if err != nil {
		return err
	}
	rm, err := r.connected()
	if err != nil {
		return err
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		return nil, fromCore(update(ctx, rm.LocalParticipant()))
	})
}
