package datatrack

import (
	"bytes"
	"encoding/binary"
)

// Marker is the 2-bit frame marker formed by the S and F bits of byte 0 ((byte0 >> 3) & 3,
// docs/protocol.md, Packet format).
type Marker uint8

// Frame markers.
const (
	// MarkerInter is a middle packet of a multi-packet frame (S=0, F=0).
	MarkerInter Marker = 0
	// MarkerFinal is the last packet of a multi-packet frame (S=0, F=1).
	MarkerFinal Marker = 1
	// MarkerStart is the first packet of a multi-packet frame (S=1, F=0).
	MarkerStart Marker = 2
	// MarkerSingle is the only packet of a frame (S=1, F=1).
	MarkerSingle Marker = 3
)

// String returns the marker's name (Single, Start, Inter, Final; docs/protocol.md, Packet format).
func (m Marker) String() string {
	switch m & 3 {
	case MarkerInter:
		return "Inter"
	case MarkerFinal:
		return "Final"
	case MarkerStart:
		return "Start"
	default:
		return "Single"
	}
}

const (
	flagX      = 0x04
	markerMask = 0x18
)

// E2EEExtension is the value of extension tag 1: key index and 12-byte AES-GCM IV
// (docs/protocol.md: Packet format; Data-track E2EE).
type E2EEExtension struct {
	// KeyIndex is the sender's key ring index.
	KeyIndex uint8
	// IV is the 96-bit AES-GCM initialisation vector.
	IV [12]byte
}

// Extensions holds the known extension elements of a packet. Presence is explicit: a user
// timestamp of 0 is sent when HasUserTimestamp is set (docs/protocol.md: Concepts; Departures).
type Extensions struct {
	// HasE2EE reports whether E2EE is set.
	HasE2EE bool
	// E2EE is the E2EE extension (valid when HasE2EE).
	E2EE E2EEExtension
	// HasUserTimestamp reports whether UserTimestamp is set.
	HasUserTimestamp bool
	// UserTimestamp is the application's timestamp, by convention Unix milliseconds.
	UserTimestamp uint64
	// ParticipantSID is the server-internal participant-SID extension (tag 255, 1..255 bytes),
	// nil when absent. No client emits it and livekit-server v1.13 never adds it
	// (docs/protocol.md, Packet format); it is decoded so a future SFU adding it is harmless.
	// After Unmarshal it aliases the input.
	ParticipantSID []byte
}

// Equal reports whether two extension sets carry the same values.
func (e *Extensions) Equal(o *Extensions) bool {
	return e.HasE2EE == o.HasE2EE && (!e.HasE2EE || e.E2EE == o.E2EE) &&
		e.HasUserTimestamp == o.HasUserTimestamp && (!e.HasUserTimestamp || e.UserTimestamp == o.UserTimestamp) &&
		(e.ParticipantSID == nil) == (o.ParticipantSID == nil) && bytes.Equal(e.ParticipantSID, o.ParticipantSID)
}

// elementsLen returns Σ(2 + len) of the elements that will be written.
func (e *Extensions) elementsLen() int {
	n := 0
	if e.HasE2EE {
		n += 2 + ExtLenE2EE
	}
	if e.HasUserTimestamp {
		n += 2 + ExtLenUserTimestamp
	}
	if e.ParticipantSID != nil {
		n += 2 + len(e.ParticipantSID)
	}
	return n
}

// HeaderSize returns the serialized header size for this extension set: 12 bytes without
// extensions, else 12 + 4·(L+1) (docs/protocol.md, Packet format).
func (e *Extensions) HeaderSize() int {
	el := e.elementsLen()
	if el == 0 {
		return BaseHeaderSize
	}
	return BaseHeaderSize + (2+el+3)&^3
}

// Header is the decoded header of a data-track packet (docs/protocol.md, Packet format). The
// version is implicit: only version 0 is written or accepted.
type Header struct {
	// Marker tells the packet's position in its frame.
	Marker Marker
	// Handle is the publisher handle (publisher→SFU) or subscriber handle (SFU→subscriber); never 0.
	Handle uint16
	// Sequence is the per-track packet counter, wrapping.
	Sequence uint16
	// FrameNumber is the per-track frame counter, wrapping.
	FrameNumber uint16
	// Timestamp is the 90 kHz media clock value, identical on all packets of a frame.
	Timestamp uint32
	// Extensions are the packet's known extension elements.
	Extensions Extensions
}

// Size returns the serialized size of the header including the extension block.
func (h *Header) Size() int { return h.Extensions.HeaderSize() }

