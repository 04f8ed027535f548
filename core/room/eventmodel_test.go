package room

import (
	"fmt"
	"maps"
	"slices"
)

// roomState is what a binding's model of a room holds: the room's info, the local
// participant's, and per remote participant (by identity) its info and the sids of its data
// tracks.
type roomState struct {
	room     RoomInfo
	local    ParticipantInfo
	remote   map[string]*modelParticipant
	speakers []string // identities, loudest first
}

type modelParticipant struct {
	info   ParticipantInfo
	tracks map[string]bool // sids
	media  map[string]bool // media track sids, from TrackPublished and TrackUnpublished
}

// mediaSids are the sids of info's media tracks.
func mediaSids(info ParticipantInfo) map[string]bool {
	out := map[string]bool{}
	for _, t := range info.Tracks {
		out[t.SID] = true
	}
	return out
}

// stateOf reads r's current state.
func stateOf(r *Room) roomState {
	st := roomState{room: r.Info(), local: r.LocalParticipant().Info(), remote: map[string]*modelParticipant{}}
	for _, p := range r.ActiveSpeakers() {
		st.speakers = append(st.speakers, p.Identity())
	}
	for _, rp := range r.RemoteParticipants() {
		sids := map[string]bool{}
		for _, t := range rp.DataTracks() {
			sids[t.SID()] = true
		}
		info := rp.Info()
		st.remote[rp.Identity()] = &modelParticipant{info: info, tracks: sids, media: mediaSids(info)}
	}
	return st
}

// stateFrom reads the state a Snapshot describes.
func stateFrom(s Snapshot) roomState {
	st := roomState{room: s.Room, local: s.LocalParticipant, remote: map[string]*modelParticipant{},
		speakers: slices.Clone(s.ActiveSpeakers)}
	for _, p := range s.RemoteParticipants {
		st.remote[p.Identity] = &modelParticipant{info: p, tracks: map[string]bool{}, media: mediaSids(p)}
	}
	for _, t := range s.RemoteDataTracks {
		if mp := st.remote[t.Info.PublisherIdentity]; mp != nil {
			mp.tracks[t.Info.SID] = true
		} else {
			st.remote[t.Info.PublisherIdentity] = nil // a track without its publisher: never matches
		}
	}
	return st
}

// eventModel is what a binding builds from a room's events alone, starting from a state (the
// connect snapshot). apply checks each event against it (the order BINDINGS.md promises: a
// participant is announced before its tracks, its tracks are unpublished before it is
// reported gone, every change of an info is announced by an event that carries it) and
// matches compares it with the room's state at the same point.
type eventModel struct{ roomState }

func newEventModel(st roomState) *eventModel { return &eventModel{st} }

// updated takes a participant's info from an event that carries it.
func (m *eventModel) updated(p Participant, info ParticipantInfo) error {
	if _, ok := p.(*LocalParticipant); ok {
		m.local = info
		return nil
	}
	mp, ok := m.remote[info.Identity]
	if !ok {
		return fmt.Errorf("update of %q, who was not announced", info.Identity)
	}
	mp.info = info
	return nil
}

