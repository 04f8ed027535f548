package datatrack

import (
	"bytes"
	"testing"

	"github.com/lkcore/lkcore/tests/testkit"
)

func pk(m Marker, seq, frame uint16, payload ...byte) *Packet {
	return &Packet{Header: Header{Marker: m, Handle: 1, Sequence: seq, FrameNumber: frame}, Payload: payload}
}

type step struct {
	pkt   *Packet
	frame []byte // expected frame payload, nil = none
	drop  *Drop  // expected drop, nil = none
}

func runSteps(t *testing.T, d *Depacketizer, steps []step) {
	t.Helper()
	for i, s := range steps {
		r := d.Push(s.pkt)
		if (s.frame != nil) != r.HasFrame || (r.HasFrame && !bytes.Equal(r.Frame.Payload, s.frame)) {
			t.Fatalf("step %d: frame %v %x, want %x", i, r.HasFrame, r.Frame.Payload, s.frame)
		}
		if (s.drop != nil) != r.HasDrop || (r.HasDrop && r.Drop != *s.drop) {
			t.Fatalf("step %d: drop %v %+v, want %+v", i, r.HasDrop, r.Drop, s.drop)
		}
	}
}

func TestDepacketizer(t *testing.T) {
	cases := []struct {
		name       string
		maxPartial int
		steps      []step
	}{
		{"single", 1, []step{{pk(MarkerSingle, 5, 1, 1, 2, 3), []byte{1, 2, 3}, nil}}},
		{"multi", 1, []step{
			{pk(MarkerStart, 10, 2, 1), nil, nil},
			{pk(MarkerInter, 11, 2, 2), nil, nil},
			{pk(MarkerFinal, 12, 2, 3), []byte{1, 2, 3}, nil},
		}},
		{"start+final only", 1, []step{
			{pk(MarkerStart, 10, 2, 1), nil, nil},
			{pk(MarkerFinal, 11, 2, 2), []byte{1, 2}, nil},
		}},
		{"interrupted by start", 1, []step{
			{pk(MarkerStart, 10, 2, 1), nil, nil},
			{pk(MarkerStart, 11, 3, 2), nil, &Drop{Reason: DropInterrupted, FrameNumber: 2, ByFrame: 3}},
			{pk(MarkerFinal, 12, 3, 3), []byte{2, 3}, nil},
		}},
		{"interrupted by single", 1, []step{
			{pk(MarkerStart, 10, 2, 1), nil, nil},
			{pk(MarkerSingle, 11, 3, 9), []byte{9}, &Drop{Reason: DropInterrupted, FrameNumber: 2, ByFrame: 3}},
			{pk(MarkerFinal, 12, 2, 3), nil, &Drop{Reason: DropUnknownFrame, FrameNumber: 2}},
		}},
		{"incomplete", 1, []step{
			{pk(MarkerStart, 10, 2, 1), nil, nil},
			{pk(MarkerFinal, 12, 2, 3), nil, &Drop{Reason: DropIncomplete, FrameNumber: 2, Received: 2, Expected: 3}},
		}},
		{"unknown frame", 1, []step{
			{pk(MarkerInter, 11, 2, 2), nil, &Drop{Reason: DropUnknownFrame, FrameNumber: 2}},
			{pk(MarkerFinal, 12, 2, 3), nil, &Drop{Reason: DropUnknownFrame, FrameNumber: 2}},
		}},
		{"duplicate sequence last wins", 1, []step{
			{pk(MarkerStart, 10, 2, 1), nil, nil},
			{pk(MarkerInter, 11, 2, 2), nil, nil},
			{pk(MarkerInter, 11, 2, 7), nil, nil},
			{pk(MarkerFinal, 12, 2, 3), []byte{1, 7, 3}, nil},
		}},
		{"out of order inters", 1, []step{
			{pk(MarkerStart, 10, 2, 1), nil, nil},
			{pk(MarkerInter, 12, 2, 3), nil, nil},
			{pk(MarkerInter, 11, 2, 2), nil, nil},
			{pk(MarkerFinal, 13, 2, 4), []byte{1, 2, 3, 4}, nil},
		}},
		{"final before inter", 1, []step{
			{pk(MarkerStart, 10, 2, 1), nil, nil},
			{pk(MarkerFinal, 12, 2, 3), nil, &Drop{Reason: DropIncomplete, FrameNumber: 2, Received: 2, Expected: 3}},
			{pk(MarkerInter, 11, 2, 2), nil, &Drop{Reason: DropUnknownFrame, FrameNumber: 2}},
		}},
		{"continue after bad packet", 1, []step{
			{pk(MarkerInter, 1, 1, 2), nil, &Drop{Reason: DropUnknownFrame, FrameNumber: 1}},
			{pk(MarkerSingle, 2, 2, 5), []byte{5}, nil},
		}},
		{"two frames", 1, []step{
			{pk(MarkerStart, 1, 1, 1), nil, nil},
			{pk(MarkerFinal, 2, 1, 2), []byte{1, 2}, nil},
			{pk(MarkerStart, 3, 2, 3), nil, nil},
			{pk(MarkerFinal, 4, 2, 4), []byte{3, 4}, nil},
		}},
		// wrap-around vector: sequences 65534, 65535, 0 reassemble to AB CD EF
		{"wrap", 1, []step{
			{pk(MarkerStart, 65534, 7, 0xAB), nil, nil},
			{pk(MarkerInter, 65535, 7, 0xCD), nil, nil},
			{pk(MarkerFinal, 0, 7, 0xEF), []byte{0xAB, 0xCD, 0xEF}, nil},
		}},
		{"wrap incomplete", 1, []step{
			{pk(MarkerStart, 65534, 7, 0xAB), nil, nil},
			{pk(MarkerFinal, 0, 7, 0xEF), nil, &Drop{Reason: DropIncomplete, FrameNumber: 7, Received: 2, Expected: 3}},
		}},
		{"wrap inter first", 1, []step{
			{pk(MarkerInter, 65535, 7, 0xCD), nil, &Drop{Reason: DropUnknownFrame, FrameNumber: 7}},
			{pk(MarkerStart, 65534, 7, 0xAB), nil, nil},
			{pk(MarkerFinal, 0, 7, 0xEF), nil, &Drop{Reason: DropIncomplete, FrameNumber: 7, Received: 2, Expected: 3}},
		}},
		{"assembles multiple partial frames", 2, []step{
			{pk(MarkerStart, 1, 1, 1), nil, nil},
			{pk(MarkerStart, 10, 2, 5), nil, nil},
			{pk(MarkerFinal, 11, 2, 6), []byte{5, 6}, nil},
			{pk(MarkerFinal, 2, 1, 2), []byte{1, 2}, nil},
		}},
		{"starting new frame at capacity", 2, []step{
			{pk(MarkerStart, 1, 1, 1), nil, nil},
			{pk(MarkerStart, 10, 2, 5), nil, nil},
			{pk(MarkerStart, 20, 3, 9), nil, &Drop{Reason: DropInterrupted, FrameNumber: 1, ByFrame: 3}},
			{pk(MarkerFinal, 2, 1, 2), nil, &Drop{Reason: DropUnknownFrame, FrameNumber: 1}}, // late packet of evicted frame
			{pk(MarkerFinal, 11, 2, 6), []byte{5, 6}, nil},
			{pk(MarkerFinal, 21, 3, 10), []byte{9, 10}, nil},
		}},
		{"single packet at capacity", 2, []step{
			{pk(MarkerStart, 1, 1, 1), nil, nil},
			{pk(MarkerStart, 10, 2, 5), nil, nil},
			{pk(MarkerSingle, 20, 3, 9), []byte{9}, &Drop{Reason: DropInterrupted, FrameNumber: 1, ByFrame: 3}},
			{pk(MarkerFinal, 11, 2, 6), []byte{5, 6}, nil},
		}},
		{"single below capacity does not evict", 2, []step{
			{pk(MarkerStart, 1, 1, 1), nil, nil},
			{pk(MarkerSingle, 20, 3, 9), []byte{9}, nil},
			{pk(MarkerFinal, 2, 1, 2), []byte{1, 2}, nil},
		}},
		{"heavily interleaved", 3, []step{
			{pk(MarkerStart, 1, 1, 0x11), nil, nil},
			{pk(MarkerStart, 10, 2, 0x21), nil, nil},
			{pk(MarkerInter, 2, 1, 0x12), nil, nil},
			{pk(MarkerStart, 20, 3, 0x31), nil, nil},
			{pk(MarkerInter, 11, 2, 0x22), nil, nil},
			{pk(MarkerFinal, 21, 3, 0x32), []byte{0x31, 0x32}, nil},
			{pk(MarkerFinal, 3, 1, 0x13), []byte{0x11, 0x12, 0x13}, nil},
			{pk(MarkerFinal, 12, 2, 0x23), []byte{0x21, 0x22, 0x23}, nil},
		}},
		{"duplicate start replaces in place", 2, []step{
			{pk(MarkerStart, 1, 1, 1), nil, nil},
			{pk(MarkerStart, 1, 1, 7), nil, nil},
			{pk(MarkerFinal, 2, 1, 2), []byte{7, 2}, nil},
		}},
		{"duplicate start at capacity evicts itself first", 1, []step{
			{pk(MarkerStart, 1, 1, 1), nil, nil},
			{pk(MarkerStart, 1, 1, 7), nil, &Drop{Reason: DropInterrupted, FrameNumber: 1, ByFrame: 1}},
			{pk(MarkerFinal, 2, 1, 2), []byte{7, 2}, nil},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runSteps(t, NewDepacketizer(c.maxPartial), c.steps)
		})
	}
}

