package datatrack

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// ErrUnpublishedByServer is the reason given when the SFU unpublishes a local track on its own
// (an unsolicited unpublish_data_track_response, docs/protocol.md, Publish and unpublish).
var ErrUnpublishedByServer = errors.New("datatrack: track unpublished by server")

// PublishOptions are the caller's choices for a new local track.
type PublishOptions struct {
	// Name is the track name: 1..256 bytes, unique per publisher.
	Name string
	// FrameEncoding is optional typed-track metadata (docs/protocol.md, Typed tracks).
	FrameEncoding *lkpb.DataTrackFrameEncoding
	// Schema is optional typed-track metadata (docs/protocol.md, Typed tracks).
	Schema *lkpb.DataTrackSchemaId
	// QueueFrames, when positive, overrides LocalConfig.QueueFrames for this track's SendQueue
	// (0 = the manager's default; above MaxSendQueueFrames Publish fails with ErrInvalidOption).
	QueueFrames int
	// QueueBytes, when positive, overrides LocalConfig.QueueBytes for this track's SendQueue
	// (0 = the manager's default; above MaxSendQueueBytes Publish fails with ErrInvalidOption).
	QueueBytes int
	// QueuePolicy, when set, overrides LocalConfig.QueuePolicy for this track.
	QueuePolicy *OverflowPolicy
}

// LocalTrackState is the publication state of a LocalTrack
// (docs/protocol.md, Publish and unpublish).
type LocalTrackState uint8

const (
	// LocalPublished: frames are accepted.
	LocalPublished LocalTrackState = iota
	// LocalRepublishing: a full reconnect is in progress; IsPublished stays true, TryPush
	// returns ErrRepublishing, and frames queued before stay queued until the track is
	// Published again (the writer must not send them meanwhile).
	LocalRepublishing
	// LocalUnpublished: final; TryPush returns ErrTrackUnpublished.
	LocalUnpublished
)

// String returns the state's name.
func (s LocalTrackState) String() string {
	switch s {
	case LocalPublished:
		return "Published"
	case LocalRepublishing:
		return "Republishing"
	default:
		return "Unpublished"
	}
}

// LocalTrack is a published local data track: the object the room layer hands to the
// application. TryPush is safe for concurrent use and never blocks; the state is driven by the
// LocalManager. The channel writer drains Queue().
type LocalTrack struct {
	mu        sync.Mutex
	info      TrackInfo
	state     LocalTrackState
	pipeline  *SendPipeline
	queue     *SendQueue
	now       func() time.Time
	endReason error
	done      chan struct{}
	// accepting is closed while frames are accepted, or once the track ended; a full
	// reconnect's republication replaces it with an open one until the track is published
	// again (Accepting).
	accepting chan struct{}
}

// Info returns the track's current info (the SID changes in place on republish).
func (t *LocalTrack) Info() TrackInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.info
}

// Handle returns the publisher handle.
func (t *LocalTrack) Handle() uint16 { return t.info.Handle }

// State returns the publication state.
func (t *LocalTrack) State() LocalTrackState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// IsPublished reports true while Published or Republishing
// (docs/protocol.md, Publish and unpublish).
func (t *LocalTrack) IsPublished() bool { return t.State() != LocalUnpublished }

// Unpublished is closed when the track becomes unpublished (wait_for_unpublish).
func (t *LocalTrack) Unpublished() <-chan struct{} { return t.done }

// Accepting returns a channel that is closed once TryPush no longer returns ErrRepublishing:
// at once unless a full reconnect is republishing the track, else when the track is published
// again or ends. A producer that waits through a republication selects on it.
func (t *LocalTrack) Accepting() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.accepting
}

// UnpublishReason returns why the track ended: nil for a local Unpublish, else e.g.
// ErrUnpublishedByServer, ErrNotAllowed, ErrDisconnected or the republish failure.
func (t *LocalTrack) UnpublishReason() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.endReason
}

// Queue returns the track's send queue, which the channel writer drains.
func (t *LocalTrack) Queue() *SendQueue { return t.queue }

