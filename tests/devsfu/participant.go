package devsfu

import (
	"bytes"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Limits of UpdateParticipantMetadata (livekit-server defaults).
const (
	maxNameLength      = 256
	maxMetadataSize    = 512 << 10
	maxAttributesSize  = 64 << 10
	minRefreshTokenTTL = 10 * time.Minute
	refreshedTokenKind = "standard"
)

// Participant is one session in a room (one participant sid).
type Participant struct {
	room       atomic.Pointer[Room] // replaced by a move (Server.MoveParticipant)
	s          *Server
	sid        string
	identity   string
	kind       lkpb.ParticipantInfo_Kind
	hidden     bool
	joinedAt   time.Time
	claims     *auth.Claims
	grants     atomic.Pointer[auth.VideoGrant] // replaced whole by UpdateParticipantPermission
	clientInfo *lkpb.ClientInfo
	settings   *lkpb.ConnectionSettings
	log        *slog.Logger
	tr         *transport

	mu           sync.Mutex
	state        lkpb.ParticipantInfo_State
	version      uint32
	name         string
	metadata     string
	attributes   map[string]string
	isPublisher  bool
	media        []*lkpb.TrackInfo // media tracks described (mediatrack.go); guarded by mu
	closed       bool
	closeTimer   *time.Timer
	refreshTimer *time.Timer
	// dropResumeUntil: close the signalling of a resume before this time (simulate.go)
	dropResumeUntil time.Time
	sentVersions    map[string]uint32         // per subject sid: highest version sent to this receiver
	published       map[uint32]*dataTrack     // data tracks by publisher handle
	blobs           map[string]*lkpb.DataBlob // stored data blobs by key (datablob.go)
	// toldSpeakers: the active speakers last told to this receiver, sid → level (speakers.go;
	// guarded by the room's mu)
	toldSpeakers map[string]float32

	sigMu   sync.Mutex
	sc      *signalConn
	sigHold bool                   // sc's first response (join/reconnect) not sent yet
	sigHeld []*lkpb.SignalResponse // messages for sc queued until then (maxHeldSignal)

	lastSeq atomic.Uint32 // last accepted reliable sequence from this participant

	dataMu       sync.Mutex
	ready        bool // livekit's "fully established"
	pending      [][]byte
	pendingBytes int

	// Subscriber side of data tracks; guarded by room.mu.
	subs       map[string]*subscription // by track sid
	nextHandle uint16
	// Publisher side: who may subscribe to its tracks (subperm.go); guarded by room.mu.
	subPerm trackPermissions
}

func newParticipant(r *Room, jp *joinParams) (*Participant, error) {
	c := jp.claims
	p := &Participant{
		s:            r.s,
		sid:          newID(prefixParticipant),
		identity:     c.Identity,
		kind:         kindFromClaim(c.Kind),
		hidden:       c.Video.Hidden,
		joinedAt:     time.Now(),
		claims:       c.Clone(),
		clientInfo:   jp.jr.GetClientInfo(),
		settings:     jp.jr.GetConnectionSettings(),
		name:         c.Name,
		metadata:     c.Metadata,
		attributes:   maps.Clone(c.Attributes),
		state:        lkpb.ParticipantInfo_JOINING,
		sentVersions: map[string]uint32{},
		published:    map[uint32]*dataTrack{},
		subs:         map[string]*subscription{},
	}
	p.room.Store(r)
	p.grants.Store(c.Video.Clone())
	if md := jp.jr.GetMetadata(); md != "" {
		p.metadata = md
	}
	for k, v := range jp.jr.GetParticipantAttributes() {
		if v == "" {
			continue // cannot delete at join
		}
		if p.attributes == nil {
			p.attributes = map[string]string{}
		}
		p.attributes[k] = v
	}
	if !r.s.opts.DeterministicHandles {
		// v1.13.5 seeds each participant's subscriber-handle counter with
		// rand.Intn(256) and pre-increments (as recorded).
		p.nextHandle = uint16(randIntn(256))
	}
	p.log = r.s.log.With("identity", p.identity, "sid", p.sid)
	api := r.s.api
	if supportsSCTPZeroChecksum(p.clientInfo) {
		api = r.s.apiZeroChecksum
	}
	tr, err := newTransport(api, p, p.log)
	if err != nil {
		return nil, err
	}
	p.tr = tr
	return p, nil
}

func kindFromClaim(k string) lkpb.ParticipantInfo_Kind {
	switch k {
	case "ingress":
		return lkpb.ParticipantInfo_INGRESS
	case "egress":
		return lkpb.ParticipantInfo_EGRESS
	case "sip":
		return lkpb.ParticipantInfo_SIP
	case "agent":
		return lkpb.ParticipantInfo_AGENT
	case "connector":
		return lkpb.ParticipantInfo_CONNECTOR
	case "bridge":
		return lkpb.ParticipantInfo_BRIDGE
	default:
		return lkpb.ParticipantInfo_STANDARD
	}
}

// kindDetailsFromClaim maps the token's "kindDetails" (KindDetail names in lower case) as
// livekit's auth.ClaimGrants.GetKindDetails does: unknown names are skipped.
func kindDetailsFromClaim(names []string) []lkpb.ParticipantInfo_KindDetail {
	var out []lkpb.ParticipantInfo_KindDetail
	for _, n := range names {
		if v, ok := lkpb.ParticipantInfo_KindDetail_value[strings.ToUpper(n)]; ok {
			out = append(out, lkpb.ParticipantInfo_KindDetail(v))
		}
	}
	return out
}

// SID returns the participant's PA_ id.
func (p *Participant) SID() string { return p.sid }

// Identity returns the participant identity.
func (p *Participant) Identity() string { return p.identity }

func (p *Participant) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Participant) isPublisherNow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isPublisher
}

