package room

import (
	"fmt"
	"maps"
)

// roomState is what a binding's model of a room holds: the room's info, the local
// participant's, and per remote participant (by identity) its info and the sids of its data
// tracks.
type roomState struct {
	room   RoomInfo
	local  ParticipantInfo
	remote map[string]*modelParticipant
}

type modelParticipant struct {
	info   ParticipantInfo
	tracks map[string]bool // sids
}

// stateOf reads r's current state.
func stateOf(r *Room) roomState {
	st := roomState{room: r.Info(), local: r.LocalParticipant().Info(), remote: map[string]*modelParticipant{}}
	for _, rp := range r.RemoteParticipants() {
		sids := map[string]bool{}
		for _, t := range rp.DataTracks() {
			sids[t.SID()] = true
		}
		st.remote[rp.Identity()] = &modelParticipant{info: rp.Info(), tracks: sids}
	}
	return st
}

// stateFrom reads the state a Snapshot describes.
func stateFrom(s Snapshot) roomState {
	st := roomState{room: s.Room, local: s.LocalParticipant, remote: map[string]*modelParticipant{}}
	for _, p := range s.RemoteParticipants {
		st.remote[p.Identity] = &modelParticipant{info: p, tracks: map[string]bool{}}
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
		m.remote[e.Info.Identity] = &modelParticipant{info: e.Info, tracks: map[string]bool{}}
	case ParticipantDisconnected:
		id := e.Participant.Identity()
		mp, ok := m.remote[id]
		if !ok {
			return fmt.Errorf("%q reported gone while absent", id)
		}
		if len(mp.tracks) != 0 {
			return fmt.Errorf("%q reported gone with tracks %v not unpublished", id, mp.tracks)
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
	case ParticipantInfoChanged:
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

// matches reports how the model differs from st.
func (m *eventModel) matches(st roomState) error {
	if !st.room.equal(m.room) {
		return fmt.Errorf("the room is %+v, the events tell %+v", st.room, m.room)
	}
	if !st.local.equal(m.local) {
		return fmt.Errorf("the local participant is %+v, the events tell %+v", st.local, m.local)
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
		}
	}
	return nil
}
