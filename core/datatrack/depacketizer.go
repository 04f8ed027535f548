package datatrack

import "fmt"

// DropReason says why a frame (or packet) was not delivered. The depacketizer reasons are those
// of docs/protocol.md, Depacketizer; the pipeline and router add their own.
type DropReason uint8

// Drop reasons.
const (
	// DropInterrupted: a new Start/Single arrived while the partial-frame table was full; the
	// oldest partial frame was evicted.
	DropInterrupted DropReason = iota
	// DropUnknownFrame: an Inter/Final packet for a frame with no partial (e.g. its Start was
	// lost or reordered behind it, or the frame was evicted).
	DropUnknownFrame
	// DropBufferFull: the frame exceeded MaxPacketsPerFrame packets.
	DropBufferFull
	// DropIncomplete: the Final packet arrived but a packet between Start and Final is missing.
	DropIncomplete
	// DropMissingE2EE: a reassembled frame of an encrypted track had no E2EE extension.
	DropMissingE2EE
	// DropDecryptFailed: the FrameDecryptor failed; the frame was dropped (never delivered as garbage).
	DropDecryptFailed
	// DropMalformedPacket: the packet could not be decoded (docs/protocol.md, Packet format).
	DropMalformedPacket
	// DropUnknownHandle: the packet's handle maps to no subscribed track.
	DropUnknownHandle

	numDropReasons
)