// grant returns the participant's current grants (its token's, as changed by
// UpdateParticipantPermission since); never modified in place.
func (p *Participant) grant() *auth.VideoGrant { return p.grants.Load() }

// rm returns the room the participant is in now.
func (p *Participant) rm() *Room { return p.room.Load() }

// setPermission applies the permission part of livekit-server's
// RoomService.UpdateParticipant: subscribe, publish, publish data and update
// own metadata (hidden, recorder and agent stay as the token said). What the
// participant may do is checked against the new grants from then on; without
// publish-data its data tracks are removed, without a message to it (as
// v1.13 does). The server then announces the participant to everyone, itself
// included, and its refreshed tokens carry the new grants.
func (p *Participant) setPermission(perm *lkpb.ParticipantPermission) {
	g := p.grant().Clone()
	g.CanSubscribe = auth.Bool(perm.GetCanSubscribe())
	g.CanPublish = auth.Bool(perm.GetCanPublish())
	g.CanPublishData = auth.Bool(perm.GetCanPublishData())
	g.CanUpdateOwnMetadata = auth.Bool(perm.GetCanUpdateMetadata())
	p.grants.Store(g) // before the tracks go: no publish slips in between
	if !g.EffectiveCanPublishData() {
		p.rm().unpublishAll(p)
	}
	p.bumpAndBroadcast(func() bool { return true })
	p.sendRefreshToken()
}

func (p *Participant) permission() *lkpb.ParticipantPermission {
	g := p.grant()
	perm := &lkpb.ParticipantPermission{
		CanSubscribe:      g.EffectiveCanSubscribe(),
		CanPublish:        g.EffectiveCanPublish(),
		CanPublishData:    g.EffectiveCanPublishData(),
		Hidden:            g.Hidden,
		Recorder:          g.Recorder,
		CanUpdateMetadata: g.EffectiveCanUpdateOwnMetadata(),
		Agent:             g.Agent,
	}
	if g.CanSubscribeMetrics != nil {
		perm.CanSubscribeMetrics = *g.CanSubscribeMetrics
	}
	for _, src := range g.CanPublishSources {
		switch src {
		case "camera":
			perm.CanPublishSources = append(perm.CanPublishSources, lkpb.TrackSource_CAMERA)
		case "microphone":
			perm.CanPublishSources = append(perm.CanPublishSources, lkpb.TrackSource_MICROPHONE)
		case "screen_share":
			perm.CanPublishSources = append(perm.CanPublishSources, lkpb.TrackSource_SCREEN_SHARE)
		case "screen_share_audio":
			perm.CanPublishSources = append(perm.CanPublishSources, lkpb.TrackSource_SCREEN_SHARE_AUDIO)
		}
	}
	return perm
}

