package devsfu

import (
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

const (
	emptyTimeout     = 300 // seconds, Room.empty_timeout as recorded
	departureTimeout = 20  // seconds, Room.departure_timeout as recorded
	// recentlyLeftWindow: participants that left this recently are sent
	// (state DISCONNECTED) to a resuming client.
	recentlyLeftWindow = 20 * time.Second
	// maxPendingReliable bounds reliable data buffered for a participant
	// whose channels are not open yet (livekit buffers up to 100 000 bytes
	// of unsequenced data and replays sequenced data from its cache).
	maxPendingReliable = 1 << 20
)

// Room is one LiveKit room: its participants and their data.
type Room struct {
	s         *Server
	name      string
	sid       string
	createdAt time.Time

	mu           sync.RWMutex
	participants map[string]*Participant // by identity
	ordered      []*Participant          // participants in join order (immutable snapshot)
	batched      map[string]*lkpb.ParticipantInfo
	recentlyLeft []leftInfo
	tracks       map[string]*dataTrack // by DTR_ sid
	deleted      bool
	emptySince   time.Time
	lastCounts   [2]int // participants, publishers last sent in room_update
	metadata     string // set with Server.UpdateRoomMetadata
	recording    bool   // set with Server.SetRoomRecording (an egress of the room running)
	// Connection quality (quality.go): the ratings of the last tick by
	// participant sid, and the qualities set with Server.SetConnectionQuality.
	qualityPrev     map[string]lkpb.ConnectionQuality
	qualityOverride map[string]lkpb.ConnectionQuality
	// Speakers (speakers.go): the levels set with Server.SetAudioLevel, by identity.
	audioLevels map[string]float32
	// updateMu orders room_update broadcasts: each one is built and queued
	// to every participant before the next is built, so a participant never
	// gets an older room state after a newer one.
	updateMu sync.Mutex

	// fwdBufs recycles forwardData's output buffers (*[]byte): the packet
	// is re-marshalled once per forwarded message, and pion copies what it
	// is given to write, so the buffer is free again once every
	// recipient's write returned.
	fwdBufs sync.Pool
}

type leftInfo struct {
	info *lkpb.ParticipantInfo
	at   time.Time
}

func newRoom(s *Server, name string) *Room {
	return &Room{
		s:               s,
		name:            name,
		sid:             newID(prefixRoom),
		createdAt:       time.Now(),
		participants:    map[string]*Participant{},
		qualityOverride: map[string]lkpb.ConnectionQuality{},
		audioLevels:     map[string]float32{},
		batched:         map[string]*lkpb.ParticipantInfo{},
		tracks:          map[string]*dataTrack{},
	}
}

// SID returns the room's RM_ id.
func (r *Room) SID() string { return r.sid }

func (r *Room) proto() *lkpb.Room {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n, pubs := r.countsLocked()
	return r.protoLocked(n, pubs)
}

// countsLocked returns the visible participant and publisher counts; called
// with r.mu held.
func (r *Room) countsLocked() (n, pubs int) {
	for _, p := range r.participants {
		if p.hidden {
			continue
		}
		n++
		if p.isPublisherNow() {
			pubs++
		}
	}
	return n, pubs
}

// protoLocked is the room's Room message with the given counts; called with r.mu held (read).
func (r *Room) protoLocked(n, pubs int) *lkpb.Room {
	return &lkpb.Room{
		Sid:              r.sid,
		Name:             r.name,
		Metadata:         r.metadata,
		ActiveRecording:  r.recording,
		EmptyTimeout:     emptyTimeout,
		DepartureTimeout: departureTimeout,
		CreationTime:     r.createdAt.Unix(),
		CreationTimeMs:   r.createdAt.UnixMilli(),
		NumParticipants:  uint32(n),
		NumPublishers:    uint32(pubs),
	}
}

func (r *Room) participant(identity string) *Participant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.participants[identity]
}

func (r *Room) list() []*Participant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.listLocked()
}

// listLocked returns the participants in join order. The slice is
// rebuilt on every membership change and never modified afterwards, so
// the hot data path can iterate it without copying or sorting.
func (r *Room) listLocked() []*Participant { return r.ordered }

// reorderLocked rebuilds r.ordered; called with r.mu held after a
// membership change.
func (r *Room) reorderLocked() {
	out := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Participant) int { return a.joinedAt.Compare(b.joinedAt) })
	r.ordered = out
}