// With three partials and capacity lowered to 1, one Start evicts all three but reports only
// the first (oldest) eviction (docs/protocol.md, Depacketizer); raising the capacity applies
// from the next push.
func TestDepacketizerMaxPartialChange(t *testing.T) {
	d := NewDepacketizer(3)
	runSteps(t, d, []step{
		{pk(MarkerStart, 1, 1, 1), nil, nil},
		{pk(MarkerStart, 10, 2, 2), nil, nil},
		{pk(MarkerStart, 20, 3, 3), nil, nil},
	})
	d.SetMaxPartialFrames(1)
	runSteps(t, d, []step{
		{pk(MarkerStart, 30, 4, 4), nil, &Drop{Reason: DropInterrupted, FrameNumber: 1, ByFrame: 4}},
	})
	if d.PartialFrames() != 1 {
		t.Fatalf("partials %d", d.PartialFrames())
	}
	d.SetMaxPartialFrames(2)
	runSteps(t, d, []step{
		{pk(MarkerStart, 40, 5, 5), nil, nil},
		{pk(MarkerFinal, 31, 4, 6), []byte{4, 6}, nil},
		{pk(MarkerFinal, 41, 5, 7), []byte{5, 7}, nil},
	})
	d.SetMaxPartialFrames(0)
	if d.MaxPartialFrames() != 1 {
		t.Fatal("values < 1 clamp to 1")
	}
	d.SetMaxPartialFrames(1 << 20)
	if d.MaxPartialFrames() != MaxPartialFramesLimit {
		t.Fatal("upper clamp")
	}
}

