package datatrack

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/lkcore/lkcore/tests/testkit"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func newTestPacketizer(t testing.TB, handle uint16, mtu int) *Packetizer {
	t.Helper()
	p, err := NewPacketizer(handle, mtu, NewClock(1000, t0))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeAll(t testing.TB, f *PacketizedFrame) []Packet {
	t.Helper()
	out := make([]Packet, f.Len())
	for i := range out {
		if err := out[i].Unmarshal(f.Packet(i)); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	return out
}

func TestPacketizerSplits(t *testing.T) {
	payload := make([]byte, 40000)
	for i := range payload {
		payload[i] = byte(i)
	}
	cases := []struct {
		name  string
		mtu   int
		size  int
		ext   Extensions
		sizes []int
	}{
		// packetizer.test.ts: 300 B at MTU 100
		{"js mtu100", 100, 300, Extensions{}, []int{88, 88, 88, 36}},
		// worked split of a 40 000-byte frame (as the JS 2.23.0 packetizer splits it)
		{"40000 none", 0, 40000, Extensions{}, []int{15988, 15988, 8024}},
		{"40000 uts", 0, 40000, Extensions{HasUserTimestamp: true, UserTimestamp: 7}, []int{15976, 15976, 8048}},
		{"40000 e2ee", 0, 40000, Extensions{HasE2EE: true}, []int{15968, 15968, 8064}},
		{"40000 both", 0, 40000, Extensions{HasE2EE: true, HasUserTimestamp: true}, []int{15960, 15960, 8080}},
		// OutgoingDataTrackManager.test.ts: 24 000 B
		{"24000", 0, 24000, Extensions{}, []int{15988, 8012}},
		{"single", 0, 32, Extensions{}, []int{32}},
		{"exact mtu", 0, 15988, Extensions{}, []int{15988}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newTestPacketizer(t, 1, c.mtu)
			var f PacketizedFrame
			if err := p.Packetize(&f, payload[:c.size], c.ext, t0); err != nil {
				t.Fatal(err)
			}
			pkts := decodeAll(t, &f)
			if len(pkts) != len(c.sizes) {
				t.Fatalf("%d packets, want %d", len(pkts), len(c.sizes))
			}
			var joined []byte
			for i, pk := range pkts {
				if len(pk.Payload) != c.sizes[i] {
					t.Fatalf("packet %d payload %d, want %d", i, len(pk.Payload), c.sizes[i])
				}
				want := MarkerInter
				switch {
				case len(pkts) == 1:
					want = MarkerSingle
				case i == 0:
					want = MarkerStart
				case i == len(pkts)-1:
					want = MarkerFinal
				}
				if pk.Marker != want || pk.Sequence != uint16(i) || pk.FrameNumber != 0 || pk.Handle != 1 ||
					pk.Timestamp != pkts[0].Timestamp || !pk.Extensions.Equal(&c.ext) {
					t.Fatalf("packet %d header %+v", i, pk.Header)
				}
				if mtu := max(c.mtu, 0); mtu == 0 && len(f.Packet(i)) > TransportMTU {
					t.Fatalf("packet %d exceeds MTU", i)
				}
				joined = append(joined, pk.Payload...)
			}
			if !bytes.Equal(joined, payload[:c.size]) {
				t.Fatal("payload not preserved")
			}
			if p.NextSequence() != uint16(len(c.sizes)) || p.NextFrameNumber() != 1 {
				t.Fatalf("counters %d/%d", p.NextSequence(), p.NextFrameNumber())
			}
		})
	}
}

// The 100 000-byte frame of trace 1b-subscribe-js (frame 3, sequences 3..9, JS's constant
// timestamp): header bytes and packet sizes equal the recording.
func TestPacketizerMatchesRecording(t *testing.T) {
	var rec []tracePacket
	for _, tp := range loadTracePackets(t) {
		if tp.Scenario == "1b-subscribe-js" && tp.Dir == "send" && tp.Frame == 3 {
			rec = append(rec, tp)
		}
	}
	if len(rec) != 7 {
		t.Fatalf("found %d recorded packets", len(rec))
	}
	p, err := NewPacketizer(1, 0, NewClock(rec[0].TS, t0))
	if err != nil {
		t.Fatal(err)
	}
	p.SetCounters(3, 3)
	var f PacketizedFrame
	if err := p.Packetize(&f, make([]byte, 100000), Extensions{}, t0); err != nil {
		t.Fatal(err)
	}
	if f.Len() != 7 {
		t.Fatalf("%d packets", f.Len())
	}
	for i, tp := range rec {
		got := f.Packet(i)
		if len(got) != tp.Len || !bytes.Equal(got[:12], testkit.Unhex(t, tp.Hex)[:12]) {
			t.Fatalf("packet %d: %d bytes %x, recorded %d bytes %s", i, len(got), got[:12], tp.Len, tp.Hex[:24])
		}
	}
}

