package devsfu

import (
	"encoding/binary"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Data-track constants (livekit-server v1.13 defaults; docs/protocol.md, Data tracks).
const (
	maxDataTrackNameBytes      = 256
	maxCustomEncodingLength    = 32
	pendingSubscriptionTimeout = time.Minute
	dtHeaderLen                = 12
	dtExtParticipantSID        = 255 // DTEI_PARTICIPANT_SID (protocol ≥ v1.53.1)
)

// Request-response texts of livekit-server (pkg/rtc/participant_data_track.go).
const (
	msgNoPermission   = "does not have permission to publish data"
	msgInvalidHandle  = "handle should be > 0 AND < 65536"
	msgInvalidName    = "name should not be empty and should not exceed 256 characters"
	msgInvalidEncode  = "encoding identifier is empty or exceeds the maximum length"
	msgDuplicateHandl = "a data track with same handle already exists"
	msgDuplicateName  = "a data track with same name already exists"
)

// dataTrack is one published data track.
type dataTrack struct {
	pub  *Participant
	info *lkpb.DataTrackInfo // immutable after publish
	sid  string
	// guarded by room.mu
	subs    map[*Participant]uint16 // subscriber → its subscriber handle
	removed bool
}

func (t *dataTrack) infoProto() *lkpb.DataTrackInfo { return proto.Clone(t.info).(*lkpb.DataTrackInfo) }

// subscription is a subscriber's desired state for one track sid.
type subscription struct {
	trackSid    string
	track       *dataTrack // nil while the sid is unknown
	handle      uint16     // 0 while there is no down track
	requestedAt time.Time
	allowed     int8 // the last subscription_permission_update sent: 0 none, 1 allowed, -1 refused
}

func publishError(p *Participant, req *lkpb.PublishDataTrackRequest, reason lkpb.RequestResponse_Reason, msg string) {
	p.sendRequestResponse(&lkpb.RequestResponse{
		Reason:  reason,
		Message: msg,
		Request: &lkpb.RequestResponse_PublishDataTrack{PublishDataTrack: proto.Clone(req).(*lkpb.PublishDataTrackRequest)},
	})
}

func customTooLong(s string) bool { return s == "" || len(s) > maxCustomEncodingLength }

// handlePublishDataTrack applies the publish faults (SetPublishFault), then publishDataTrack.
func (r *Room) handlePublishDataTrack(p *Participant, req *lkpb.PublishDataTrackRequest) {
	if r.s.opts.DisableDataTracks {
		return // a server without data tracks never answers
	}
	if f, ok := r.s.faults.publishFault(p.identity); ok {
		switch {
		case f.NoAnswer:
		case f.Hold:
			r.s.faults.holdPublish(func() { r.publishDataTrack(p, req) })
		default:
			publishError(p, req, f.Reason, f.Message)
		}
		return
	}
	r.publishDataTrack(p, req)
}

// publishDataTrack validates and publishes req, as livekit-server does.
func (r *Room) publishDataTrack(p *Participant, req *lkpb.PublishDataTrackRequest) {
	if !p.grant().EffectiveCanPublishData() || r.s.opts.DataTracksNotAllowed {
		publishError(p, req, lkpb.RequestResponse_NOT_ALLOWED, msgNoPermission)
		return
	}
	h := req.GetPubHandle()
	if h == 0 || h > 65535 {
		publishError(p, req, lkpb.RequestResponse_INVALID_HANDLE, msgInvalidHandle)
		return
	}
	if n := len(req.GetName()); n == 0 || n > maxDataTrackNameBytes {
		publishError(p, req, lkpb.RequestResponse_INVALID_NAME, msgInvalidName)
		return
	}
	if fe, ok := req.GetFrameEncoding().GetValue().(*lkpb.DataTrackFrameEncoding_Custom); ok && customTooLong(fe.Custom) {
		publishError(p, req, lkpb.RequestResponse_INVALID_REQUEST, msgInvalidEncode)
		return
	}
	if se, ok := req.GetSchema().GetEncoding().GetValue().(*lkpb.DataTrackSchemaEncoding_Custom); ok && customTooLong(se.Custom) {
		publishError(p, req, lkpb.RequestResponse_INVALID_REQUEST, msgInvalidEncode)
		return
	}

	r.mu.Lock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		r.mu.Unlock()
		return
	}
	for _, t := range p.published {
		if t.info.GetPubHandle() == h {
			p.mu.Unlock()
			r.mu.Unlock()
			publishError(p, req, lkpb.RequestResponse_DUPLICATE_HANDLE, msgDuplicateHandl)
			return
		}
		if t.info.GetName() == req.GetName() {
			p.mu.Unlock()
			r.mu.Unlock()
			publishError(p, req, lkpb.RequestResponse_DUPLICATE_NAME, msgDuplicateName)
			return
		}
	}
	t := &dataTrack{
		pub: p,
		sid: newID(prefixDataTrack),
		info: &lkpb.DataTrackInfo{
			PubHandle:     h,
			Name:          req.GetName(),
			Encryption:    req.GetEncryption(),
			FrameEncoding: req.GetFrameEncoding(),
			Schema:        req.GetSchema(),
		},
		subs: map[*Participant]uint16{},
	}
	t.info.Sid = t.sid
	t.info = proto.Clone(t.info).(*lkpb.DataTrackInfo)
	p.published[h] = t
	p.isPublisher = true
	p.version++
	pi := p.infoLocked()
	p.mu.Unlock()
	r.tracks[t.sid] = t
	// Auto-subscribers and subscriptions waiting for this sid.
	var notify []*Participant
	for _, o := range r.listLocked() {
		if o == p {
			continue
		}
		if s := o.subs[t.sid]; s != nil && s.track == nil {
			s.track = t
			notify = append(notify, o)
		} else if o.settings.GetAutoSubscribeDataTrack() && o.subs[t.sid] == nil {
			o.subs[t.sid] = &subscription{trackSid: t.sid, track: t, requestedAt: time.Now()}
			notify = append(notify, o)
		}
	}
	r.mu.Unlock()

	// Recorded order: response, then the update (the others get theirs at
	// the same moment).
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_PublishDataTrackResponse{
		PublishDataTrackResponse: &lkpb.PublishDataTrackResponse{Info: t.infoProto()}}})
	r.broadcastInfo(pi, true, p.hidden)
	for _, o := range notify {
		r.attachDownTracks(o)
	}
}

