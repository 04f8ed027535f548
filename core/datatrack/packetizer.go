package datatrack

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// Clock produces the 90 kHz packet timestamp (docs/protocol.md, Packetizer): a random 32-bit
// base plus the elapsed monotonic time since the clock's epoch, forced monotonic in
// serial-number space. Receivers ignore the value (JS 2.23.0 even sends a constant, as
// recorded); it exists for the server's statistics and for parity with Rust.
type Clock struct {
	base  uint32
	epoch time.Time
	last  uint32
	used  bool
}

// NewClock returns a clock with the given base and epoch. Use RandomClockBase for the base.
func NewClock(base uint32, epoch time.Time) Clock {
	return Clock{base: base, epoch: epoch}
}

// RandomClockBase returns a random 32-bit clock base from crypto/rand.
func RandomClockBase() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return binary.BigEndian.Uint32(b[:])
}

// At returns the timestamp for time now. now should carry a monotonic reading (time.Now()).
func (c *Clock) At(now time.Time) uint32 {
	el := now.Sub(c.epoch)
	if el < 0 {
		el = 0
	}
	secs := uint64(el / time.Second)
	rem := uint64(el % time.Second)
	ticks := c.base + uint32(secs*ClockRate) + uint32((rem*ClockRate+uint64(time.Second)/2)/uint64(time.Second))
	if c.used && int32(ticks-c.last) < 0 {
		ticks = c.last
	}
	c.last, c.used = ticks, true
	return ticks
}

// PacketizedFrame holds the serialized packets of one frame in one contiguous buffer, in send
// order. It is the unit of the send queue: a frame is queued, written and dropped whole.
// Reusing a PacketizedFrame (Reset, then Packetize into it again) avoids allocations.
type PacketizedFrame struct {
	buf  []byte
	ends []int
	// FrameNumber is the frame number the packetizer assigned.
	FrameNumber uint16
}

// Reset empties the frame, keeping its storage.
func (f *PacketizedFrame) Reset() {
	f.buf = f.buf[:0]
	f.ends = f.ends[:0]
	f.FrameNumber = 0
}

// Len returns the number of packets.
func (f *PacketizedFrame) Len() int { return len(f.ends) }

// Packet returns the serialized packet i (0 ≤ i < Len()). The slice aliases the frame's storage.
func (f *PacketizedFrame) Packet(i int) []byte {
	start := 0
	if i > 0 {
		start = f.ends[i-1]
	}
	return f.buf[start:f.ends[i]:f.ends[i]]
}

// Bytes returns the total serialized size of all packets.
func (f *PacketizedFrame) Bytes() int { return len(f.buf) }

// Packetizer splits frames into packets for one published track (docs/protocol.md, Packetizer).
// It is not safe for concurrent use; the owning LocalTrack serialises calls.
type Packetizer struct {
	handle uint16
	mtu    int
	seq    uint16
	frame  uint16
	clock  Clock
}

// NewPacketizer returns a packetizer for handle with the given MTU (0 = TransportMTU) and clock.
// Sequence and frame numbers start at 0 (as the recorded JS and Rust publishers do).
func NewPacketizer(handle uint16, mtu int, clock Clock) (*Packetizer, error) {
	if handle == 0 {
		return nil, ErrInvalidHandle
	}
	if mtu == 0 {
		mtu = TransportMTU
	}
	if mtu <= BaseHeaderSize {
		return nil, ErrMTUTooShort
	}
	return &Packetizer{handle: handle, mtu: mtu, clock: clock}, nil
}

// Handle returns the publisher handle written into every packet.
func (p *Packetizer) Handle() uint16 { return p.handle }

// NextSequence returns the sequence number the next packet will carry.
func (p *Packetizer) NextSequence() uint16 { return p.seq }

// NextFrameNumber returns the frame number the next frame will carry.
func (p *Packetizer) NextFrameNumber() uint16 { return p.frame }

// SetCounters sets the next sequence and frame numbers (tests, or continuing a stream).
func (p *Packetizer) SetCounters(seq, frame uint16) { p.seq, p.frame = seq, frame }

// MaxPayload returns the largest frame payload that fits MaxPacketsPerFrame packets with the
// given extensions.
func (p *Packetizer) MaxPayload(ext *Extensions) int {
	per := p.mtu - ext.HeaderSize()
	if per <= 0 {
		return 0
	}
	return per * MaxPacketsPerFrame
}

// Packetize splits payload into packets carrying ext and appends them to dst (which should be
// Reset). It implements the per-frame steps of docs/protocol.md, Packetizer: the frame number is
// consumed even for an empty payload, which produces no packet at all (both SDKs;
// docs/protocol.md, Departures); the timestamp is sampled once; every packet carries the same
// extensions. A frame needing more than MaxPacketsPerFrame packets is refused with
// ErrFrameTooLarge before any counter changes. In steady state (dst reused) it does not
// allocate.
func (p *Packetizer) Packetize(dst *PacketizedFrame, payload []byte, ext Extensions, now time.Time) error {
	hsize := ext.HeaderSize()
	per := p.mtu - hsize
	if per <= 0 {
		return ErrMTUTooShort
	}
	n := (len(payload) + per - 1) / per
	if n > MaxPacketsPerFrame {
		return ErrFrameTooLarge
	}
	if ext.ParticipantSID != nil && (len(ext.ParticipantSID) == 0 || len(ext.ParticipantSID) > 255) {
		return ErrInvalidExtension
	}
	h := Header{
		Handle:      p.handle,
		FrameNumber: p.frame,
		Timestamp:   p.clock.At(now),
		Extensions:  ext,
	}
	p.frame++
	dst.FrameNumber = h.FrameNumber
	total := len(payload) + n*hsize
	start := len(dst.buf)
	dst.buf = grow(dst.buf, total)[:start]
	for i := 0; i < n; i++ {
		switch {
		case n == 1:
			h.Marker = MarkerSingle
		case i == 0:
			h.Marker = MarkerStart
		case i == n-1:
			h.Marker = MarkerFinal
		default:
			h.Marker = MarkerInter
		}
		h.Sequence = p.seq
		p.seq++
		chunk := payload[i*per : min((i+1)*per, len(payload))]
		at := len(dst.buf)
		dst.buf = dst.buf[:at+hsize+len(chunk)]
		if _, err := h.MarshalTo(dst.buf[at:]); err != nil {
			return err // unreachable: handle and extensions were validated
		}
		copy(dst.buf[at+hsize:], chunk)
		dst.ends = append(dst.ends, len(dst.buf))
	}
	return nil
}
