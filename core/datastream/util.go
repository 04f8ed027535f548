package datastream

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/hex"
	"io"
	"sync"
	"unicode/utf8"
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

// flatePool recycles compressors and decompressors: a compress/flate
// writer costs about 1 MB to create, which would dominate small messages.
// Each Manager owns its pool (no package-level state).
type flatePool struct {
	level   int
	writers sync.Pool // *flate.Writer
	readers sync.Pool // io.ReadCloser implementing flate.Resetter
}

func (p *flatePool) writer(dst io.Writer) *flate.Writer {
	if w, ok := p.writers.Get().(*flate.Writer); ok {
		w.Reset(dst)
		return w
	}
	w, err := flate.NewWriter(dst, p.level)
	if err != nil { // invalid level: fall back to the default
		w, _ = flate.NewWriter(dst, flate.DefaultCompression)
	}
	return w
}

func (p *flatePool) putWriter(w *flate.Writer) { p.writers.Put(w) }

func (p *flatePool) reader(src io.Reader) io.ReadCloser {
	if r, ok := p.readers.Get().(io.ReadCloser); ok {
		if err := r.(flate.Resetter).Reset(src, nil); err == nil {
			return r
		}
	}
	return flate.NewReader(src)
}

func (p *flatePool) putReader(r io.ReadCloser) { p.readers.Put(r) }

// deflateRaw compresses b as one raw DEFLATE stream (RFC 1951, no zlib or
// gzip framing) ending with a final block.
func (p *flatePool) deflateRaw(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/2 + 64)
	w := p.writer(&buf)
	_, _ = w.Write(b) // writes to a bytes.Buffer cannot fail
	_ = w.Close()
	p.putWriter(w)
	return buf.Bytes()
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
// media) just to find out that the raw form is smaller.
const (
	probeMinSize = 256 << 10
	probeSize    = 32 << 10
	probeRatio   = 0.95
)

func (p *flatePool) worthCompressing(data []byte) bool {
	if len(data) < probeMinSize {
		return true
	}
	z := p.deflateRaw(data[:probeSize])
	return float64(len(z)) <= probeRatio*probeSize
}