// handleUnpublishDataTrack removes a track: update first, then the
// response (as recorded); subscribers lose their handle at the next
// reconcile pass.
func (r *Room) handleUnpublishDataTrack(p *Participant, req *lkpb.UnpublishDataTrackRequest) {
	if r.s.opts.DisableDataTracks {
		return
	}
	h := req.GetPubHandle()
	r.mu.Lock()
	p.mu.Lock()
	t := p.published[h]
	if t == nil {
		p.mu.Unlock()
		r.mu.Unlock()
		p.sendRequestResponse(&lkpb.RequestResponse{
			Reason:  lkpb.RequestResponse_NOT_FOUND,
			Request: &lkpb.RequestResponse_UnpublishDataTrack{UnpublishDataTrack: proto.Clone(req).(*lkpb.UnpublishDataTrackRequest)},
		})
		return
	}
	delete(p.published, h)
	p.version++
	pi := p.infoLocked()
	p.mu.Unlock()
	t.removed = true
	delete(r.tracks, t.sid)
	r.mu.Unlock()

	r.broadcastInfo(pi, true, p.hidden)
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_UnpublishDataTrackResponse{
		UnpublishDataTrackResponse: &lkpb.UnpublishDataTrackResponse{Info: t.infoProto()}}})
}

// unpublishAll removes every track of a departing publisher (no message
// to it; subscribers see the DISCONNECTED update and, at the next
// reconcile, a handle snapshot without the tracks).
func (r *Room) unpublishAll(p *Participant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	for h, t := range p.published {
		t.removed = true
		if r.tracks[t.sid] == t {
			delete(r.tracks, t.sid)
		}
		delete(p.published, h)
	}
}

// dropSubscriptions forgets a departing subscriber.
func (r *Room) dropSubscriptions(p *Participant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for sid, s := range p.subs {
		if s.track != nil {
			delete(s.track.subs, p)
		}
		delete(p.subs, sid)
	}
}

// handleUpdateDataSubscription applies subscribe/unsubscribe entries.
func (r *Room) handleUpdateDataSubscription(p *Participant, u *lkpb.UpdateDataSubscription) {
	if r.s.opts.DisableDataTracks {
		return
	}
	changed := false
	r.mu.Lock()
	for _, e := range u.GetUpdates() {
		sid := e.GetTrackSid()
		s := p.subs[sid]
		if e.GetSubscribe() {
			if s != nil {
				continue // already desired: no change, no snapshot
			}
			s = &subscription{trackSid: sid, requestedAt: time.Now()}
			if t := r.tracks[sid]; t != nil && !t.removed {
				s.track = t
			}
			p.subs[sid] = s
			continue
		}
		if s == nil {
			continue
		}
		if s.track != nil && s.handle != 0 {
			delete(s.track.subs, p)
			changed = true
		}
		delete(p.subs, sid)
	}
	r.mu.Unlock()
	if changed {
		r.sendHandles(p)
	}
	r.attachDownTracks(p)
}

