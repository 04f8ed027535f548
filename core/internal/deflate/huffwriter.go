package deflate

import (
	"encoding/binary"
	"errors"
	"io"
	"slices"
)

// huffBlockSize is the input of one block: large enough that the block's
// header (about 100 bytes) costs nothing, small enough to fit a stored block
// (at most 65 535 bytes) when coding does not pay.
const huffBlockSize = 64000

// HuffmanWriter compresses to one raw DEFLATE stream with Huffman coding
// only (no search for repeated strings): each block of input is a dynamic
// block coding its bytes as literals with a code built from their
// frequencies, or a stored block when that would be smaller. It is the
// fastest compression for data whose bytes are unevenly frequent but do not
// repeat in longer strings (base64 or hex of random bytes). It is not safe
// for concurrent use.
type HuffmanWriter struct {
	dst    io.Writer
	in     []byte // input of the block being filled
	out    []byte // encoded bytes not yet written to dst
	acc    uint64 // nacc bits not yet in out, the next one lowest
	nacc   uint
	err    error
	closed bool

	freq [256 + 1]uint32
	lens [256 + 1 + 1]uint8 // literals, end of block, one distance code
	enc  [256 + 1]uint32    // bit-reversed code << 8 | length
}

// errClosed is returned by a write after Close.
var errClosed = errors.New("deflate: write after Close")

// NewHuffmanWriter returns a HuffmanWriter writing to dst.
func NewHuffmanWriter(dst io.Writer) *HuffmanWriter {
	w := &HuffmanWriter{in: make([]byte, 0, huffBlockSize)}
	w.Reset(dst)
	return w
}

// Reset discards w's state and makes it write a new stream to dst, keeping
// its buffers.
func (w *HuffmanWriter) Reset(dst io.Writer) {
	w.dst, w.in, w.out = dst, w.in[:0], w.out[:0]
	w.acc, w.nacc, w.err, w.closed = 0, 0, nil, false
}

// Write compresses p. Complete blocks go to the destination as they fill;
// the rest waits for more input or Close.
func (w *HuffmanWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errClosed
	}
	n := len(p)
	for len(p) > 0 && w.err == nil {
		k := min(huffBlockSize-len(w.in), len(p))
		w.in = append(w.in, p[:k]...)
		p = p[k:]
		if len(w.in) == huffBlockSize {
			w.block(w.in, false)
			w.in = w.in[:0]
			w.flush()
		}
	}
	if w.err != nil {
		return 0, w.err
	}
	return n, nil
}

// Close compresses the rest of the input as the final block and writes
// everything to the destination. It does not close the destination.
func (w *HuffmanWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	w.block(w.in, true)
	w.in = w.in[:0]
	for w.nacc > 0 { // the last bits, the last byte padded with zero bits
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= min(w.nacc, 8)
	}
	w.flush()
	return w.err
}

func (w *HuffmanWriter) flush() {
	if w.err != nil || len(w.out) == 0 {
		return
	}
	_, w.err = w.dst.Write(w.out)
	w.out = w.out[:0]
}

// bits appends the n low bits of v to the output.
func (w *HuffmanWriter) bits(v uint32, n uint) {
	w.acc |= uint64(v) << w.nacc
	w.nacc += n
	if w.nacc >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.acc))
		w.acc >>= 32
		w.nacc -= 32
	}
}

// block encodes b as one block.
func (w *HuffmanWriter) block(b []byte, final bool) {
	fin := uint32(0)
	if final {
		fin = 1
	}
	if len(b) == 0 {
		// Fixed codes, just the end of block (seven zero bits).
		w.bits(fin|1<<1, 3)
		w.bits(0, 7)
		return
	}
	clear(w.freq[:])
	for _, c := range b {
		w.freq[c]++
	}
	w.freq[256] = 1
	codeLengths(w.freq[:], w.lens[:257], maxCodeLen)
	// One distance code of one bit, never used (compress/flate and zlib
	// write the same for a block of literals).
	w.lens[257] = 1
	var h header
	h.plan(w.lens[:])
	dataBits := uint64(0)
	for s, f := range w.freq {
		dataBits += uint64(f) * uint64(w.lens[s])
	}
	// A stored block: its header, padding to a byte, LEN and NLEN, the bytes.
	storedBits := 3 + (8-(uint64(w.nacc)+3)%8)%8 + 32 + 8*uint64(len(b))
	if storedBits <= 3+h.bits()+dataBits {
		w.bits(fin, 3)
		if w.nacc%8 != 0 {
			w.bits(0, 8-w.nacc%8)
		}
		w.bits(uint32(len(b))|uint32(^uint16(len(b)))<<16, 32)
		for w.nacc > 0 { // whole bytes: nacc is 0 or a multiple of 8
			w.out = append(w.out, byte(w.acc))
			w.acc >>= 8
			w.nacc -= 8
		}
		w.out = append(w.out, b...)
		return
	}
	w.bits(fin|2<<1, 3)
	h.write(w)
	canonical(w.lens[:257], w.enc[:])
	w.literals(b)
	e := w.enc[256]
	w.bits(e>>8, uint(e&31))
}

