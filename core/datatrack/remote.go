package datatrack

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// StreamEndError ends a subscription that had been established: errors.Is(err, ErrStreamEnded)
// holds, and Cause (via errors.Is/As) tells why — nil for a local unsubscribe,
// ErrTrackUnpublished when the track went away (unpublished or publisher left),
// ErrDisconnected when the room closed.
type StreamEndError struct {
	// Cause is the reason, or nil for a local unsubscribe.
	Cause error
}

// Error implements error.
func (e *StreamEndError) Error() string {
	if e.Cause == nil {
		return ErrStreamEnded.Error()
	}
	return ErrStreamEnded.Error() + ": " + e.Cause.Error()
}

// Is makes errors.Is(err, ErrStreamEnded) true.
func (e *StreamEndError) Is(target error) bool { return target == ErrStreamEnded }

// Unwrap returns the cause.
func (e *StreamEndError) Unwrap() error { return e.Cause }

// SubscribeOptions configure one local subscription (stream) of a remote track.
type SubscribeOptions struct {
	// BufferSize is the stream's frame buffer in frames (0 = DefaultSubscriberBufferFrames,
	// at most MaxSubscriberBufferFrames; other values fail with ErrInvalidOption).
	BufferSize int
	// BufferBytes bounds the payload bytes the buffer holds (at most MaxSubscriberBufferBytes;
	// other values fail with ErrInvalidOption). 0 means DefaultSubscriberBufferBytes when
	// BufferSize is 0 too, else MaxSubscriberBufferBytes (a buffer sized in frames keeps that
	// many frames whatever their size, within that cap). A frame larger than the bound alone
	// is still buffered when the buffer is otherwise empty.
	BufferBytes int
	// DropPolicy decides which frame a full buffer drops (default DropOldestFrame).
	DropPolicy BufferDropPolicy
}

// Subscription is one local stream of frames from a remote track. Several subscriptions of the
// same track share one SFU subscription (fan-out, docs/protocol.md, Sending and pacing). Frames
// are read with Recv/TryRecv; when the subscription ends Recv returns the remaining frames and
// then the end error: a
// *StreamEndError for a normal end, or the failure (ErrTimeout, ErrDisconnected,
// ErrSubscribeNotAllowed, ErrTrackUnpublished) if it was never established. Safe for
// concurrent use.
type Subscription struct {
	id    uint64
	info  TrackInfo // at subscribe time
	buf   *FrameBuffer
	mu    sync.Mutex
	state uint8 // 0 pending, 1 active, 2 ended
}

// ID returns the subscription's id, unique within its RemoteManager.
func (s *Subscription) ID() uint64 { return s.id }

// TrackInfo returns the track info at subscribe time (the SID may since have been reassigned).
func (s *Subscription) TrackInfo() TrackInfo { return s.info }

// Recv waits for the next frame (see the type comment for the end).
func (s *Subscription) Recv(ctx context.Context) (Frame, error) { return s.buf.Pop(ctx) }

// TryRecv returns a buffered frame without waiting.
func (s *Subscription) TryRecv() (Frame, bool) { return s.buf.TryPop() }

// Ready is signalled when a frame arrives or the subscription ends.
func (s *Subscription) Ready() <-chan struct{} { return s.buf.Ready() }

// Done is closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.buf.Done() }

// Err returns the end error once ended, else nil.
func (s *Subscription) Err() error { return s.buf.Err() }

// Dropped returns the number of frames this stream's buffer dropped because the reader was slow.
func (s *Subscription) Dropped() uint64 { return s.buf.Dropped() }

// Lost returns the frames this stream will never deliver: Dropped plus the frames lost
// upstream between those it received (the sum of the DroppedBefore it reports, and of frames
// not read yet).
func (s *Subscription) Lost() uint64 { return s.buf.Lost() }

// Active reports whether the SFU subscription is established.
func (s *Subscription) Active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == 1
}