// TryPush encrypts (for E2EE tracks), packetizes and queues one frame without blocking. The
// payload is copied; the caller may reuse it when TryPush returns. Errors: ErrRepublishing,
// ErrTrackUnpublished, ErrFrameTooLarge, ErrQueueFull (nothing consumed, the frame is still the
// caller's), ErrEncryptionFailed. An empty plain frame succeeds and sends nothing
// (docs/protocol.md, Packetizer, docs/protocol.md, Departures): it only consumes a frame
// number, as in both SDKs.
func (t *LocalTrack) TryPush(f Frame) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.state {
	case LocalRepublishing:
		return ErrRepublishing
	case LocalUnpublished:
		return ErrTrackUnpublished
	}
	if err := t.pipeline.CheckSize(&f); err != nil {
		return err
	}
	est := t.pipeline.EstimateBytes(&f)
	if !t.queue.CanAdmit(est) {
		t.queue.noteRejected()
		return ErrQueueFull
	}
	pf := t.queue.NewFrame()
	if err := t.pipeline.Encode(pf, f, t.now()); err != nil {
		t.queue.Recycle(pf)
		return err
	}
	if pf.Len() == 0 {
		t.queue.Recycle(pf)
		return nil
	}
	if _, err := t.queue.TryPush(pf); err != nil {
		t.queue.Recycle(pf)
		return err
	}
	return nil
}

func (t *LocalTrack) setState(s LocalTrackState, reason error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == LocalUnpublished {
		return
	}
	t.state = s
	switch s {
	case LocalRepublishing:
		select {
		case <-t.accepting: // accepting until now (an open one keeps its waiters)
			t.accepting = make(chan struct{})
		default:
		}
		// Queued frames are kept: they are packetized with the track's handle, which the
		// republish keeps, so the writer sends them on the new session once the track is
		// Published again (or they are discarded, and counted, if the republish fails).
	case LocalUnpublished:
		t.endReason = reason
		t.queue.Close()
		close(t.done)
	}
	if s != LocalRepublishing {
		t.stopWaiting()
	}
}

// stopWaiting closes the accepting channel if it is open (the republication ended). Locked.
func (t *LocalTrack) stopWaiting() {
	select {
	case <-t.accepting:
	default:
		close(t.accepting)
	}
}

func (t *LocalTrack) republished(sid string) (old string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old = t.info.Sid
	t.info.Sid = sid
	if t.state == LocalRepublishing {
		t.state = LocalPublished
		t.stopWaiting()
	}
	return old
}

// Outputs of the LocalManager. The room layer type-switches over them.
type (
	// LocalOutput is one output of the LocalManager: SendRequest, PublishCompleted,
	// UnpublishCompleted, LocalTrackUnpublished, LocalTrackRepublishing or LocalTrackRepublished.
	LocalOutput interface{ localOutput() }

	// PublishCompleted resolves a Publish: Track on success, Err otherwise (ErrTimeout,
	// *PublishError, ErrDisconnected, ErrInvalidResponse, or the cancellation error).
	PublishCompleted struct {
		Handle uint16      // the handle Publish returned
		Track  *LocalTrack // the published track, nil on failure
		Err    error       // nil on success
	}

	// UnpublishCompleted resolves an Unpublish. Acknowledged is false when the server's answer
	// did not come within the bounded wait (or no session was up); the track is unpublished
	// locally either way. NOT_FOUND counts as acknowledged.
	UnpublishCompleted struct {
		Handle       uint16 // the unpublished track's handle
		Acknowledged bool   // the server answered (response or NOT_FOUND)
	}

	// LocalTrackUnpublished reports that a track ended (locally, by the server, by permission
	// revocation, by a failed republish or by Close). Reason is nil for a local Unpublish.
	LocalTrackUnpublished struct {
		Track  *LocalTrack // the track that ended
		Reason error       // nil for a local Unpublish
	}

	// LocalTrackRepublishing reports that a full reconnect put the track into Republishing (its
	// queue was cleared). No application event is expected
	// (docs/protocol.md, Reconnection of data tracks).
	LocalTrackRepublishing struct {
		Track *LocalTrack // the track now republishing
	}

	// LocalTrackRepublished reports a successful republish: the SID changed in place.
	LocalTrackRepublished struct {
		Track          *LocalTrack // the track, published again
		OldSid, NewSid string      // SID before and after
	}
)

