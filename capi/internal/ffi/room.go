package ffi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/e2ee"
	"github.com/lkcore/lkcore/core/room"
	"google.golang.org/protobuf/proto"
)

// Rooms are translation only: CreateRoomRequest makes a core room.Room with room.New (it
// exists before it connects, so RPC methods, stream handlers and E2EE keys are set on it
// directly), ConnectRequest calls its Connect, and the core's snapshot and events are
// converted to schema messages. The lifecycle (join attempts and their backoff, state rules,
// reconnects, auto-subscribe, what the snapshot and the events contain) is the core's.

// DefaultConnectTimeout bounds one join attempt when RoomOptions.connect_timeout_ms is 0
// (the core's room.DefaultPeerConnectionTimeout).
const DefaultConnectTimeout = room.DefaultPeerConnectionTimeout

var (
	errRoomReleased        = Errorf(ffipb.ErrorCode_ERROR_CODE_CANCELLED, "room handle dropped")
	errNotConnected        = Errorf(ffipb.ErrorCode_ERROR_CODE_DISCONNECTED, "room is not connected")
	errDisconnectRequested = Errorf(ffipb.ErrorCode_ERROR_CODE_CANCELLED, "disconnect requested while connecting")
)

// Room is the object behind a room handle: the core room plus what the translation needs
// (the handle's context, the host's RPC and stream registrations by name, local track
// handles, the order of PublishData requests). Its events reach the client through one pump
// goroutine that starts right after the connect completion was queued, so the completion
// precedes every event of the room.
type Room struct {
	c       *Client
	handle  uint64
	options *ffipb.RoomOptions // immutable copy
	log     *slog.Logger
	core    *room.Room              // made by CreateRoomRequest (immutable)
	keys    *e2ee.SharedKeyProvider // E2EE keys; nil without E2EE (immutable)
	roots   *x509.CertPool          // RoomOptions.tls_root_certificates_pem parsed; nil: the system's (immutable)

	// ctx is cancelled when the handle is released (drop or client close): it stops the pump
	// and aborts a connect in progress.
	ctx    context.Context
	cancel context.CancelCauseFunc

	loggedHandle atomic.Uint64 // the handle, for log records (set once it is issued)

	mu             sync.Mutex
	connectDone    chan struct{} // set while a ConnectRequest runs; closed when it ended
	pumpDone       chan struct{} // set when a connect succeeded; closed when the pump ended
	sendTail       chan struct{} // closed when the last queued PublishData finished
	rpc            rpcState
	streamHandlers map[streamKey]streamHandlerCfg
	localTracks    map[*room.LocalDataTrack]uint64 // published local tracks and their handles

	// eventsReady is closed once the connect completion was queued: producers of room events
	// other than the pump (RPC invocations, opened streams) wait for it.
	eventsReady chan struct{}

	// streamOrder orders the stream_opened events of the goroutines serving incoming streams.
	streamOrder streamOrder

	// announcing: auto-subscriptions handed over by the event being translated, whose frames
	// wait until that event is queued (closed by post). Touched by the pump goroutine only.
	announcing []chan struct{}
}

// Handle returns the room's handle.
func (r *Room) Handle() uint64 { return r.handle }

// Options returns the room's options (do not modify).
func (r *Room) Options() *ffipb.RoomOptions { return r.options }

// Info returns a snapshot of the room's info.
func (r *Room) Info() *ffipb.RoomInfo {
	return roomInfo(r.core.Info(), connectionState(r.core.State()))
}

