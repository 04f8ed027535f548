package room

import (
	"fmt"
	"testing"
)

// TestEncryptionStatesTable: the table behind Room.EncryptionStates, fed directly — the count of
// failing identities that lets the success path skip the lock, forgetting, failures of ended
// sessions, and the bound on identities kept.
func TestEncryptionStatesTable(t *testing.T) {
	var s encryptionStates
	if s.succeeded("a") || s.snapshot() != nil {
		t.Fatal("empty table")
	}
	s.failed("", "", EncryptionDecryptionFailed) // no identity: nothing to keep
	s.failed("a", "", EncryptionDecryptionFailed)
	s.failed("a", "", EncryptionMissingKey)
	s.failed("b", "", EncryptionMissingKey)
	if n := s.failing.Load(); n != 2 {
		t.Fatalf("failing %d, want 2", n)
	}
	if !s.succeeded("a") || s.succeeded("a") || s.succeeded("c") {
		t.Fatal("a recovers once; c never failed")
	}
	if got := s.snapshot(); len(got) != 2 || got["a"] != EncryptionOK || got["b"] != EncryptionMissingKey {
		t.Fatalf("states %v", got)
	}
	s.sessionEnded("a", "", true) // OK: not counted as failing
	s.sessionEnded("b", "", true)
	s.sessionEnded("c", "", true)
	if n := s.failing.Load(); n != 0 || len(s.snapshot()) != 0 {
		t.Fatalf("after forgetting: failing %d, states %v", n, s.snapshot())
	}
	s.failed("a", "", EncryptionMissingKey)
	s.succeeded("a")
	s.failed("a", "", EncryptionDecryptionFailed) // failing again after OK
	if n := s.failing.Load(); n != 1 || !s.succeeded("a") {
		t.Fatalf("failing %d after a new failure", n)
	}

	// A packet of a session that ended, handled after its identity was forgotten, makes no
	// entry; another session of the identity (or one that does not say) still does.
	s.failed("d", "PA_old", EncryptionDecryptionFailed)
	s.sessionEnded("d", "PA_old", true)
	s.failed("d", "PA_old", EncryptionDecryptionFailed)
	if _, ok := s.snapshot()["d"]; ok || s.failing.Load() != 0 {
		t.Fatalf("a late failure of an ended session was recorded: %v", s.snapshot())
	}
	s.failed("d", "PA_new", EncryptionMissingKey)
	if s.snapshot()["d"] != EncryptionMissingKey {
		t.Fatal("a new session's failure was not recorded")
	}
	s.sessionEnded("d", "PA_new", false) // replaced: the identity keeps its state
	if s.snapshot()["d"] != EncryptionMissingKey {
		t.Fatal("a replaced session took its identity's state")
	}
	s.sessionEnded("d", "", true)
	// The ring of ended sessions forgets the oldest.
	for i := range endedSessionsKept {
		s.sessionEnded("e", fmt.Sprint("PA_", i), true)
	}
	s.failed("d", "PA_old", EncryptionDecryptionFailed)
	if s.snapshot()["d"] != EncryptionDecryptionFailed {
		t.Fatal("a session beyond the ring is still ignored")
	}
	s.sessionEnded("d", "", true)

	for i := range maxEncryptionStates + 10 {
		s.failed(fmt.Sprint("p", i), "", EncryptionDecryptionFailed)
	}
	if n := len(s.snapshot()); n != maxEncryptionStates {
		t.Fatalf("%d identities kept, bound %d", n, maxEncryptionStates)
	}
	s.failed("a", "", EncryptionMissingKey) // known identities still change state at the bound
	if s.snapshot()["a"] != EncryptionMissingKey {
		t.Fatal("a known identity's failure was not kept at the bound")
	}
}