func (PublishCompleted) localOutput()       {}
func (UnpublishCompleted) localOutput()     {}
func (LocalTrackUnpublished) localOutput()  {}
func (LocalTrackRepublishing) localOutput() {}
func (LocalTrackRepublished) localOutput()  {}

// LocalConfig configures a LocalManager. The zero value is usable.
type LocalConfig struct {
	// Encryptor, when non-nil, makes every track E2EE (Encryption GCM), as the room decides E2EE
	// at connect time (docs/protocol.md, Data-track E2EE).
	Encryptor FrameEncryptor
	// PublishTimeout bounds a publish (0 = DefaultPublishTimeout).
	PublishTimeout time.Duration
	// UnpublishTimeout bounds the wait for an unpublish answer (0 = DefaultUnpublishTimeout).
	UnpublishTimeout time.Duration
	// QueueFrames, QueueBytes and QueuePolicy configure each track's SendQueue
	// (0 = defaults, RejectNew; QueueFrames above MaxSendQueueFrames is clamped to it).
	// PublishOptions.QueueFrames overrides QueueFrames per track.
	QueueFrames, QueueBytes int
	// QueuePolicy is the send queue's overflow policy.
	QueuePolicy OverflowPolicy
	// MTU is the maximum packet size (0 = TransportMTU).
	MTU int
	// Now is the clock used by TryPush for packet timestamps (nil = time.Now).
	Now func() time.Time
	// WaitForTransport, when set, completes successful publishes only once
	// SetTransportReady(true) was called, so the first TryPush is not lost (docs/protocol.md:
	// Publish and unpublish; Departures).
	WaitForTransport bool
	// Logger receives debug records (nil = discard).
	Logger *slog.Logger
}

type pendingPublish struct {
	handle   uint16
	opts     PublishOptions
	deadline time.Time
	sent     bool
	track    *LocalTrack // republish of an existing track
	acked    *TrackInfo  // server accepted; waiting for the transport
}

// LocalManager is the sans-I/O state machine of the publishing side (docs/protocol.md:
// Publish and unpublish; Reconnection of data tracks; Concepts,
// docs/protocol.md, Publish and unpublish). It is owned by the room's signalling loop: it is
// not safe for concurrent use (the LocalTracks it creates are). Every input takes the current
// time; outputs are returned.
type LocalManager struct {
	cfg          LocalConfig
	log          *slog.Logger
	lastHandle   int
	pending      map[uint16]*pendingPublish
	tracks       map[uint16]*LocalTrack
	unpublishing map[uint16]time.Time
	sessionUp    bool
	transportUp  bool
	closed       bool
}

