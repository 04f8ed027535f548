package datatrack

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func iv(b ...byte) (v [12]byte) { copy(v[:], b); return }

func TestExtensionTagsMatchProtocol(t *testing.T) {
	if ExtTagE2EE != uint8(lkpb.DataTrackExtensionID_DTEI_E2EE) ||
		ExtTagUserTimestamp != uint8(lkpb.DataTrackExtensionID_DTEI_USER_TIMESTAMP) ||
		ExtTagParticipantSID != uint8(lkpb.DataTrackExtensionID_DTEI_PARTICIPANT_SID) {
		t.Fatal("extension tags differ from lkpb.DataTrackExtensionID (v1.53+ numbering)")
	}
}

// Reference vectors A–G (layout in docs/protocol.md, Data tracks: Packet format): Marshal
// produces the bytes exactly and Unmarshal gives the packet back.
func TestSpecVectors(t *testing.T) {
	ivB := [12]byte(rep(0x3C, 12))
	cases := []struct {
		name string
		pkt  Packet
		wire string
	}{
		{"A single no ext", Packet{Header: Header{Marker: MarkerSingle, Handle: 101, Sequence: 102, FrameNumber: 103, Timestamp: 104},
			Payload: testkit.Unhex(t, "00010203040506070809")},
			"18 00 0065 0066 0067 00000068 | 00010203040506070809"},
		{"B final e2ee+uts", Packet{Header: Header{Marker: MarkerFinal, Handle: 0x8811, Sequence: 0x4422, FrameNumber: 0x4411, Timestamp: 0x44221188,
			Extensions: Extensions{HasE2EE: true, E2EE: E2EEExtension{KeyIndex: 0xFA, IV: ivB}, HasUserTimestamp: true, UserTimestamp: 0x4411221111118811}},
			Payload: rep(0xFA, 4)},
			"0C 00 8811 4422 4411 44221188 0006 01 0D FA 3C3C3C3C3C3C3C3C3C3C3C3C 02 08 4411221111118811 00 FAFAFAFA"},
		{"C start e2ee", Packet{Header: Header{Marker: MarkerStart, Handle: 101, Sequence: 102, FrameNumber: 103, Timestamp: 104,
			Extensions: Extensions{HasE2EE: true, E2EE: E2EEExtension{KeyIndex: 0xFA, IV: ivB}}}, Payload: rep(0xFA, 4)},
			"14 00 0065 0066 0067 00000068 0004 01 0D FA 3C3C3C3C3C3C3C3C3C3C3C3C 000000 FAFAFAFA"},
		{"D inter uts seq ffff", Packet{Header: Header{Marker: MarkerInter, Handle: 1, Sequence: 0xFFFF, FrameNumber: 1, Timestamp: 0xDEADBEEF,
			Extensions: Extensions{HasUserTimestamp: true, UserTimestamp: 1_700_000_000_000}}, Payload: testkit.Unhex(t, "AABB")},
			"04 00 0001 FFFF 0001 DEADBEEF 0002 02 08 0000018BCFE56800 AABB"},
		{"E single e2ee key 0", Packet{Header: Header{Marker: MarkerSingle, Handle: 1,
			Extensions: Extensions{HasE2EE: true, E2EE: E2EEExtension{KeyIndex: 0, IV: iv(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)}}},
			Payload: testkit.Unhex(t, "669660CB02 0398918905E1C05A26BCF6FDF8EB749D")},
			"1C 00 0001 0000 0000 00000000 0004 01 0D 00 0102030405060708090A0B0C 000000 669660CB02 0398918905E1C05A26BCF6FDF8EB749D"},
		{"F B forwarded to handle 7", Packet{Header: Header{Marker: MarkerFinal, Handle: 7, Sequence: 0x4422, FrameNumber: 0x4411, Timestamp: 0x44221188,
			Extensions: Extensions{HasE2EE: true, E2EE: E2EEExtension{KeyIndex: 0xFA, IV: ivB}, HasUserTimestamp: true, UserTimestamp: 0x4411221111118811}},
			Payload: rep(0xFA, 4)},
			"0C 00 0007 4422 4411 44221188 0006 010DFA3C3C3C3C3C3C3C3C3C3C3C3C 02084411221111118811 00 FAFAFAFA"},
		{"G participant sid tag 255", Packet{Header: Header{Marker: MarkerStart, Handle: 3333, Sequence: 6666, FrameNumber: 9999, Timestamp: 0xDEADBEEF,
			Extensions: Extensions{ParticipantSID: []byte("test_participant")}}, Payload: testkit.Unhex(t, "FFFEFDFC")},
			"14 00 0D05 1A0A 270F DEADBEEF 0004 FF10 746573745F7061727469636970616E74 FFFEFDFC"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := testkit.Unhex(t, c.wire)
			buf := make([]byte, c.pkt.Size())
			n, err := c.pkt.MarshalTo(buf)
			if err != nil || n != len(want) || !bytes.Equal(buf[:n], want) {
				t.Fatalf("marshal = %x, %v; want %x", buf[:n], err, want)
			}
			var got Packet
			if err := got.Unmarshal(want); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !packetsEqual(&got, &c.pkt) {
				t.Fatalf("unmarshal = %+v; want %+v", got, c.pkt)
			}
			if got.Size() != len(want) {
				t.Fatalf("Size = %d, want %d", got.Size(), len(want))
			}
		})
	}
}