func (s *Subscription) setActive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != 0 {
		return false
	}
	s.state = 1
	return true
}

// end closes the stream: failed if it never became active, else a normal end with cause.
func (s *Subscription) end(cause, failure error) error {
	s.mu.Lock()
	was := s.state
	s.state = 2
	s.mu.Unlock()
	if was == 2 {
		return s.buf.Err()
	}
	var err error
	if was == 0 && failure != nil {
		err = failure
	} else {
		err = &StreamEndError{Cause: cause}
	}
	s.buf.Close(err)
	return err
}

// Outputs of the RemoteManager.
type (
	// RemoteOutput is one output of the RemoteManager: SendRequest, RemoteTrackPublished,
	// RemoteTrackUnpublished, RemoteTrackSidChanged, SubscriptionActive, SubscriptionEnded or
	// SubscriptionPermissionChanged.
	RemoteOutput interface{ remoteOutput() }

	// RemoteTrackPublished: a remote participant published a track (emitted before any frame).
	RemoteTrackPublished struct {
		Info TrackInfo // the new track
	}

	// RemoteTrackUnpublished: a remote track went away (unpublished or publisher left).
	RemoteTrackUnpublished struct {
		Info TrackInfo // the track that went away
	}

	// RemoteTrackSidChanged: the publisher republished after a full reconnect; the track keeps
	// its identity and subscriptions (no published/unpublished events,
	// docs/protocol.md, Reconnection of data tracks).
	RemoteTrackSidChanged struct {
		Info   TrackInfo // the track with its new SID
		OldSid string    // the SID it had before
	}

	// SubscriptionActive: the subscription is established and frames will flow.
	SubscriptionActive struct {
		Subscription *Subscription // the now-active stream
	}

	// SubscriptionEnded: the subscription ended for a reason other than the caller's own
	// Unsubscribe; Err is what Recv returns after the buffered frames.
	SubscriptionEnded struct {
		Subscription *Subscription // the ended stream
		Err          error         // what its Recv returns after the buffered frames
	}

	// SubscriptionPermissionChanged: the publisher revoked (Allowed false) or granted again
	// (Allowed true) the permission of an established subscription. A revoked subscription
	// stays open and receives nothing until the permission is granted again, when the server
	// resumes it by itself (docs/protocol.md, Subscription permissions). After a revoked
	// subscription was closed, a later subscription of the track that the server allows is
	// reported with Allowed true too, before it is established (SubscriptionRevoked).
	SubscriptionPermissionChanged struct {
		Info    TrackInfo // the subscribed track
		Allowed bool      // whether frames may flow now
	}
)

func (RemoteTrackPublished) remoteOutput()   {}
func (RemoteTrackUnpublished) remoteOutput() {}
func (RemoteTrackSidChanged) remoteOutput()  {}
func (SubscriptionActive) remoteOutput()     {}
func (SubscriptionEnded) remoteOutput()      {}

func (SubscriptionPermissionChanged) remoteOutput() {}

// RemoteConfig configures a RemoteManager.
type RemoteConfig struct {
	// LocalIdentity is the local participant's identity; its own ParticipantInfo is skipped.
	LocalIdentity string
	// Decryptor decrypts frames of E2EE tracks; nil means the room has no E2EE keys, and
	// subscribing to an E2EE track fails with ErrE2EENoKeys.
	Decryptor FrameDecryptor
	// SubscribeTimeout bounds the wait for a subscriber handle (0 = DefaultSubscribeTimeout).
	SubscribeTimeout time.Duration
	// Logger receives debug records (nil = discard).
	Logger *slog.Logger
}

type subState uint8

const (
	subNone subState = iota
	subPending
	subActive
)

type remoteTrack struct {
	info       TrackInfo
	state      subState
	deadline   time.Time
	handle     uint16 // current route, 0 = none
	refused    bool   // the server's last answer for the subscription was a refusal
	revoked    bool   // the last SubscriptionPermissionChanged said Allowed false (SubscriptionRevoked)
	subs       []*Subscription
	pipeline   *ReceivePipeline
	maxPartial int
}

