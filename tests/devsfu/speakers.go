package devsfu

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Speaker updates, as livekit-server v1.13 sends them (its room's
// audioUpdateWorker and ParticipantImpl.SendSpeakerUpdate): every
// Options.SpeakerUpdateInterval (400 ms, the server's audio update_interval)
// the ACTIVE participants whose audio level is above the activity threshold
// are the active speakers, their levels quantised up to eighths and sorted
// loudest first; the speakers whose level changed, and those that stopped
// (level 0, active false), go in a speakers_changed message to each
// participant, scoped to the entries about itself and about participants it
// subscribes to (data tracks count: the server marks a data-track
// subscription in the same table as a media one). On a first subscription to
// a publisher the server sends that publisher's current entry, on the last
// unsubscription one with active false; devsfu keeps, per receiver, the
// entries it last told it and sends the difference at each tick, which gives
// the same messages at the tick's granularity (a departure too is told as
// active false). devsfu forwards no audio: Server.SetAudioLevel stands in
// for a participant's measured level.

// speakerQuantization is the server's AudioLevelQuantization.
const speakerQuantization = 8

// quantizeLevel rounds a level up to the server's eighths.
func quantizeLevel(l float32) float32 {
	return float32(math.Ceil(float64(l)*speakerQuantization) / speakerQuantization)
}

// speakersTick is one pass of the speaker worker.
func (r *Room) speakersTick() {
	r.mu.Lock()
	var active []*lkpb.SpeakerInfo
	recipients := r.activeLocked()
	for _, p := range recipients {
		if l := r.audioLevels[p.identity]; l > 0 {
			active = append(active, &lkpb.SpeakerInfo{Sid: p.sid, Level: quantizeLevel(l), Active: true})
		}
	}
	slices.SortStableFunc(active, func(a, b *lkpb.SpeakerInfo) int { return cmp.Compare(b.Level, a.Level) })
	msgs := make([]*lkpb.SpeakersChanged, len(recipients))
	for i, p := range recipients {
		if len(active) == 0 && len(p.toldSpeakers) == 0 {
			continue // nothing to tell, nothing told
		}
		visible := make(map[string]float32, len(active))
		var changed []*lkpb.SpeakerInfo
		for _, sp := range active {
			if sp.Sid != p.sid && !subscribesTo(p, sp.Sid) {
				continue
			}
			visible[sp.Sid] = sp.Level
			if told, ok := p.toldSpeakers[sp.Sid]; !ok || told != sp.Level {
				changed = append(changed, &lkpb.SpeakerInfo{Sid: sp.Sid, Level: sp.Level, Active: true})
			}
		}
		for _, sid := range slices.Sorted(maps.Keys(p.toldSpeakers)) {
			if _, still := visible[sid]; !still {
				changed = append(changed, &lkpb.SpeakerInfo{Sid: sid})
			}
		}
		p.toldSpeakers = visible
		if len(changed) > 0 {
			msgs[i] = &lkpb.SpeakersChanged{Speakers: changed}
		}
	}
	r.mu.Unlock()
	for i, p := range recipients {
		if msgs[i] != nil {
			p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_SpeakersChanged{SpeakersChanged: msgs[i]}})
		}
	}
}

// subscribesTo reports whether p has a down track of a data track published
// by the participant with sid pub. Room.mu held.
func subscribesTo(p *Participant, pub string) bool {
	for _, s := range p.subs {
		if s.track != nil && !s.track.removed && s.handle != 0 && s.track.pub.sid == pub {
			return true
		}
	}
	return false
}

// SetAudioLevel makes identity in room speak at level (0 to 1; 0: silent)
// from the next speaker update on, as if the server measured its microphone
// so; false when there is no such room or the level is out of range.
func (s *Server) SetAudioLevel(room, identity string, level float32) bool {
	r := s.existingRoom(room)
	if r == nil || !(level >= 0 && level <= 1) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if level == 0 {
		delete(r.audioLevels, identity)
	} else {
		r.audioLevels[identity] = level
	}
	return true
}

// maxSimulatedSpeaking bounds how long a simulated speaker update lasts (the
// client asks for a number of seconds; the official clients ask for 3).
const maxSimulatedSpeaking = 60 * time.Second

// simulateSpeaking reports p speaking at level 0.9 for d, then stopped, as
// livekit-server's speaker_update scenario does: both entries go, unquantised,
// to p and to the participants subscribed to its tracks at that moment, and
// the periodic speaker updates know nothing of them.
func (r *Room) simulateSpeaking(p *Participant, d time.Duration) {
	r.sendSpeakerEntry(p, &lkpb.SpeakerInfo{Sid: p.sid, Level: 0.9, Active: true})
	time.AfterFunc(min(max(d, 0), maxSimulatedSpeaking), func() {
		r.sendSpeakerEntry(p, &lkpb.SpeakerInfo{Sid: p.sid})
	})
}

// sendSpeakerEntry sends one speaker entry about p to p and to the ACTIVE
// participants subscribed to one of its data tracks.
func (r *Room) sendSpeakerEntry(p *Participant, e *lkpb.SpeakerInfo) {
	r.mu.Lock()
	var to []*Participant
	for _, q := range r.activeLocked() {
		if q == p || subscribesTo(q, p.sid) {
			to = append(to, q)
		}
	}
	r.mu.Unlock()
	for _, q := range to {
		q.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_SpeakersChanged{
			SpeakersChanged: &lkpb.SpeakersChanged{Speakers: []*lkpb.SpeakerInfo{e}}}})
	}
}
