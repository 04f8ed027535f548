package room

import (
	"maps"
	"slices"
	"sync"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Participant is what local and remote participants have in common. All
// getters return the latest state confirmed by the server and are safe for
// concurrent use.
type Participant interface {
	// Identity is the participant's identity (the token's `sub`).
	Identity() string
	// SID is the server-assigned participant id (PA_…), new for every session.
	SID() string
	// Name is the display name.
	Name() string
	// Metadata is the application metadata string.
	Metadata() string
	// Attributes returns a copy of the participant's attributes.
	Attributes() map[string]string
	// Kind is the participant kind (standard, agent, sip, …).
	Kind() ParticipantKind
	// ClientProtocol is the participant's ClientInfo.client_protocol as
	// reported by the server (0 = legacy, 1 = RPC over data streams,
	// 2 = also single-packet data streams).
	ClientProtocol() int32
	// Capabilities are the participant's ClientInfo capabilities.
	Capabilities() []Capability
	// ConnectionQuality is the latest quality the server reported for the
	// participant (ConnectionQualityUnknown until it reports one).
	ConnectionQuality() ConnectionQuality
	// IsSpeaking reports whether the server's latest speaker update has the
	// participant speaking (speakers.go: the server reports the speakers whose
	// audio, or data tracks, one subscribes to).
	IsSpeaking() bool
	// AudioLevel is the participant's audio level from the server's latest
	// speaker update, from 0 (silent) to 1; 0 when it is not speaking.
	AudioLevel() float32
	// Info returns a copy of the participant's latest state.
	Info() ParticipantInfo

	isParticipant()
	base() *participant
}

// participant holds the latest ParticipantInfo and connection quality. Only
// the room loop replaces them; readers take the lock briefly. The stored
// message is never mutated.
type participant struct {
	mu       sync.RWMutex
	info     *lkpb.ParticipantInfo
	quality  ConnectionQuality
	speaking bool
	level    float32 // 0 when not speaking
}

func (p *participant) load() *lkpb.ParticipantInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.info
}

func (p *participant) store(info *lkpb.ParticipantInfo) {
	p.mu.Lock()
	p.info = info
	p.mu.Unlock()
}

// setQuality records q and returns the quality before and whether it changed.
// A participant's new session keeps the last quality until the server rates
// that session, which it does within its next report.
func (p *participant) setQuality(q ConnectionQuality) (old ConnectionQuality, changed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, p.quality = p.quality, q
	return old, old != q
}

// setSpeaker records the participant's speaking state and audio level (0
// when not speaking) and reports whether either changed.
func (p *participant) setSpeaker(speaking bool, level float32) (changed bool) {
	if !speaking {
		level = 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	changed = p.speaking != speaking || p.level != level
	p.speaking, p.level = speaking, level
	return changed
}

// Identity implements Participant.
func (p *participant) Identity() string { return p.load().GetIdentity() }

// SID implements Participant.
func (p *participant) SID() string { return p.load().GetSid() }

// Name implements Participant.
func (p *participant) Name() string { return p.load().GetName() }

// Metadata implements Participant.
func (p *participant) Metadata() string { return p.load().GetMetadata() }

// Attributes implements Participant.
func (p *participant) Attributes() map[string]string {
	m := maps.Clone(p.load().GetAttributes())
	if m == nil {
		m = map[string]string{}
	}
	return m
}

// Kind implements Participant.
func (p *participant) Kind() ParticipantKind { return participantKindFrom(p.load().GetKind()) }

// ClientProtocol implements Participant.
func (p *participant) ClientProtocol() int32 { return p.load().GetClientProtocol() }

// Capabilities implements Participant.
func (p *participant) Capabilities() []Capability {
	caps := p.load().GetCapabilities()
	out := make([]Capability, len(caps))
	for i, c := range caps {
		out[i] = Capability(c)
	}
	return out
}

// HasCapability reports whether the participant advertises c.
func (p *participant) HasCapability(c Capability) bool {
	return slices.Contains(p.load().GetCapabilities(), lkpb.ClientInfo_Capability(c))
}

// ConnectionQuality implements Participant.
func (p *participant) ConnectionQuality() ConnectionQuality {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.quality
}

// IsSpeaking implements Participant.
func (p *participant) IsSpeaking() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.speaking
}