// NewLocalManager returns a manager for one room connection (handles start at 1 and are never
// reused within it, docs/protocol.md, Concepts). The signalling session is assumed up.
func NewLocalManager(cfg LocalConfig) *LocalManager {
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.UnpublishTimeout <= 0 {
		cfg.UnpublishTimeout = DefaultUnpublishTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LocalManager{
		cfg: cfg, log: log,
		pending:      map[uint16]*pendingPublish{},
		tracks:       map[uint16]*LocalTrack{},
		unpublishing: map[uint16]time.Time{},
		sessionUp:    true,
		transportUp:  !cfg.WaitForTransport,
	}
}

// Publish starts publishing a track and returns its handle. The outcome arrives later as a
// PublishCompleted output (from a signal response, SetTransportReady or Tick). Immediate
// errors: ErrInvalidName, ErrInvalidSchema, ErrLimitReached, ErrDisconnected (after Close).
func (m *LocalManager) Publish(opts PublishOptions, now time.Time) (uint16, []LocalOutput, error) {
	if m.closed {
		return 0, nil, ErrDisconnected
	}
	if len(opts.Name) == 0 || len(opts.Name) > MaxTrackNameBytes {
		return 0, nil, ErrInvalidName
	}
	if opts.QueueFrames > MaxSendQueueFrames {
		return 0, nil, CheckRange("QueueFrames", int64(opts.QueueFrames), 0, MaxSendQueueFrames)
	}
	if opts.QueueBytes > MaxSendQueueBytes {
		return 0, nil, CheckRange("QueueBytes", int64(opts.QueueBytes), 0, MaxSendQueueBytes)
	}
	if opts.QueuePolicy != nil && *opts.QueuePolicy > DropOldest {
		return 0, nil, CheckRange("QueuePolicy", int64(*opts.QueuePolicy), int64(RejectNew), int64(DropOldest))
	}
	if err := ValidateSchema(opts.FrameEncoding, opts.Schema); err != nil {
		return 0, nil, err
	}
	if m.lastHandle >= MaxHandle {
		return 0, nil, ErrLimitReached
	}
	m.lastHandle++
	h := uint16(m.lastHandle)
	p := &pendingPublish{handle: h, opts: opts, deadline: now.Add(m.cfg.PublishTimeout)}
	m.pending[h] = p
	var out []LocalOutput
	if m.sessionUp {
		p.sent = true
		out = append(out, publishRequest(h, opts.Name, m.cfg.Encryptor != nil, &opts))
	}
	return h, out, nil
}

// CancelPublish abandons a pending publish (caller's context ended); it completes with err. A
// success arriving later is answered with an unpublish (late answers:
// docs/protocol.md, Publish and unpublish).
func (m *LocalManager) CancelPublish(handle uint16, err error) []LocalOutput {
	p, ok := m.pending[handle]
	if !ok || p.track != nil {
		return nil
	}
	delete(m.pending, handle)
	var out []LocalOutput
	if p.acked != nil { // the server already published it
		out = append(out, unpublishRequest(handle))
	}
	return append(out, PublishCompleted{Handle: handle, Err: err})
}

// Unpublish ends a published (or republishing) track at once — TryPush fails and queued
// frames are discarded — and asks the server to unpublish it. UnpublishCompleted follows.
func (m *LocalManager) Unpublish(handle uint16, now time.Time) ([]LocalOutput, error) {
	t, ok := m.tracks[handle]
	if !ok {
		if _, pend := m.pending[handle]; pend {
			return m.CancelPublish(handle, ErrTrackUnpublished), nil
		}
		return nil, ErrUnknownHandle
	}
	delete(m.tracks, handle)
	if p, ok := m.pending[handle]; ok && p.track == t {
		delete(m.pending, handle) // a republish in flight: a late success is unpublished
	}
	t.setState(LocalUnpublished, nil)
	out := []LocalOutput{LocalTrackUnpublished{Track: t}}
	if !m.sessionUp {
		return append(out, UnpublishCompleted{Handle: handle}), nil
	}
	m.unpublishing[handle] = now.Add(m.cfg.UnpublishTimeout)
	return append(out, unpublishRequest(handle)), nil
}

// HandleSignal dispatches the data-track messages of a SignalResponse (publish/unpublish
// responses and request_response echoes of data-track requests). handled is false for
// messages that are not for this manager.
func (m *LocalManager) HandleSignal(resp *lkpb.SignalResponse, now time.Time) (out []LocalOutput, handled bool) {
	switch msg := resp.GetMessage().(type) {
	case *lkpb.SignalResponse_PublishDataTrackResponse:
		return m.HandlePublishResponse(msg.PublishDataTrackResponse, now), true
	case *lkpb.SignalResponse_UnpublishDataTrackResponse:
		return m.HandleUnpublishResponse(msg.UnpublishDataTrackResponse), true
	case *lkpb.SignalResponse_RequestResponse:
		return m.HandleRequestResponse(msg.RequestResponse)
	}
	return nil, false
}

// HandlePublishResponse applies publish_data_track_response (late answers:
// docs/protocol.md, Publish and unpublish).
func (m *LocalManager) HandlePublishResponse(resp *lkpb.PublishDataTrackResponse, now time.Time) []LocalOutput {
	raw := resp.GetInfo()
	h := raw.GetPubHandle()
	if h == 0 || h > MaxHandle {
		m.log.Debug("datatrack: publish response with invalid handle", "handle", h)
		return nil
	}
	handle := uint16(h)
	p, ok := m.pending[handle]
	if !ok {
		if _, active := m.tracks[handle]; active {
			m.log.Debug("datatrack: duplicate publish response ignored", "handle", handle)
			return nil
		}
		// Late success after timeout or cancellation: take it back
		// (docs/protocol.md, Publish and unpublish).
		m.log.Debug("datatrack: late publish success, unpublishing", "handle", handle)
		return []LocalOutput{unpublishRequest(handle)}
	}
	info, valid := trackInfoFromProto(raw, "")
	if !valid {
		delete(m.pending, handle)
		out := []LocalOutput{unpublishRequest(handle)}
		if p.track != nil {
			return append(out, m.endTrack(p.track, ErrInvalidResponse)...)
		}
		return append(out, PublishCompleted{Handle: handle, Err: ErrInvalidResponse})
	}
	if p.track != nil { // republish after a full reconnect: same handle, new SID in place
		delete(m.pending, handle)
		old := p.track.republished(info.Sid)
		return []LocalOutput{LocalTrackRepublished{Track: p.track, OldSid: old, NewSid: info.Sid}}
	}
	if !m.transportUp {
		p.acked = &info
		return nil
	}
	delete(m.pending, handle)
	return []LocalOutput{m.activate(handle, info, p.opts)}
}

// activate creates the track; the queue settings of opts override the manager's.
func (m *LocalManager) activate(handle uint16, info TrackInfo, opts PublishOptions) PublishCompleted {
	clock := NewClock(RandomClockBase(), m.cfg.Now())
	pl, err := NewSendPipeline(handle, m.cfg.MTU, clock, m.cfg.Encryptor)
	if err != nil {
		return PublishCompleted{Handle: handle, Err: err}
	}
	frames, bytes, policy := m.cfg.QueueFrames, m.cfg.QueueBytes, m.cfg.QueuePolicy
	if opts.QueueFrames > 0 {
		frames = opts.QueueFrames
	}
	if opts.QueueBytes > 0 {
		bytes = opts.QueueBytes
	}
	if opts.QueuePolicy != nil {
		policy = *opts.QueuePolicy
	}
	t := &LocalTrack{
		info:      info,
		pipeline:  pl,
		queue:     NewSendQueue(frames, bytes, policy),
		now:       m.cfg.Now,
		done:      make(chan struct{}),
		accepting: make(chan struct{}),
	}
	close(t.accepting)
	m.tracks[handle] = t
	return PublishCompleted{Handle: handle, Track: t}
}

// HandleUnpublishResponse completes an Unpublish, or — when unsolicited — unpublishes the track
// on the server's behalf (SFU-initiated unpublish: docs/protocol.md, Publish and unpublish).
func (m *LocalManager) HandleUnpublishResponse(resp *lkpb.UnpublishDataTrackResponse) []LocalOutput {
	h := resp.GetInfo().GetPubHandle()
	if h == 0 || h > MaxHandle {
		return nil
	}
	handle := uint16(h)
	if _, ok := m.unpublishing[handle]; ok {
		delete(m.unpublishing, handle)
		return []LocalOutput{UnpublishCompleted{Handle: handle, Acknowledged: true}}
	}
	if t, ok := m.tracks[handle]; ok {
		if sid := resp.GetInfo().GetSid(); sid != "" && sid != t.Info().Sid {
			return nil // about an older publication of this handle
		}
		delete(m.tracks, handle)
		return m.endTrack(t, ErrUnpublishedByServer)
	}
	return nil
}

// HandleRequestResponse maps a RequestResponse echoing a data-track request: publish failures
// by the echoed pub_handle (request_id is 0 for these, docs/protocol.md, Publish and unpublish)
// and unpublish NOT_FOUND (= done).
func (m *LocalManager) HandleRequestResponse(rr *lkpb.RequestResponse) (out []LocalOutput, handled bool) {
	switch req := rr.GetRequest().(type) {
	case *lkpb.RequestResponse_PublishDataTrack:
		h := req.PublishDataTrack.GetPubHandle()
		p, ok := m.pending[uint16(h)]
		if h == 0 || h > MaxHandle || !ok {
			return nil, true
		}
		delete(m.pending, p.handle)
		err := publishErrorFromResponse(rr.GetReason(), rr.GetMessage())
		if p.track != nil { // failed republish: the track ends (JS behaviour; docs/protocol.md, Departures)
			delete(m.tracks, p.handle)
			return m.endTrack(p.track, err), true
		}
		return []LocalOutput{PublishCompleted{Handle: p.handle, Err: err}}, true
	case *lkpb.RequestResponse_UnpublishDataTrack:
		h := req.UnpublishDataTrack.GetPubHandle()
		if _, ok := m.unpublishing[uint16(h)]; ok && h <= MaxHandle {
			delete(m.unpublishing, uint16(h))
			return []LocalOutput{UnpublishCompleted{Handle: uint16(h), Acknowledged: true}}, true
		}
		return nil, true
	}
	return nil, false
}

// HandleLocalParticipantInfo notices a revoked canPublishData permission in the local
// participant's own ParticipantInfo (docs/protocol.md, Publish and unpublish: the server
// removes the tracks without telling the publisher) and ends every track with ErrNotAllowed.
func (m *LocalManager) HandleLocalParticipantInfo(p *lkpb.ParticipantInfo) []LocalOutput {
	perm := p.GetPermission()
	if perm == nil || perm.GetCanPublishData() {
		return nil
	}
	var out []LocalOutput
	for _, h := range m.sortedTrackHandles() {
		t := m.tracks[h]
		delete(m.tracks, h)
		delete(m.pending, h)
		out = append(out, m.endTrack(t, ErrNotAllowed)...)
	}
	return out
}

// SetTransportReady tells the manager whether the data-track channel is open. With
// WaitForTransport, publishes the server accepted complete when it becomes ready.
func (m *LocalManager) SetTransportReady(ready bool, now time.Time) []LocalOutput {
	m.transportUp = ready || !m.cfg.WaitForTransport
	if !m.transportUp {
		return nil
	}
	var out []LocalOutput
	for _, h := range m.sortedPendingHandles() {
		p := m.pending[h]
		if p.acked != nil {
			delete(m.pending, h)
			out = append(out, m.activate(h, *p.acked, p.opts))
		}
	}
	return out
}

// Tick fires timeouts: publishes without answer fail with ErrTimeout (a server without data
// tracks never answers, docs/protocol.md, Servers without data tracks), republishes that time
// out end the track, unpublishes complete unacknowledged.
func (m *LocalManager) Tick(now time.Time) []LocalOutput {
	var out []LocalOutput
	for _, h := range m.sortedPendingHandles() {
		p := m.pending[h]
		if now.Before(p.deadline) {
			continue
		}
		delete(m.pending, h)
		switch {
		case p.track != nil:
			delete(m.tracks, h)
			out = append(out, m.endTrack(p.track, ErrTimeout)...)
		case p.acked != nil: // accepted but the transport never came up
			out = append(out, unpublishRequest(h), PublishCompleted{Handle: h, Err: ErrTimeout})
		default:
			out = append(out, PublishCompleted{Handle: h, Err: ErrTimeout})
		}
	}
	var done []uint16
	for h, dl := range m.unpublishing {
		if !now.Before(dl) {
			done = append(done, h)
		}
	}
	slices.Sort(done)
	for _, h := range done {
		delete(m.unpublishing, h)
		out = append(out, UnpublishCompleted{Handle: h})
	}
	return out
}

// NextDeadline returns the earliest time Tick has something to do.
func (m *LocalManager) NextDeadline() (time.Time, bool) {
	var best time.Time
	found := false
	consider := func(t time.Time) {
		if !found || t.Before(best) {
			best, found = t, true
		}
	}
	for _, p := range m.pending {
		consider(p.deadline)
	}
	for _, dl := range m.unpublishing {
		consider(dl)
	}
	return best, found
}

// SyncStateTracks returns SyncState.publish_data_tracks for a quick resume: one entry per
// Published track, ordered by handle (docs/protocol.md, Reconnection of data tracks; pending
// publishes are not included).
func (m *LocalManager) SyncStateTracks() []*lkpb.PublishDataTrackResponse {
	var out []*lkpb.PublishDataTrackResponse
	for _, h := range m.sortedTrackHandles() {
		t := m.tracks[h]
		if t.State() != LocalPublished {
			continue
		}
		info := t.Info()
		out = append(out, &lkpb.PublishDataTrackResponse{Info: info.Proto()})
	}
	return out
}

// SessionLost is called when a full reconnect starts (the signalling session and transport
// are gone; a quick resume does not call it). Pending publishes fail with ErrDisconnected,
// published tracks become Republishing (docs/protocol.md, Reconnection of data tracks).
func (m *LocalManager) SessionLost(now time.Time) []LocalOutput {
	m.sessionUp = false
	if m.cfg.WaitForTransport {
		m.transportUp = false
	}
	var out []LocalOutput
	out = m.dropPending(out)
	for _, h := range m.sortedTrackHandles() {
		t := m.tracks[h]
		t.setState(LocalRepublishing, nil)
		out = append(out, LocalTrackRepublishing{Track: t})
	}
	for h := range m.unpublishing { // the old session is gone with its tracks
		delete(m.unpublishing, h)
		out = append(out, UnpublishCompleted{Handle: h})
	}
	return out
}

// dropPending forgets every pending publish; new publications (not
// republishes of an existing track) complete with ErrDisconnected.
func (m *LocalManager) dropPending(out []LocalOutput) []LocalOutput {
	for _, h := range m.sortedPendingHandles() {
		p := m.pending[h]
		delete(m.pending, h)
		if p.track == nil {
			out = append(out, PublishCompleted{Handle: h, Err: ErrDisconnected})
		}
	}
	return out
}

// SessionRestored is called once the new session of a full reconnect is up: every
// Republishing track is republished with the same handle, name, encryption and metadata, and
// publishes requested meanwhile are sent.
func (m *LocalManager) SessionRestored(now time.Time) []LocalOutput {
	m.sessionUp = true
	var out []LocalOutput
	for _, h := range m.sortedTrackHandles() {
		t := m.tracks[h]
		if t.State() != LocalRepublishing {
			continue
		}
		info := t.Info()
		opts := PublishOptions{Name: info.Name, FrameEncoding: info.FrameEncoding, Schema: info.Schema}
		m.pending[h] = &pendingPublish{handle: h, opts: opts, deadline: now.Add(m.cfg.PublishTimeout), sent: true, track: t}
		out = append(out, publishRequest(h, info.Name, info.Encrypted, &opts))
	}
	for _, h := range m.sortedPendingHandles() {
		if p := m.pending[h]; !p.sent {
			p.sent = true
			out = append(out, publishRequest(h, p.opts.Name, m.cfg.Encryptor != nil, &p.opts))
		}
	}
	return out
}

// Close ends the manager (room disconnect): pending publishes fail with ErrDisconnected and
// every track is unpublished with reason ErrDisconnected. Idempotent.
func (m *LocalManager) Close() []LocalOutput {
	if m.closed {
		return nil
	}
	m.closed = true
	m.sessionUp = false
	var out []LocalOutput
	out = m.dropPending(out)
	for _, h := range m.sortedTrackHandles() {
		t := m.tracks[h]
		delete(m.tracks, h)
		out = append(out, m.endTrack(t, ErrDisconnected)...)
	}
	for h := range m.unpublishing {
		delete(m.unpublishing, h)
	}
	return out
}

// Track returns the active track with handle, or nil.
func (m *LocalManager) Track(handle uint16) *LocalTrack { return m.tracks[handle] }

// Tracks returns the active tracks ordered by handle.
func (m *LocalManager) Tracks() []*LocalTrack {
	var out []*LocalTrack
	for _, h := range m.sortedTrackHandles() {
		out = append(out, m.tracks[h])
	}
	return out
}

func (m *LocalManager) endTrack(t *LocalTrack, reason error) []LocalOutput {
	t.setState(LocalUnpublished, reason)
	return []LocalOutput{LocalTrackUnpublished{Track: t, Reason: reason}}
}

func (m *LocalManager) sortedTrackHandles() []uint16 {
	hs := make([]uint16, 0, len(m.tracks))
	for h := range m.tracks {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}

func (m *LocalManager) sortedPendingHandles() []uint16 {
	hs := make([]uint16, 0, len(m.pending))
	for h := range m.pending {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}