// 2a-e2ee-js: the 100 016-byte ciphertext of a 100 000-byte frame is split 6 × 15 968 + 4 208.
func TestPacketizerE2EERecordedSizes(t *testing.T) {
	p := newTestPacketizer(t, 1, 0)
	var f PacketizedFrame
	if err := p.Packetize(&f, make([]byte, 100016), Extensions{HasE2EE: true}, t0); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for i := range f.Len() {
		sizes = append(sizes, len(f.Packet(i)))
	}
	want := []int{16000, 16000, 16000, 16000, 16000, 16000, 32 + 4208}
	if len(sizes) != len(want) {
		t.Fatalf("sizes %v", sizes)
	}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("sizes %v, want %v", sizes, want)
		}
	}
}

func TestPacketizerEmptyFrame(t *testing.T) {
	p := newTestPacketizer(t, 1, 0)
	var f PacketizedFrame
	if err := p.Packetize(&f, nil, Extensions{}, t0); err != nil || f.Len() != 0 {
		t.Fatalf("empty frame: %d packets, %v", f.Len(), err)
	}
	if p.NextFrameNumber() != 1 || p.NextSequence() != 0 {
		t.Fatal("empty frame must consume a frame number and no sequence number")
	}
}

func TestPacketizerWrapAround(t *testing.T) {
	p := newTestPacketizer(t, 1, 100)
	p.SetCounters(65534, 65535)
	var f PacketizedFrame
	if err := p.Packetize(&f, make([]byte, 200), Extensions{}, t0); err != nil {
		t.Fatal(err)
	}
	pk := decodeAll(t, &f)
	if len(pk) != 3 || pk[0].Sequence != 65534 || pk[1].Sequence != 65535 || pk[2].Sequence != 0 || pk[2].FrameNumber != 65535 {
		t.Fatalf("headers %+v %+v %+v", pk[0].Header, pk[1].Header, pk[2].Header)
	}
	f.Reset()
	if err := p.Packetize(&f, []byte{1}, Extensions{}, t0); err != nil {
		t.Fatal(err)
	}
	if pk := decodeAll(t, &f); pk[0].FrameNumber != 0 || pk[0].Sequence != 1 {
		t.Fatalf("after wrap %+v", pk[0].Header)
	}
}

func TestPacketizerFrameTooLarge(t *testing.T) {
	p := newTestPacketizer(t, 1, 0)
	var f PacketizedFrame
	max := 128 * 15988
	if p.MaxPayload(&Extensions{}) != max {
		t.Fatalf("MaxPayload %d", p.MaxPayload(&Extensions{}))
	}
	if err := p.Packetize(&f, make([]byte, max), Extensions{}, t0); err != nil || f.Len() != 128 {
		t.Fatalf("128 packets: %d, %v", f.Len(), err)
	}
	f.Reset()
	if err := p.Packetize(&f, make([]byte, max+1), Extensions{}, t0); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("129 packets: %v", err)
	}
	if p.NextFrameNumber() != 1 || p.NextSequence() != 128 || f.Len() != 0 {
		t.Fatal("a refused frame must not consume counters")
	}
}

func TestPacketizerErrors(t *testing.T) {
	if _, err := NewPacketizer(0, 0, Clock{}); !errors.Is(err, ErrInvalidHandle) {
		t.Fatal(err)
	}
	if _, err := NewPacketizer(1, 12, Clock{}); !errors.Is(err, ErrMTUTooShort) {
		t.Fatal(err)
	}
	p := newTestPacketizer(t, 1, 30)
	var f PacketizedFrame
	if err := p.Packetize(&f, []byte{1}, Extensions{HasE2EE: true}, t0); !errors.Is(err, ErrMTUTooShort) {
		t.Fatal(err)
	}
}

func TestClock(t *testing.T) {
	c := NewClock(0xFFFFFF00, t0)
	if got := c.At(t0); got != 0xFFFFFF00 {
		t.Fatalf("at epoch %d", got)
	}
	if got := c.At(t0.Add(time.Second)); got != (90000 - 0x100) { // wraps modulo 2³²
		t.Fatalf("after 1 s %d", got)
	}
	if got := c.At(t0.Add(time.Second + 5*time.Microsecond + 600*time.Nanosecond)); got != (90001 - 0x100) { // 5.6 µs = 0.504 tick → rounds up
		t.Fatalf("rounding %d", got)
	}
	// never goes backwards
	if got := c.At(t0.Add(500 * time.Millisecond)); got != (90001 - 0x100) {
		t.Fatalf("went backwards: %d", got)
	}
	// long uptimes do not overflow
	c2 := NewClock(0, t0)
	if got := c2.At(t0.Add(1000 * time.Hour)); got != uint32(uint64(1000*3600*90000)%(1<<32)) {
		t.Fatalf("1000 h: %d", got)
	}
}

func TestPacketizeNoAllocSteadyState(t *testing.T) {
	p := newTestPacketizer(t, 1, 0)
	var f PacketizedFrame
	payload := make([]byte, 100000)
	allocs := testing.AllocsPerRun(50, func() {
		f.Reset()
		if err := p.Packetize(&f, payload, Extensions{HasUserTimestamp: true}, t0); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("allocs/frame = %v", allocs)
	}
}