// attachDownTracks resolves every desired subscription of p that has a
// track and no down track: a permitted one gets a subscriber handle
// (subperm.go). A subscription_permission_update goes out for each whose
// answer changed, then, if a handle was given, the full handle snapshot, in
// the recorded order.
func (r *Room) attachDownTracks(p *Participant) {
	if !p.grant().EffectiveCanSubscribe() {
		return // retried silently by the real server; never resolves here
	}
	var updates []*lkpb.SubscriptionPermissionUpdate
	attached := false
	r.mu.Lock()
	for _, s := range p.subs {
		t := s.track
		if t == nil || t.removed || s.handle != 0 {
			continue
		}
		allowed := mayReceive(t, p)
		if answer := permAnswer(allowed); answer != s.allowed {
			s.allowed = answer
			updates = append(updates, &lkpb.SubscriptionPermissionUpdate{
				ParticipantSid: t.pub.sid, TrackSid: t.sid, Allowed: allowed})
		}
		if !allowed {
			continue
		}
		h := p.allocHandle()
		s.handle = h
		t.subs[p] = h
		attached = true
	}
	r.mu.Unlock()
	for _, u := range updates {
		p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_SubscriptionPermissionUpdate{
			SubscriptionPermissionUpdate: u}})
	}
	if attached && !r.s.faults.dropHandles(p.identity) {
		r.sendHandles(p)
	}
}

func permAnswer(allowed bool) int8 {
	if allowed {
		return 1
	}
	return -1
}

// allocHandle returns the next free subscriber handle (pre-increment,
// 0 skipped on wrap). Called with room.mu held.
func (p *Participant) allocHandle() uint16 {
	used := map[uint16]bool{}
	for _, s := range p.subs {
		if s.handle != 0 {
			used[s.handle] = true
		}
	}
	for {
		p.nextHandle++
		if p.nextHandle != 0 && !used[p.nextHandle] {
			return p.nextHandle
		}
	}
}

// handlesSnapshot builds the full DataTrackSubscriberHandles of p.
func (r *Room) handlesSnapshot(p *Participant) *lkpb.DataTrackSubscriberHandles {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := map[uint32]*lkpb.DataTrackSubscriberHandles_PublishedDataTrack{}
	for _, s := range p.subs {
		if s.handle == 0 || s.track == nil {
			continue
		}
		m[uint32(s.handle)] = &lkpb.DataTrackSubscriberHandles_PublishedDataTrack{
			PublisherIdentity: s.track.pub.identity,
			PublisherSid:      s.track.pub.sid,
			TrackSid:          s.track.sid,
		}
	}
	return &lkpb.DataTrackSubscriberHandles{SubHandles: m}
}

func (r *Room) sendHandles(p *Participant) {
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_DataTrackSubscriberHandles{
		DataTrackSubscriberHandles: r.handlesSnapshot(p)}})
}

// reconcile is livekit's periodic subscription pass: down tracks of
// removed tracks are dropped and each affected subscriber gets a new
// snapshot — twice, as recorded (two identical snapshots < 1 ms apart
// after every unpublish and publisher departure). Unknown sids are
// forgotten after a minute.
func (r *Room) reconcile() {
	now := time.Now()
	var affected []*Participant
	r.mu.Lock()
	for _, p := range r.listLocked() {
		hit := false
		for sid, s := range p.subs {
			switch {
			case s.track != nil && s.track.removed:
				delete(s.track.subs, p)
				delete(p.subs, sid)
				hit = hit || s.handle != 0
			case s.track == nil && now.Sub(s.requestedAt) > pendingSubscriptionTimeout:
				delete(p.subs, sid)
			}
		}
		if hit {
			affected = append(affected, p)
		}
	}
	r.mu.Unlock()
	for _, p := range affected {
		r.sendHandles(p)
		r.sendHandles(p)
	}
}

// --- forwarding -------------------------------------------------------------

var errDataTrackPacket = errors.New("devsfu: malformed data-track packet")

// dtPacket is a parsed data-track packet in the server codec's terms.
type dtPacket struct {
	handle  uint16
	head    [dtHeaderLen]byte // base header as it will be re-emitted
	ext     bool
	elems   []byte // extension elements in received order, padding stripped
	payload []byte
}

