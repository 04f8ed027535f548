package devsfu

import (
	"github.com/lkcore/lkcore/core/lkpb"
)

// Publisher-side subscription permissions (SignalRequest.subscription_permission), applied to
// data tracks as livekit-server 1.13.5 does (docs/protocol.md, Subscription permissions):
//
//   - each request replaces the publisher's previous one; all_participants allows everyone,
//     otherwise only the listed identities (a participant_sid alone is resolved to its
//     identity in the room; an entry with neither is an error and the previous permissions
//     stay), each for all its tracks or the listed track sids;
//   - subscribers that are no longer allowed lose their subscriber handle (a new handle
//     snapshot), then get subscription_permission_update{allowed: false}; their
//     subscription stays desired and is attached again, with allowed: true, once permitted;
//   - recorders are exempt;
//   - a subscription_permission_update is sent when the answer for a subscription changes
//     (its first resolution counts as a change).

// trackPermissions is a publisher's permissions by subscriber identity; nil allows everyone.
type trackPermissions map[string]*lkpb.TrackPermission

// allows reports whether identity may subscribe to the track trackSid.
func (tp trackPermissions) allows(trackSid, identity string) bool {
	if tp == nil {
		return true
	}
	tperm, ok := tp[identity]
	if !ok {
		return false
	}
	if tperm.GetAllTracks() {
		return true
	}
	for _, sid := range tperm.GetTrackSids() {
		if sid == trackSid {
			return true
		}
	}
	return false
}

// mayReceive reports whether subscriber may have track t (called with room.mu held).
func mayReceive(t *dataTrack, subscriber *Participant) bool {
	if g := subscriber.grant(); g != nil && g.Recorder {
		return true
	}
	return t.pub.subPerm.allows(t.sid, subscriber.identity)
}

// parsePermissionsLocked converts a request like the server's UpTrackManager (called with
// room.mu held); ok is false for an entry naming no participant.
func (r *Room) parsePermissionsLocked(sp *lkpb.SubscriptionPermission) (tp trackPermissions, ok bool) {
	if sp.GetAllParticipants() {
		return nil, true
	}
	tp = trackPermissions{}
	for _, e := range sp.GetTrackPermissions() {
		id := e.GetParticipantIdentity()
		if id == "" {
			if e.GetParticipantSid() == "" {
				return nil, false
			}
			for _, o := range r.listLocked() {
				if o.sid == e.GetParticipantSid() {
					id = o.identity
				}
			}
			if id == "" {
				continue // unknown participant: skipped, as the server does
			}
		}
		tp[id] = e
	}
	return tp, true
}

// handleSubscriptionPermission applies p's new permissions: disallowed subscribers of its
// tracks lose their handle, then every participant's subscriptions are resolved again (which
// sends the permission updates and attaches the newly allowed ones).
func (r *Room) handleSubscriptionPermission(p *Participant, sp *lkpb.SubscriptionPermission) {
	if r.s.opts.DisableDataTracks {
		return
	}
	r.mu.Lock()
	tp, ok := r.parsePermissionsLocked(sp)
	if !ok {
		r.mu.Unlock()
		p.log.Warn("subscription permission without participant identity or sid")
		return
	}
	p.subPerm = tp
	var revoked []*Participant
	p.mu.Lock()
	for _, t := range p.published {
		for sub := range t.subs {
			if mayReceive(t, sub) {
				continue
			}
			delete(t.subs, sub)
			if s := sub.subs[t.sid]; s != nil {
				s.handle = 0
			}
			revoked = append(revoked, sub)
		}
	}
	p.mu.Unlock()
	others := r.listLocked()
	r.mu.Unlock()

	sent := map[*Participant]bool{}
	for _, sub := range revoked {
		if !sent[sub] {
			sent[sub] = true
			r.sendHandles(sub)
		}
	}
	for _, o := range others {
		if o != p {
			r.attachDownTracks(o)
		}
	}
}