// RemoteStats are the RemoteManager's counters.
type RemoteStats struct {
	// Packets counts packets handed to HandlePacket.
	Packets uint64
	// Frames counts frames delivered to subscriptions (once per frame, not per stream).
	Frames uint64
	// Drops counts drops per DropReason (index with the reason).
	Drops [numDropReasons]uint64
}

// RemoteManager is the state machine of the subscribing side (docs/protocol.md:
// Remote tracks and subscriptions; Reconnection of data tracks; Sending and pacing): remote
// track discovery, subscribe/unsubscribe with fan-out, the subscriber-handle route table and the
// packet hot path. Signalling inputs come from the room's loop; HandlePacket comes from the data
// channel's receive goroutine, so the manager is safe for concurrent use (one narrow mutex;
// HandlePacket never blocks on a reader — stream buffers drop per their policy).
type RemoteManager struct {
	mu       sync.Mutex
	cfg      RemoteConfig
	log      *slog.Logger
	tracks   map[string]*remoteTrack // by SID
	routes   map[uint16]*remoteTrack // subscriber handle → track
	snapshot map[uint16]string       // latest DataTrackSubscriberHandles: handle → SID
	aliases  map[string]*remoteTrack // SIDs replaced by a SID reassignment → track
	sessions map[string]session      // remote participant identity → the session whose update was applied last
	nextSub  uint64
	stats    RemoteStats
	closed   bool
	pkt      Packet // scratch for HandlePacket
}

// session is the participant session (SID) whose ParticipantInfo a publisher's tracks were taken
// from, and that info's version.
type session struct {
	sid     string
	version uint32
}