// MarshalTo writes the header into buf and returns the number of bytes written. Writer rules
// (docs/protocol.md, Packet format): X only when an element is present, elements in tag order 1,
// 2, 255, trailing zero padding only. It does not allocate.
func (h *Header) MarshalTo(buf []byte) (int, error) {
	if h.Handle == 0 {
		return 0, ErrInvalidHandle
	}
	e := &h.Extensions
	if e.ParticipantSID != nil && (len(e.ParticipantSID) == 0 || len(e.ParticipantSID) > 255) {
		return 0, ErrInvalidExtension
	}
	size := e.HeaderSize()
	if len(buf) < size {
		return 0, ErrBufferTooSmall
	}
	b0 := byte(PacketVersion<<5) | byte(h.Marker&3)<<3
	if size > BaseHeaderSize {
		b0 |= flagX
	}
	buf[0] = b0
	buf[1] = 0
	binary.BigEndian.PutUint16(buf[2:], h.Handle)
	binary.BigEndian.PutUint16(buf[4:], h.Sequence)
	binary.BigEndian.PutUint16(buf[6:], h.FrameNumber)
	binary.BigEndian.PutUint32(buf[8:], h.Timestamp)
	if size == BaseHeaderSize {
		return size, nil
	}
	binary.BigEndian.PutUint16(buf[12:], uint16((size-BaseHeaderSize)/4-1))
	i := BaseHeaderSize + 2
	if e.HasE2EE {
		buf[i] = ExtTagE2EE
		buf[i+1] = ExtLenE2EE
		buf[i+2] = e.E2EE.KeyIndex
		copy(buf[i+3:i+15], e.E2EE.IV[:])
		i += 2 + ExtLenE2EE
	}
	if e.HasUserTimestamp {
		buf[i] = ExtTagUserTimestamp
		buf[i+1] = ExtLenUserTimestamp
		binary.BigEndian.PutUint64(buf[i+2:], e.UserTimestamp)
		i += 2 + ExtLenUserTimestamp
	}
	if e.ParticipantSID != nil {
		buf[i] = ExtTagParticipantSID
		buf[i+1] = byte(len(e.ParticipantSID))
		copy(buf[i+2:], e.ParticipantSID)
		i += 2 + len(e.ParticipantSID)
	}
	clear(buf[i:size])
	return size, nil
}

// Packet is one data-track packet: header plus payload.
type Packet struct {
	Header
	// Payload is the packet's share of the frame payload. After Unmarshal it aliases the input.
	Payload []byte
}

// Size returns the serialized size of the packet.
func (p *Packet) Size() int { return p.Header.Size() + len(p.Payload) }

// MarshalTo writes the packet into buf (which must hold Size() bytes) and returns the number of
// bytes written. It does not allocate.
func (p *Packet) MarshalTo(buf []byte) (int, error) {
	if len(buf) < p.Size() {
		return 0, ErrBufferTooSmall
	}
	n, err := p.Header.MarshalTo(buf)
	if err != nil {
		return 0, err
	}
	n += copy(buf[n:], p.Payload)
	return n, nil
}

// AppendTo appends the serialized packet to dst and returns the extended slice.
func (p *Packet) AppendTo(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = grow(dst, p.Size())
	if _, err := p.MarshalTo(dst[start:]); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// grow extends dst by n bytes, reallocating only when the capacity is insufficient.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		nb := make([]byte, len(dst), 2*cap(dst)+n)
		copy(nb, dst)
		dst = nb
	}
	return dst[:len(dst)+n]
}

// Unmarshal decodes data into p following the parsing rules in docs/protocol.md, Packet format
// (those of the Rust parser). The payload and any participant-SID extension alias data; nothing
// is copied or allocated. Malformed input yields one of the packet decoding errors; it never
// panics.
func (p *Packet) Unmarshal(data []byte) error {
	*p = Packet{}
	if len(data) < BaseHeaderSize {
		return ErrTooShort
	}
	b0 := data[0]
	if b0>>5 != PacketVersion {
		return ErrUnsupportedVersion
	}
	handle := binary.BigEndian.Uint16(data[2:])
	if handle == 0 {
		return ErrInvalidHandle
	}
	h := Header{
		Marker:      Marker((b0 & markerMask) >> 3),
		Handle:      handle,
		Sequence:    binary.BigEndian.Uint16(data[4:]),
		FrameNumber: binary.BigEndian.Uint16(data[6:]),
		Timestamp:   binary.BigEndian.Uint32(data[8:]),
	}
	rest := data[BaseHeaderSize:]
	if b0&flagX != 0 {
		if len(rest) < 2 {
			return ErrMissingExtWords
		}
		blockLen := 4*int(binary.BigEndian.Uint16(rest)) + 2
		rest = rest[2:]
		if blockLen > len(rest) {
			return ErrHeaderOverrun
		}
		if err := parseExtensions(rest[:blockLen], &h.Extensions); err != nil {
			return err
		}
		rest = rest[blockLen:]
	}
	p.Header = h
	p.Payload = rest
	return nil
}

// parseExtensions walks an extension block (docs/protocol.md, Packet format).
func parseExtensions(block []byte, e *Extensions) error {
	for len(block) >= 2 {
		tag, l := block[0], int(block[1])
		block = block[2:]
		if tag == ExtTagPadding {
			continue // padding consumes two bytes; its len byte is ignored
		}
		if len(block) < l {
			return ErrMalformedExt
		}
		v := block[:l]
		block = block[l:]
		switch {
		case tag == ExtTagE2EE && l >= ExtLenE2EE:
			e.HasE2EE = true
			e.E2EE.KeyIndex = v[0]
			copy(e.E2EE.IV[:], v[1:13])
		case tag == ExtTagUserTimestamp && l >= ExtLenUserTimestamp:
			e.HasUserTimestamp = true
			e.UserTimestamp = binary.BigEndian.Uint64(v)
		case tag == ExtTagParticipantSID && l >= 1:
			e.ParticipantSID = v
		default:
			// Unknown tag, or a known tag shorter than its defined length: skipped (Rust rule;
			// JS would read past it, docs/protocol.md, Packet format).
		}
	}
	return nil
}
