package engine

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// FuzzParseRemoteCandidate feeds arbitrary TrickleRequest.candidateInit strings to the
// candidate decoder and to an engine that has no answer yet (so candidates are queued, up to
// the cap, and no connectivity check is ever started): nothing may panic, failures are typed,
// and an accepted candidate re-encodes to JSON that decodes to the same candidate.
func FuzzParseRemoteCandidate(f *testing.F) {
	for _, s := range []string{
		`{"candidate":"candidate:3014408716 1 udp 2130706431 127.0.0.1 7882 typ host generation 0 ufrag hVuZ network-cost 999","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"hVuZ"}`,
		`{"candidate":"candidate:1 1 tcp 1671430143 127.0.0.1 7881 typ host tcptype passive","sdpMid":"0"}`,
		`{"candidate":"candidate:2 1 udp 1694498815 203.0.113.7 51000 typ srflx raddr 0.0.0.0 rport 0","sdpMLineIndex":0}`,
		`{"candidate":""}`,
		`{}`,
		`null`,
		`{"candidate":7}`,
	} {
		f.Add(s)
	}
	e, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close() })
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseRemoteCandidate(s)
		if err != nil {
			if !errors.Is(err, ErrBadCandidate) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseRemoteCandidate(string(b))
		if err != nil || again.Candidate != c.Candidate || (again.SDPMid == nil) != (c.SDPMid == nil) {
			t.Fatalf("round trip %q → %q: %v", s, b, err)
		}
		if err := e.AddRemoteCandidate(s); err != nil && !errors.Is(err, ErrTooManyCandidates) {
			t.Fatalf("engine refused a parsed candidate: %v", err)
		}
	})
}

// FuzzDecodeDataPacket feeds arbitrary sequences of `_reliable`/`_lossy` messages
// (length-prefixed, each preceded by a byte that advances the clock) to the decoder and the
// duplicate filter: nothing may panic, failures are typed, and a packet that carries a sender
// sid and a sequence is never accepted twice within DedupTTL.
func FuzzDecodeDataPacket(f *testing.F) {
	p := func(sid string, seq uint32) []byte {
		b, _ := proto.Marshal(&lkpb.DataPacket{ParticipantSid: sid, Sequence: seq, Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("x")}}})
		return append([]byte{1}, protowire.AppendBytes(nil, b)...)
	}
	f.Add(append(append(p("PA_a", 1), p("PA_a", 2)...), p("PA_a", 1)...))
	f.Add(append(p("", 5), p("PA_b", 0)...))
	f.Add(append(p("PA_a", 1<<31), p("PA_a", 3)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d ReceiveDedup
		now := time.Unix(1000, 0)
		for len(data) > 1 {
			now = now.Add(time.Duration(data[0]) * 100 * time.Millisecond)
			msg, n := protowire.ConsumeBytes(data[1:])
			if n < 0 {
				break
			}
			data = data[1+n:]
			pkt, err := DecodeDataPacket(&d, msg, now)
			if err != nil {
				if !errors.Is(err, ErrUndecodablePacket) && !errors.Is(err, ErrDuplicatePacket) {
					t.Fatalf("untyped error %v", err)
				}
				continue
			}
			if pkt.GetSequence() > 0 && pkt.GetParticipantSid() != "" {
				if _, err := DecodeDataPacket(&d, msg, now); !errors.Is(err, ErrDuplicatePacket) {
					t.Fatalf("the same packet was accepted twice (%v)", err)
				}
			}
		}
	})
}