// NewRemoteManager returns a manager for one room connection.
func NewRemoteManager(cfg RemoteConfig) *RemoteManager {
	if cfg.SubscribeTimeout <= 0 {
		cfg.SubscribeTimeout = DefaultSubscribeTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RemoteManager{
		cfg: cfg, log: log,
		tracks:   map[string]*remoteTrack{},
		routes:   map[uint16]*remoteTrack{},
		snapshot: map[uint16]string{},
		aliases:  map[string]*remoteTrack{},
		sessions: map[string]session{},
	}
}

// HandleJoin applies JoinResponse.other_participants (or, after a full reconnect, the new
// session's complete list): like UpdateParticipants, and additionally every known publisher
// absent from the list is treated as gone.
func (m *RemoteManager) HandleJoin(others []*lkpb.ParticipantInfo, now time.Time) []RemoteOutput {
	m.mu.Lock()
	defer m.mu.Unlock()
	present := map[string]bool{}
	for _, p := range others {
		present[p.GetIdentity()] = true
	}
	for id := range m.sessions {
		if !present[id] {
			delete(m.sessions, id)
		}
	}
	var out []RemoteOutput
	for _, sid := range m.sortedSids() {
		t := m.tracks[sid]
		if !present[t.info.PublisherIdentity] {
			out = m.unpublishLocked(t, out)
		}
	}
	return m.updateLocked(others, out)
}

// UpdateParticipants applies ParticipantUpdate.participants
// (docs/protocol.md, Remote tracks and subscriptions). Participants absent from the message are
// untouched; a DISCONNECTED participant loses all its tracks.
func (m *RemoteManager) UpdateParticipants(ps []*lkpb.ParticipantInfo, now time.Time) []RemoteOutput {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updateLocked(ps, nil)
}

func (m *RemoteManager) updateLocked(ps []*lkpb.ParticipantInfo, out []RemoteOutput) []RemoteOutput {
	if m.closed {
		return out
	}
	for _, p := range ps {
		id := p.GetIdentity()
		if id == "" || id == m.cfg.LocalIdentity {
			continue
		}
		cur, known := m.sessions[id]
		if known && cur.sid == p.GetSid() && p.GetVersion() != 0 && p.GetVersion() < cur.version {
			continue // stale update
		}
		infos := p.GetDataTracks()
		if p.GetState() == lkpb.ParticipantInfo_DISCONNECTED {
			if known && p.GetSid() != "" && p.GetSid() != cur.sid {
				// An earlier session of an identity that has rejoined since (as the room's
				// participant table decides): its tracks are the new session's.
				continue
			}
			delete(m.sessions, id)
			infos = nil
		} else {
			m.sessions[id] = session{sid: p.GetSid(), version: p.GetVersion()}
		}
		seen := map[string]bool{}
		var added []*remoteTrack
		for _, raw := range infos {
			info, ok := trackInfoFromProto(raw, id)
			if !ok {
				m.log.Debug("datatrack: invalid DataTrackInfo skipped", "publisher", id)
				continue
			}
			seen[info.Sid] = true
			if _, known := m.tracks[info.Sid]; known {
				continue
			}
			if t := m.findReassigned(&info); t != nil {
				old := t.info.Sid
				delete(m.tracks, old)
				t.info.Sid = info.Sid
				m.tracks[info.Sid] = t
				m.aliases[old] = t
				if t.pipeline != nil {
					t.pipeline.RestartNumbering() // a new packetizer numbers from 0 again
				}
				out = append(out, RemoteTrackSidChanged{Info: t.info, OldSid: old})
				if t.state != subNone {
					out = append(out, subscriptionRequest(info.Sid, true))
				}
				continue
			}
			t := &remoteTrack{info: info, maxPartial: DefaultMaxPartialFrames}
			added = append(added, t)
		}
		for _, sid := range m.sortedSids() {
			if t := m.tracks[sid]; t.info.PublisherIdentity == id && !seen[sid] {
				out = m.unpublishLocked(t, out)
			}
		}
		for _, t := range added {
			m.tracks[t.info.Sid] = t
			out = append(out, RemoteTrackPublished{Info: t.info})
		}
	}
	return out
}

// findReassigned finds a known track of the same publisher and handle with equal attributes: the
// publisher republished it after a full reconnect (SID reassignment:
// docs/protocol.md, Remote tracks and subscriptions).
func (m *RemoteManager) findReassigned(info *TrackInfo) *remoteTrack {
	for _, t := range m.tracks {
		if t.info.PublisherIdentity == info.PublisherIdentity && t.info.Handle == info.Handle {
			if sameAttributes(&t.info, info) {
				return t
			}
			return nil
		}
	}
	return nil
}

// unpublishLocked forgets a track: route removed, streams ended normally (pending ones fail
// with ErrTrackUnpublished), event emitted.
func (m *RemoteManager) unpublishLocked(t *remoteTrack, out []RemoteOutput) []RemoteOutput {
	delete(m.tracks, t.info.Sid)
	for sid, a := range m.aliases {
		if a == t {
			delete(m.aliases, sid)
		}
	}
	m.dropRoute(t)
	out = m.endSubsLocked(t, ErrTrackUnpublished, ErrTrackUnpublished, out)
	t.state = subNone
	t.pipeline = nil
	return append(out, RemoteTrackUnpublished{Info: t.info})
}

func (m *RemoteManager) endSubsLocked(t *remoteTrack, cause, failure error, out []RemoteOutput) []RemoteOutput {
	for _, s := range t.subs {
		out = append(out, SubscriptionEnded{Subscription: s, Err: s.end(cause, failure)})
	}
	t.subs = nil
	return out
}

func (m *RemoteManager) dropRoute(t *remoteTrack) {
	if t.handle != 0 && m.routes[t.handle] == t {
		delete(m.routes, t.handle)
	}
	t.handle = 0
}

// RemoveParticipant forgets every track of a participant that left (JS fails pending
// subscriptions at once; the later ParticipantUpdate is then a no-op).
func (m *RemoteManager) RemoveParticipant(identity string, now time.Time) []RemoteOutput {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []RemoteOutput
	for _, sid := range m.sortedSids() {
		if t := m.tracks[sid]; t.info.PublisherIdentity == identity {
			out = m.unpublishLocked(t, out)
		}
	}
	return out
}

// Track returns the info of a known remote track.
func (m *RemoteManager) Track(sid string) (TrackInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tracks[sid]
	if !ok {
		return TrackInfo{}, false
	}
	return t.info, true
}

// Tracks returns every known remote track, ordered by SID.
func (m *RemoteManager) Tracks() []TrackInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []TrackInfo
	for _, sid := range m.sortedSids() {
		out = append(out, m.tracks[sid].info)
	}
	return out
}

