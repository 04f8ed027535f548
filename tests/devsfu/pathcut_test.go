package devsfu

import (
	"bytes"
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
)

// TestCutPath: a cut path drops the participant's datagrams both ways before they reach the
// server's SCTP, so what it sends stays unacknowledged (unlike KillICE) and nothing reaches
// it; restoring the path lets SCTP's retransmissions deliver everything, and the other
// participant's path is never affected. Both of the server's sockets: batched (udpbatch) and
// plain (*net.UDPConn, --disable-udp-batching).
func TestCutPath(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := "batched"
		if plain {
			name = "plain"
		}
		t.Run(name, func(t *testing.T) { testCutPath(t, Options{DisableUDPBatching: plain}) })
	}
}

func testCutPath(t *testing.T, o Options) {
	s := startServer(t, o)
	pub, sub := dialPair(t, s, "cut", "pub", "sub")
	user := func(payload string) *lkpb.DataPacket {
		return &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte(payload)}}}
	}
	payload := func(want string) func([]byte) bool {
		return func(b []byte) bool { return bytes.Contains(b, []byte(want)) }
	}
	pub.sendPacket(labelReliable, user("before"))
	sub.waitData(labelReliable, payload("before"))

	if err := s.CutPath("nobody", true); err == nil {
		t.Fatal("a path cut for a participant that is not there")
	}
	if err := s.CutPath("pub", true); err != nil {
		t.Fatal(err)
	}
	reliable := pub.ch[labelReliable]
	// pub -> server: the datagram arrives and is dropped, so SCTP never acknowledges it.
	pub.sendPacket(labelReliable, user("while cut"))
	waitServer(t, s, "the cut datagram to be dropped", func() bool { return s.Stats().PathCutDrops > 0 })
	if n := reliable.BufferedAmount(); n == 0 {
		t.Fatal("the message sent into the cut path was acknowledged")
	}
	// server -> pub: what sub sends reaches the server (its path is not cut), and the server's
	// datagrams to pub are dropped.
	drops := s.Stats().PathCutDrops
	sub.sendPacket(labelReliable, user("to pub"))
	waitServer(t, s, "the datagram to pub to be dropped", func() bool { return s.Stats().PathCutDrops > drops })
	waitServer(t, s, "sub's message to be acknowledged (its path is not cut)", func() bool {
		return sub.ch[labelReliable].BufferedAmount() == 0
	})
	if got := sub.dataMessages(labelReliable); len(got) != 1 {
		t.Fatalf("sub received %d reliable messages while pub's path was cut, want only the first", len(got))
	}
	if got := pub.dataMessages(labelReliable); len(got) != 0 {
		t.Fatalf("pub received %d reliable messages through its cut path", len(got))
	}

	// Restored: SCTP retransmits both ways (its timeout is a second or more).
	if err := s.CutPath("pub", false); err != nil {
		t.Fatal(err)
	}
	sub.waitData(labelReliable, payload("while cut"))
	pub.waitData(labelReliable, payload("to pub"))
	waitServer(t, s, "pub's message to be acknowledged", func() bool { return reliable.BufferedAmount() == 0 })

	// ClearFaults restores cut paths too.
	if err := s.CutPath("pub", true); err != nil {
		t.Fatal(err)
	}
	s.ClearFaults()
	drops = s.Stats().PathCutDrops
	pub.sendPacket(labelReliable, user("after clear"))
	sub.waitData(labelReliable, payload("after clear"))
	if s.Stats().PathCutDrops != drops {
		t.Fatalf("datagrams dropped after ClearFaults: %d -> %d", drops, s.Stats().PathCutDrops)
	}
}