// info returns a snapshot of the participant as ParticipantInfo.
func (p *Participant) info() *lkpb.ParticipantInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.infoLocked()
}

func (p *Participant) infoLocked() *lkpb.ParticipantInfo {
	pi := &lkpb.ParticipantInfo{
		Sid:            p.sid,
		Identity:       p.identity,
		State:          p.state,
		Metadata:       p.metadata,
		JoinedAt:       p.joinedAt.Unix(),
		JoinedAtMs:     p.joinedAt.UnixMilli(),
		Name:           p.name,
		Version:        p.version,
		Permission:     p.permission(),
		IsPublisher:    p.isPublisher,
		Kind:           p.kind,
		KindDetails:    kindDetailsFromClaim(p.claims.KindDetails),
		Attributes:     maps.Clone(p.attributes),
		ClientProtocol: p.clientInfo.GetClientProtocol(),
		Capabilities:   slices.Clone(p.clientInfo.GetCapabilities()),
	}
	if p.state != lkpb.ParticipantInfo_DISCONNECTED {
		handles := slices.Sorted(maps.Keys(p.published))
		for _, h := range handles {
			pi.DataTracks = append(pi.DataTracks, p.published[h].infoProto())
		}
		pi.Tracks = p.mediaInfos()
	}
	return pi
}

// disconnectedInfo ends the session's state and returns its departure (DISCONNECTED, reason).
func (p *Participant) disconnectedInfo(reason lkpb.DisconnectReason) *lkpb.ParticipantInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = lkpb.ParticipantInfo_DISCONNECTED
	return p.departureInfoLocked(reason)
}

// departureInfoLocked returns the session's departure from its room as the others see it: a
// new version, DISCONNECTED with reason, no data tracks. It leaves the session's own state as
// it is (a move takes the session on to another room). Called with p.mu held.
func (p *Participant) departureInfoLocked(reason lkpb.DisconnectReason) *lkpb.ParticipantInfo {
	p.version++
	pi := p.infoLocked()
	pi.State = lkpb.ParticipantInfo_DISCONNECTED
	pi.DisconnectReason = reason
	pi.DataTracks = nil
	return pi
}

// setState moves to st and announces it (batched unless a publisher).
func (p *Participant) setState(st lkpb.ParticipantInfo_State) {
	p.mu.Lock()
	if p.closed || p.state == st || p.state == lkpb.ParticipantInfo_DISCONNECTED {
		p.mu.Unlock()
		return
	}
	p.state = st
	p.version++
	pi := p.infoLocked()
	pub := p.isPublisher
	p.mu.Unlock()
	p.rm().broadcastInfo(pi, pub, p.hidden)
}

// bumpAndBroadcast increments the version after a change made by f and
// announces the participant immediately; it reports whether f changed anything.
func (p *Participant) bumpAndBroadcast(f func() bool) bool {
	p.mu.Lock()
	if p.closed || !f() {
		p.mu.Unlock()
		return false
	}
	p.version++
	pi := p.infoLocked()
	p.mu.Unlock()
	p.rm().broadcastInfo(pi, true, p.hidden)
	return true
}

// --- signalling ---------------------------------------------------------

// attachSignal makes sc the participant's signal connection. Messages for
// it are held until releaseSignal sends its first response (JoinResponse or
// ReconnectResponse), which must come first on the wire: the participant is
// already in the room, so broadcasts (room_update, participant updates) can
// be addressed to it before that response is built.
func (p *Participant) attachSignal(sc *signalConn) *signalConn {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	old := p.sc
	p.sc = sc
	p.sigHold, p.sigHeld = true, nil
	return old
}

// maxHeldSignal caps the messages held before the first response.
const maxHeldSignal = 256

// releaseSignal sends first on the current connection, then the messages
// held since attachSignal, in order.
func (p *Participant) releaseSignal(first *lkpb.SignalResponse) {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	held := p.sigHeld
	p.sigHold, p.sigHeld = false, nil
	if p.sc == nil {
		return
	}
	for _, m := range append([]*lkpb.SignalResponse{first}, held...) {
		if err := p.sc.send(m); err != nil {
			p.log.Debug("signal send failed", "err", err)
			return
		}
	}
}

func (p *Participant) currentSignal() *signalConn {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	return p.sc
}