// join admits a new session. A previous session with the same identity is
// removed with leave{DISCONNECT, DUPLICATE_IDENTITY}.
func (r *Room) join(sc *signalConn, jp *joinParams) *Participant {
	p, err := newParticipant(r, jp)
	if err != nil {
		r.s.log.Warn("cannot create participant", "err", err)
		sc.drop()
		return nil
	}
	// The answer to an offer carried in the join is made before p becomes
	// visible, so it can be queued right behind join and refresh_token (local
	// candidates wait for answerQueued).
	var answer *lkpb.SessionDescription
	var offerErr error
	if off := jp.jr.GetPublisherOffer(); off != nil {
		answer, offerErr = p.tr.handleOffer(off)
	}

	r.mu.Lock()
	if r.deleted {
		r.mu.Unlock()
		p.closeTransport()
		// The room was just reaped; retry on a fresh one.
		if nr := r.s.room(r.name); nr != nil && nr != r {
			return nr.join(sc, jp)
		}
		sc.drop()
		return nil
	}
	old := r.participants[p.identity]
	r.participants[p.identity] = p
	r.reorderLocked()
	others := make([]*lkpb.ParticipantInfo, 0, len(r.participants))
	for _, o := range r.listLocked() {
		if o != p && o != old && !o.hidden {
			others = append(others, o.info())
		}
	}
	n, pubs := r.countsLocked()
	// Order as recorded: join, refresh_token, then the answer (and trickles).
	// All three are queued on sc before r.mu is released: every other path
	// reaches p through the room under r.mu or through p.sc, so nothing (an
	// update, a room_update, data) can reach the client before its
	// JoinResponse and answer, and no one sees p before then.
	join := &lkpb.JoinResponse{
		Room:              r.protoLocked(n, pubs),
		Participant:       p.info(),
		OtherParticipants: others,
		ServerVersion:     ServerVersion,
		IceServers:        r.s.iceServersFor(p.sid), // TURN only if embedded (turn.go)
		SubscriberPrimary: false,
		PingTimeout:       int32(r.s.opts.PingTimeout / time.Second),
		PingInterval:      int32(r.s.opts.PingInterval / time.Second),
		ServerInfo:        r.s.serverInfo(),
		SifTrailer:        randomASCII(43),
		FastPublish:       p.grant().EffectiveCanPublish(),
	}
	join.ClientConfiguration = r.s.clientConfiguration()
	// attachSignal holds whatever else is addressed to p until releaseSignal
	// has queued the JoinResponse (participant.go).
	p.attachSignal(sc)
	p.releaseSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Join{Join: join}})
	p.sendRefreshToken()
	if offerErr != nil {
		p.log.Warn("negotiation failed", "err", offerErr)
		p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: &lkpb.LeaveRequest{
			CanReconnect: true,
			Reason:       lkpb.DisconnectReason_STATE_MISMATCH,
			Action:       lkpb.LeaveRequest_RECONNECT,
		}}})
	} else if answer != nil {
		p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Answer{Answer: answer}})
	}
	r.mu.Unlock()
	if answer != nil {
		p.tr.answerQueued()
	}

	if old != nil {
		old.close(lkpb.DisconnectReason_DUPLICATE_IDENTITY, true)
	}
	p.setState(lkpb.ParticipantInfo_JOINED)
	r.autoSubscribe(p)
	return p
}

// autoSubscribe subscribes p, when its connection settings ask for it, to every data track of
// the room it does not publish itself (a new session, or one moved into the room).
func (r *Room) autoSubscribe(p *Participant) {
	if !p.settings.GetAutoSubscribeDataTrack() || r.s.opts.DisableDataTracks {
		return
	}
	r.mu.Lock()
	for sid, t := range r.tracks {
		if t.pub != p && p.subs[sid] == nil {
			p.subs[sid] = &subscription{trackSid: sid, track: t, requestedAt: time.Now()}
		}
	}
	r.mu.Unlock()
	r.attachDownTracks(p)
}