func (m *eventModel) apply(ev Event) error {
	switch e := ev.(type) {
	case SnapshotTaken:
		return nil
	case ParticipantConnected:
		if _, ok := m.remote[e.Info.Identity]; ok {
			return fmt.Errorf("%q announced while present", e.Info.Identity)
		}
		m.remote[e.Info.Identity] = &modelParticipant{info: e.Info, tracks: map[string]bool{}, media: map[string]bool{}}
	case ParticipantDisconnected:
		id := e.Participant.Identity()
		mp, ok := m.remote[id]
		if !ok {
			return fmt.Errorf("%q reported gone while absent", id)
		}
		if len(mp.tracks) != 0 || len(mp.media) != 0 {
			return fmt.Errorf("%q reported gone with tracks %v and media tracks %v not unpublished", id, mp.tracks, mp.media)
		}
		delete(m.remote, id)
	case ParticipantNameChanged:
		return m.updated(e.Participant, e.Info)
	case ParticipantMetadataChanged:
		return m.updated(e.Participant, e.Info)
	case ParticipantAttributesChanged:
		return m.updated(e.Participant, e.Info)
	case ParticipantPermissionsChanged:
		return m.updated(e.Participant, e.Info)
	case ConnectionQualityChanged:
		return m.updated(e.Participant, e.Info)
	case SpeakingChanged:
		return m.updated(e.Participant, e.Info)
	case ActiveSpeakersChanged:
		m.speakers = m.speakers[:0]
		for _, p := range e.Speakers {
			m.speakers = append(m.speakers, p.Identity())
		}
	case ParticipantInfoChanged:
		return m.updated(e.Participant, e.Info)
	case TrackPublished:
		return m.media(e.Participant, e.Info, e.Track, true)
	case TrackUnpublished:
		return m.media(e.Participant, e.Info, e.Track, false)
	case TrackMuteChanged:
		if i := slices.IndexFunc(e.Info.Tracks, func(t TrackPublicationInfo) bool { return t.SID == e.Track.SID }); i < 0 || e.Info.Tracks[i] != e.Track {
			return fmt.Errorf("mute change of %q, which the info has as %+v", e.Track.SID, e.Info.Tracks)
		}
		if mp := m.remote[e.Info.Identity]; mp == nil || !mp.media[e.Track.SID] {
			return fmt.Errorf("mute change of media track %q of %q, never published", e.Track.SID, e.Info.Identity)
		}
		return m.updated(e.Participant, e.Info)
	case LocalParticipantRejoined:
		m.local = e.Info
	case RoomMetadataChanged:
		m.room = e.Info
	case RoomInfoChanged:
		m.room = e.Info
	case RoomMoved:
		m.room = e.Info
	case DataTrackPublished:
		mp, ok := m.remote[e.Info.PublisherIdentity]
		if !ok {
			return fmt.Errorf("track %q of %q, who was not announced", e.Info.SID, e.Info.PublisherIdentity)
		}
		mp.tracks[e.Info.SID] = true
	case DataTrackUnpublished:
		mp := m.remote[e.Track.PublisherIdentity()]
		if mp == nil || !mp.tracks[e.Track.SID()] {
			return fmt.Errorf("track %q of %q unpublished, unknown", e.Track.SID(), e.Track.PublisherIdentity())
		}
		delete(mp.tracks, e.Track.SID())
	case DataTrackSidChanged:
		mp := m.remote[e.Info.PublisherIdentity]
		if mp == nil || !mp.tracks[e.OldSID] {
			return fmt.Errorf("sid change of unknown track %q of %q", e.OldSID, e.Info.PublisherIdentity)
		}
		delete(mp.tracks, e.OldSID)
		mp.tracks[e.Info.SID] = true
	}
	return nil
}

// media applies TrackPublished (published) or TrackUnpublished: the track must be new or
// known, and in the event's info or no longer there.
func (m *eventModel) media(p Participant, info ParticipantInfo, t TrackPublicationInfo, published bool) error {
	mp := m.remote[info.Identity]
	if mp == nil {
		return fmt.Errorf("media track %q of %q, who was not announced", t.SID, info.Identity)
	}
	if mp.media[t.SID] == published {
		return fmt.Errorf("media track %q of %q published=%v twice", t.SID, info.Identity, published)
	}
	if slices.Contains(info.Tracks, t) != published {
		return fmt.Errorf("media track %q of %q published=%v, its info has %+v", t.SID, info.Identity, published, info.Tracks)
	}
	if published {
		mp.media[t.SID] = true
	} else {
		delete(mp.media, t.SID)
	}
	return m.updated(p, info)
}

// matches reports how the model differs from st.
func (m *eventModel) matches(st roomState) error {
	if !st.room.equal(m.room) {
		return fmt.Errorf("the room is %+v, the events tell %+v", st.room, m.room)
	}
	if !st.local.equal(m.local) {
		return fmt.Errorf("the local participant is %+v, the events tell %+v", st.local, m.local)
	}
	if !slices.Equal(st.speakers, m.speakers) {
		return fmt.Errorf("the active speakers are %v, the events tell %v", st.speakers, m.speakers)
	}
	if len(st.remote) != len(m.remote) {
		return fmt.Errorf("the events tell %d participants, the room has %d", len(m.remote), len(st.remote))
	}
	for id, p := range st.remote {
		mp, ok := m.remote[id]
		switch {
		case !ok:
			return fmt.Errorf("%q in the room, never announced", id)
		case p == nil:
			return fmt.Errorf("tracks of %q, who is not in the room", id)
		case !p.info.equal(mp.info):
			return fmt.Errorf("%q is %+v, the events tell %+v", id, p.info, mp.info)
		case !maps.Equal(p.tracks, mp.tracks):
			return fmt.Errorf("%q has tracks %v, the events tell %v", id, p.tracks, mp.tracks)
		case !maps.Equal(p.media, mp.media):
			return fmt.Errorf("%q has media tracks %v, the events tell %v", id, p.media, mp.media)
		}
	}
	return nil
}