// validateRoomOptions checks what only the schema defines (enum values, the E2EE key, the
// subscription buffer allocated per track); the core's own caps (ICE servers, join attempts,
// the SCTP window) are checked by room.New.
func validateRoomOptions(o *ffipb.RoomOptions) error {
	if e := o.GetE2Ee(); e != nil && len(e.GetSharedKey()) == 0 {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "e2ee options need a non-empty shared_key")
	}
	switch o.GetIceTransportPolicy() {
	case ffipb.IceTransportPolicy_ICE_TRANSPORT_POLICY_ALL, ffipb.IceTransportPolicy_ICE_TRANSPORT_POLICY_RELAY:
	default:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "unknown ice_transport_policy %d", int32(o.GetIceTransportPolicy()))
	}
	switch o.GetAutoSubscriptionDelivery() {
	case ffipb.DeliveryMode_DELIVERY_MODE_EVENTS, ffipb.DeliveryMode_DELIVERY_MODE_CREDITS, ffipb.DeliveryMode_DELIVERY_MODE_PULL:
	default:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "unknown auto_subscription_delivery %d", int32(o.GetAutoSubscriptionDelivery()))
	}
	if err := checkBufferBytes("data_track_buffer_bytes", o.GetDataTrackBufferBytes()); err != nil {
		return err
	}
	return checkBufferSize("data_track_buffer_size", o.GetDataTrackBufferSize())
}

// MaxTLSRootsBytes caps RoomOptions.tls_root_certificates_pem.
const MaxTLSRootsBytes = 1 << 20

// tlsRoots parses RoomOptions.tls_root_certificates_pem: nil for none (the system's roots),
// INVALID_ARGUMENT when it is larger than MaxTLSRootsBytes or holds no certificate.
func tlsRoots(pem []byte) (*x509.CertPool, error) {
	if len(pem) == 0 {
		return nil, nil
	}
	if len(pem) > MaxTLSRootsBytes {
		return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "tls_root_certificates_pem is %d bytes, at most %d", len(pem), MaxTLSRootsBytes)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "tls_root_certificates_pem holds no PEM certificate")
	}
	return pool, nil
}

// MaxJoinAttempts caps RoomOptions.join_attempts (the core's room.MaxJoinAttempts; above it
// CreateRoomRequest fails with INVALID_ARGUMENT).
const MaxJoinAttempts = room.MaxJoinAttempts

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
	roots, err := tlsRoots(opts.GetTlsRootCertificatesPem())
	if err != nil {
		return err
	}
	r := &Room{keys: keys, roots: roots, c: c, options: proto.Clone(opts).(*ffipb.RoomOptions), sendTail: closedChan(), eventsReady: make(chan struct{})}
	r.rpcInit()
	r.streamHandlers = map[streamKey]streamHandlerCfg{}
	r.localTracks = map[*room.LocalDataTrack]uint64{}
	// The core room exists before the handle is issued (no handle ever names a half-made
	// room); its log records get the handle once it is known.
	r.log = c.logger.With("room_handle", handleAttr{&r.loggedHandle})
	core, err := room.New(r.coreOptions())
	if err != nil {
		return fromCore(err)
	}
	r.core = core
	r.ctx, r.cancel = context.WithCancelCause(c.ctx)
	h, err := c.handles.Insert(KindRoom, r, 0, r.release)
	if err != nil {
		r.cancel(nil)
		_ = core.Disconnect(context.Background()) // never connected: ends at once
		return err
	}
	r.handle = h
	r.loggedHandle.Store(h)
	resp.Message = &ffipb.Response_CreateRoom{CreateRoom: &ffipb.CreateRoomResponse{
		Room: &ffipb.OwnedRoom{Handle: h, Info: r.Info()},
	}}
	return nil
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
		JoinAttemptTimeout:    timeout,
		JoinAttempts:          intOf(r.options.GetJoinAttempts()),
		// 0: the core's default (10); negative: never reconnect.
		MaxReconnectAttempts: int(r.options.GetMaxReconnectAttempts()),
		AutoSubscribe:        r.options.GetAutoSubscribe(),
		AutoSubscribeOptions: r.subscribeOptions(0, 0),
		// 0: the core's default; out of range: room.New refuses it (INVALID_ARGUMENT).
		SCTPReceiveBufferSize: r.options.GetSctpReceiveBufferBytes(),
		DisableUDPBatching:    r.options.GetDisableUdpBatching(),
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
	if r.roots != nil {
		o.TLSConfig = &tls.Config{RootCAs: r.roots, MinVersion: tls.VersionTLS12}
	}
	return o
}