func packetsEqual(a, b *Packet) bool {
	return a.Marker == b.Marker && a.Handle == b.Handle && a.Sequence == b.Sequence &&
		a.FrameNumber == b.FrameNumber && a.Timestamp == b.Timestamp && a.Extensions.Equal(&b.Extensions) &&
		bytes.Equal(a.Payload, b.Payload)
}

// Vector G with v1.52.1 numbering (tag 1 len 16): Rust rules take the first 13 bytes as E2EE
// (tag 1 meant the participant SID before protocol v1.53.1 and collides with E2EE) —
// documented behaviour, kept identical to JS/Rust.
func TestParticipantSIDCollisionOldNumbering(t *testing.T) {
	var p Packet
	if err := p.Unmarshal(testkit.Unhex(t, "14 00 0D05 1A0A 270F DEADBEEF 0004 0110 746573745F7061727469636970616E74 FFFEFDFC")); err != nil {
		t.Fatal(err)
	}
	if !p.Extensions.HasE2EE || p.Extensions.E2EE.KeyIndex != 0x74 || string(p.Extensions.E2EE.IV[:]) != "est_particip" {
		t.Fatalf("got %+v", p.Extensions)
	}
}

// Reference vector H and the parsing edge cases (docs/protocol.md, Data tracks: Packet format).
func TestUnmarshalRejections(t *testing.T) {
	cases := []struct {
		wire string
		err  error
	}{
		{"00 00 00 01 00 00 00 00 00 00 00", ErrTooShort},
		{"", ErrTooShort},
		{"04 00 0001 0000 0000 00000000", ErrMissingExtWords},
		{"04 00 0001 0000 0000 00000000 00", ErrMissingExtWords},
		{"04 00 0001 0000 0000 00000000 0001", ErrHeaderOverrun},
		{"20 00 0001 0000 0000 00000000", ErrUnsupportedVersion},
		{"E0 00 0001 0000 0000 00000000", ErrUnsupportedVersion},
		{"18 00 0000 0000 0000 00000000 FF", ErrInvalidHandle},
		{"04 00 0001 0000 0000 00000000 0000 00", ErrHeaderOverrun},
		// element longer than what remains in the block
		{"04 00 0001 0000 0000 00000000 0000 07 05", ErrMalformedExt},
		{"04 00 0001 0000 0000 00000000 0001 01 0D 00 00 00 00", ErrMalformedExt},
	}
	for _, c := range cases {
		var p Packet
		err := p.Unmarshal(testkit.Unhex(t, c.wire))
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", c.wire, err, c.err)
		}
	}
}