// sendSignal queues msg on the current signal connection (dropped while
// the client is between connections).
func (p *Participant) sendSignal(msg *lkpb.SignalResponse) {
	p.sigMu.Lock()
	if p.sigHold {
		if len(p.sigHeld) < maxHeldSignal {
			p.sigHeld = append(p.sigHeld, msg)
		}
		p.sigMu.Unlock()
		return
	}
	sc := p.sc
	p.sigMu.Unlock()
	if sc != nil {
		if err := sc.send(msg); err != nil {
			p.log.Debug("signal send failed", "err", err)
		}
	}
}

// sendUpdate sends the infos this receiver has not seen a newer version of.
func (p *Participant) sendUpdate(infos []*lkpb.ParticipantInfo) {
	p.mu.Lock()
	out := make([]*lkpb.ParticipantInfo, 0, len(infos))
	for _, pi := range infos {
		if last, ok := p.sentVersions[pi.GetSid()]; ok && pi.GetVersion() < last {
			continue
		}
		p.sentVersions[pi.GetSid()] = pi.GetVersion()
		out = append(out, pi)
	}
	p.mu.Unlock()
	if len(out) == 0 {
		return
	}
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Update{Update: &lkpb.ParticipantUpdate{Participants: out}}})
}

func (p *Participant) sendRequestResponse(rr *lkpb.RequestResponse) {
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_RequestResponse{RequestResponse: rr}})
}

// sendRefreshToken sends a fresh token (currentToken) and re-arms the periodic refresh.
func (p *Participant) sendRefreshToken() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.refreshTimer != nil {
		p.refreshTimer.Stop()
	}
	p.refreshTimer = time.AfterFunc(p.s.opts.RefreshTokenInterval, p.sendRefreshToken)
	p.mu.Unlock()
	tok, err := p.currentToken()
	if err != nil {
		return
	}
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_RefreshToken{RefreshToken: tok}})
}

// currentToken signs a token with the session's current grants (its room included), name,
// metadata and attributes (kind "standard" added as recorded), valid for max(10 min,
// remaining): what refresh_token and room_moved carry.
func (p *Participant) currentToken() (string, error) {
	c := p.claims.Clone()
	p.mu.Lock()
	c.Name, c.Metadata, c.Attributes = p.name, p.metadata, maps.Clone(p.attributes)
	p.mu.Unlock()
	c.Video = p.grant().Clone()
	if c.Kind == "" {
		c.Kind = refreshedTokenKind
	}
	return auth.NewToken(p.s.opts.APIKey, p.s.opts.APISecret, *c, max(minRefreshTokenTTL, time.Until(c.ExpiresAt)))
}

// handleRequest dispatches one SignalRequest read from sc.
func (p *Participant) handleRequest(sc *signalConn, req *lkpb.SignalRequest) {
	p.s.faults.waitStall()
	// Keepalive is answered on the connection it arrived on, right away
	// (livekit-server answers in the WebSocket handler).
	switch m := req.Message.(type) {
	case *lkpb.SignalRequest_Ping:
		_ = sc.send(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Pong{Pong: time.Now().UnixMilli()}})
		return
	case *lkpb.SignalRequest_PingReq:
		_ = sc.send(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_PongResp{PongResp: &lkpb.Pong{
			LastPingTimestamp: m.PingReq.GetTimestamp(),
			Timestamp:         time.Now().UnixMilli(),
		}}})
		return
	}
	if p.currentSignal() != sc {
		return // a superseded connection
	}
	if p.s.faults.signalPaused(p.identity) {
		return
	}
	switch m := req.Message.(type) {
	case *lkpb.SignalRequest_Offer:
		p.handleOffer(sc, m.Offer)
	case *lkpb.SignalRequest_Trickle:
		p.tr.addRemote(m.Trickle)
	case *lkpb.SignalRequest_Leave:
		// Echo leave{CLIENT_INITIATED} (action DISCONNECT), then close 1000.
		_ = sc.send(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: &lkpb.LeaveRequest{
			Reason: lkpb.DisconnectReason_CLIENT_INITIATED,
			Action: lkpb.LeaveRequest_DISCONNECT,
		}}})
		p.close(lkpb.DisconnectReason_CLIENT_INITIATED, false)
	case *lkpb.SignalRequest_UpdateMetadata:
		p.handleUpdateMetadata(m.UpdateMetadata)
	case *lkpb.SignalRequest_SyncState:
		p.handleSyncState(m.SyncState)
	case *lkpb.SignalRequest_PublishDataTrackRequest:
		p.rm().handlePublishDataTrack(p, m.PublishDataTrackRequest)
	case *lkpb.SignalRequest_UnpublishDataTrackRequest:
		p.rm().handleUnpublishDataTrack(p, m.UnpublishDataTrackRequest)
	case *lkpb.SignalRequest_UpdateDataSubscription:
		p.rm().handleUpdateDataSubscription(p, m.UpdateDataSubscription)
	case *lkpb.SignalRequest_StoreDataBlobRequest:
		p.handleStoreDataBlob(m.StoreDataBlobRequest)
	case *lkpb.SignalRequest_GetDataBlobRequest:
		p.handleGetDataBlob(m.GetDataBlobRequest)
	case *lkpb.SignalRequest_SubscriptionPermission:
		p.rm().handleSubscriptionPermission(p, m.SubscriptionPermission)
	case *lkpb.SignalRequest_Simulate:
		p.handleSimulate(m.Simulate)
	default:
		// answer (single-PC never offers), media requests: accepted and
		// ignored.
	}
}