// handleAttr renders a room's handle in log records when they are written.
type handleAttr struct{ h *atomic.Uint64 }

// LogValue implements slog.LogValuer.
func (a handleAttr) LogValue() slog.Value { return slog.Uint64Value(a.h.Load()) }

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// waitClosed waits until ch is closed (a nil ch: at once) or ctx ends, and then returns
// ctx's error.
func waitClosed(ctx context.Context, ch <-chan struct{}) error {
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lockedChan reads one of the room's channel fields (connectDone, pumpDone) under r.mu.
func (r *Room) lockedChan(f *chan struct{}) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *f
}

// room returns the Room behind a room handle.
func (c *Client) room(h uint64) (*Room, error) {
	obj, err := c.handles.Get(h, KindRoom)
	if err != nil {
		return nil, err
	}
	return obj.(*Room), nil
}

// connectedRoom returns the room behind h and its core room, if it is connected.
func (c *Client) connectedRoom(h uint64) (*Room, *room.Room, error) {
	r, err := c.room(h)
	if err != nil {
		return nil, nil, err
	}
	rm, err := r.connected()
	if err != nil {
		return nil, nil, err
	}
	return r, rm, nil
}

// connected returns the core room if it is connected (or reconnecting): requests that need a
// connection are refused synchronously otherwise.
func (r *Room) connected() (*room.Room, error) {
	switch r.core.State() {
	case room.StateConnected, room.StateReconnecting:
		return r.core, nil
	}
	return nil, errNotConnected
}

// release runs when the room handle is dropped or the client closes: it disconnects the core
// room (which aborts a connect in progress) and stops the pump, bounded by ctx. Children
// (tracks, subscriptions, readers, writers) were released before it.
func (r *Room) release(ctx context.Context) {
	r.cancel(errRoomReleased)
	if err := r.core.Disconnect(ctx); err != nil {
		r.log.Warn("disconnecting a released room did not finish", "err", err)
	}
	_ = waitClosed(ctx, r.lockedChan(&r.pumpDone)) // bounded by ctx; nothing more to do either way
}

// connect handles ConnectRequest (ASYNC): the core's Connect, then its snapshot as the
// completion, then the room's events. Only one ConnectRequest of a room is accepted at a
// time; the core refuses a connected or ended room.
func (c *Client) connect(k *call, m *ffipb.ConnectRequest) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	if m.GetUrl() == "" || m.GetToken() == "" {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "connect needs a url and a token")
	}
	select {
	case <-r.core.Done():
		return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "room was disconnected; create a new room to connect again")
	default:
	}
	r.mu.Lock()
	switch {
	case r.connectDone != nil:
		r.mu.Unlock()
		return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "room is already connecting")
	case r.pumpDone != nil:
		r.mu.Unlock()
		return Errorf(ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "room is already connected")
	}
	done := make(chan struct{})
	r.connectDone = done
	r.mu.Unlock()
	finish := func(connected bool) {
		r.mu.Lock()
		r.connectDone = nil
		if connected {
			r.pumpDone = make(chan struct{})
		}
		r.mu.Unlock()
		close(done)
	}

	if c.hostEnv != nil {
		syncHostEnv(c.hostEnv) // proxies and TLS roots the host set after start-up
	}
	url, token := m.GetUrl(), m.GetToken()
	var snap room.Snapshot
	run := func(ctx context.Context) (*ffipb.Completion, error) {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := context.AfterFunc(r.ctx, func() { cancel(errRoomReleased) })
		defer stop()
		var err error
		snap, err = r.core.Connect(ctx, url, token)
		finish(err == nil)
		switch {
		case err == nil:
		case r.ctx.Err() != nil:
			return nil, errRoomReleased
		case errors.Is(err, room.ErrRoomEnded):
			// Accepted while the room could connect; a DisconnectRequest ended it before the
			// core's Connect began.
			return nil, errDisconnectRequested
		default:
			return nil, fromCore(err)
		}
		r.log.Info("room connected", "room", snap.Room.Name, "identity", snap.LocalParticipant.Identity)
		res := connectResult(snap, ffipb.ConnectionState_CONNECTION_STATE_CONNECTED)
		if r.options.GetAutoSubscriptionsInSnapshot() {
			res.AutoSubscriptions = r.snapshotSubscriptions(snap)
		}
		return &ffipb.Completion{Result: &ffipb.Completion_Connect{Connect: res}}, nil
	}
	after := func(delivered, ok bool) {
		r.mu.Lock()
		pumpDone := r.pumpDone
		r.mu.Unlock()
		if !ok || pumpDone == nil {
			return
		}
		if !delivered {
			close(pumpDone) // the client is closing; its release disconnects the room
			return
		}
		close(r.eventsReady)
		if r.options.GetAutoSubscriptionsInSnapshot() {
			snap.RemoteDataTracks = nil // handed over in the completion
		}
		r.pump(snap, pumpDone)
	}
	if err := k.startThen(run, after); err != nil {
		finish(false)
		return err
	}
	return nil
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

