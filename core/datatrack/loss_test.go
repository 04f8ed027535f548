package datatrack

import (
	"slices"
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
)

// popAll reads every buffered frame and returns (frame number, DroppedBefore) pairs.
func popAll(b *FrameBuffer) [][2]uint64 {
	var out [][2]uint64
	for {
		f, ok := b.TryPop()
		if !ok {
			return out
		}
		out = append(out, [2]uint64{uint64(f.FrameNumber), f.DroppedBefore})
	}
}

// Every frame lost upstream or dropped by the buffer is reported once, on the frame read after
// it, for both policies; the first frame's upstream count is not the stream's loss.
func TestFrameBufferAttributesEveryLossToTheNextFrame(t *testing.T) {
	// frames 10..19 with upstream gaps: 10 (first: 5 ignored), 12 (1 lost before), 13, 17 (3), 18, 19
	in := []Frame{
		{FrameNumber: 10, DroppedBefore: 5}, {FrameNumber: 12, DroppedBefore: 1}, {FrameNumber: 13},
		{FrameNumber: 17, DroppedBefore: 3}, {FrameNumber: 18}, {FrameNumber: 19},
	}
	for _, tc := range []struct {
		name   string
		policy BufferDropPolicy
		want   [][2]uint64
	}{
		// size 2: each push evicts the oldest; the ring ends holding 18 and 19, and 18 carries
		// 10 to 17 (the four evicted frames and the four lost upstream)
		{"drop oldest", DropOldestFrame, [][2]uint64{{18, 8}, {19, 0}}},
		// size 2: 10, 12 kept; 13, 17, 18, 19 refused, their losses wait for the next accepted frame
		{"drop newest", DropNewestFrame, [][2]uint64{{10, 0}, {12, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewFrameBuffer(2, 0, tc.policy)
			for _, f := range in {
				b.Push(f)
			}
			got := popAll(b)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("read %v, want %v", got, tc.want)
			}
			// Frames 10..19 are 10 frames: the read ones and the reported losses account for
			// all of them up to the last frame read, and Lost counts every one not read.
			read, reported := uint64(len(got)), uint64(0)
			for _, g := range got {
				reported += g[1]
			}
			if tc.policy == DropOldestFrame && read+reported != 10 {
				t.Fatalf("%d read + %d reported, want 10", read, reported)
			}
			if lost := b.Lost(); read+lost != 10 {
				t.Fatalf("%d read + Lost %d, want 10", read, lost)
			}
			if tc.policy == DropNewestFrame {
				// the refused frames' losses (13, 14-16, 17, 18, 19: 7) go to the next accepted one
				b.Push(Frame{FrameNumber: 20})
				if got := popAll(b); !slices.Equal(got, [][2]uint64{{20, 7}}) {
					t.Fatalf("after the refusals: %v", got)
				}
			}
		})
	}
}

// A buffer of one frame under drop-oldest passes each evicted frame's count on to the
// incoming frame itself.
func TestFrameBufferSizeOneCarriesToTheIncomingFrame(t *testing.T) {
	b := NewFrameBuffer(1, 0, DropOldestFrame)
	b.Push(Frame{FrameNumber: 1})
	b.Push(Frame{FrameNumber: 3, DroppedBefore: 1})
	b.Push(Frame{FrameNumber: 4})
	if got := popAll(b); !slices.Equal(got, [][2]uint64{{4, 3}}) {
		t.Fatalf("read %v, want frame 4 after 3 lost (1, 2, 3)", got)
	}
	if b.Dropped() != 2 || b.Lost() != 3 {
		t.Fatalf("dropped %d lost %d, want 2 and 3", b.Dropped(), b.Lost())
	}
}