func (p *Participant) handleOffer(sc *signalConn, off *lkpb.SessionDescription) {
	ans, err := p.tr.handleOffer(off)
	if err != nil {
		p.log.Warn("negotiation failed", "err", err)
		p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: &lkpb.LeaveRequest{
			CanReconnect: true,
			Reason:       lkpb.DisconnectReason_STATE_MISMATCH,
			Action:       lkpb.LeaveRequest_RECONNECT,
		}}})
		return
	}
	_ = sc
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Answer{Answer: ans}})
	p.tr.answerQueued()
}

func (p *Participant) handleUpdateMetadata(um *lkpb.UpdateParticipantMetadata) {
	rid := um.GetRequestId()
	if !p.grant().EffectiveCanUpdateOwnMetadata() {
		p.sendRequestResponse(&lkpb.RequestResponse{RequestId: rid, Reason: lkpb.RequestResponse_NOT_ALLOWED,
			Message: "does not have permission to update own metadata"})
		return
	}
	attrSize := 0
	for k, v := range um.GetAttributes() {
		attrSize += len(k) + len(v)
	}
	if len(um.GetName()) > maxNameLength || len(um.GetMetadata()) > maxMetadataSize || attrSize > maxAttributesSize {
		p.sendRequestResponse(&lkpb.RequestResponse{RequestId: rid, Reason: lkpb.RequestResponse_LIMIT_EXCEEDED,
			Message: "exceeds limits"})
		return
	}
	// As the server: the update, then (its claims changed) a refresh_token carrying the new
	// name, metadata and attributes, so that a full reconnect with it keeps them; then the
	// answer. (The server sends an update and a token for each field the request changes.)
	changed := p.bumpAndBroadcast(func() bool {
		changed := false
		if n := um.GetName(); n != "" && n != p.name {
			p.name, changed = n, true
		}
		if md := um.GetMetadata(); md != "" && md != p.metadata {
			p.metadata, changed = md, true
		}
		for k, v := range um.GetAttributes() {
			old, ok := p.attributes[k]
			switch {
			case v == "" && ok:
				delete(p.attributes, k)
				changed = true
			case v != "" && (!ok || old != v):
				if p.attributes == nil {
					p.attributes = map[string]string{}
				}
				p.attributes[k] = v
				changed = true
			}
		}
		return changed
	})
	if changed {
		p.sendRefreshToken()
	}
	p.sendRequestResponse(&lkpb.RequestResponse{RequestId: rid, Reason: lkpb.RequestResponse_OK})
}