// AudioLevel implements Participant.
func (p *participant) AudioLevel() float32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.level
}

// Info implements Participant.
func (p *participant) Info() ParticipantInfo {
	p.mu.RLock()
	info, q, speaking, level := p.info, p.quality, p.speaking, p.level
	p.mu.RUnlock()
	out := participantInfoFrom(info)
	out.ConnectionQuality = q
	out.Speaking, out.AudioLevel = speaking, level
	return out
}

func (p *participant) isParticipant() {}

// RemoteParticipant is another participant in the room. The same pointer is
// kept for as long as the participant stays in the room.
type RemoteParticipant struct {
	participant
	dataTracks remoteDataTrackSet // published data tracks (datatrack.go)
}

// LocalParticipant is this client's participant. It publishes data and
// updates its own metadata, name and attributes.
type LocalParticipant struct {
	participant
	room *Room
}

var (
	_ Participant = (*RemoteParticipant)(nil)
	_ Participant = (*LocalParticipant)(nil)
)

// diffInfo returns the change events between two infos of the same
// participant. A new sid (a new session of the participant replaced the one
// known) comes first, as ParticipantInfoChanged; then its name, metadata,
// attributes and permission each have their event, then its media tracks
// (TrackUnpublished, TrackPublished, TrackMuteChanged); when none of these
// changed but another field did (join time, kind, client protocol, a
// track's name or dimensions), ParticipantInfoChanged. With rest false (the
// local participant after a full reconnect, which LocalParticipantRejoined
// reports) there is no ParticipantInfoChanged.
func diffInfo(p Participant, old, cur *lkpb.ParticipantInfo, rest bool) []Event {
	var evs []Event
	info := func() ParticipantInfo { // each event owns its copy
		i := participantInfoFrom(cur)
		i.ConnectionQuality = p.ConnectionQuality()
		i.Speaking, i.AudioLevel = p.IsSpeaking(), p.AudioLevel()
		return i
	}
	if rest && old.GetSid() != cur.GetSid() {
		evs = append(evs, ParticipantInfoChanged{Participant: p, OldSID: old.GetSid(), Info: info()})
	}
	if old.GetName() != cur.GetName() {
		evs = append(evs, ParticipantNameChanged{Participant: p, OldName: old.GetName(), NewName: cur.GetName(), Info: info()})
	}
	if old.GetMetadata() != cur.GetMetadata() {
		evs = append(evs, ParticipantMetadataChanged{Participant: p, OldMetadata: old.GetMetadata(), NewMetadata: cur.GetMetadata(), Info: info()})
	}
	changed := map[string]string{}
	for k, v := range cur.GetAttributes() {
		if ov, ok := old.GetAttributes()[k]; !ok || ov != v {
			changed[k] = v
		}
	}
	for k := range old.GetAttributes() {
		if _, ok := cur.GetAttributes()[k]; !ok {
			changed[k] = ""
		}
	}
	if len(changed) > 0 {
		oldAttrs := maps.Clone(old.GetAttributes())
		if oldAttrs == nil {
			oldAttrs = map[string]string{}
		}
		evs = append(evs, ParticipantAttributesChanged{Participant: p, Changed: changed, OldAttributes: oldAttrs, Info: info()})
	}
	if oldPerm := permissionFrom(old.GetPermission()); !samePermission(oldPerm, permissionFrom(cur.GetPermission())) {
		evs = append(evs, ParticipantPermissionsChanged{Participant: p, OldPermission: oldPerm, Info: info()})
	}
	evs = append(evs, diffMediaTracks(p, old, cur, info)...)
	if rest && len(evs) == 0 {
		if !participantInfoFrom(old).equal(participantInfoFrom(cur)) {
			evs = append(evs, ParticipantInfoChanged{Participant: p, OldSID: old.GetSid(), Info: info()})
		}
	}
	return evs
}