// resume attaches a new signal connection to an existing session
// (reconnect=true + participant_sid). Unknown sessions get
// leave{RECONNECT, STATE_MISMATCH} as the first message.
func (r *Room) resume(sc *signalConn, jp *joinParams) *Participant {
	p := r.participant(jp.claims.Identity)
	if p == nil || p.sid != jp.jr.GetParticipantSid() || p.isClosed() || r.s.faults.forceFullReconnect(jp.claims.Identity) {
		sc.send(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: &lkpb.LeaveRequest{
			CanReconnect: true,
			Reason:       lkpb.DisconnectReason_STATE_MISMATCH,
			Action:       lkpb.LeaveRequest_RECONNECT,
		}}})
		sc.closeGraceful()
		if p != nil && p.sid == jp.jr.GetParticipantSid() && !p.isClosed() {
			p.close(lkpb.DisconnectReason_STATE_MISMATCH, false)
		}
		return nil
	}
	p.resumeOn(sc, jp)
	return p
}

// remove takes p out of the room and announces it DISCONNECTED.
func (r *Room) remove(p *Participant, reason lkpb.DisconnectReason) {
	r.mu.Lock()
	if r.participants[p.identity] != p {
		r.mu.Unlock()
		// Replaced by a newer session (duplicate identity): drop its
		// tracks and subscriptions; the new session's info replaces it.
		r.unpublishAll(p)
		r.dropSubscriptions(p)
		return
	}
	delete(r.participants, p.identity)
	r.reorderLocked()
	r.mu.Unlock()

	// A departed publisher is announced at once, a non-publisher with the
	// next batch: traces 2b-rpc-js and 1c show no DISCONNECTED update for
	// non-publishers within 24–30 ms, 1b shows an immediate one for a
	// publisher (livekit room.go: only publishers are "immediate").
	r.announceDeparture(p.disconnectedInfo(reason), p.isPublisherNow(), p.hidden)
	// Its tracks go only now: the reconcile pass (another goroutine) sends
	// subscribers their new handle snapshots for removed tracks, and the
	// server announces the departure first (trace 1b: the handle snapshot
	// comes ~1.8 s after the DISCONNECTED update). Removing them before the
	// broadcast let a pass in between tell a subscriber that the track was
	// unpublished while its publisher was still in the room.
	r.unpublishAll(p)
	r.dropSubscriptions(p)
}

// announceDeparture remembers info (a DISCONNECTED entry) for the room's recent departures and
// sends it to everyone, now if immediate, else with the next batch.
func (r *Room) announceDeparture(info *lkpb.ParticipantInfo, immediate, hidden bool) {
	r.mu.Lock()
	r.recentlyLeft = append(r.recentlyLeft, leftInfo{info: info, at: time.Now()})
	r.mu.Unlock()
	r.broadcastInfo(info, immediate, hidden)
}

// broadcastInfo sends pi to every participant (the subject included), now
// if immediate, else with the next batch. Hidden participants are only
// told about themselves.
func (r *Room) broadcastInfo(pi *lkpb.ParticipantInfo, immediate, hidden bool) {
	if hidden {
		if p := r.participant(pi.GetIdentity()); p != nil && p.sid == pi.GetSid() {
			p.sendUpdate([]*lkpb.ParticipantInfo{pi})
		}
		return
	}
	r.mu.Lock()
	if ex := r.batched[pi.GetIdentity()]; !immediate {
		switch {
		case ex == nil || ex.GetSid() == pi.GetSid() && ex.GetVersion() <= pi.GetVersion():
			r.batched[pi.GetIdentity()] = pi
		case ex.GetSid() != pi.GetSid() && pi.GetJoinedAtMs() >= ex.GetJoinedAtMs():
			// A new session of an identity whose older session's update is still queued goes
			// out at once (livekit's pushAndDequeueUpdates), with a synthesized DISCONNECTED
			// for the older one that the server leaves out for clients reconnecting by
			// identity (protocol > 11, which every client of devsfu is): so only its info.
			immediate = true
		}
		// Otherwise an out-of-order update, or an older session's while the newer one's is
		// queued: dropped.
	}
	if !immediate {
		r.mu.Unlock()
		return
	}
	delete(r.batched, pi.GetIdentity())
	recv := r.listLocked()
	r.mu.Unlock()
	for _, p := range recv {
		p.sendUpdate([]*lkpb.ParticipantInfo{pi})
	}
}

// flushBatch sends the batched updates to everyone (tick of livekit's
// 3 s subscriber-update loop).
func (r *Room) flushBatch() {
	r.mu.Lock()
	if len(r.batched) == 0 {
		r.mu.Unlock()
		return
	}
	infos := make([]*lkpb.ParticipantInfo, 0, len(r.batched))
	for _, pi := range r.batched {
		infos = append(infos, pi)
	}
	clear(r.batched)
	recv := r.listLocked()
	r.mu.Unlock()
	slices.SortFunc(infos, func(a, b *lkpb.ParticipantInfo) int {
		if c := int(a.GetJoinedAtMs() - b.GetJoinedAtMs()); c != 0 {
			return c
		}
		if a.GetIdentity() < b.GetIdentity() {
			return -1
		}
		return 1
	})
	for _, p := range recv {
		p.sendUpdate(infos)
	}
}