// handleSyncState validates the data tracks a resuming client says it
// publishes (livekit room.go onSyncState): an entry without info or with a
// SID this session does not publish forces a full reconnect.
func (p *Participant) handleSyncState(ss *lkpb.SyncState) {
	p.mu.Lock()
	ok := true
	for _, r := range ss.GetPublishDataTracks() {
		info := r.GetInfo()
		if info == nil {
			ok = false
			break
		}
		found := false
		for _, t := range p.published {
			if t.sid == info.GetSid() {
				found = true
				break
			}
		}
		if !found {
			ok = false
			break
		}
	}
	p.mu.Unlock()
	if !ok {
		p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: &lkpb.LeaveRequest{
			CanReconnect: true,
			Reason:       lkpb.DisconnectReason_STATE_MISMATCH,
			Action:       lkpb.LeaveRequest_RECONNECT,
		}}})
		p.close(lkpb.DisconnectReason_STATE_MISMATCH, false)
	}
}

// resumeOn moves the session onto a new signal connection and replays the
// recorded resume sequence: reconnect, update (everyone incl. self; the
// recently departed first), room_update, refresh_token.
func (p *Participant) resumeOn(sc *signalConn, jp *joinParams) {
	if old := p.attachSignal(sc); old != nil && old != sc {
		old.drop()
	}
	p.mu.Lock()
	if p.closeTimer != nil {
		p.closeTimer.Stop()
		p.closeTimer = nil
	}
	p.version++
	if ci := jp.jr.GetClientInfo(); ci != nil {
		p.clientInfo = ci
	}
	p.mu.Unlock()
	rr := &lkpb.ReconnectResponse{
		IceServers:     p.s.iceServersFor(p.sid),
		ServerInfo:     p.s.serverInfo(),
		LastMessageSeq: p.lastSeq.Load(),
	}
	rr.ClientConfiguration = p.s.clientConfiguration()
	p.releaseSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Reconnect{Reconnect: rr}})
	cur, left := p.rm().allInfos(p)
	if len(left) > 0 {
		p.sendUpdate(left)
	}
	p.sendUpdate(cur)
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_RoomUpdate{RoomUpdate: &lkpb.RoomUpdate{Room: p.rm().proto()}}})
	p.sendRefreshToken()
	if p.takeDropResume() {
		p.log.Info("simulated: closing the resumed signal connection")
		sc.closeGraceful()
	}
}

// onSignalClosed runs when sc's read side ended without a handled leave.
// The session survives for a resume while its PeerConnection is up, like
// livekit-server; if ICE never connected it is closed at once.
func (p *Participant) onSignalClosed(sc *signalConn) {
	p.sigMu.Lock()
	if p.sc != sc {
		p.sigMu.Unlock()
		return
	}
	p.sc = nil
	p.sigMu.Unlock()
	sc.drop()
	if p.isClosed() {
		return
	}
	st := p.tr.pc.ConnectionState()
	if !p.tr.everConnected() || st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
		p.close(lkpb.DisconnectReason_SIGNAL_CLOSE, false)
	}
}

// close ends the session: DISCONNECTED to the room, optional leave to the
// client, graceful WebSocket close, PeerConnection closed. Idempotent.
func (p *Participant) close(reason lkpb.DisconnectReason, sendLeave bool) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.closeTimer != nil {
		p.closeTimer.Stop()
	}
	if p.refreshTimer != nil {
		p.refreshTimer.Stop()
	}
	p.mu.Unlock()

	p.rm().remove(p, reason)
	p.sigMu.Lock()
	sc := p.sc
	p.sc = nil
	p.sigMu.Unlock()
	if sc != nil {
		if sendLeave {
			_ = sc.send(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: &lkpb.LeaveRequest{
				Reason: reason,
				Action: lkpb.LeaveRequest_DISCONNECT,
			}}})
		}
		sc.closeGraceful()
	}
	p.closeTransport()
}

// abort ends the session without any message (server crash/restart).
func (p *Participant) abort() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.closeTimer != nil {
		p.closeTimer.Stop()
	}
	if p.refreshTimer != nil {
		p.refreshTimer.Stop()
	}
	p.mu.Unlock()
	p.sigMu.Lock()
	sc := p.sc
	p.sc = nil
	p.sigMu.Unlock()
	if sc != nil {
		sc.drop()
	}
	p.closeTransport()
}

func (p *Participant) closeTransport() {
	p.dataMu.Lock()
	p.pending, p.pendingBytes = nil, 0
	p.dataMu.Unlock()
	p.tr.close()
}

// --- transport events ---------------------------------------------------

func (p *Participant) onTrickle(t *lkpb.TrickleRequest) {
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Trickle{Trickle: t}})
}