// pump forwards the core room's events, in order, until the room's final event was queued
// or the handle is released. It waits for event-queue space (room events are never dropped),
// which holds back the core room and, through it, the data channels. With auto_subscribe the
// tracks of the snapshot come first, each announced with the subscription the core opened.
func (r *Room) pump(snap room.Snapshot, done chan struct{}) {
	defer close(done)
	state := ffipb.ConnectionState_CONNECTION_STATE_CONNECTED // what the snapshot said
	for _, t := range snap.RemoteDataTracks {
		if t.Subscription == nil {
			continue
		}
		if !r.post(r.remoteTrackPublished(t.Track, t.Info, t.Subscription)) {
			return
		}
	}
	for {
		ev, err := r.core.NextEvent(r.ctx)
		if err != nil {
			return // ErrDisconnected after the final event, or released
		}
		if e, ok := ev.(room.ConnectionStateChanged); ok {
			state = connectionState(e.State)
		}
		out := r.translate(ev, state)
		if out != nil && !r.post(out) {
			return
		}
	}
}

// snapshotSubscriptions hands over the auto-subscriptions of the snapshot's tracks as owned
// handles for ConnectResult.auto_subscriptions, delivered as auto_subscription_delivery says.
// Their frames wait for eventsReady (the completion was queued), so no event names a handle
// before the completion does; a subscription whose handle is released before that (the client
// closing) is closed.
func (r *Room) snapshotSubscriptions(snap room.Snapshot) []*ffipb.OwnedDataTrackSubscription {
	var out []*ffipb.OwnedDataTrackSubscription
	for _, t := range snap.RemoteDataTracks {
		if t.Subscription == nil {
			continue
		}
		sub := t.Subscription
		h, err := r.c.adoptSubscription(r, t.Track, sub, r.eventsReady)
		if err != nil {
			r.log.Warn("handing over an auto-subscription failed", "track", t.Track.SID(), "err", err)
			_ = sub.Close()
			continue
		}
		out = append(out, &ffipb.OwnedDataTrackSubscription{Handle: h, Track: remoteTrackInfo(t.Track)})
	}
	return out
}

// post queues one event of the room, waiting for queue space; false once the handle was
// released or the client closes.
func (r *Room) post(e *ffipb.RoomEvent) bool {
	e.RoomHandle = r.handle
	if r.c.Post(r.ctx, roomEvent(e)) != nil {
		return false // the room or client is going: the waiting subscriptions end with it
	}
	for _, ch := range r.announcing {
		close(ch)
	}
	r.announcing = r.announcing[:0]
	return true
}

