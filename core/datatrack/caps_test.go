package datatrack

import (
	"errors"
	"math"
	"testing"
)

// Every caller-controlled size of the package is capped before anything is allocated: a
// 2^32-1 buffer or queue request is refused with a typed error instead of aborting the process
// with an out-of-memory fatal error.

func TestSubscribeBufferSizeCap(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", 0))
	for _, n := range []int{MaxSubscriberBufferFrames + 1, math.MaxInt32, math.MaxInt, -1} {
		s, outs, err := m.Subscribe("DTR_a", SubscribeOptions{BufferSize: n}, t0)
		var oe *OptionError
		if !errors.Is(err, ErrInvalidOption) || !errors.As(err, &oe) || oe.Option != "BufferSize" || oe.Value != int64(n) ||
			oe.Max != MaxSubscriberBufferFrames || s != nil || len(outs) != 0 {
			t.Fatalf("BufferSize %d: sub %v outs %v err %v", n, s, outs, err)
		}
	}
	// The refused attempts left no trace: the first valid subscription asks the server.
	s, outs, err := m.Subscribe("DTR_a", SubscribeOptions{BufferSize: MaxSubscriberBufferFrames}, t0)
	if err != nil || s == nil {
		t.Fatal(err)
	}
	if u := oneRemoteRequest(t, outs); !u.GetSubscribe() || u.GetTrackSid() != "DTR_a" {
		t.Fatalf("request %v", u)
	}
	if got := s.buf.max; got != MaxSubscriberBufferFrames {
		t.Fatalf("buffer of %d frames", got)
	}
}

func TestPublishQueueFramesCap(t *testing.T) {
	m := newLocal(LocalConfig{})
	for _, n := range []int{MaxSendQueueFrames + 1, math.MaxInt32, math.MaxInt} {
		h, outs, err := m.Publish(PublishOptions{Name: "t", QueueFrames: n}, t0)
		var oe *OptionError
		if !errors.Is(err, ErrInvalidOption) || !errors.As(err, &oe) || oe.Option != "QueueFrames" || h != 0 || len(outs) != 0 {
			t.Fatalf("QueueFrames %d: handle %d outs %v err %v", n, h, outs, err)
		}
	}
	h, _, err := m.Publish(PublishOptions{Name: "t", QueueFrames: MaxSendQueueFrames}, t0)
	if err != nil || h != 1 {
		t.Fatalf("handle %d err %v (refusals must not use up handles)", h, err)
	}
}

// The per-track queue options: out-of-range values are refused before a
// handle is used, and accepted ones override the manager's for that track only.
func TestPublishQueueOptions(t *testing.T) {
	m := newLocal(LocalConfig{})
	bad := OverflowPolicy(7)
	for _, o := range []PublishOptions{
		{Name: "t", QueueBytes: MaxSendQueueBytes + 1},
		{Name: "t", QueuePolicy: &bad},
	} {
		if h, outs, err := m.Publish(o, t0); !errors.Is(err, ErrInvalidOption) || h != 0 || len(outs) != 0 {
			t.Fatalf("%+v: handle %d outs %v err %v", o, h, outs, err)
		}
	}
	drop := DropOldest
	h1, _, err := m.Publish(PublishOptions{Name: "a", QueueFrames: 3, QueueBytes: 4096, QueuePolicy: &drop}, t0)
	if err != nil || h1 != 1 {
		t.Fatalf("handle %d err %v", h1, err)
	}
	h2, _, err := m.Publish(PublishOptions{Name: "b"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h           uint16
		sid, name   string
		frames, max int
		policy      OverflowPolicy
	}{{h1, "DTR_a00000000000", "a", 3, 4096, DropOldest}, {h2, "DTR_b00000000000", "b", DefaultSendQueueFrames, DefaultSendQueueBytes, RejectNew}} {
		done := outputsOf[PublishCompleted](m.HandlePublishResponse(publishResp(uint32(c.h), c.sid, c.name), t0))
		if len(done) != 1 || done[0].Err != nil {
			t.Fatalf("%s: %+v", c.name, done)
		}
		q := m.Track(c.h).Queue()
		if len(q.frames) != c.frames || q.maxBytes != c.max || q.policy != c.policy {
			t.Fatalf("%s: queue of %d frames, %d bytes, policy %d", c.name, len(q.frames), q.maxBytes, q.policy)
		}
	}
}

func TestQueueConstructorsClamp(t *testing.T) {
	if q := NewSendQueue(math.MaxInt, 0, RejectNew); len(q.frames) != MaxSendQueueFrames {
		t.Fatalf("send queue ring %d", len(q.frames))
	}
	if b := NewFrameBuffer(math.MaxInt, math.MaxInt, DropOldestFrame); b.max != MaxSubscriberBufferFrames || b.maxBytes != MaxSubscriberBufferBytes {
		t.Fatalf("frame buffer of %d frames, %d bytes", b.max, b.maxBytes)
	}
	// LocalConfig.QueueFrames is clamped the same way (it reaches NewSendQueue).
	m := newLocal(LocalConfig{QueueFrames: math.MaxInt})
	h, _, err := m.Publish(PublishOptions{Name: "t"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	done := outputsOf[PublishCompleted](m.HandlePublishResponse(publishResp(uint32(h), "DTR_t00000000000", "t"), t0))
	if len(done) != 1 || done[0].Err != nil || len(m.Track(h).Queue().frames) != MaxSendQueueFrames {
		t.Fatalf("%+v", done)
	}
}

func TestCheckRange(t *testing.T) {
	if err := CheckRange("x", 5, 0, 5); err != nil {
		t.Fatal(err)
	}
	err := CheckRange("x", 6, 0, 5)
	if !errors.Is(err, ErrInvalidOption) || err.Error() != "datatrack: option out of range: x 6 not in 0..5" {
		t.Fatal(err)
	}
}