// participantTable is the room's participant state (docs/protocol.md,
// Participants).
// The room loop is its only writer; getters used by other goroutines take mu.
type participantTable struct {
	mu      sync.RWMutex
	local   *LocalParticipant
	remotes map[string]*RemoteParticipant // by identity
	sids    map[string]string             // sid -> identity (messages that carry only sids)
	// speakers are the identities of the active speakers last reported
	// (ActiveSpeakersChanged), loudest first (speakers.go).
	speakers []string
}

func newParticipantTable(local *LocalParticipant) *participantTable {
	return &participantTable{local: local, remotes: map[string]*RemoteParticipant{}, sids: map[string]string{}}
}

// reset forgets every remote participant without events (a new join attempt).
func (t *participantTable) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.remotes)
	clear(t.sids)
	t.local.setSpeaker(false, 0)
	t.speakers = nil
}

// seed installs the participants of a JoinResponse without events.
func (t *participantTable) seed(others []*lkpb.ParticipantInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, info := range others {
		if info.GetIdentity() == "" || info.GetState() == lkpb.ParticipantInfo_DISCONNECTED || t.refuseTakenSid(info) {
			continue
		}
		rp := &RemoteParticipant{}
		rp.store(info)
		t.remotes[info.GetIdentity()] = rp
		t.sids[info.GetSid()] = info.GetIdentity()
	}
}

// refuseTakenSid reports whether info gives its identity the sid of another participant, which
// a server never does (a sid names one session of one identity): such an info is invalid, and
// its identity is cleared so that the data-track managers, which read the same infos next,
// skip it too. Locked.
func (t *participantTable) refuseTakenSid(info *lkpb.ParticipantInfo) bool {
	owner, taken := t.sids[info.GetSid()]
	if !taken || owner == info.GetIdentity() {
		return false
	}
	info.Identity = ""
	return true
}

// apply processes a ParticipantUpdate (full snapshots) and returns the
// resulting events in order, plus whether the local participant changed.
// Rules (JS Room.handleParticipantUpdates): the local identity updates the
// local participant; an empty identity is resolved by sid (and written into
// the info, which the room loop owns, so that the stored info and the
// data-track managers that read the update next see it); DISCONNECTED
// removes; an info giving an identity the sid of another participant is
// skipped (refuseTakenSid); an unknown identity is created
// (ParticipantConnected); a known one is updated unless the stored info has the
// same sid and a newer version.
func (t *participantTable) apply(infos []*lkpb.ParticipantInfo) (evs []Event, localChanged bool) {
	evs, localChanged, _ = t.applyUpdate(infos)
	return evs, localChanged
}

// endedSession names a session reported DISCONNECTED that the table did not hold: an
// identity never announced (the server sends the updates about a participant that publishes
// nothing with its next batch, so one that joins and leaves within a batch is only ever
// reported gone), or an older session of an identity known with another sid. Such a session
// may still have sent data packets, streams and RPC answers (they go straight through the
// SFU), so what it left open must end too (dataAPI.unannouncedSessionsEnded); there is no
// participant to report gone. stillKnown: after the update the identity is in the room with
// another session.
type endedSession struct {
	identity, sid string
	stillKnown    bool
}