// roomEvent wraps a room event for the event queue, listing the handles it hands over
// (RoomEvent.owned_handles). Every room event goes through it.
func roomEvent(e *ffipb.RoomEvent) *ffipb.Event {
	e.OwnedHandles = roomEventOwnedHandles(e)
	return &ffipb.Event{Message: &ffipb.Event_Room{Room: e}}
}

// translate turns one core event into a RoomEvent (nil = nothing for the host). state is the
// connection state the host was last told (for RoomInfo.connection_state).
func (r *Room) translate(ev room.Event, state ffipb.ConnectionState) *ffipb.RoomEvent {
	switch e := ev.(type) {
	case room.SnapshotTaken:
		// state is the one the events before it announced: the snapshot's place in the stream.
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_SnapshotTaken{SnapshotTaken: &ffipb.RoomSnapshotTaken{Snapshot: connectResult(e.Snapshot, state)}}}
	case room.ConnectionStateChanged:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ConnectionStateChanged{ConnectionStateChanged: &ffipb.ConnectionStateChanged{State: connectionState(e.State)}}}
	case room.ParticipantConnected:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantConnected{ParticipantConnected: &ffipb.ParticipantConnected{Info: participantInfo(e.Info)}}}
	case room.ParticipantDisconnected:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantDisconnected{ParticipantDisconnected: &ffipb.ParticipantDisconnected{
			Identity: e.Participant.Identity(), Reason: disconnectReason(e.Reason),
		}}}
	case room.ParticipantMetadataChanged:
		return participantUpdated(e.Info, func(u *ffipb.ParticipantUpdated) { u.MetadataChanged, u.OldMetadata = true, e.OldMetadata })
	case room.ParticipantNameChanged:
		return participantUpdated(e.Info, func(u *ffipb.ParticipantUpdated) { u.NameChanged, u.OldName = true, e.OldName })
	case room.ParticipantAttributesChanged:
		keys := make([]string, 0, len(e.Changed))
		for k := range e.Changed {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return participantUpdated(e.Info, func(u *ffipb.ParticipantUpdated) { u.ChangedAttributes = keys })
	case room.ParticipantPermissionsChanged:
		return participantUpdated(e.Info, func(u *ffipb.ParticipantUpdated) { u.PermissionChanged = true })
	case room.TrackPublished:
		return participantUpdated(e.Info, func(u *ffipb.ParticipantUpdated) { u.TrackPublished = trackPublication(e.Track) })
	case room.TrackUnpublished:
		return participantUpdated(e.Info, func(u *ffipb.ParticipantUpdated) { u.TrackUnpublished = trackPublication(e.Track) })
	case room.TrackMuteChanged:
		return participantUpdated(e.Info, func(u *ffipb.ParticipantUpdated) { u.TrackMuteChanged = trackPublication(e.Track) })
	case room.ConnectionQualityChanged:
		return participantUpdated(e.Info, func(u *ffipb.ParticipantUpdated) {
			u.ConnectionQualityChanged, u.OldConnectionQuality = true, connectionQuality(e.OldQuality)
		})
	case room.SpeakingChanged:
		return participantUpdated(e.Info, func(u *ffipb.ParticipantUpdated) { u.SpeakingChanged = true })
	case room.ActiveSpeakersChanged:
		ids := make([]string, len(e.Speakers))
		for i, p := range e.Speakers {
			ids[i] = p.Identity()
		}
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ActiveSpeakersChanged{ActiveSpeakersChanged: &ffipb.ActiveSpeakersChanged{Identities: ids}}}
	case room.ParticipantInfoChanged:
		// A remote participant's new session (new sid), or its kind or protocol: info only.
		return participantUpdated(e.Info, func(*ffipb.ParticipantUpdated) {})
	case room.LocalParticipantRejoined:
		// A full reconnect gave the local participant a new sid.
		return participantUpdated(e.Info, func(*ffipb.ParticipantUpdated) {})
	case room.RoomMetadataChanged:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_RoomUpdated{RoomUpdated: &ffipb.RoomUpdated{
			Info: roomInfo(e.Info, state), MetadataChanged: true, OldMetadata: e.OldMetadata,
		}}}
	case room.RoomInfoChanged:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_RoomUpdated{RoomUpdated: &ffipb.RoomUpdated{Info: roomInfo(e.Info, state)}}}
	case room.RoomMoved:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_RoomMoved{RoomMoved: &ffipb.RoomMoved{Info: roomInfo(e.Info, state), OldRoomName: e.OldName}}}
	case room.DataReceived:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataReceived{DataReceived: &ffipb.DataPacketReceived{
			ParticipantIdentity: e.SenderIdentity,
			Payload:             e.Payload,
			Topic:               e.Topic,
			Reliable:            e.Reliable,
			Encrypted:           e.Encrypted,
		}}}
	case room.ChatMessageReceived:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ChatMessageReceived{ChatMessageReceived: &ffipb.ChatMessageReceived{
			ParticipantIdentity: e.SenderIdentity, Message: chatMessage(e.Message),
		}}}
	case room.TranscriptionReceived:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_TranscriptionReceived{TranscriptionReceived: &ffipb.TranscriptionReceived{
			ParticipantIdentity: e.SenderIdentity, Transcription: transcription(e.Transcription),
		}}}
	case room.SipDTMFReceived:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_SipDtmfReceived{SipDtmfReceived: &ffipb.SipDtmfReceived{
			ParticipantIdentity: e.SenderIdentity, Code: e.Code, Digit: e.Digit,
		}}}
	case room.DecryptionFailed:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_EncryptionStateChanged{EncryptionStateChanged: &ffipb.EncryptionStateChanged{
			ParticipantIdentity: e.ParticipantIdentity, State: encryptionState(e.State),
		}}}
	case room.EncryptionRecovered:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_EncryptionStateChanged{EncryptionStateChanged: &ffipb.EncryptionStateChanged{
			ParticipantIdentity: e.ParticipantIdentity, State: ffipb.EncryptionState_ENCRYPTION_STATE_OK,
		}}}
	case room.DataTrackPublished:
		return r.remoteTrackPublished(e.Track, e.Info, e.Subscription)
	case room.DataTrackUnpublished:
		info := e.Track.Info()
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataTrackUnpublished{DataTrackUnpublished: &ffipb.RemoteDataTrackUnpublished{
			PublisherIdentity: info.PublisherIdentity, Sid: info.SID, Name: info.Name,
		}}}
	case room.DataTrackSidChanged:
		info := e.Info
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataTrackSidChanged{DataTrackSidChanged: &ffipb.RemoteDataTrackSidChanged{
			PublisherIdentity: info.PublisherIdentity, Name: info.Name, OldSid: e.OldSID, Sid: info.SID,
		}}}
	case room.DataTrackSubscriptionPermissionChanged:
		info := e.Track.Info()
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataTrackSubscriptionPermissionChanged{
			DataTrackSubscriptionPermissionChanged: &ffipb.DataTrackSubscriptionPermissionChanged{
				PublisherIdentity: info.PublisherIdentity, Name: info.Name, Sid: info.SID, Allowed: e.Allowed,
			}}}
	case room.LocalDataTrackPublished:
		return nil // the publish completion carries it
	case room.LocalDataTrackFramesLost:
		// No schema event: the host sees it as a warning LogRecord; the counts are also in
		// the track's stats.
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
	case room.LocalDataTrackSidChanged:
		r.mu.Lock()
		h, ok := r.localTracks[e.Track]
		r.mu.Unlock()
		if !ok {
			return nil // its handle was dropped
		}
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_LocalDataTrackSidChanged{LocalDataTrackSidChanged: &ffipb.LocalDataTrackSidChanged{
			TrackHandle: h, OldSid: e.OldSID, Info: dataTrackInfo(e.Info),
		}}}
	case room.Reconnecting:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_Reconnecting{Reconnecting: &ffipb.Reconnecting{
			Kind: reconnectKind(e.Kind), Attempt: uint32(e.Attempt),
		}}}
	case room.Reconnected:
		return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_Reconnected{Reconnected: &ffipb.Reconnected{
			Kind:             reconnectKind(e.Kind),
			DiscardedPackets: clampUint32(e.DiscardedPackets),
			ReplayedPackets:  clampUint32(e.ReplayedPackets),
		}}}
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