// literals appends the codes of b's bytes.
func (w *HuffmanWriter) literals(b []byte) {
	w.out = slices.Grow(w.out, len(b)*2+8)
	acc, nacc, out := w.acc, w.nacc, w.out
	enc := &w.enc
	for _, c := range b {
		e := enc[c]
		acc |= uint64(e>>8) << nacc
		nacc += uint(e & 31)
		if nacc >= 32 {
			out = binary.LittleEndian.AppendUint32(out, uint32(acc))
			acc >>= 32
			nacc -= 32
		}
	}
	w.acc, w.nacc, w.out = acc, nacc, out
}

// canonical sets enc[s] to symbol s's canonical code, bit-reversed for
// writing least significant bit first, shifted left by 8, plus its length.
func canonical(lens []uint8, enc []uint32) {
	next, _, _ := firstCodes(lens)
	for s, l := range lens {
		if l == 0 {
			enc[s] = 0
			continue
		}
		enc[s] = reverse(next[l], uint(l))<<8 | uint32(l)
		next[l]++
	}
}

// header is a dynamic block's header: the code lengths of the literal and
// distance codes, run-length coded with the code-length alphabet (RFC 1951
// section 3.2.7), and that alphabet's own code.
type header struct {
	syms  [256 + 2]uint8 // code-length symbols (0-18)
	extra [256 + 2]uint8 // their repeat counts, for 16, 17 and 18
	n     int
	nlit  int
	lens  [19]uint8
	enc   [19]uint32
	nclen int
}

// clenOrder is the order in which the code-length code's lengths are sent.
func clenOrder() [19]uint8 {
	return [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
}

// plan run-length codes lens (the 257 literal/length code lengths, then
// the distance code lengths) and builds the code-length code.
func (h *header) plan(lens []uint8) {
	h.nlit = 257
	emit := func(sym, extra uint8) {
		h.syms[h.n], h.extra[h.n] = sym, extra
		h.n++
	}
	for i := 0; i < len(lens); {
		l := lens[i]
		run := 1
		for i+run < len(lens) && lens[i+run] == l {
			run++
		}
		i += run
		if l == 0 {
			for run >= 11 {
				r := min(run, 138)
				emit(18, uint8(r-11))
				run -= r
			}
			if run >= 3 {
				emit(17, uint8(run-3))
				run = 0
			}
		} else {
			emit(l, 0)
			run--
			for run >= 3 {
				r := min(run, 6)
				emit(16, uint8(r-3))
				run -= r
			}
		}
		for ; run > 0; run-- {
			emit(l, 0)
		}
	}
	var freq [19]uint32
	for _, s := range h.syms[:h.n] {
		freq[s]++
	}
	codeLengths(freq[:], h.lens[:], 7)
	canonical(h.lens[:], h.enc[:])
	order := clenOrder()
	h.nclen = 19
	for h.nclen > 4 && h.lens[order[h.nclen-1]] == 0 {
		h.nclen--
	}
}

// bits is the header's size in bits, block type excluded.
func (h *header) bits() uint64 {
	n := uint64(5 + 5 + 4 + 3*h.nclen)
	for _, s := range h.syms[:h.n] {
		n += uint64(h.enc[s] & 31)
		switch s {
		case 16:
			n += 2
		case 17:
			n += 3
		case 18:
			n += 7
		}
	}
	return n
}

func (h *header) write(w *HuffmanWriter) {
	w.bits(uint32(h.nlit-257), 5)
	w.bits(0, 5) // one distance code
	w.bits(uint32(h.nclen-4), 4)
	order := clenOrder()
	for _, s := range order[:h.nclen] {
		w.bits(uint32(h.lens[s]), 3)
	}
	for i, s := range h.syms[:h.n] {
		e := h.enc[s]
		w.bits(e>>8, uint(e&31))
		switch s {
		case 16:
			w.bits(uint32(h.extra[i]), 2)
		case 17:
			w.bits(uint32(h.extra[i]), 3)
		case 18:
			w.bits(uint32(h.extra[i]), 7)
		}
	}
}