// Subscribe adds a local stream for the track sid
// (docs/protocol.md, Remote tracks and subscriptions). The first stream sends
// update_data_subscription and waits (SubscriptionActive or SubscriptionEnded follow); further
// streams join the pending wait or attach at once if active. If the last handle snapshot still
// maps the SID (unsubscribe/subscribe race, docs/protocol.md: Remote tracks and subscriptions) the subscription activates
// immediately. Errors: ErrInvalidOption (BufferSize or BufferBytes out of range), ErrUnknownTrack, ErrE2EENoKeys,
// ErrDisconnected.
func (m *RemoteManager) Subscribe(sid string, opts SubscribeOptions, now time.Time) (*Subscription, []RemoteOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := CheckRange("BufferSize", int64(opts.BufferSize), 0, MaxSubscriberBufferFrames); err != nil {
		return nil, nil, err
	}
	if err := CheckRange("BufferBytes", int64(opts.BufferBytes), 0, MaxSubscriberBufferBytes); err != nil {
		return nil, nil, err
	}
	if m.closed {
		return nil, nil, ErrDisconnected
	}
	t, ok := m.tracks[sid]
	if !ok {
		return nil, nil, ErrUnknownTrack
	}
	if t.info.Encrypted && m.cfg.Decryptor == nil {
		return nil, nil, ErrE2EENoKeys
	}
	m.nextSub++
	s := &Subscription{id: m.nextSub, info: t.info, buf: NewFrameBuffer(opts.BufferSize, opts.BufferBytes, opts.DropPolicy)}
	t.subs = append(t.subs, s)
	var out []RemoteOutput
	switch t.state {
	case subActive:
		s.setActive()
		out = append(out, SubscriptionActive{Subscription: s})
	case subPending:
	case subNone:
		out = append(out, subscriptionRequest(sid, true))
		t.state = subPending
		t.refused = false
		t.deadline = now.Add(m.cfg.SubscribeTimeout)
		for _, h := range sortedKeys(m.snapshot) {
			if m.lookupLocked(m.snapshot[h]) == t {
				out = m.activateLocked(t, h, out)
				break
			}
		}
	}
	return s, out, nil
}

func (m *RemoteManager) activateLocked(t *remoteTrack, handle uint16, out []RemoteOutput) []RemoteOutput {
	if t.pipeline == nil {
		pl, err := NewReceivePipeline(t.info.PublisherIdentity, t.info.Encrypted, m.cfg.Decryptor, t.maxPartial)
		if err != nil { // unreachable: checked at Subscribe
			out = m.endSubsLocked(t, err, err, out)
			t.state = subNone
			return append(out, subscriptionRequest(t.info.Sid, false))
		}
		t.pipeline = pl
	}
	m.routeLocked(t, handle)
	t.state = subActive
	t.refused = false
	for _, s := range t.subs {
		if s.setActive() {
			out = append(out, SubscriptionActive{Subscription: s})
		}
	}
	return out
}

func (m *RemoteManager) routeLocked(t *remoteTrack, handle uint16) {
	if t.handle == handle && m.routes[handle] == t {
		return
	}
	m.dropRoute(t)
	if old := m.routes[handle]; old != nil && old != t {
		old.handle = 0
	}
	m.routes[handle] = t
	t.handle = handle
	if t.pipeline != nil {
		t.pipeline.Depacketizer().Reset()
	}
}