// parseDataTrackPacket parses like livekit's protocol codec (laxer than
// clients; docs/protocol.md, Data tracks: Packet format): no version check; in the extension block the
// first zero tag byte starts padding (everything after it is discarded);
// an element running past the block is an error.
func parseDataTrackPacket(b []byte) (*dtPacket, error) {
	if len(b) < dtHeaderLen {
		return nil, errDataTrackPacket
	}
	pk := &dtPacket{}
	copy(pk.head[:], b[:dtHeaderLen])
	pk.head[0] &^= 0x03 // reserved bits cleared on re-serialize
	pk.head[1] = 0
	pk.handle = binary.BigEndian.Uint16(b[2:4])
	pk.ext = b[0]&0x04 != 0
	rest := b[dtHeaderLen:]
	if pk.ext {
		if len(rest) < 2 {
			return nil, errDataTrackPacket
		}
		n := 4*int(binary.BigEndian.Uint16(rest[:2])) + 2
		if len(rest) < 2+n {
			return nil, errDataTrackPacket
		}
		block := rest[2 : 2+n]
		i := 0
		for i < len(block) && block[i] != 0 {
			if i+2 > len(block) {
				return nil, errDataTrackPacket
			}
			l := int(block[i+1])
			if i+2+l > len(block) {
				return nil, errDataTrackPacket
			}
			i += 2 + l
		}
		pk.elems = block[:i]
		rest = rest[2+n:]
	}
	pk.payload = rest
	return pk, nil
}

// appendTo serializes the packet for a subscriber handle, optionally
// adding the participant-SID extension (tag 255), with fresh trailing
// padding.
func (pk *dtPacket) appendTo(dst []byte, handle uint16, pSID string) []byte {
	head := pk.head
	binary.BigEndian.PutUint16(head[2:4], handle)
	elems := pk.elems
	ext := pk.ext
	var sidElem []byte
	if pSID != "" && len(pSID) <= 255 {
		sidElem = append([]byte{dtExtParticipantSID, byte(len(pSID))}, pSID...)
		ext = true
		head[0] |= 0x04
	}
	dst = append(dst, head[:]...)
	if ext {
		body := 2 + len(elems) + len(sidElem)
		pad := (4 - body%4) % 4
		words := (body+pad)/4 - 1
		dst = binary.BigEndian.AppendUint16(dst, uint16(words))
		dst = append(dst, elems...)
		dst = append(dst, sidElem...)
		for range pad {
			dst = append(dst, 0)
		}
	}
	return append(dst, pk.payload...)
}

// forwardDataTrack routes one packet from publisher p's _data_track
// channel to every subscriber of the track, handle rewritten (as the SFU
// does: docs/protocol.md, Data tracks: Packet format).
func (r *Room) forwardDataTrack(p *Participant, msg []byte) {
	if r.s.opts.DisableDataTracks {
		return
	}
	pk, err := parseDataTrackPacket(msg)
	if err != nil {
		return
	}
	r.s.faults.dtIn.Add(1)
	type target struct {
		sub    *Participant
		handle uint16
	}
	var targets []target
	r.mu.RLock()
	p.mu.Lock()
	t := p.published[uint32(pk.handle)]
	p.mu.Unlock()
	if t != nil && !t.removed {
		for sub, h := range t.subs {
			targets = append(targets, target{sub, h})
		}
	}
	r.mu.RUnlock()
	if len(targets) == 0 {
		return
	}
	sidExt := ""
	if r.s.opts.AddParticipantSIDExtension {
		sidExt = p.sid
	}
	bp, _ := r.s.dtBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	for _, tg := range targets {
		*bp = pk.appendTo((*bp)[:0], tg.handle, sidExt)
		r.s.faults.deliverDataTrack(tg.sub, *bp, r.s.writeDataTrack)
	}
	if cap(*bp) <= dataChannelReadBuffer+dtMaxGrowth {
		r.s.dtBufs.Put(bp)
	}
}

// dtMaxGrowth bounds what forwarding adds to a packet (extension header, participant-SID
// element, padding), so a recycled buffer never exceeds a read buffer plus this.
const dtMaxGrowth = 2 + 2 + 255 + 3

// writeDataTrack writes one packet to a subscriber's _data_track channel,
// dropping it when the channel is backed up beyond the congestion gate's
// target latency or the hard cap (livekit-server drops single packets of
// congested subscribers, not whole frames).
func (s *Server) writeDataTrack(sub *Participant, pkt []byte) {
	if s.faults.transportKilled(sub.identity) || sub.isClosed() {
		return
	}
	d := sub.tr.channel(labelDataTrack)
	if d == nil {
		return
	}
	d.gateMu.Lock()
	defer d.gateMu.Unlock()
	if d.gate == nil {
		d.gate = newCongestionGate(s.opts.DataTrackTargetLatency, uint64(s.opts.DataTrackMinBuffered))
	}
	buffered := d.dc.BufferedAmount()
	if int(buffered) > s.opts.DataTrackDropThreshold || !d.gate.allow(buffered) {
		s.faults.countCongestionDrop()
		return
	}
	n := len(pkt)
	if d.write(pkt) == nil {
		s.faults.dtOut.Add(1)
	} else {
		n = 0
	}
	d.gate.wrote(time.Now(), n, d.dc.BufferedAmount())
}