// tick runs the periodic work; it reports whether the room can be reaped.
func (r *Room) tick(now time.Time, batch, reconcile, quality, speakers bool) bool {
	if quality {
		r.qualityTick()
	}
	if speakers {
		r.speakersTick()
	}
	if batch {
		r.flushBatch()
		r.sendRoomUpdateIfChanged()
	}
	if reconcile {
		r.reconcile()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.recentlyLeft[:0]
	for _, l := range r.recentlyLeft {
		if now.Sub(l.at) < recentlyLeftWindow {
			kept = append(kept, l)
		}
	}
	r.recentlyLeft = kept
	if len(r.participants) > 0 || len(r.batched) > 0 || len(r.tracks) > 0 {
		r.emptySince = time.Time{}
		return false
	}
	if r.emptySince.IsZero() {
		r.emptySince = now
	}
	return now.Sub(r.emptySince) >= departureTimeout*time.Second
}

// tryReap marks an empty room deleted; called with Server.mu held so no
// join can pick the room up in between.
func (r *Room) tryReap() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.participants) > 0 || len(r.batched) > 0 || len(r.tracks) > 0 {
		return false
	}
	r.deleted = true
	return true
}

// closeAll closes every participant (server shutdown / restart).
func (r *Room) closeAll(reason lkpb.DisconnectReason, sendLeave bool) {
	for _, p := range r.list() {
		p.close(reason, sendLeave)
	}
}

// stop marks the room deleted.
func (r *Room) stop() {
	r.mu.Lock()
	r.deleted = true
	r.mu.Unlock()
}

// allInfos returns every participant's info plus the recently departed
// (sent to a resuming client).
func (r *Room) allInfos(forHidden *Participant) (cur, left []*lkpb.ParticipantInfo) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, p := range r.listLocked() {
		if p.hidden && p != forHidden {
			continue
		}
		cur = append(cur, p.info())
	}
	for _, l := range r.recentlyLeft {
		left = append(left, l.info)
	}
	return cur, left
}

// forwardData implements livekit's DataPacket path
// (pkg/rtc/participant.go handleReceivedDataMessage, room.go
// BroadcastDataPacketForRoom): stamp sender identity/sid and kind, drop
// reliable duplicates by sequence, re-marshal once, deliver to the
// destination identities (or everyone else), never back to the sender.
func (r *Room) forwardData(from *Participant, label string, msg []byte) {
	if !from.grant().EffectiveCanPublishData() {
		return
	}
	var dp lkpb.DataPacket
	if err := proto.Unmarshal(msg, &dp); err != nil {
		return
	}
	kind := lkpb.DataPacket_RELIABLE
	if label == labelLossy {
		kind = lkpb.DataPacket_LOSSY
	}
	if kind == lkpb.DataPacket_RELIABLE && dp.GetSequence() > 0 {
		if !from.acceptSequence(dp.GetSequence()) {
			return
		}
	}
	dp.Kind = kind
	dp.ParticipantSid = from.sid
	identity := from.identity
	if from.hidden {
		identity = ""
	}
	// An agent may send a chat message or a text stream's header on behalf
	// of another participant: the server keeps the identity the agent put
	// there and marks the content generated. Everything else gets the
	// sender's own identity (an encrypted packet too).
	if onBehalf := from.kind == lkpb.ParticipantInfo_AGENT && dp.ParticipantIdentity != "" && dp.ParticipantIdentity != from.identity; onBehalf && markGenerated(&dp) {
		identity = dp.ParticipantIdentity
	}
	dp.ParticipantIdentity = identity
	dests := dp.GetDestinationIdentities()
	var destSids []string
	switch v := dp.Value.(type) {
	case *lkpb.DataPacket_User:
		v.User.ParticipantSid = from.sid
		v.User.ParticipantIdentity = identity
		if len(dests) == 0 {
			dests = v.User.GetDestinationIdentities()
		}
		if len(dests) == 0 {
			destSids = v.User.GetDestinationSids() // deprecated addressing
		}
	case *lkpb.DataPacket_Metrics:
		return // consumed by the server, never forwarded
	case *lkpb.DataPacket_Transcription:
		if from.kind != lkpb.ParticipantInfo_AGENT {
			return
		}
	}
	bp, _ := r.fwdBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer r.fwdBufs.Put(bp)
	out, err := proto.MarshalOptions{}.MarshalAppend((*bp)[:0], &dp)
	if err != nil {
		return
	}
	*bp = out[:0] // keep the grown buffer
	for _, p := range r.list() {
		if p == from {
			continue
		}
		if len(dests) > 0 && !slices.Contains(dests, p.identity) {
			continue
		}
		if len(destSids) > 0 && !slices.Contains(destSids, p.sid) {
			continue
		}
		p.deliverData(kind, out)
	}
}