// Unsubscribe closes one local stream (its Recv then returns a *StreamEndError with nil Cause).
// When it was the last stream of the track, update_data_subscription {subscribe: false} is sent
// and the route removed (docs/protocol.md, Remote tracks and subscriptions).
func (m *RemoteManager) Unsubscribe(s *Subscription, now time.Time) ([]RemoteOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tracks {
		i := slices.Index(t.subs, s)
		if i < 0 {
			continue
		}
		t.subs = slices.Delete(t.subs, i, i+1)
		s.end(nil, &StreamEndError{})
		if len(t.subs) > 0 || t.state == subNone {
			return nil, nil
		}
		m.dropRoute(t)
		t.state = subNone
		t.pipeline = nil
		return []RemoteOutput{subscriptionRequest(t.info.Sid, false)}, nil
	}
	return nil, ErrUnknownSubscription
}

// SetMaxPartialFrames sets the track's depacketizer capacity (docs/protocol.md, Depacketizer);
// it applies from the next packet, before or after subscribing.
func (m *RemoteManager) SetMaxPartialFrames(sid string, n int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tracks[sid]
	if !ok {
		return ErrUnknownTrack
	}
	t.maxPartial = clampPartial(n)
	if t.pipeline != nil {
		t.pipeline.Depacketizer().SetMaxPartialFrames(n)
	}
	return nil
}

// HandleSubscriberHandles applies a DataTrackSubscriberHandles message. The server always
// sends a full snapshot, so it replaces the route table (docs/protocol.md, Departures: JS/Rust
// apply it additively) while subscription states stay: Pending tracks named in it activate,
// Active tracks are re-routed to their new handle, routes absent from it are removed.
func (m *RemoteManager) HandleSubscriberHandles(msg *lkpb.DataTrackSubscriberHandles, now time.Time) []RemoteOutput {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	snap := make(map[uint16]string, len(msg.GetSubHandles()))
	for h, e := range msg.GetSubHandles() {
		if h == 0 || h > MaxHandle || e.GetTrackSid() == "" {
			continue
		}
		snap[uint16(h)] = e.GetTrackSid()
	}
	m.snapshot = snap
	var out []RemoteOutput
	mapped := map[*remoteTrack]bool{}
	for _, h := range sortedKeys(snap) {
		t := m.lookupLocked(snap[h])
		if t == nil || t.state == subNone {
			continue // unknown SID or not subscribed (e.g. auto-subscribe): ignored
		}
		mapped[t] = true
		if t.state == subPending {
			out = m.activateLocked(t, h, out)
		} else {
			m.routeLocked(t, h)
		}
	}
	for h, t := range m.routes {
		if !mapped[t] {
			delete(m.routes, h)
			t.handle = 0
		}
	}
	return out
}

