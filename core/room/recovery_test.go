package room

import (
	"errors"
	"testing"
	"time"
)

// A resume the server refuses (leave{RECONNECT}, e.g. STATE_MISMATCH after a restart) cannot
// succeed: the full reconnect starts at once instead of after the backoff, and it still
// counts as an attempt. Other failures keep their backoff.
func TestRefusedResumeEscalatesAtOnce(t *testing.T) {
	m := reconnectMachine{rnd: fixedRnd(0.5)}
	m.trigger(trigSignalLost)
	m.next()
	if d, giveUp := m.failed(failSignal); giveUp || d != 300*time.Millisecond {
		t.Fatalf("signalling failure: %v %v", d, giveUp)
	}
	if k, _ := m.next(); k != ReconnectResume {
		t.Fatalf("second attempt %v", k)
	}
	d, giveUp := m.failed(failRefused)
	if giveUp || d != 0 || m.attempts != 2 {
		t.Fatalf("refused resume: delay %v giveUp %v attempts %d", d, giveUp, m.attempts)
	}
	if k, announce := m.next(); k != ReconnectFull || !announce {
		t.Fatalf("after a refusal: %v %v", k, announce)
	}
	// A full attempt that fails keeps the normal backoff, whatever the failure.
	if d, _ := m.failed(failRefused); d != 2700*time.Millisecond {
		t.Fatalf("failed full attempt: %v", d)
	}
	// The refusal does not bypass the attempt limit.
	m = reconnectMachine{rnd: fixedRnd(0.5), maxAttempts: 1}
	m.trigger(trigSignalLost)
	m.next()
	if _, giveUp := m.failed(failRefused); !giveUp {
		t.Fatal("refusal after the last attempt did not give up")
	}
}

// While only signalling resumes, data-track packets may be written (the engine and its
// `_data_track` stay); during a full reconnect they may not.
func TestDataTrackGateDuringResume(t *testing.T) {
	r := &Room{closing: make(chan struct{})}
	if err := r.dataTrackSendable(); err != nil {
		t.Fatalf("connecting: %v", err)
	}
	r.send.set(true, false)
	r.send.set(false, true)
	_, changed := r.send.dataTrackOK()
	r.send.setResuming(true)
	select {
	case <-changed:
	default:
		t.Fatal("no wake-up when the resume started")
	}
	if err := r.dataTrackSendable(); err != nil {
		t.Fatalf("resume: %v", err)
	}
	r.send.setResuming(false) // escalated to a full reconnect
	if err := r.dataTrackSendable(); !errors.Is(err, ErrReconnecting) {
		t.Fatalf("full reconnect: %v", err)
	}
	r.send.setResuming(true)
	r.send.set(true, false) // reconnected: the resume flag does not outlive the episode
	r.send.set(false, true)
	if err := r.dataTrackSendable(); !errors.Is(err, ErrReconnecting) {
		t.Fatalf("next episode before it is known to be a resume: %v", err)
	}
}