// 126 inter packets (128 in total) is the largest frame; the 129th packet is BufferFull.
func TestDepacketizerBufferLimit(t *testing.T) {
	for _, wrapBase := range []uint16{100, 65500} {
		d := NewDepacketizer(1)
		want := []byte{}
		seq := wrapBase
		d.Push(pk(MarkerStart, seq, 9, 0))
		want = append(want, 0)
		for i := 1; i <= 126; i++ {
			seq++
			if r := d.Push(pk(MarkerInter, seq, 9, byte(i))); r.HasDrop || r.HasFrame {
				t.Fatalf("inter %d: %+v", i, r)
			}
			want = append(want, byte(i))
		}
		seq++
		r := d.Push(pk(MarkerFinal, seq, 9, 127))
		want = append(want, 127)
		if !r.HasFrame || !bytes.Equal(r.Frame.Payload, want) {
			t.Fatalf("128-packet frame (base %d) not assembled: %+v", wrapBase, r.Drop)
		}
		// 129 packets
		seq = wrapBase
		d.Push(pk(MarkerStart, seq, 10, 0))
		for i := 1; i <= 127; i++ {
			seq++
			d.Push(pk(MarkerInter, seq, 10, 1))
		}
		seq++
		r = d.Push(pk(MarkerFinal, seq, 10, 1))
		if !r.HasDrop || r.Drop.Reason != DropBufferFull || r.Drop.FrameNumber != 10 || d.PartialFrames() != 0 {
			t.Fatalf("129th packet: %+v", r)
		}
	}
}