// HandleSubscriptionPermission applies a SubscriptionPermissionUpdate naming a data-track SID
// (other SIDs are ignored; handled reports whether the SID is a known data track). A refusal
// while Pending shortens the wait to PermissionGrace: unless a grant follows (then the handle
// does, with the subscribe timeout's wait again), Tick fails the subscription with ErrSubscribeNotAllowed and unsubscribes. For an
// established subscription a change of the answer is reported with
// SubscriptionPermissionChanged and the subscription kept: the server has taken its handle
// away, and gives a new one when the permission is granted again. An allowed=true that changes
// nothing (also sent on every normal subscribe) is ignored.
func (m *RemoteManager) HandleSubscriptionPermission(u *lkpb.SubscriptionPermissionUpdate, now time.Time) (out []RemoteOutput, handled bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tracks[u.GetTrackSid()]
	if !ok {
		return nil, false
	}
	allowed := u.GetAllowed()
	switch t.state {
	case subPending:
		switch {
		case !allowed && !t.refused:
			t.deadline = minTime(t.deadline, now.Add(PermissionGrace))
		case allowed && t.refused: // lifted: the handle comes next, as after a subscribe
			t.deadline = now.Add(m.cfg.SubscribeTimeout)
		}
		t.refused = !allowed
		if allowed && t.revoked {
			// A new subscription of a track whose earlier one was revoked, then closed: the
			// publisher allows it now.
			t.revoked = false
			return []RemoteOutput{SubscriptionPermissionChanged{Info: t.info, Allowed: true}}, true
		}
	case subActive:
		if allowed == t.refused {
			t.refused = !allowed
			t.revoked = !allowed
			return []RemoteOutput{SubscriptionPermissionChanged{Info: t.info, Allowed: allowed}}, true
		}
	}
	return nil, true
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// SubscriptionRevoked reports whether the publisher of the track sid revoked this
// participant's permission to receive it: the last SubscriptionPermissionChanged for it said
// Allowed false. It changes only with that output: it stays true when the revoked
// subscription is closed, until a later subscription of the track is allowed (which is
// reported with Allowed true even before it is established). False for an unknown track.
func (m *RemoteManager) SubscriptionRevoked(sid string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tracks[sid]
	return t != nil && t.revoked
}

// HandleSignal dispatches the data-track related parts of a SignalResponse: join, update,
// data_track_subscriber_handles and subscription_permission_update for data-track SIDs.
func (m *RemoteManager) HandleSignal(resp *lkpb.SignalResponse, now time.Time) (out []RemoteOutput, handled bool) {
	switch msg := resp.GetMessage().(type) {
	case *lkpb.SignalResponse_Join:
		return m.HandleJoin(msg.Join.GetOtherParticipants(), now), true
	case *lkpb.SignalResponse_Update:
		return m.UpdateParticipants(msg.Update.GetParticipants(), now), true
	case *lkpb.SignalResponse_DataTrackSubscriberHandles:
		return m.HandleSubscriberHandles(msg.DataTrackSubscriberHandles, now), true
	case *lkpb.SignalResponse_SubscriptionPermissionUpdate:
		return m.HandleSubscriptionPermission(msg.SubscriptionPermissionUpdate, now)
	}
	return nil, false
}

// Tick fails subscriptions whose handle did not arrive in time: like JS, an unsubscribe is
// sent and the waiters get ErrTimeout, or ErrSubscribeNotAllowed when the server's last word
// was a refusal (docs/protocol.md, Remote tracks and subscriptions).
func (m *RemoteManager) Tick(now time.Time) []RemoteOutput {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []RemoteOutput
	for _, sid := range m.sortedSids() {
		t := m.tracks[sid]
		if t.state != subPending || now.Before(t.deadline) {
			continue
		}
		err := ErrTimeout
		if t.refused {
			err = ErrSubscribeNotAllowed
		}
		out = m.endSubsLocked(t, err, err, out)
		t.state = subNone
		t.refused = false
		out = append(out, subscriptionRequest(sid, false))
	}
	return out
}

// NextDeadline returns the earliest pending-subscription deadline.
func (m *RemoteManager) NextDeadline() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best time.Time
	found := false
	for _, t := range m.tracks {
		if t.state == subPending && (!found || t.deadline.Before(best)) {
			best, found = t.deadline, true
		}
	}
	return best, found
}

// SessionLost is called when the local participant starts a full reconnect: every route and
// the snapshot are dropped (the new session assigns new handles); subscriptions survive (Rust
// behaviour, docs/protocol.md: Reconnection of data tracks; Departures).
func (m *RemoteManager) SessionLost(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tracks {
		t.handle = 0
		if t.pipeline != nil {
			t.pipeline.Depacketizer().Reset()
		}
	}
	clear(m.routes)
	clear(m.snapshot)
}

