package room_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// e2eeTrio joins alice and bob with the shared key and carol without it to roomName, and
// waits until each knows the other two.
func e2eeTrio(t *testing.T, ctx context.Context, s *sfu.Server, roomName string) (alice, bob, carol *peer) {
	t.Helper()
	opts, err := room.SharedKeyE2EE([]byte(e2eeKey))
	if err != nil {
		t.Fatal(err)
	}
	alice = joinPeer(t, ctx, s, roomName, "alice", room.Options{E2EE: opts})
	bob = joinPeer(t, ctx, s, roomName, "bob", room.Options{E2EE: opts})
	carol = joinPeer(t, ctx, s, roomName, "carol", room.Options{})
	knowEachOther(t, ctx, alice, bob, carol)
	return alice, bob, carol
}

// knowEachOther waits until every one of peers knows all the others.
func knowEachOther(t *testing.T, ctx context.Context, peers ...*peer) {
	t.Helper()
	for _, x := range peers {
		for _, y := range peers {
			if x != y {
				waitRemote(t, ctx, x.r, y.r.LocalParticipant().Identity())
			}
		}
	}
}

// DTMF between participants of an E2EE room: sent in clear (a participant
// without the key reads it, as a SIP bridge must), in order with the other
// reliable data, to everyone or to the destinations; bad input is refused
// before anything is sent.
func TestSipDTMF(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a, b, c := e2eeTrio(t, ctx, s, "dtmf") // carol has no key, like a SIP participant
	lp := a.r.LocalParticipant()

	// Refused before sending: nothing of these reaches anyone (the first
	// packet each receiver gets below is the data packet that follows).
	for _, bad := range []struct {
		code  uint32
		digit string
	}{
		{room.MaxDTMFCode + 1, "1"},
		{1, ""},
		{1, "\xff"},
		{1, strings.Repeat("1", room.MaxDTMFDigitBytes+1)},
	} {
		if err := lp.PublishDTMF(ctx, bad.code, bad.digit, room.DTMFOptions{}); !errors.Is(err, room.ErrInvalidArgument) {
			t.Fatalf("PublishDTMF(%d, %q): %v, want ErrInvalidArgument", bad.code, bad.digit, err)
		}
	}

	// In order with data packets (the same reliable channel), to everyone.
	if err := lp.PublishData(ctx, []byte("before"), room.DataPublishOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	longest := strings.Repeat("#", room.MaxDTMFDigitBytes)
	sent := []struct {
		code  uint32
		digit string
	}{{5, "5"}, {11, "#"}, {room.MaxDTMFCode, longest}}
	for _, d := range sent {
		if err := lp.PublishDTMF(ctx, d.code, d.digit, room.DTMFOptions{}); err != nil {
			t.Fatalf("PublishDTMF(%d, %q): %v", d.code, d.digit, err)
		}
	}
	if err := lp.PublishData(ctx, []byte("after"), room.DataPublishOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	isData := func(ev room.Event) bool {
		switch ev.(type) {
		case room.DataReceived, room.SipDTMFReceived:
			return true
		}
		return false
	}
	// bob (with the key) sees them in order between the two data packets;
	// carol (without) gets the DTMF and fails to decrypt the data packets.
	for _, x := range []*peer{b, c} {
		if x == b {
			x.wait(ctx, "after", func(ev room.Event) bool {
				d, ok := ev.(room.DataReceived)
				return ok && string(d.Payload) == "after"
			})
		} else {
			x.wait(ctx, "the last DTMF", func(ev room.Event) bool {
				d, ok := ev.(room.SipDTMFReceived)
				return ok && d.Code == room.MaxDTMFCode
			})
		}
		var got []string
		for _, ev := range x.events() {
			switch e := ev.(type) {
			case room.DataReceived:
				got = append(got, string(e.Payload))
			case room.SipDTMFReceived:
				if e.SenderIdentity != "alice" || e.Participant == nil || e.Participant.Identity() != "alice" {
					t.Fatalf("%s: DTMF sender %q participant %v", x.r.LocalParticipant().Identity(), e.SenderIdentity, e.Participant)
				}
				got = append(got, dtmfLabel(e.Code, e.Digit))
			case room.DecryptionFailed:
				if x == b {
					t.Fatalf("bob: %+v", e)
				}
			}
		}
		var want []string
		for _, d := range sent {
			want = append(want, dtmfLabel(d.code, d.digit))
		}
		if x == b {
			want = append(append([]string{"before"}, want...), "after")
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s received %q, want %q", x.r.LocalParticipant().Identity(), got, want)
		}
	}

	// Destinations: only carol gets the first; bob's next DTMF is the broadcast.
	if err := lp.PublishDTMF(ctx, 1, "1", room.DTMFOptions{DestinationIdentities: []string{"carol"}}); err != nil {
		t.Fatal(err)
	}
	if err := lp.PublishDTMF(ctx, 2, "2", room.DTMFOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*peer{b, c} {
		want := []string{"1:1", "2:2"}
		if x == b {
			want = want[1:]
		}
		x.wait(ctx, "2:2", func(ev room.Event) bool { e, ok := ev.(room.SipDTMFReceived); return ok && e.Code == 2 })
		var got []string
		for _, ev := range x.events() {
			if e, ok := ev.(room.SipDTMFReceived); ok && e.Code < 3 {
				got = append(got, dtmfLabel(e.Code, e.Digit))
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s received %q, want %q", x.r.LocalParticipant().Identity(), got, want)
		}
	}
	if n := a.count(isData); n != 0 {
		t.Fatalf("the sender received %d of its own packets", n)
	}
}

func dtmfLabel(code uint32, digit string) string {
	if len(digit) > 8 {
		digit = digit[:8] + "…"
	}
	return fmt.Sprintf("%d:%s", code, digit)
}
