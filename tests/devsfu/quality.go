package devsfu

import (
	"github.com/lkcore/lkcore/core/lkpb"
)

// Connection quality, as livekit-server v1.13.5 reports it (its room's
// connectionQualityWorker): every Options.ConnectionQualityInterval (5 s)
// each ACTIVE participant is rated; when one of them is new (a session not
// rated at the previous tick) or its quality changed, every ACTIVE
// participant gets a connection_quality message with its own rating and
// those of the participants whose tracks it subscribes to. The server rates
// a participant from its media tracks: one without any, as every client of
// devsfu, is EXCELLENT with the highest score (4.5). Server.SetConnectionQuality
// stands in for a participant whose media degrades.

// qualityScore is the score (MOS) sent with q: the server's highest for
// EXCELLENT, and for the others a value its scorer maps to them.
func qualityScore(q lkpb.ConnectionQuality) float32 {
	switch q {
	case lkpb.ConnectionQuality_EXCELLENT:
		return 4.5
	case lkpb.ConnectionQuality_GOOD:
		return 3.6
	case lkpb.ConnectionQuality_POOR:
		return 2.4
	default:
		return 1.0
	}
}

// qualityTick is one pass of the quality worker.
func (r *Room) qualityTick() {
	r.mu.Lock()
	now := make(map[string]*lkpb.ConnectionQualityInfo, len(r.participants))
	active := r.activeLocked()
	for _, p := range active {
		q, set := r.qualityOverride[p.identity]
		if !set {
			q = lkpb.ConnectionQuality_EXCELLENT
		}
		now[p.sid] = &lkpb.ConnectionQualityInfo{ParticipantSid: p.sid, Quality: q, Score: qualityScore(q)}
	}
	send := false
	for sid, info := range now {
		if prev, ok := r.qualityPrev[sid]; !ok || prev != info.GetQuality() {
			send = true
			break
		}
	}
	r.qualityPrev = make(map[string]lkpb.ConnectionQuality, len(now))
	for sid, info := range now {
		r.qualityPrev[sid] = info.GetQuality()
	}
	if !send {
		r.mu.Unlock()
		return
	}
	updates := make([]*lkpb.ConnectionQualityUpdate, len(active))
	for i, p := range active {
		u := &lkpb.ConnectionQualityUpdate{Updates: []*lkpb.ConnectionQualityInfo{now[p.sid]}}
		seen := map[string]bool{p.sid: true}
		for _, s := range p.subs {
			if s.track == nil || s.track.removed || s.handle == 0 {
				continue
			}
			pub := s.track.pub.sid
			if info := now[pub]; info != nil && !seen[pub] {
				seen[pub] = true
				u.Updates = append(u.Updates, info)
			}
		}
		updates[i] = u
	}
	r.mu.Unlock()
	for i, p := range active {
		p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_ConnectionQuality{ConnectionQuality: updates[i]}})
	}
}

// SetConnectionQuality makes identity in room rated q from the next rating on
// (nil: rated as the server rates a participant without media tracks,
// EXCELLENT), as if its media degraded; false when there is no such room.
func (s *Server) SetConnectionQuality(room, identity string, q *lkpb.ConnectionQuality) bool {
	r := s.existingRoom(room)
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if q == nil {
		delete(r.qualityOverride, identity)
	} else {
		r.qualityOverride[identity] = *q
	}
	return true
}

// activeLocked returns the room's ACTIVE participants in join order (r.mu held).
func (r *Room) activeLocked() []*Participant {
	var out []*Participant
	for _, p := range r.ordered {
		p.mu.Lock()
		ok := p.state == lkpb.ParticipantInfo_ACTIVE
		p.mu.Unlock()
		if ok {
			out = append(out, p)
		}
	}
	return out
}
