package room

import "github.com/lkcore/lkcore/core/lkpb"

// ConnectionQuality is the server's rating of a participant's connection
// (livekit-server rates each participant from the loss, jitter and bitrate of
// its media tracks; a participant with no media track, as every lkcore
// client, is rated ConnectionExcellent).
type ConnectionQuality int

// Connection qualities. The server sends them only for the local participant
// and the participants whose tracks it subscribes to, every 5 s when one of
// them joined or changed (docs/protocol.md, Connection quality).
const (
	ConnectionQualityUnknown ConnectionQuality = iota // not reported by the server (yet), or a value newer than this library
	ConnectionPoor                                    // POOR
	ConnectionGood                                    // GOOD
	ConnectionExcellent                               // EXCELLENT
	ConnectionLost                                    // LOST: the participant's media stopped arriving
)

// String returns the quality's name.
func (q ConnectionQuality) String() string {
	switch q {
	case ConnectionPoor:
		return "poor"
	case ConnectionGood:
		return "good"
	case ConnectionExcellent:
		return "excellent"
	case ConnectionLost:
		return "lost"
	default:
		return "unknown"
	}
}

// connectionQualityFrom converts the server's value; one this library does
// not know is ConnectionQualityUnknown.
func connectionQualityFrom(q lkpb.ConnectionQuality) ConnectionQuality {
	switch q {
	case lkpb.ConnectionQuality_POOR:
		return ConnectionPoor
	case lkpb.ConnectionQuality_GOOD:
		return ConnectionGood
	case lkpb.ConnectionQuality_EXCELLENT:
		return ConnectionExcellent
	case lkpb.ConnectionQuality_LOST:
		return ConnectionLost
	default:
		return ConnectionQualityUnknown
	}
}

// applyQuality records the qualities of a connection_quality message and
// returns a ConnectionQualityChanged for each participant whose quality
// changed, in the message's order. An entry for a session the table does not
// hold (a participant that left, or not announced yet) is skipped.
func (t *participantTable) applyQuality(u *lkpb.ConnectionQualityUpdate) []Event {
	var evs []Event
	for _, info := range u.GetUpdates() {
		sid := info.GetParticipantSid()
		if sid == "" {
			continue
		}
		var p *participant
		var subject Participant
		t.mu.RLock()
		if t.local.SID() == sid {
			p, subject = &t.local.participant, t.local
		} else if rp := t.remotes[t.sids[sid]]; rp != nil && rp.SID() == sid {
			p, subject = &rp.participant, rp
		}
		t.mu.RUnlock()
		if p == nil {
			continue
		}
		q := connectionQualityFrom(info.GetQuality())
		if old, changed := p.setQuality(q); changed {
			evs = append(evs, ConnectionQualityChanged{Participant: subject, OldQuality: old, Quality: q, Info: subject.Info()})
		}
	}
	return evs
}
