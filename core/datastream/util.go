package datastream

import (
	"compress/flate"
	"crypto/rand"
	"encoding/hex"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/lkcore/lkcore/core/internal/deflate"
)

// NewStreamID returns a random UUID v4 in its 36-character text form.
func NewStreamID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// SplitUTF8 splits b into pieces of at most n bytes without cutting a UTF-8
// sequence (n must be ≥ 4). The pieces alias b.
func SplitUTF8(b []byte, n int) [][]byte {
	if n < utf8.UTFMax {
		n = utf8.UTFMax
	}
	var out [][]byte
	for len(b) > n {
		k := n
		for k > 0 && b[k]&0xC0 == 0x80 {
			k--
		}
		if k == 0 { // not UTF-8 at all: cut hard rather than loop
			k = n
		}
		out = append(out, b[:k])
		b = b[k:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

// splitBytes splits b into pieces of at most n bytes (aliasing b).
func splitBytes(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

// compressor is a raw DEFLATE compressor of a flatePool: a compress/flate
// writer, or core/internal/deflate's Huffman-only writer.
type compressor interface {
	io.WriteCloser
	Reset(dst io.Writer)
}

// flatePool recycles compressors and decompressors: a compress/flate
// writer costs about 1.2 MB and 0.7 ms to create, which would dominate small
// messages, and a decompressor (core/internal/deflate) has a 64 KiB window.
// Each Manager owns its pool (no package-level state).
//
// One compressor is kept in spare for the life of the Manager: a sync.Pool
// is emptied by every other garbage collection, and a large transfer runs
// many of them, so with the pool alone nearly every stream paid for a new
// compressor. Further concurrent compressors go through the pool.
type flatePool struct {
	level   int // a compress/flate level; flate.HuffmanOnly uses deflate.HuffmanWriter
	mu      sync.Mutex
	spare   compressor // guarded by mu
	writers sync.Pool  // compressor
	readers sync.Pool  // *deflate.Decoder
}

func (p *flatePool) writer(dst io.Writer) compressor {
	p.mu.Lock()
	w := p.spare
	p.spare = nil
	p.mu.Unlock()
	if w != nil {
		w.Reset(dst)
		return w
	}
	if w, ok := p.writers.Get().(compressor); ok {
		w.Reset(dst)
		return w
	}
	if p.level == flate.HuffmanOnly {
		// The same output as compress/flate's, in half the time
		// (BenchmarkHuffmanOnly in core/internal/deflate).
		return deflate.NewHuffmanWriter(dst)
	}
	w, err := flate.NewWriter(dst, p.level)
	if err != nil { // invalid level: fall back to the default
		w, _ = flate.NewWriter(dst, flate.DefaultCompression)
	}
	return w
}

func (p *flatePool) putWriter(w compressor) {
	w.Reset(io.Discard) // do not keep the last destination reachable
	p.mu.Lock()
	if p.spare == nil {
		p.spare, w = w, nil
	}
	p.mu.Unlock()
	if w != nil {
		p.writers.Put(w)
	}
}

func (p *flatePool) reader(src deflate.Source) *deflate.Decoder {
	if d, ok := p.readers.Get().(*deflate.Decoder); ok {
		d.Reset(src)
		return d
	}
	return deflate.NewDecoder(src)
}

func (p *flatePool) putReader(d *deflate.Decoder) {
	d.Reset(nil) // do not keep the stream's pieces reachable
	p.readers.Put(d)
}

// deflateRaw compresses b as one raw DEFLATE stream (RFC 1951, no zlib or
// gzip framing) ending with a final block, returned as consecutive pieces of
// at most n bytes each (exactly n except the last) and its total size.
// Writing straight into fixed-size pieces never copies the output to grow a
// buffer, and the pieces are the stream's chunks as they go on the wire.
func (p *flatePool) deflateRaw(b []byte, n int) (pieces [][]byte, size int) {
	ps := pieceSink{n: n}
	w := p.writer(&ps)
	_, _ = w.Write(b) // writes to a pieceSink cannot fail
	_ = w.Close()
	p.putWriter(w)
	return ps.pieces, ps.size
}

// pieceSink is an io.Writer collecting its input in pieces of n bytes.
type pieceSink struct {
	n      int
	size   int
	pieces [][]byte
}

func (s *pieceSink) Write(b []byte) (int, error) {
	s.size += len(b)
	k := len(b)
	for len(b) > 0 {
		last := len(s.pieces) - 1
		if last < 0 || len(s.pieces[last]) == s.n {
			s.pieces = append(s.pieces, make([]byte, 0, s.n))
			last++
		}
		c := min(s.n-len(s.pieces[last]), len(b))
		s.pieces[last] = append(s.pieces[last], b[:c]...)
		b = b[c:]
	}
	return k, nil
}

// countingWriter counts what is written to it and discards it.
type countingWriter int

func (c *countingWriter) Write(b []byte) (int, error) {
	*c += countingWriter(len(b))
	return len(b), nil
}

// incompleteUTF8Tail returns how many trailing bytes of b form the start of
// a UTF-8 sequence that is not complete yet (0–3).
func incompleteUTF8Tail(b []byte) int {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c&0xC0 == 0x80 { // continuation byte: keep looking for the lead
			continue
		}
		if c < 0x80 {
			return 0
		}
		need := 0
		switch {
		case c&0xE0 == 0xC0:
			need = 2
		case c&0xF0 == 0xE0:
			need = 3
		case c&0xF8 == 0xF0:
			need = 4
		default:
			return 0 // invalid lead byte; let validation report it
		}
		if need > i {
			return i
		}
		return 0
	}
	return 0
}

// Compression probe: payloads of at least probeMinSize are compressed only if
// their first probeSize bytes shrink to at most probeRatio of their size.
// This avoids deflating megabytes of incompressible data (random bytes,
// media) just to find out that the raw form is smaller. A sample that
// Huffman coding alone shrinks within huffSlack of what the configured level
// achieves has no repeated strings worth searching for (base64 or hex of
// random bytes, already-compressed text): the payload is then Huffman-coded
// only (deflate.HuffmanWriter), which gives the same size without the
// fastest level's string search: for 1 MiB of base64, 1.5–1.7 ms instead
// of compress/flate's 5.5 ms at BestSpeed (2.8–3.2 ms at its own
// Huffman-only level).
const (
	probeMinSize = 256 << 10
	probeSize    = 32 << 10
	probeRatio   = 0.95
	huffSlack    = 0.02
)

// probe reports whether data is worth compressing, the compressor pool to use
// (m.huff or m.flate) and, for a payload of at least probeMinSize, the
// compressed size its first probeSize bytes predict (0 for a smaller payload,
// which is always worth trying with m.flate).
func (m *Manager) probe(data []byte) (worth bool, estimate int, z *flatePool) {
	if len(data) < probeMinSize {
		return true, 0, m.flate
	}
	sample := data[:probeSize]
	n := m.flate.compressedSize(sample)
	if float64(n) > probeRatio*probeSize {
		return false, 0, m.flate
	}
	z = m.flate
	if hn := m.huff.compressedSize(sample); float64(hn) <= (1+huffSlack)*float64(n) {
		n, z = hn, m.huff
	}
	return true, int(int64(n) * int64(len(data)) / probeSize), z
}

// compressedSize is the size of b deflated with a compressor of p.
func (p *flatePool) compressedSize(b []byte) int {
	var n countingWriter
	w := p.writer(&n)
	_, _ = w.Write(b) // writes to a countingWriter cannot fail
	_ = w.Close()
	p.putWriter(w)
	return int(n)
}
