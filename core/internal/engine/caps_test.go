package engine

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// The duplicate filter remembers at most MaxDedupSenders senders (sids come from remote
// packets); the least recently heard one is forgotten first.
func TestDedupSendersCap(t *testing.T) {
	var d ReceiveDedup
	now := time.Unix(1000, 0)
	for i := range MaxDedupSenders + 10 {
		if !d.Accept(fmt.Sprintf("PA_%d", i), 1, now.Add(time.Duration(i)*time.Microsecond)) {
			t.Fatalf("sender %d refused", i)
		}
	}
	if n := len(d.States()); n != MaxDedupSenders {
		t.Fatalf("%d senders remembered", n)
	}
	last := now.Add(time.Duration(MaxDedupSenders+9) * time.Microsecond)
	if d.Accept(fmt.Sprintf("PA_%d", MaxDedupSenders+9), 1, last) {
		t.Fatal("a recent sender was forgotten")
	}
	if !d.Accept("PA_0", 1, last) {
		t.Fatal("the oldest sender was not the one forgotten")
	}
}

// Remote candidates queued before the answer are capped; malformed JSON is a typed error.
func TestQueuedRemoteCandidatesCap(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := `{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0"}`
	for i := range MaxQueuedRemoteCandidates {
		if err := e.AddRemoteCandidate(c); err != nil {
			t.Fatalf("candidate %d: %v", i, err)
		}
	}
	if err := e.AddRemoteCandidate(c); !errors.Is(err, ErrTooManyCandidates) {
		t.Fatalf("over the cap: %v", err)
	}
	if err := e.AddRemoteCandidate(`{"candidate":`); !errors.Is(err, ErrBadCandidate) {
		t.Fatalf("bad JSON: %v", err)
	}
	if err := e.AddRemoteCandidate(`{"candidate":""}`); err != nil {
		t.Fatalf("end-of-candidates: %v", err)
	}
}