func TestUnmarshalLenientCases(t *testing.T) {
	cases := []struct {
		name string
		wire string
		ext  Extensions
		pay  string
	}{
		// X=1 with only padding (L=0): no extensions.
		{"padding only L0", "04 00 0001 0000 0000 00000000 0000 0000 AB", Extensions{}, "AB"},
		{"padding only L1", "04 00 0001 0000 0000 00000000 0001 000000000000 AB", Extensions{}, "AB"},
		// unknown tag 8 skipped
		{"unknown tag", "04 00 0001 0000 0000 00000000 0001 08 02 AAAA 0000 CD", Extensions{}, "CD"},
		// known tag shorter than its length: skipped as unknown (Rust), not read past
		{"short uts", "04 00 0001 0000 0000 00000000 0001 02 04 01020304 CD", Extensions{}, "CD"},
		// known tag longer than defined: first 8 bytes used
		{"long uts", "04 00 0002 0000 0000 00000000 0003 02 0A 0000000000000005 FFFF 0000 CD",
			Extensions{HasUserTimestamp: true, UserTimestamp: 5}, "CD"},
		// padding before an element: consumed two bytes at a time, element still found
		{"padding first", "04 00 0001 0000 0000 00000000 0003 0000 02 08 0000000000000009 0000 CD",
			Extensions{HasUserTimestamp: true, UserTimestamp: 9}, "CD"},
		// reserved bits and byte 1 ignored
		{"reserved bits", "1B FF 0001 0000 0000 00000000 CD", Extensions{}, "CD"},
		// repeated tag: last wins
		{"repeat", "04 00 0004 0000 0000 00000000 0005 02 08 0000000000000001 02 08 0000000000000002 0000",
			Extensions{HasUserTimestamp: true, UserTimestamp: 2}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			if err := p.Unmarshal(testkit.Unhex(t, c.wire)); err != nil {
				t.Fatal(err)
			}
			if !p.Extensions.Equal(&c.ext) {
				t.Fatalf("ext = %+v, want %+v", p.Extensions, c.ext)
			}
			if !bytes.Equal(p.Payload, testkit.Unhex(t, c.pay)) {
				t.Fatalf("payload = %x", p.Payload)
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	p := Packet{Header: Header{Handle: 0}}
	if _, err := p.MarshalTo(make([]byte, 64)); !errors.Is(err, ErrInvalidHandle) {
		t.Fatalf("handle 0: %v", err)
	}
	p = Packet{Header: Header{Handle: 1, Extensions: Extensions{HasE2EE: true}}, Payload: []byte{1}}
	if _, err := p.MarshalTo(make([]byte, p.Size()-1)); !errors.Is(err, ErrBufferTooSmall) {
		t.Fatalf("short buffer: %v", err)
	}
	p = Packet{Header: Header{Handle: 1, Extensions: Extensions{ParticipantSID: make([]byte, 256)}}}
	if _, err := p.MarshalTo(make([]byte, 1024)); !errors.Is(err, ErrInvalidExtension) {
		t.Fatalf("sid 256: %v", err)
	}
	// Header sizes: 12, 24, 32, 40 (docs/protocol.md, Data tracks: Packet format).
	for _, c := range []struct {
		e    Extensions
		size int
	}{{Extensions{}, 12}, {Extensions{HasUserTimestamp: true}, 24}, {Extensions{HasE2EE: true}, 32},
		{Extensions{HasE2EE: true, HasUserTimestamp: true}, 40}} {
		if got := c.e.HeaderSize(); got != c.size {
			t.Errorf("HeaderSize(%+v) = %d, want %d", c.e, got, c.size)
		}
	}
}

func TestMarshalNoAlloc(t *testing.T) {
	p := Packet{Header: Header{Marker: MarkerFinal, Handle: 9, Extensions: Extensions{HasE2EE: true, HasUserTimestamp: true}}, Payload: rep(1, 1000)}
	buf := make([]byte, p.Size())
	var q Packet
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := p.MarshalTo(buf); err != nil {
			t.Fatal(err)
		}
		if err := q.Unmarshal(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("allocs = %v", allocs)
	}
	if &q.Payload[0] != &buf[40] {
		t.Fatal("Unmarshal copied the payload")
	}
}

type tracePacket struct {
	Scenario   string `json:"scenario"`
	Who        string `json:"who"`
	Dir        string `json:"dir"`
	Len        int    `json:"len"`
	Full       bool   `json:"full"`
	Hex        string `json:"hex"`
	Marker     string `json:"marker"`
	Handle     uint16 `json:"handle"`
	Seq        uint16 `json:"seq"`
	Frame      uint16 `json:"frame"`
	TS         uint32 `json:"ts"`
	HeaderLen  int    `json:"header_len"`
	PayloadLen int    `json:"payload_len"`
	KeyIndex   *uint8 `json:"key_index"`
	IV         string `json:"iv"`
}

func loadTracePackets(t testing.TB) []tracePacket {
	t.Helper()
	f, err := os.Open("testdata/trace_packets.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tracePacket
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var tp tracePacket
		if err := json.Unmarshal(sc.Bytes(), &tp); err != nil {
			t.Fatal(err)
		}
		out = append(out, tp)
	}
	if len(out) == 0 {
		t.Fatal("no trace packets")
	}
	return out
}

// Every data-track packet in the recordings of official clients (extracted into
// testdata/trace_packets.jsonl: full bytes for packets ≤ 64 B of payload, header + the first
// 64 payload bytes otherwise) decodes to the recorded fields and re-encodes byte-exactly.
func TestRecordedPackets(t *testing.T) {
	for i, tp := range loadTracePackets(t) {
		raw := testkit.Unhex(t, tp.Hex)
		var p Packet
		if err := p.Unmarshal(raw); err != nil {
			t.Fatalf("#%d %s: %v", i, tp.Scenario, err)
		}
		if p.Marker.String() != tp.Marker || p.Handle != tp.Handle || p.Sequence != tp.Seq ||
			p.FrameNumber != tp.Frame || p.Timestamp != tp.TS || p.Size()-len(p.Payload) != tp.HeaderLen {
			t.Fatalf("#%d %s: decoded %+v, recorded %+v", i, tp.Scenario, p.Header, tp)
		}
		if tp.Full && (len(p.Payload) != tp.PayloadLen || len(raw) != tp.Len) {
			t.Fatalf("#%d: payload %d bytes, recorded %d", i, len(p.Payload), tp.PayloadLen)
		}
		if (tp.KeyIndex != nil) != p.Extensions.HasE2EE {
			t.Fatalf("#%d: E2EE presence differs", i)
		}
		if tp.KeyIndex != nil && (p.Extensions.E2EE.KeyIndex != *tp.KeyIndex || hex.EncodeToString(p.Extensions.E2EE.IV[:]) != tp.IV) {
			t.Fatalf("#%d: E2EE ext %+v", i, p.Extensions.E2EE)
		}
		out := make([]byte, p.Size())
		if _, err := p.MarshalTo(out); err != nil || !bytes.Equal(out, raw) {
			t.Fatalf("#%d %s: re-encoded\n%x\nrecorded\n%x", i, tp.Scenario, out, raw)
		}
	}
}

// What the SFU forwards equals what the publisher sent except the handle (as recorded; see
// also vector F): re-encoding the sent packet with the subscriber
// handle reproduces the received bytes.
func TestRecordedForwarding(t *testing.T) {
	tps := loadTracePackets(t)
	pairs := 0
	for _, s := range tps {
		if s.Dir != "send" {
			continue
		}
		for _, r := range tps {
			if r.Dir != "recv" || r.Scenario != s.Scenario || r.Seq != s.Seq || r.Frame != s.Frame {
				continue
			}
			var p Packet
			if err := p.Unmarshal(testkit.Unhex(t, s.Hex)); err != nil {
				t.Fatal(err)
			}
			p.Handle = r.Handle
			out := make([]byte, p.Size())
			if _, err := p.MarshalTo(out); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, testkit.Unhex(t, r.Hex)) {
				t.Fatalf("%s seq %d: forwarded bytes differ", s.Scenario, s.Seq)
			}
			pairs++
		}
	}
	if pairs < 30 {
		t.Fatalf("only %d send/recv pairs", pairs)
	}
}
