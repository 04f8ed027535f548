package datastream

import (
	"bytes"
	"compress/flate"
	"io"
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
