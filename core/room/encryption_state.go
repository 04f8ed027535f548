package room

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lkcore/lkcore/core/e2ee"
)

// EncryptionState is what the room last saw of a remote participant's end-to-end encrypted
// data (Room.EncryptionStates). A participant has none until some of its data fails to
// decrypt; DecryptionFailed reports each failure with the state it leaves, EncryptionRecovered
// the return to EncryptionOK.
type EncryptionState int

// Encryption states.
const (
	// EncryptionOK: the participant's data decrypts again after a failure (E2EE rooms only).
	EncryptionOK EncryptionState = iota + 1
	// EncryptionMissingKey: the last failure lacked a key (none at the key index the sender
	// used, or an encrypted packet in a room without E2EE).
	EncryptionMissingKey
	// EncryptionDecryptionFailed: the last failure was data that did not decrypt with the key
	// (a different key, corrupted or malformed data, or a plain frame on an E2EE track).
	EncryptionDecryptionFailed
)

// String returns the state's name.
func (s EncryptionState) String() string {
	switch s {
	case EncryptionOK:
		return "ok"
	case EncryptionMissingKey:
		return "missing key"
	case EncryptionDecryptionFailed:
		return "decryption failed"
	}
	return fmt.Sprintf("EncryptionState(%d)", int(s))
}

// encryptionStateOf is the state a decryption failure with cause err leaves.
func encryptionStateOf(err error) EncryptionState {
	if errors.Is(err, e2ee.ErrNoKey) || errors.Is(err, ErrE2EENotConfigured) {
		return EncryptionMissingKey
	}
	return EncryptionDecryptionFailed
}

// maxEncryptionStates bounds the identities the room keeps a state for: beyond it a failure of
// a new identity is still counted and reported (DecryptionFailed) but not kept. An identity's
// state goes when it leaves, so only a room with that many failing participants at once
// reaches it.
const maxEncryptionStates = 4096

// endedSessionsKept is how many ended sessions encryptionStates remembers, to ignore a failure
// of a packet from one of them that is handled after the session ended.
const endedSessionsKept = 64

// encryptionStates holds the EncryptionState of every remote identity whose data failed to
// decrypt, until it leaves. Data-channel goroutines record failures and successes, the room
// loop forgets who left; safe for concurrent use. The success path costs one atomic load while
// no identity is failing.
type encryptionStates struct {
	failing atomic.Int32 // identities whose state is a failure (not EncryptionOK)
	mu      sync.Mutex
	m       map[string]EncryptionState
	// ended are the sids of the sessions that ended last (a ring), next its next slot: a
	// packet of one of them still on its way through a data-channel goroutine when the room
	// loop forgot its identity would otherwise make a new entry that nothing removes.
	ended [endedSessionsKept]string
	next  int
}

// failed records a failure of the data of identity's session sid ("" when the data does not
// say) that leaves state st; nothing is recorded for a session that ended.
func (s *encryptionStates) failed(identity, sid string, st EncryptionState) {
	if identity == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sid != "" && slices.Contains(s.ended[:], sid) {
		return
	}
	old, known := s.m[identity]
	if !known && len(s.m) >= maxEncryptionStates {
		return
	}
	if s.m == nil {
		s.m = make(map[string]EncryptionState)
	}
	s.m[identity] = st
	if !known || old == EncryptionOK {
		s.failing.Add(1)
	}
}

// succeeded records that identity's encrypted data decrypted; it returns true when that ends a
// failure (the state is EncryptionOK now).
func (s *encryptionStates) succeeded(identity string) bool {
	if s.failing.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[identity]; !ok || st == EncryptionOK {
		return false
	}
	s.m[identity] = EncryptionOK
	s.failing.Add(-1)
	return true
}

// sessionEnded notes that session sid of identity ended and, with forget, drops identity's
// state (it left the room).
func (s *encryptionStates) sessionEnded(identity, sid string, forget bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sid != "" {
		s.ended[s.next] = sid
		s.next = (s.next + 1) % endedSessionsKept
	}
	if !forget {
		return
	}
	if st, ok := s.m[identity]; ok {
		delete(s.m, identity)
		if st != EncryptionOK {
			s.failing.Add(-1)
		}
	}
}

// sessionsEnded notes the sessions that ended — of the participants evs report gone (whose
// states it drops), the old sessions of those evs report with a new sid, and the unannounced
// sessions in gone (dropping the state of an identity with nothing left in the room). Room
// loop, through Room.sessionsEnded.
func (s *encryptionStates) sessionsEnded(evs []Event, gone []endedSession) {
	for _, ev := range evs {
		switch e := ev.(type) {
		case ParticipantDisconnected:
			s.sessionEnded(e.Participant.Identity(), e.Participant.SID(), true)
		case ParticipantInfoChanged:
			if e.OldSID != e.Info.SID {
				s.sessionEnded(e.Info.Identity, e.OldSID, false)
			}
		}
	}
	for _, g := range gone {
		s.sessionEnded(g.identity, g.sid, !g.stillKnown)
	}
}

// snapshot returns a copy of the states.
func (s *encryptionStates) snapshot() map[string]EncryptionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m)
}

// EncryptionRecovered reports that a remote participant's end-to-end encrypted data decrypts
// again after a failure (its state is EncryptionOK). Like DecryptionFailed it counts against
// Options.MaxPendingDataEvents; one after a data-track frame is dropped (and counted in
// E2EEStats.EventsSuppressed) when the queue is full, Room.EncryptionStates still has it.
type EncryptionRecovered struct {
	// ParticipantIdentity is the sender (packet) or track publisher (frame).
	ParticipantIdentity string
	// Participant is the sender if currently known, else nil.
	Participant *RemoteParticipant
	// Kind says whether a packet or a data-track frame decrypted.
	Kind DecryptionKind
	// TrackSid is the data track's SID (frames only).
	TrackSid string
}

func (EncryptionRecovered) isEvent() {}

// EncryptionStates returns the EncryptionState of every remote participant whose data failed
// to decrypt since it joined (a copy; EncryptionOK once its data decrypts again). A
// participant's state goes when it leaves, also one the server never announced; a participant
// with nothing failed is not listed.
// Packets and data-track frames arrive on different data channels, so when both of one
// participant fail and recover at the same moment their events may come in either order; the
// states returned here are the current ones.
func (r *Room) EncryptionStates() map[string]EncryptionState {
	m := r.enc.snapshot()
	if m == nil {
		m = map[string]EncryptionState{}
	}
	return m
}

// decryptionSucceeded records that identity's encrypted data decrypted and emits
// EncryptionRecovered when that ends a failure (queued as pushDecryptionEvent says). Data
// channel goroutine.
func (r *Room) decryptionSucceeded(identity string, kind DecryptionKind, trackSid string) {
	if !r.enc.succeeded(identity) {
		return
	}
	r.pushDecryptionEvent(EncryptionRecovered{ParticipantIdentity: identity, Participant: r.parts.remote(identity), Kind: kind, TrackSid: trackSid}, kind)
}