// applyUpdate is apply that also returns the DISCONNECTED entries it passed over because the
// table did not hold their session (endedSession), in update order.
func (t *participantTable) applyUpdate(infos []*lkpb.ParticipantInfo) (evs []Event, localChanged bool, unannounced []endedSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, info := range infos {
		identity := info.GetIdentity()
		if identity == "" {
			identity = t.sids[info.GetSid()]
			if identity == "" {
				continue
			}
			info.Identity = identity
		}
		if identity == t.local.Identity() {
			old := t.local.load()
			if old.GetSid() == info.GetSid() && old.GetVersion() > info.GetVersion() {
				continue
			}
			if info.GetState() == lkpb.ParticipantInfo_DISCONNECTED {
				continue // our own departure is reported by leave / the signal
			}
			t.local.store(info)
			evs = append(evs, diffInfo(t.local, old, info, true)...)
			localChanged = true
			continue
		}
		rp, known := t.remotes[identity]
		if info.GetState() == lkpb.ParticipantInfo_DISCONNECTED {
			// Ignore a stale DISCONNECTED for an older session of an identity
			// that has already rejoined with a new sid.
			if known && (info.GetSid() == "" || rp.SID() == info.GetSid()) {
				delete(t.remotes, identity)
				delete(t.sids, rp.SID())
				rp.setSpeaker(false, 0) // the list without it follows the loop
				evs = append(evs, departedTracks(rp, rp.load())...)
				evs = append(evs, ParticipantDisconnected{Participant: rp, Reason: DisconnectReason(info.GetDisconnectReason())})
			} else {
				unannounced = append(unannounced, endedSession{identity: identity, sid: info.GetSid()})
			}
			continue
		}
		if t.refuseTakenSid(info) {
			continue
		}
		if !known {
			rp = &RemoteParticipant{}
			rp.store(info)
			t.remotes[identity] = rp
			t.sids[info.GetSid()] = identity
			evs = append(evs, ParticipantConnected{Participant: rp, Info: participantInfoFrom(info)})
			evs = append(evs, diffMediaTracks(rp, nil, info, rp.Info)...)
			continue
		}
		old := rp.load()
		if old.GetSid() == info.GetSid() && old.GetVersion() > info.GetVersion() {
			continue
		}
		if old.GetSid() != info.GetSid() {
			delete(t.sids, old.GetSid())
			t.sids[info.GetSid()] = identity
		}
		// A new session starts silent: the speaker state was the old session's.
		stopped := old.GetSid() != info.GetSid() && rp.setSpeaker(false, 0)
		rp.store(info)
		evs = append(evs, diffInfo(rp, old, info, true)...)
		if stopped {
			evs = append(evs, SpeakingChanged{Participant: rp, Info: rp.Info()})
		}
	}
	for i, u := range unannounced {
		_, unannounced[i].stillKnown = t.remotes[u.identity]
	}
	return t.appendSpeakersLeftLocked(evs), localChanged, unannounced
}

// remote returns the remote participant with the given identity, or nil.
func (t *participantTable) remote(identity string) *RemoteParticipant {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.remotes[identity]
}

// list returns the remote participants sorted by identity.
func (t *participantTable) list() []*RemoteParticipant {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*RemoteParticipant, 0, len(t.remotes))
	for _, rp := range t.remotes {
		out = append(out, rp)
	}
	slices.SortFunc(out, func(a, b *RemoteParticipant) int {
		if a.Identity() < b.Identity() {
			return -1
		}
		if a.Identity() > b.Identity() {
			return 1
		}
		return 0
	})
	return out
}

// retain removes the remote participants whose identity is not in infos (the
// complete list of a new session's JoinResponse, after a full reconnect) and
// returns their ParticipantDisconnected events, sorted by identity. The
// participants that are still there keep their objects: apply updates them in
// place, as for any update.
func (t *participantTable) retain(infos []*lkpb.ParticipantInfo) []Event {
	present := make(map[string]bool, len(infos))
	for _, info := range infos {
		present[info.GetIdentity()] = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var evs []Event
	for _, id := range slices.Sorted(maps.Keys(t.remotes)) {
		if present[id] {
			continue
		}
		rp := t.remotes[id]
		delete(t.remotes, id)
		delete(t.sids, rp.SID())
		rp.setSpeaker(false, 0)
		evs = append(evs, departedTracks(rp, rp.load())...)
		evs = append(evs, ParticipantDisconnected{Participant: rp, Reason: DisconnectUnknown})
	}
	return t.appendSpeakersLeftLocked(evs)
}