func TestDepacketizerKeepsStartExtensions(t *testing.T) {
	d := NewDepacketizer(1)
	s := pk(MarkerStart, 1, 1, 1)
	s.Extensions = Extensions{HasUserTimestamp: true, UserTimestamp: 42}
	s.Timestamp = 777
	f := pk(MarkerFinal, 2, 1, 2)
	f.Extensions = Extensions{HasUserTimestamp: true, UserTimestamp: 99}
	d.Push(s)
	r := d.Push(f)
	if !r.HasFrame || r.Frame.Extensions.UserTimestamp != 42 || r.Frame.Timestamp != 777 || r.Frame.FrameNumber != 1 {
		t.Fatalf("%+v", r.Frame)
	}
	d.Push(pk(MarkerStart, 5, 2, 1))
	d.Reset()
	if d.PartialFrames() != 0 {
		t.Fatal("Reset")
	}
}

// Packets from the recording 1b-subscribe-js (receiver side) reassemble to the frames the test
// program sent: 3 single-packet frames and one 7-packet frame of 100 000 bytes (payloads in the
// extract are truncated to 64 bytes, so the check is on the frame structure).
func TestDepacketizerRecordedSFUDrop(t *testing.T) {
	for _, sc := range []struct {
		name      string
		frames    int
		incomplet int
	}{{"1b-subscribe-js", 4, 0}, {"1b-subscribe-js-sfu-drop", 3, 0}} {
		d := NewDepacketizer(1)
		got, drops := 0, 0
		for _, tp := range loadTracePackets(t) {
			if tp.Scenario != sc.name || tp.Dir != "recv" {
				continue
			}
			var p Packet
			if err := p.Unmarshal(testkit.Unhex(t, tp.Hex)); err != nil {
				t.Fatal(err)
			}
			r := d.Push(&p)
			if r.HasFrame {
				got++
			}
			if r.HasDrop {
				drops++
			}
		}
		// In the sfu-drop run the last two packets (seq 8, 9) never arrived: the frame stays
		// partial, nothing is delivered and nothing is reported until a later frame evicts it.
		if got != sc.frames || drops != 0 {
			t.Fatalf("%s: %d frames, %d drops", sc.name, got, drops)
		}
		if sc.name == "1b-subscribe-js-sfu-drop" {
			if d.PartialFrames() != 1 {
				t.Fatal("expected the cut frame to be pending")
			}
			r := d.Push(pk(MarkerSingle, 10, 4, 1))
			if !r.HasDrop || r.Drop.Reason != DropInterrupted || r.Drop.FrameNumber != 3 {
				t.Fatalf("next frame should report the cut one: %+v", r)
			}
		}
	}
}