func TestFrameGapsFromFrameNumbers(t *testing.T) {
	var g frameGaps
	for i, step := range []struct {
		n    uint16
		want uint64
	}{
		{100, 0},   // first frame: nothing known before it
		{101, 0},   // consecutive
		{104, 2},   // 102, 103 missing
		{104, 0},   // a duplicate number loses nothing
		{103, 0},   // 103 arrives late: delivered, and one missing frame to take back
		{106, 0},   // 105 missing, but 103 was counted and arrived: 1 - 1
		{107, 0},   //
		{105, 0},   // late again
		{100, 0},   // seen before (not missing): nothing to take back
		{110, 1},   // 108, 109 missing, minus 105
		{65534, 0}, // far behind 110 (mod 2^16): the numbering started again
		{65535, 0},
		{1, 1}, // wraps: 0 missing
		{0, 0}, // late
		{3, 0}, // 2 missing, minus 0
	} {
		if got := g.next(step.n); got != step.want {
			t.Fatalf("step %d, frame %d: %d missing, want %d", i, step.n, got, step.want)
		}
	}
	// A gap wider than the 63-frame window: frames behind it are no longer tracked.
	g = frameGaps{}
	g.next(0)
	if got := g.next(200); got != 199 {
		t.Fatalf("gap of 199 counted %d", got)
	}
	g.next(150) // 50 behind: tracked, taken back from the next gap
	if got := g.next(203); got != 1 {
		t.Fatalf("after one tracked late frame: %d, want 2 - 1", got)
	}
	// A frame 100 behind (written on an old path before an ICE restart) followed by the
	// numbering going on: a very late frame, nothing counted.
	g.next(103)
	if got := g.next(204); got != 0 {
		t.Fatalf("after a very late frame: %d, want 0", got)
	}
	// Two frames in a row far behind: a numbering that started again at 100.
	g.next(100)
	if got := g.next(102); got != 1 {
		t.Fatalf("after the restart at 100: %d, want 1", got)
	}
	if got := g.next(103); got != 0 {
		t.Fatalf("after the restart: %d, want 0", got)
	}
}

// Reordered pairs (what devsfu's Reorder fault does to single-packet frames) report nothing
// lost once the late frame is taken back, and never more than one frame ahead.
func TestFrameGapsUnderSwappedPairs(t *testing.T) {
	var g frameGaps
	var total uint64
	for i := uint16(0); i < 40; i += 2 {
		total += g.next(i + 1)
		total += g.next(i)
		if total > 1 {
			t.Fatalf("after frames up to %d: %d counted missing, none is", i+1, total)
		}
	}
}

// Frames lost on the way in (never arrived, evicted partial, incomplete) show in the next
// delivered frame's DroppedBefore, per subscription; a publisher that republishes after a
// full reconnect numbers from 0 again, which is not a loss.
func TestRemoteReportsFramesLostOnTheWayIn(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", lkpb.Encryption_NONE))
	s, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	m.HandleSubscriberHandles(handles(map[uint32]string{3: "DTR_a"}), t0)
	pkt := func(mk Marker, seq, frame uint16) []byte {
		p := Packet{Header: Header{Marker: mk, Handle: 3, Sequence: seq, FrameNumber: frame}, Payload: []byte{byte(seq)}}
		raw, err := p.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for _, raw := range [][]byte{
		pkt(MarkerSingle, 1, 40),
		pkt(MarkerSingle, 2, 41),
		// 42 never arrives; 43 arrives incomplete (its middle packet is missing)
		pkt(MarkerStart, 4, 43), pkt(MarkerFinal, 6, 43),
		pkt(MarkerSingle, 7, 44),
	} {
		m.HandlePacket(raw)
	}
	late, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0) // joins an active track
	m.HandlePacket(pkt(MarkerSingle, 8, 47))
	// the publisher republishes after a full reconnect: new SID, frames numbered from 0
	m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("alice", "PA_alice2", 1, dti(1, "DTR_b", "a", lkpb.Encryption_NONE))}, t0)
	m.HandlePacket(pkt(MarkerSingle, 9, 0))
	m.HandlePacket(pkt(MarkerSingle, 10, 2))

	if got, want := popAll(s.buf), [][2]uint64{{40, 0}, {41, 0}, {44, 2}, {47, 2}, {0, 0}, {2, 1}}; !slices.Equal(got, want) {
		t.Fatalf("first subscription read %v, want %v", got, want)
	}
	if got, want := popAll(late.buf), [][2]uint64{{47, 0}, {0, 0}, {2, 1}}; !slices.Equal(got, want) {
		t.Fatalf("later subscription read %v, want %v (losses before it began are not its own)", got, want)
	}
	if s.Lost() != 5 || late.Lost() != 1 {
		t.Fatalf("Lost %d and %d, want 5 and 1", s.Lost(), late.Lost())
	}
}
