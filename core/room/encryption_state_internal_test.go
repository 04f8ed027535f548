package room

import (
	"fmt"
	"testing"
)

// TestEncryptionStatesTable: the table behind Room.EncryptionStates, fed directly — the count of
// failing identities that lets the success path skip the lock, forgetting, and the bound on
// identities kept.
func TestEncryptionStatesTable(t *testing.T) {
	var s encryptionStates
	if s.succeeded("a") || s.snapshot() != nil {
		t.Fatal("empty table")
	}
	s.failed("", EncryptionDecryptionFailed) // no identity: nothing to keep
	s.failed("a", EncryptionDecryptionFailed)
	s.failed("a", EncryptionMissingKey)
	s.failed("b", EncryptionMissingKey)
	if n := s.failing.Load(); n != 2 {
		t.Fatalf("failing %d, want 2", n)
	}
	if !s.succeeded("a") || s.succeeded("a") || s.succeeded("c") {
		t.Fatal("a recovers once; c never failed")
	}
	if got := s.snapshot(); len(got) != 2 || got["a"] != EncryptionOK || got["b"] != EncryptionMissingKey {
		t.Fatalf("states %v", got)
	}
	s.forget("a") // OK: not counted as failing
	s.forget("b")
	s.forget("c")
	if n := s.failing.Load(); n != 0 || len(s.snapshot()) != 0 {
		t.Fatalf("after forgetting: failing %d, states %v", n, s.snapshot())
	}
	s.failed("a", EncryptionMissingKey)
	s.succeeded("a")
	s.failed("a", EncryptionDecryptionFailed) // failing again after OK
	if n := s.failing.Load(); n != 1 || !s.succeeded("a") {
		t.Fatalf("failing %d after a new failure", n)
	}

	for i := range maxEncryptionStates + 10 {
		s.failed(fmt.Sprint("p", i), EncryptionDecryptionFailed)
	}
	if n := len(s.snapshot()); n != maxEncryptionStates {
		t.Fatalf("%d identities kept, bound %d", n, maxEncryptionStates)
	}
	s.failed("a", EncryptionMissingKey) // known identities still change state at the bound
	if s.snapshot()["a"] != EncryptionMissingKey {
		t.Fatal("a known identity's failure was not kept at the bound")
	}
}