// markGenerated marks an agent's chat message or text stream header sent on
// behalf of another participant as generated and reports whether dp is one
// of those (livekit-server's handleReceivedDataMessage leaves their identity
// alone; a byte stream's header gets the agent's).
func markGenerated(dp *lkpb.DataPacket) bool {
	switch v := dp.Value.(type) {
	case *lkpb.DataPacket_ChatMessage:
		if v.ChatMessage != nil {
			v.ChatMessage.Generated = true
			return true
		}
	case *lkpb.DataPacket_StreamHeader:
		if th := v.StreamHeader.GetTextHeader(); th != nil {
			th.Generated = true
			return true
		}
	}
	return false
}

// sendRoomUpdateIfChanged broadcasts room_update when the participant or
// publisher count changed since the last one (livekit sends debounced
// room updates; the recordings show them seconds after joins/leaves).
func (r *Room) sendRoomUpdateIfChanged() {
	r.updateMu.Lock()
	defer r.updateMu.Unlock()
	r.mu.Lock()
	n, pubs := 0, 0
	for _, p := range r.participants {
		if p.hidden {
			continue
		}
		n++
		if p.isPublisherNow() {
			pubs++
		}
	}
	if r.lastCounts == [2]int{n, pubs} {
		r.mu.Unlock()
		return
	}
	r.lastCounts = [2]int{n, pubs}
	recv := r.listLocked()
	ru := r.protoLocked(n, pubs)
	r.mu.Unlock()
	r.broadcastRoomUpdate(recv, ru)
}

func (r *Room) broadcastRoomUpdate(recv []*Participant, ru *lkpb.Room) {
	for _, p := range recv {
		p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_RoomUpdate{RoomUpdate: &lkpb.RoomUpdate{Room: ru}}})
	}
}

// UpdateParticipantPermission changes the permission of identity in room, as
// livekit-server's RoomService.UpdateParticipant with a permission does (see
// Participant.setPermission); false when there is no such participant.
func (s *Server) UpdateParticipantPermission(room, identity string, perm *lkpb.ParticipantPermission) bool {
	r := s.existingRoom(room)
	if r == nil {
		return false
	}
	p := r.participant(identity)
	if p == nil {
		return false
	}
	p.setPermission(perm)
	return true
}

// UpdateRoomMetadata sets room's metadata and sends room_update to everyone
// in it at once, as livekit-server's RoomService.UpdateRoomMetadata does;
// false when the room does not exist.
func (s *Server) UpdateRoomMetadata(room, metadata string) bool {
	r := s.existingRoom(room)
	if r == nil {
		return false
	}
	r.updateMu.Lock()
	defer r.updateMu.Unlock()
	r.setAndBroadcast(func() { r.metadata = metadata })
	return true
}

// SetRoomRecording sets whether room is being recorded and sends room_update to everyone
// (livekit-server does when an egress of the room starts or ends: Room.active_recording);
// false if the room does not exist.
func (s *Server) SetRoomRecording(room string, active bool) bool {
	r := s.existingRoom(room)
	if r == nil {
		return false
	}
	r.updateMu.Lock()
	defer r.updateMu.Unlock()
	r.setAndBroadcast(func() { r.recording = active })
	return true
}

// setAndBroadcast applies set under r.mu and sends the resulting room_update to everyone;
// called with r.updateMu held.
func (r *Room) setAndBroadcast(set func()) {
	r.mu.Lock()
	set()
	n, pubs := r.countsLocked()
	recv := r.listLocked()
	ru := r.protoLocked(n, pubs)
	r.mu.Unlock()
	r.broadcastRoomUpdate(recv, ru)
}