// SessionRestored re-sends update_data_subscription{subscribe: true} for every Pending or
// Active track once the new session is up; pending deadlines restart.
func (m *RemoteManager) SessionRestored(now time.Time) []RemoteOutput {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []RemoteOutput
	for _, sid := range m.sortedSids() {
		t := m.tracks[sid]
		if t.state == subNone {
			continue
		}
		if t.state == subPending {
			t.deadline = now.Add(m.cfg.SubscribeTimeout)
		}
		out = append(out, subscriptionRequest(sid, true))
	}
	return out
}

// Close ends everything (room disconnect): established streams end with a *StreamEndError
// whose cause is ErrDisconnected, pending ones fail with ErrDisconnected; every track is
// forgotten with a RemoteTrackUnpublished output. Idempotent.
func (m *RemoteManager) Close() []RemoteOutput {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var out []RemoteOutput
	for _, sid := range m.sortedSids() {
		t := m.tracks[sid]
		out = m.endSubsLocked(t, ErrDisconnected, ErrDisconnected, out)
		out = append(out, RemoteTrackUnpublished{Info: t.info})
	}
	clear(m.tracks)
	clear(m.aliases)
	clear(m.routes)
	clear(m.snapshot)
	return out
}

// PacketOutcome reports what HandlePacket did with one packet; drops are also counted in
// Stats. The room layer may turn DropDecryptFailed drops into application events.
type PacketOutcome struct {
	// TrackSid is the track the packet was routed to ("" if unrouted or malformed).
	TrackSid string
	// Delivered reports that a frame was completed and handed to the track's streams.
	Delivered bool
	drops     [2]Drop
	nDrops    int
}

// Drops returns the drops caused by the packet.
func (o *PacketOutcome) Drops() []Drop { return o.drops[:o.nDrops] }

// HandlePacket is the hot path for one message received on a _data_track channel: decode
// (docs/protocol.md, Packet format), route by subscriber handle, depacketize, decrypt, fan out
// to every stream's buffer. Malformed packets and unmapped handles are dropped and counted,
// never fatal. data must not be reused by the caller afterwards (payloads are kept until their
// frame completes).
func (m *RemoteManager) HandlePacket(data []byte) PacketOutcome {
	m.mu.Lock()
	defer m.mu.Unlock()
	var o PacketOutcome
	m.stats.Packets++
	if err := m.pkt.Unmarshal(data); err != nil {
		m.stats.Drops[DropMalformedPacket]++
		o.drops[0], o.nDrops = Drop{Reason: DropMalformedPacket, Err: err}, 1
		return o
	}
	t := m.routes[m.pkt.Handle]
	if t == nil || t.pipeline == nil {
		m.stats.Drops[DropUnknownHandle]++
		o.drops[0], o.nDrops = Drop{Reason: DropUnknownHandle}, 1
		return o
	}
	o.TrackSid = t.info.Sid
	r := t.pipeline.Push(&m.pkt)
	m.pkt = Packet{}
	for _, d := range r.Drops() {
		m.stats.Drops[d.Reason]++
		if o.nDrops < len(o.drops) {
			o.drops[o.nDrops] = d
			o.nDrops++
		}
	}
	if r.HasFrame {
		m.stats.Frames++
		o.Delivered = true
		for _, s := range t.subs {
			s.buf.Push(r.Frame) // subscribers share the payload; it is never written to
		}
	}
	return o
}

// Stats returns a snapshot of the counters.
func (m *RemoteManager) Stats() RemoteStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// lookupLocked finds a track by current SID or by a SID it had before a reassignment (the old
// handle keeps routing until the server maps a new one,
// docs/protocol.md, Remote tracks and subscriptions).
func (m *RemoteManager) lookupLocked(sid string) *remoteTrack {
	if t, ok := m.tracks[sid]; ok {
		return t
	}
	return m.aliases[sid]
}

func (m *RemoteManager) sortedSids() []string {
	return sortedKeys(m.tracks)
}

func sortedKeys[K ~string | ~uint16, V any](mp map[K]V) []K {
	ks := make([]K, 0, len(mp))
	for k := range mp {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
