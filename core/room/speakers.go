package room

import (
	"cmp"
	"maps"
	"math"
	"slices"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Active speakers (docs/protocol.md, Active speakers). livekit-server
// measures the audio level of every published microphone and, every 400 ms,
// sends a speakers_changed message holding the speakers whose level changed
// (quantised to eighths), those that stopped with level 0 and active false.
// It sends each participant only the entries about itself and about the
// participants it subscribes to (media or data tracks), and on a first
// subscription the publisher's current entry, on the last unsubscription
// an entry with active false. An lkcore client therefore learns that a
// participant speaks when it subscribes to one of its data tracks (a voice
// agent with a data track, say).
//
// The table keeps each participant's state (participant.setSpeaker) and the
// list last reported (speakers), and reports a change of the list with
// ActiveSpeakersChanged, whatever changed it: an update, a speaker's
// departure, a new session of a speaker (its old session's state is
// dropped), a full reconnect or a move (speakers forgotten).

// speakerLevel sanitises a level the server sent: NaN and values out of
// [0, 1] are clamped.
func speakerLevel(l float32) float32 {
	switch {
	case math.IsNaN(float64(l)) || l < 0:
		return 0
	case l > 1:
		return 1
	}
	return l
}

// applySpeakers applies a speakers_changed message: a SpeakingChanged for
// each participant whose state changed, in the message's order, then
// ActiveSpeakersChanged when the list changed. An entry about a session the
// table does not hold (a participant that left, or not announced yet) is
// skipped; for a sid listed twice the last entry counts.
func (t *participantTable) applySpeakers(u *lkpb.SpeakersChanged) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	var evs []Event
	for _, sp := range u.GetSpeakers() {
		subject := t.bySIDLocked(sp.GetSid())
		if subject == nil {
			continue
		}
		p := subject.base()
		if p.setSpeaker(sp.GetActive(), speakerLevel(sp.GetLevel())) {
			evs = append(evs, SpeakingChanged{Participant: subject, Speaking: p.IsSpeaking(),
				AudioLevel: p.AudioLevel(), Info: subject.Info()})
		}
	}
	return t.appendSpeakersChangedLocked(evs)
}

// bySIDLocked returns the participant whose current session is sid, or nil.
func (t *participantTable) bySIDLocked(sid string) Participant {
	if sid == "" {
		return nil
	}
	if t.local.SID() == sid {
		return t.local
	}
	if rp := t.remotes[t.sids[sid]]; rp != nil && rp.SID() == sid {
		return rp
	}
	return nil
}

// forgetSpeakers clears every participant's speaker state (a full reconnect
// or a move: the new session's server reports the speakers again) and
// returns the SpeakingChanged of each that was speaking, by identity, then
// ActiveSpeakersChanged when the list was not empty.
func (t *participantTable) forgetSpeakers() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	var evs []Event
	all := []Participant{t.local}
	for _, id := range slices.Sorted(maps.Keys(t.remotes)) {
		all = append(all, t.remotes[id])
	}
	for _, subject := range all {
		if subject.base().setSpeaker(false, 0) {
			evs = append(evs, SpeakingChanged{Participant: subject, Info: subject.Info()})
		}
	}
	return t.appendSpeakersChangedLocked(evs)
}

// activeSpeakersLocked returns the participants speaking, loudest first,
// equal levels by identity.
func (t *participantTable) activeSpeakersLocked() []Participant {
	var out []Participant
	if t.local.IsSpeaking() {
		out = append(out, t.local)
	}
	for _, rp := range t.remotes {
		if rp.IsSpeaking() {
			out = append(out, rp)
		}
	}
	slices.SortFunc(out, func(a, b Participant) int {
		if c := cmp.Compare(b.AudioLevel(), a.AudioLevel()); c != 0 {
			return c
		}
		return cmp.Compare(a.Identity(), b.Identity())
	})
	return out
}

// activeSpeakers returns the participants speaking, loudest first.
func (t *participantTable) activeSpeakers() []Participant {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.activeSpeakersLocked()
}

// appendSpeakersChangedLocked appends ActiveSpeakersChanged to evs when the
// list of speakers differs from the one last reported, and records it.
func (t *participantTable) appendSpeakersChangedLocked(evs []Event) []Event {
	cur := t.activeSpeakersLocked()
	ids := make([]string, len(cur))
	for i, p := range cur {
		ids[i] = p.Identity()
	}
	if slices.Equal(ids, t.speakers) {
		return evs
	}
	t.speakers = ids
	return append(evs, ActiveSpeakersChanged{Speakers: cur})
}

// appendSpeakersLeftLocked is appendSpeakersChangedLocked after a change that
// can only take speakers away (departures, new sessions: every participant
// update): while nobody is reported speaking, it has nothing to compare.
func (t *participantTable) appendSpeakersLeftLocked(evs []Event) []Event {
	if len(t.speakers) == 0 {
		return evs
	}
	return t.appendSpeakersChangedLocked(evs)
}

// base returns the participant state shared by both kinds.
func (p *participant) base() *participant { return p }