// String returns the reason's name.
func (r DropReason) String() string {
	switch r {
	case DropInterrupted:
		return "Interrupted"
	case DropUnknownFrame:
		return "UnknownFrame"
	case DropBufferFull:
		return "BufferFull"
	case DropIncomplete:
		return "Incomplete"
	case DropMissingE2EE:
		return "MissingE2EE"
	case DropDecryptFailed:
		return "DecryptFailed"
	case DropMalformedPacket:
		return "MalformedPacket"
	case DropUnknownHandle:
		return "UnknownHandle"
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// Drop describes one dropped frame or packet. Drops are diagnostics: they are counted and
// reported, and the subscription continues.
type Drop struct {
	// Reason says why.
	Reason DropReason
	// FrameNumber is the affected frame (for Interrupted: the evicted one).
	FrameNumber uint16
	// ByFrame is, for Interrupted, the frame number that caused the eviction.
	ByFrame uint16
	// Received and Expected are, for Incomplete, the stored packet count and the packet count
	// between Start and Final ((end − start + 1) mod 2¹⁶).
	Received, Expected int
	// Err is the decoding or decryption error for the pipeline reasons, else nil.
	Err error
}

// String formats the drop for logs (no payload bytes).
func (d Drop) String() string {
	switch d.Reason {
	case DropInterrupted:
		return fmt.Sprintf("Interrupted(frame %d by %d)", d.FrameNumber, d.ByFrame)
	case DropIncomplete:
		return fmt.Sprintf("Incomplete(frame %d, %d/%d packets)", d.FrameNumber, d.Received, d.Expected)
	case DropMalformedPacket, DropUnknownHandle:
		if d.Err != nil {
			return fmt.Sprintf("%v(%v)", d.Reason, d.Err)
		}
		return d.Reason.String()
	}
	if d.Err != nil {
		return fmt.Sprintf("%v(frame %d: %v)", d.Reason, d.FrameNumber, d.Err)
	}
	return fmt.Sprintf("%v(frame %d)", d.Reason, d.FrameNumber)
}

// DepacketizedFrame is a reassembled frame: its payload (still encrypted for E2EE tracks) and
// the header fields of its Start/Single packet.
type DepacketizedFrame struct {
	// FrameNumber is the frame's number.
	FrameNumber uint16
	// Timestamp is the 90 kHz timestamp (informational; receivers must not rely on it).
	Timestamp uint32
	// Extensions are those of the Start/Single packet (copies on other packets are ignored).
	Extensions Extensions
	// Payload is the reassembled payload. For a Single packet it aliases the packet's payload.
	Payload []byte
}

// DepacketizeResult is the outcome of one Depacketizer.Push: at most one frame and at most one
// drop (a Single packet at capacity yields both).
type DepacketizeResult struct {
	// Frame is valid when HasFrame.
	Frame DepacketizedFrame
	// HasFrame reports a completed frame.
	HasFrame bool
	// Drop is valid when HasDrop.
	Drop Drop
	// HasDrop reports a drop.
	HasDrop bool
}

type partEntry struct {
	seq  uint16
	data []byte
}

type partialFrame struct {
	frame    uint16
	startSeq uint16
	ts       uint32
	ext      Extensions
	parts    []partEntry
}

// Depacketizer reassembles frames from packets for one subscription, exactly as the Rust and JS
// implementations do (docs/protocol.md, Depacketizer): an insertion-ordered table of at most
// MaxPartialFrames partial frames, at most MaxPacketsPerFrame packets each, wrap-around-safe
// reassembly. It holds no timers. It is not safe for concurrent use.
//
// Ownership: Push keeps references to the payloads of Start/Inter packets until their frame
// completes or is dropped, so the caller must not reuse a packet's buffer after pushing it
// (pion hands every message in its own buffer).
type Depacketizer struct {
	maxPartial int
	partials   []*partialFrame // insertion order, oldest first
	free       []*partialFrame
}

// NewDepacketizer returns a depacketizer with the given partial-frame capacity (clamped to
// 1..MaxPartialFramesLimit; 0 means DefaultMaxPartialFrames).
func NewDepacketizer(maxPartialFrames int) *Depacketizer {
	d := &Depacketizer{}
	d.SetMaxPartialFrames(maxPartialFrames)
	return d
}

// SetMaxPartialFrames changes the capacity; it applies from the next Push (values < 1 become 1,
// as in Rust).
func (d *Depacketizer) SetMaxPartialFrames(n int) {
	d.maxPartial = clampPartial(n)
}

func clampPartial(n int) int {
	if n < 1 {
		return DefaultMaxPartialFrames
	}
	return min(n, MaxPartialFramesLimit)
}

// MaxPartialFrames returns the current capacity.
func (d *Depacketizer) MaxPartialFrames() int { return d.maxPartial }

// PartialFrames returns the number of frames being assembled.
func (d *Depacketizer) PartialFrames() int { return len(d.partials) }

// Reset forgets every partial frame (e.g. when the route changes).
func (d *Depacketizer) Reset() {
	for len(d.partials) > 0 {
		d.release(d.removeAt(0))
	}
}

func (d *Depacketizer) find(frame uint16) int {
	for i, p := range d.partials {
		if p.frame == frame {
			return i
		}
	}
	return -1
}

func (d *Depacketizer) removeAt(i int) *partialFrame {
	p := d.partials[i]
	copy(d.partials[i:], d.partials[i+1:])
	d.partials[len(d.partials)-1] = nil
	d.partials = d.partials[:len(d.partials)-1]
	return p
}

func (d *Depacketizer) release(p *partialFrame) {
	clear(p.parts)
	p.parts = p.parts[:0]
	p.ext = Extensions{}
	if len(d.free) < MaxPartialFramesLimit {
		d.free = append(d.free, p)
	}
}

func (d *Depacketizer) alloc() *partialFrame {
	if n := len(d.free); n > 0 {
		p := d.free[n-1]
		d.free = d.free[:n-1]
		return p
	}
	return &partialFrame{}
}

// Push feeds one decoded packet and returns what happened (docs/protocol.md, Depacketizer).
func (d *Depacketizer) Push(pkt *Packet) DepacketizeResult {
	var r DepacketizeResult
	switch pkt.Marker {
	case MarkerSingle:
		if len(d.partials) >= d.maxPartial {
			old := d.removeAt(0)
			r.Drop = Drop{Reason: DropInterrupted, FrameNumber: old.frame, ByFrame: pkt.FrameNumber}
			r.HasDrop = true
			d.release(old)
		}
		r.Frame = DepacketizedFrame{
			FrameNumber: pkt.FrameNumber,
			Timestamp:   pkt.Timestamp,
			Extensions:  pkt.Extensions,
			Payload:     pkt.Payload,
		}
		r.HasFrame = true
	case MarkerStart:
		// Same order as the reference implementations (an insertion-ordered map): evict the
		// oldest while full — reporting only the first eviction — then insert, where a partial
		// that still exists under the same frame number is replaced in place.
		for len(d.partials) >= d.maxPartial {
			old := d.removeAt(0)
			if !r.HasDrop {
				r.Drop = Drop{Reason: DropInterrupted, FrameNumber: old.frame, ByFrame: pkt.FrameNumber}
				r.HasDrop = true
			}
			d.release(old)
		}
		p := d.alloc()
		p.frame = pkt.FrameNumber
		p.startSeq = pkt.Sequence
		p.ts = pkt.Timestamp
		p.ext = pkt.Extensions
		p.parts = append(p.parts, partEntry{seq: pkt.Sequence, data: pkt.Payload})
		if i := d.find(pkt.FrameNumber); i >= 0 {
			d.release(d.partials[i])
			d.partials[i] = p
		} else {
			d.partials = append(d.partials, p)
		}
	default: // Inter, Final
		i := d.find(pkt.FrameNumber)
		if i < 0 {
			r.Drop = Drop{Reason: DropUnknownFrame, FrameNumber: pkt.FrameNumber}
			r.HasDrop = true
			return r
		}
		p := d.partials[i]
		if len(p.parts) >= MaxPacketsPerFrame {
			d.release(d.removeAt(i))
			r.Drop = Drop{Reason: DropBufferFull, FrameNumber: pkt.FrameNumber}
			r.HasDrop = true
			return r
		}
		stored := false
		for j := range p.parts {
			if p.parts[j].seq == pkt.Sequence { // duplicate sequence replaces, not counted twice
				p.parts[j].data = pkt.Payload
				stored = true
				break
			}
		}
		if !stored {
			p.parts = append(p.parts, partEntry{seq: pkt.Sequence, data: pkt.Payload})
		}
		if pkt.Marker == MarkerFinal {
			d.removeAt(i)
			r = d.finalize(p, pkt.Sequence)
			d.release(p)
		}
	}
	return r
}

// finalize concatenates the payloads from startSeq to end, walking with a wrapping increment and an
// equality test so frames straddling 65535→0 reassemble (wrap-around rule,
// docs/protocol.md, Depacketizer).
func (d *Depacketizer) finalize(p *partialFrame, end uint16) DepacketizeResult {
	span := int(uint16(end-p.startSeq)) + 1 // packets from Start to Final
	var idx [MaxPacketsPerFrame]int16
	for i := range idx {
		idx[i] = -1
	}
	size := 0
	for j, e := range p.parts {
		off := int(uint16(e.seq - p.startSeq))
		if off < MaxPacketsPerFrame && off < span {
			idx[off] = int16(j)
			size += len(e.data)
		}
	}
	// With ≤ 128 stored packets a span above 128 always has holes.
	complete := span <= MaxPacketsPerFrame
	if complete {
		for off := 0; off < span; off++ {
			if idx[off] < 0 {
				complete = false
				break
			}
		}
	}
	if !complete {
		return DepacketizeResult{HasDrop: true, Drop: Drop{
			Reason: DropIncomplete, FrameNumber: p.frame,
			Received: len(p.parts), Expected: span % 65536,
		}}
	}
	buf := make([]byte, 0, size)
	for off := 0; off < span; off++ {
		buf = append(buf, p.parts[idx[off]].data...)
	}
	return DepacketizeResult{HasFrame: true, Frame: DepacketizedFrame{
		FrameNumber: p.frame, Timestamp: p.ts, Extensions: p.ext, Payload: buf,
	}}
}
