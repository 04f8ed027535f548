package wsconn

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Opcode is a WebSocket frame opcode.
type Opcode byte

// Opcodes (RFC 6455 section 5.2).
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// isControl reports whether op is a control opcode (close, ping, pong).
func (op Opcode) isControl() bool { return op&0x8 != 0 }

// maxControlPayload is the longest payload of a control frame.
const maxControlPayload = 125

// frameHeader is the decoded header of one frame from the server.
type frameHeader struct {
	fin    bool
	opcode Opcode
	length int64
}

// readFrameHeader reads and checks one server frame header: no reserved bit (no extension
// was negotiated), no mask (servers never mask), a known opcode, control frames unfragmented
// and at most 125 bytes, a length that fits in 63 bits.
func readFrameHeader(r io.Reader, scratch []byte) (frameHeader, error) {
	if _, err := io.ReadFull(r, scratch[:2]); err != nil {
		return frameHeader{}, err
	}
	b0, b1 := scratch[0], scratch[1]
	h := frameHeader{fin: b0&0x80 != 0, opcode: Opcode(b0 & 0x0F)}
	if b0&0x70 != 0 {
		return h, fmt.Errorf("%w: reserved bits set", ErrProtocol)
	}
	if b1&0x80 != 0 {
		return h, fmt.Errorf("%w: masked frame from the server", ErrProtocol)
	}
	switch h.opcode {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return h, fmt.Errorf("%w: unknown opcode %#x", ErrProtocol, byte(h.opcode))
	}
	switch n := b1 & 0x7F; n {
	case 126:
		if _, err := io.ReadFull(r, scratch[:2]); err != nil {
			return h, err
		}
		h.length = int64(binary.BigEndian.Uint16(scratch[:2]))
	case 127:
		if _, err := io.ReadFull(r, scratch[:8]); err != nil {
			return h, err
		}
		v := binary.BigEndian.Uint64(scratch[:8])
		if v>>63 != 0 {
			return h, fmt.Errorf("%w: frame length out of range", ErrProtocol)
		}
		h.length = int64(v)
	default:
		h.length = int64(n)
	}
	if h.opcode.isControl() && (!h.fin || h.length > maxControlPayload) {
		return h, fmt.Errorf("%w: fragmented or oversized control frame", ErrProtocol)
	}
	return h, nil
}

// appendFrame appends one final, masked client frame carrying payload to dst.
func appendFrame(dst []byte, op Opcode, payload []byte, mask [4]byte) []byte {
	dst = append(dst, 0x80|byte(op))
	n := len(payload)
	switch {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}