func participantUpdated(info room.ParticipantInfo, set func(*ffipb.ParticipantUpdated)) *ffipb.RoomEvent {
	u := &ffipb.ParticipantUpdated{Info: participantInfo(info)}
	set(u)
	return &ffipb.RoomEvent{Message: &ffipb.RoomEvent_ParticipantUpdated{ParticipantUpdated: u}}
}

// disconnect handles DisconnectRequest (ASYNC): the core's Disconnect (which also aborts a
// connect in progress and ends a room that never connected); it completes after the room's
// Disconnected event was queued. The room cannot connect again.
func (c *Client) disconnect(k *call, m *ffipb.DisconnectRequest) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		if err := r.core.Disconnect(ctx); err != nil {
			return nil, fromCore(err)
		}
		// A connect that was under way has ended (aborted, or connected just before): wait
		// for it, so its pump, if any, is known.
		if err := waitClosed(ctx, r.lockedChan(&r.connectDone)); err != nil {
			return nil, err
		}
		return nil, waitClosed(ctx, r.lockedChan(&r.pumpDone))
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
		RatchetWindowSize: intOf(o.GetRatchetWindowSize()),
		KeyRingSize:       intOf(o.GetKeyRingSize()),
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
	joined := r.pumpDone != nil
	r.mu.Unlock()
	snap := currentSnapshot(r.core, joined)
	resp.Message = &ffipb.Response_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotResponse{Snapshot: snap}}
	return nil
}