func (p *Participant) onConnectionState(st webrtc.PeerConnectionState) {
	p.log.Debug("peer connection state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		p.setState(lkpb.ParticipantInfo_ACTIVE)
		p.checkReady()
	case webrtc.PeerConnectionStateFailed:
		if p.isClosed() {
			return
		}
		// Server-side transport failure: ask for a resume and keep the
		// session for PCFailureGrace (livekit: 5 s).
		if sc := p.currentSignal(); sc != nil {
			_ = sc.send(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: &lkpb.LeaveRequest{
				CanReconnect: true,
				Reason:       lkpb.DisconnectReason_CONNECTION_TIMEOUT,
				Action:       lkpb.LeaveRequest_RESUME,
			}}})
			p.sigMu.Lock()
			if p.sc == sc {
				p.sc = nil
			}
			p.sigMu.Unlock()
			sc.closeGraceful()
		}
		p.armCloseTimer(p.s.opts.PCFailureGrace, lkpb.DisconnectReason_CONNECTION_TIMEOUT)
	case webrtc.PeerConnectionStateClosed:
		if p.currentSignal() == nil {
			p.s.goBackground(func() { p.close(lkpb.DisconnectReason_CONNECTION_TIMEOUT, false) })
		}
	}
}

func (p *Participant) armCloseTimer(d time.Duration, reason lkpb.DisconnectReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.closeTimer != nil {
		p.closeTimer.Stop()
	}
	p.closeTimer = time.AfterFunc(d, func() {
		p.s.goBackground(func() { p.close(reason, false) })
	})
}

func (p *Participant) onChannelOpen(label string) {
	if label == labelDataTrack && p.s.opts.DataTracksNotAllowed {
		if d := p.tr.channel(labelDataTrack); d != nil {
			_ = d.raw.Close()
		}
		return
	}
	p.checkReady()
}

func (p *Participant) onChannelMessage(label string, msg []byte) {
	p.s.faults.waitStall()
	if p.s.faults.transportKilled(p.identity) {
		return
	}
	switch label {
	case labelReliable, labelLossy:
		p.rm().forwardData(p, label, msg)
	case labelDataTrack:
		p.rm().forwardDataTrack(p, msg)
	}
}

// --- data delivery ------------------------------------------------------

// acceptSequence implements the server's reliable dedupe: a sequence not
// above the last accepted one from this sender is dropped.
func (p *Participant) acceptSequence(seq uint32) bool {
	if seq <= p.lastSeq.Load() {
		return false
	}
	p.lastSeq.Store(seq)
	return true
}

// checkReady flushes reliable data held while the transport was not fully
// established.
func (p *Participant) checkReady() {
	p.dataMu.Lock()
	defer p.dataMu.Unlock()
	if p.ready || !p.tr.dataReady() {
		return
	}
	p.ready = true
	if d := p.tr.channel(labelReliable); d != nil {
		for _, b := range p.pending {
			_ = d.write(b)
		}
	}
	p.pending, p.pendingBytes = nil, 0
}

// deliverData writes a forwarded DataPacket to this participant.
// Reliable data waits (bounded) until both channels are open; lossy data
// needs an ACTIVE participant and is never queued. b is only read during
// the call (a write copies it; a packet that waits is copied): the caller
// reuses it.
func (p *Participant) deliverData(kind lkpb.DataPacket_Kind, b []byte) {
	if p.s.faults.transportKilled(p.identity) {
		return
	}
	if kind == lkpb.DataPacket_LOSSY {
		if d := p.tr.channel(labelLossy); d != nil && p.tr.dataReady() {
			_ = d.write(b)
		}
		return
	}
	p.dataMu.Lock()
	defer p.dataMu.Unlock()
	if !p.ready && p.tr.dataReady() {
		p.ready = true
		if d := p.tr.channel(labelReliable); d != nil {
			for _, q := range p.pending {
				_ = d.write(q)
			}
		}
		p.pending, p.pendingBytes = nil, 0
	}
	if !p.ready {
		if p.pendingBytes+len(b) > maxPendingReliable {
			return
		}
		p.pending = append(p.pending, bytes.Clone(b))
		p.pendingBytes += len(b)
		return
	}
	if d := p.tr.channel(labelReliable); d != nil {
		_ = d.write(b)
	}
}
