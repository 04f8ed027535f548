package datastream

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// deflateRaw writes the compressed stream as consecutive pieces of exactly
// n bytes (the last shorter) that inflate back to the input.
func TestDeflateRawPieces(t *testing.T) {
	p := &flatePool{level: flate.BestSpeed}
	in := []byte(strings.Repeat("lkcore deflate pieces ", 4000))
	for i := range in {
		in[i] ^= byte(i * 7 % 13) // less regular, so the output spans pieces
	}
	const n = 1000
	pieces, size := p.deflateRaw(in, n)
	if len(pieces) < 2 {
		t.Fatalf("%d pieces for %d compressed bytes", len(pieces), size)
	}
	var all []byte
	for i, pc := range pieces {
		if i < len(pieces)-1 && len(pc) != n || len(pc) == 0 || len(pc) > n {
			t.Fatalf("piece %d of %d has %d bytes", i, len(pieces), len(pc))
		}
		all = append(all, pc...)
	}
	if len(all) != size {
		t.Fatalf("pieces hold %d bytes, size %d", len(all), size)
	}
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(all)))
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("inflate: %d bytes, err %v", len(out), err)
	}
}

// The pool keeps one compressor in spare, so consecutive streams reuse it
// even across garbage collections; a second concurrent one is distinct.
func TestFlatePoolSpareWriter(t *testing.T) {
	p := &flatePool{level: flate.BestSpeed}
	w1 := p.writer(io.Discard)
	w2 := p.writer(io.Discard)
	if w1 == w2 {
		t.Fatal("two concurrent writers are the same")
	}
	p.putWriter(w1)
	if w := p.writer(io.Discard); w != w1 {
		t.Fatal("the spare writer was not reused")
	}
}

// The probe Huffman-codes a large payload without repeated strings (base64 of random bytes:
// the string search finds nothing, Huffman coding alone gives the same size) and keeps the
// configured level for text with repetitions; incompressible bytes are not compressed; what
// the Huffman-only compressor writes inflates back to the payload.
func TestProbeChoosesHuffmanOnlyWithoutRepeatedStrings(t *testing.T) {
	m := NewManager(nil, Options{})
	defer m.Close()
	rng := rand.New(rand.NewChaCha8([32]byte{7}))
	raw := make([]byte, 600<<10)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	b64 := []byte(base64.StdEncoding.EncodeToString(raw))
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog; ", 20000))

	for _, tc := range []struct {
		name  string
		data  []byte
		worth bool
		pool  *flatePool
	}{
		{"base64 of random bytes", b64, true, m.huff},
		{"repeated text", text, true, m.flate},
		{"random bytes", raw, false, m.flate},
		{"below the probe size", b64[:probeMinSize-1], true, m.flate},
	} {
		worth, estimate, z := m.probe(tc.data)
		if worth != tc.worth || z != tc.pool {
			t.Errorf("%s: worth %v with level %d, want %v with level %d", tc.name, worth, z.level, tc.worth, tc.pool.level)
		}
		if tc.worth && len(tc.data) >= probeMinSize && (estimate <= 0 || estimate >= len(tc.data)) {
			t.Errorf("%s: estimate %d for %d bytes", tc.name, estimate, len(tc.data))
		}
	}

	pieces, size := m.huff.deflateRaw(b64, ChunkSize)
	if ratio := float64(size) / float64(len(b64)); ratio > 0.8 {
		t.Fatalf("Huffman-only ratio %.3f for base64 (6 bits of 8)", ratio)
	}
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(bytes.Join(pieces, nil))))
	if err != nil || !bytes.Equal(out, b64) {
		t.Fatalf("Huffman-only stream does not inflate back (%v)", err)
	}
}