// requestRoomSnapshot handles RequestRoomSnapshotRequest: the core's RequestSnapshot, whose
// SnapshotTaken event the pump translates at its place among the room's events.
func (c *Client) requestRoomSnapshot(m *ffipb.RequestRoomSnapshotRequest) error {
	r, err := c.room(m.GetRoomHandle())
	if err != nil {
		return err
	}
	return fromCore(r.core.RequestSnapshot())
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
func (r *Room) passTurn(prev, mine chan struct{}) { r.afterTurn(prev, mine, nil) }

// afterTurn runs then (if not nil) once prev is closed, then closes mine, on a background
// goroutine of the client (then may block); without then, mine is closed at once when prev
// already is.
func (r *Room) afterTurn(prev, mine chan struct{}, then func()) {
	if then == nil {
		select {
		case <-prev:
			close(mine)
			return
		default:
		}
	}
	if !r.c.goBackground(func() {
		<-prev
		if then != nil {
			then()
		}
		close(mine)
	}) {
		// The client is closing: every later send is cancelled anyway.
		close(mine)
	}
}

// publishData handles PublishDataRequest (ASYNC).
func (c *Client) publishData(k *call, m *ffipb.PublishDataRequest) error {
	payload := m.GetPayload()
	opts := room.DataPublishOptions{Reliable: m.GetReliable(), Topic: m.GetTopic(), DestinationIdentities: m.GetDestinationIdentities()}
	return c.sendInTurn(k, m.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
		return lp.PublishData(ctx, payload, opts)
	})
}

// publishSipDtmf handles PublishSipDtmfRequest (ASYNC, ABI 1.19).
func (c *Client) publishSipDtmf(k *call, m *ffipb.PublishSipDtmfRequest) error {
	code, digit := m.GetCode(), m.GetDigit()
	opts := room.DTMFOptions{DestinationIdentities: m.GetDestinationIdentities()}
	return c.sendInTurn(k, m.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
		return lp.PublishDTMF(ctx, code, digit, opts)
	})
}

