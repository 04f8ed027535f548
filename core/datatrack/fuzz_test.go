package datatrack

import (
	"bytes"
	"testing"

	"github.com/lkcore/lkcore/tests/testkit"
)

// FuzzUnmarshal checks that Unmarshal never panics and that decoding is a round trip: any
// packet it accepts re-encodes (canonically: known extensions in order, trailing padding) to
// bytes that decode to the same packet and re-encode to the same bytes. Seed corpus in
// testdata/fuzz/FuzzUnmarshal plus the reference packet vectors below.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		"18000065006600670000006800010203040506070809",
		"0C00881144224411442211880006010DFA3C3C3C3C3C3C3C3C3C3C3C3C0208441122111111881100FAFAFAFA",
		"140000650066006700000068 0004 010DFA3C3C3C3C3C3C3C3C3C3C3C3C 000000 FAFAFAFA",
		"04000001FFFF0001DEADBEEF0002 0208 0000018BCFE56800 AABB",
		"14000D051A0A270FDEADBEEF0004FF10746573745F7061727469636970616E74FFFEFDFC",
		"0400000100000000000000000001",
		"1800000000000000000000 00FF",
		"04000001000000000000000000010802AAAA0000CD",
	} {
		f.Add(testkit.Unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Packet
		if err := p.Unmarshal(data); err != nil {
			return
		}
		if p.Size() > len(data)+4*64 { // canonical form is never much larger than the input
			t.Fatalf("size %d for %d input bytes", p.Size(), len(data))
		}
		buf := make([]byte, p.Size())
		n, err := p.MarshalTo(buf)
		if err != nil {
			t.Fatalf("marshal of decoded packet: %v", err)
		}
		var q Packet
		if err := q.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !packetsEqual(&p, &q) {
			t.Fatalf("round trip differs:\n%+v\n%+v", p, q)
		}
		buf2 := make([]byte, q.Size())
		if _, err := q.MarshalTo(buf2); err != nil || !bytes.Equal(buf, buf2) {
			t.Fatalf("not canonical: %x vs %x (%v)", buf, buf2, err)
		}
	})
}

// FuzzReceivePath feeds arbitrary message sequences (each prefixed by a one-byte length) into
// a RemoteManager with one subscribed track: it must never panic, never exceed the partial
// frame bound, and only deliver frames for the routed handle.
func FuzzReceivePath(f *testing.F) {
	f.Add(append([]byte{13}, testkit.Unhex(f, "10000001FFFE00070001E240AB")...), uint8(1))
	f.Add(append(append([]byte{13}, testkit.Unhex(f, "10000001FFFE00070001E240AB")...),
		append([]byte{13}, testkit.Unhex(f, "08000001000000070001E240EF")...)...), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, maxPartial uint8) {
		m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", 0))
		_ = m.SetMaxPartialFrames("DTR_a", int(maxPartial))
		s, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
		m.HandleSubscriberHandles(handles(map[uint32]string{1: "DTR_a"}), t0)
		for len(data) > 0 {
			n := int(data[0])
			data = data[1:]
			n = min(n, len(data))
			msg := bytes.Clone(data[:n])
			data = data[n:]
			o := m.HandlePacket(msg)
			if o.Delivered && o.TrackSid != "DTR_a" {
				t.Fatal("delivered for an unrouted track")
			}
			m.mu.Lock()
			tr := m.tracks["DTR_a"]
			if tr.pipeline.Depacketizer().PartialFrames() > clampPartial(int(maxPartial)) {
				t.Fatal("partial frame bound exceeded")
			}
			m.mu.Unlock()
		}
		for {
			if _, ok := s.TryRecv(); !ok {
				break
			}
		}
	})
}
