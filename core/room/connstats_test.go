package room_test

import (
	"context"
	"testing"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"github.com/pion/webrtc/v4"
)

// TestConnectionStats: a connected room reports its candidate pair (host to host over UDP on
// loopback), ICE's round trip, and byte counts that grow by what it sends and receives; a
// room that ended reports none.
func TestConnectionStats(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := joinPeer(t, ctx, s, "stats", "alice", room.Options{})
	b := joinPeer(t, ctx, s, "stats", "bob", room.Options{})
	before, ok := a.r.ConnectionStats()
	if pair := before.CandidatePair; !ok || pair.Local.Type != webrtc.ICECandidateTypeHost || pair.Remote.Type != webrtc.ICECandidateTypeHost ||
		pair.Local.Protocol != "udp" || pair.Remote.Port == 0 {
		t.Fatalf("alice's pair %+v (%v)", pair, ok)
	}
	if before.RoundTripTime <= 0 || before.RoundTripTime > testTimeout {
		t.Fatalf("ICE round trip %v", before.RoundTripTime)
	}
	if p, _ := a.r.SelectedCandidatePair(); p != before.CandidatePair {
		t.Fatalf("SelectedCandidatePair %+v, ConnectionStats %+v", p, before.CandidatePair)
	}
	payload := make([]byte, 20_000)
	if err := a.r.LocalParticipant().PublishData(ctx, payload, room.DataPublishOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	b.wait(ctx, "alice's packet", func(ev room.Event) bool {
		d, ok := ev.(room.DataReceived)
		return ok && len(d.Payload) == len(payload)
	})
	after, ok := a.r.ConnectionStats()
	if !ok || after.BytesSent < before.BytesSent+uint64(len(payload)) || after.SCTPRoundTripTime <= 0 {
		t.Fatalf("alice before %+v, after %+v (%v)", before, after, ok)
	}
	if got, _ := b.r.ConnectionStats(); got.BytesReceived < uint64(len(payload)) {
		t.Fatalf("bob received %d bytes", got.BytesReceived)
	}
	if err := a.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if st, ok := a.r.ConnectionStats(); ok {
		t.Fatalf("stats after Disconnect: %+v", st)
	}
}