// sendChatMessage handles SendChatMessageRequest (ASYNC, ABI 1.20).
func (c *Client) sendChatMessage(k *call, m *ffipb.SendChatMessageRequest) error {
	text, opts := m.GetMessage(), room.ChatOptions{DestinationIdentities: m.GetDestinationIdentities(), SenderIdentity: m.GetSenderIdentity()}
	return c.sendInTurnWith(k, m.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) (*ffipb.Completion, error) {
		sent, err := lp.SendChatMessage(ctx, text, opts)
		if err != nil {
			return nil, err
		}
		return &ffipb.Completion{Result: &ffipb.Completion_SendChatMessage{SendChatMessage: chatMessage(sent)}}, nil
	})
}

// editChatMessage handles EditChatMessageRequest (ASYNC, ABI 1.20).
func (c *Client) editChatMessage(k *call, m *ffipb.EditChatMessageRequest) error {
	if m.GetOriginal() == nil {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "edit_chat_message needs the original message")
	}
	text, original := m.GetMessage(), chatMessageFromProto(m.GetOriginal())
	opts := room.ChatOptions{DestinationIdentities: m.GetDestinationIdentities(), SenderIdentity: m.GetSenderIdentity()}
	return c.sendInTurnWith(k, m.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) (*ffipb.Completion, error) {
		edit, err := lp.EditChatMessage(ctx, text, original, opts)
		if err != nil {
			return nil, err
		}
		return &ffipb.Completion{Result: &ffipb.Completion_EditChatMessage{EditChatMessage: chatMessage(edit)}}, nil
	})
}

// publishTranscription handles PublishTranscriptionRequest (ASYNC, ABI 1.21).
func (c *Client) publishTranscription(k *call, m *ffipb.PublishTranscriptionRequest) error {
	if m.GetTranscription() == nil {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "publish_transcription needs a transcription")
	}
	t := transcriptionFromProto(m.GetTranscription())
	return c.sendInTurn(k, m.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
		return lp.PublishTranscription(ctx, t)
	})
}

// trackPermissions converts SetTrackSubscriptionPermissionsRequest.permissions (the core
// checks them).
func trackPermissions(in []*ffipb.TrackPermission) []room.TrackPermission {
	out := make([]room.TrackPermission, 0, len(in))
	for _, p := range in {
		out = append(out, room.TrackPermission{Identity: p.GetParticipantIdentity(), AllTracks: p.GetAllTracks(), TrackSIDs: p.GetTrackSids()})
	}
	return out
}

// sendInTurn starts an ASYNC send of the room's packets (PublishData, PublishSipDtmf, the chat
// messages, PublishTranscription): the packets of one room are sent in request order, each operation waiting for the
// previous one before handing its packet to the core.
func (c *Client) sendInTurn(k *call, roomHandle uint64, send func(ctx context.Context, lp *room.LocalParticipant) error) error {
	return c.sendInTurnWith(k, roomHandle, func(ctx context.Context, lp *room.LocalParticipant) (*ffipb.Completion, error) {
		return nil, send(ctx, lp)
	})
}

// sendInTurnWith is sendInTurn for a send whose completion carries a result.
func (c *Client) sendInTurnWith(k *call, roomHandle uint64, send func(ctx context.Context, lp *room.LocalParticipant) (*ffipb.Completion, error)) error {
	r, rm, err := c.connectedRoom(roomHandle)
	if err != nil {
		return err
	}
	prev, mine := r.takeSendTurn()
	err = k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		defer r.passTurn(prev, mine)
		if err := waitClosed(ctx, prev); err != nil {
			return nil, err
		}
		comp, err := send(ctx, rm.LocalParticipant())
		return comp, fromCore(err)
	})
	if err != nil {
		r.passTurn(prev, mine)
	}
	return err
}

// setLocal starts one of the ASYNC local-participant updates.
func (c *Client) setLocal(k *call, roomHandle uint64, update func(ctx context.Context, lp *room.LocalParticipant) error) error {
	_, rm, err := c.connectedRoom(roomHandle)
	if err != nil {
		return err
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		return nil, fromCore(update(ctx, rm.LocalParticipant()))
	})
}
