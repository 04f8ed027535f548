package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// pieces is a Source over fixed pieces.
type pieces struct{ p [][]byte }

func (s *pieces) Next() ([]byte, error) {
	if len(s.p) == 0 {
		return nil, io.EOF
	}
	b := s.p[0]
	s.p = s.p[1:]
	return b, nil
}

// split cuts b into pieces of random sizes (empty ones included).
func split(r *rand.Rand, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(len(b), r.IntN(3)*r.IntN(4000))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// decodeAll decodes src split into pieces with reads of random sizes.
func decodeAll(r *rand.Rand, d *Decoder, src [][]byte) ([]byte, error) {
	d.Reset(&pieces{p: src})
	var out []byte
	for {
		buf := make([]byte, 1+r.IntN(70000))
		n, err := d.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func stdDecode(b []byte) ([]byte, error) {
	return io.ReadAll(flate.NewReader(bytes.NewReader(b)))
}

func compress(t testing.TB, b []byte, level int) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	for len(b) > 0 { // with sync flushes: empty stored blocks mid-stream
		n := min(len(b), 50000)
		w.Write(b[:n])
		b = b[n:]
		if n == 50000 {
			w.Flush()
		}
	}
	w.Close()
	return buf.Bytes()
}

func payloads(r *rand.Rand) map[string][]byte {
	rnd := make([]byte, 300000)
	for i := range rnd {
		rnd[i] = byte(r.Uint32())
	}
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog; "), 5000)
	skew := make([]byte, 200000)
	for i := range skew {
		skew[i] = byte(r.ExpFloat64() * 3)
	}
	runs := bytes.Repeat([]byte{'a'}, 100000)
	return map[string][]byte{"empty": {}, "one": {'x'}, "random": rnd, "text": text, "skewed": skew, "runs": runs}
}

func TestMatchesCompressFlate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	d := NewDecoder(nil)
	for name, p := range payloads(r) {
		for _, level := range []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, 5, flate.BestCompression} {
			z := compress(t, p, level)
			for range 4 {
				got, err := decodeAll(r, d, split(r, z))
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("%s level %d: %d bytes, %v (want %d bytes)", name, level, len(got), err, len(p))
				}
				if d.Trailing() {
					t.Fatalf("%s level %d: trailing data reported", name, level)
				}
			}
		}
	}
}

func TestTruncatedAndTrailing(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	d := NewDecoder(nil)
	p := payloads(r)["text"]
	z := compress(t, p, flate.BestSpeed)
	for _, cut := range []int{0, 1, 2, len(z) / 2, len(z) - 1} {
		if _, err := decodeAll(r, d, split(r, z[:cut])); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
	// A byte after the final block in the same piece is reported; one in a
	// later piece is not read at all.
	if _, err := decodeAll(r, d, [][]byte{append(bytes.Clone(z), 0)}); err != nil || !d.Trailing() {
		t.Fatalf("trailing byte: %v, trailing %v", err, d.Trailing())
	}
	src := &pieces{p: [][]byte{z, {0}}}
	d.Reset(src)
	if _, err := io.ReadAll(d); err != nil || d.Trailing() || len(src.p) != 1 {
		t.Fatalf("byte in a later piece: %v, trailing %v, %d pieces unread", err, d.Trailing(), len(src.p))
	}
}

func TestSourceError(t *testing.T) {
	boom := errors.New("boom")
	d := NewDecoder(errSource{boom})
	if _, err := d.Read(make([]byte, 10)); err != boom {
		t.Fatalf("got %v", err)
	}
}

type errSource struct{ err error }

func (s errSource) Next() ([]byte, error) { return nil, s.err }

// A Read returns the output of a flushed prefix without waiting for the
// next piece.
func TestReturnsBeforeWaiting(t *testing.T) {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write([]byte("hello, "))
	w.Flush()
	first := bytes.Clone(buf.Bytes())
	src := &blocking{first: first}
	d := NewDecoder(src)
	out := make([]byte, 100)
	n, err := d.Read(out)
	if err != nil || string(out[:n]) != "hello, " {
		t.Fatalf("got %q, %v", out[:n], err)
	}
}

// blocking gives one piece, then fails the test if asked for more.
type blocking struct {
	first []byte
	given bool
}

func (b *blocking) Next() ([]byte, error) {
	if b.given {
		panic("Read waited for input while output was ready")
	}
	b.given = true
	return b.first, nil
}

func FuzzMatchesCompressFlate(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, p := range payloads(r) {
		if len(p) > 2000 {
			p = p[:2000]
		}
		for _, level := range []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, 9} {
			f.Add(compress(f, p, level), uint64(1))
		}
	}
	f.Add([]byte{0x04, 0xc0, 0x81, 0x08, 0x00, 0x00, 0x00, 0x00, 0x20, 0x7f, 0xeb, 0x0b, 0x00, 0x00}, uint64(2))
	d := NewDecoder(nil)
	f.Fuzz(func(t *testing.T, z []byte, seed uint64) {
		want, wantErr := stdDecode(z)
		got, err := decodeAll(rand.New(rand.NewPCG(seed, 7)), d, split(rand.New(rand.NewPCG(seed, 8)), z))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, compress/flate %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("output differs: %d bytes, compress/flate %d", len(got), len(want))
		}
	})
}

// Corrupted streams: valid ones with bits flipped, bytes inserted or
// removed, or cut short, of every block type; each decodes exactly as with
// compress/flate (the same output, or an error for both).
func TestCorruptedMatchesCompressFlate(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	text := []byte("the quick brown fox jumps over the lazy dog, then again: the quick brown fox")
	var bases [][]byte
	for _, level := range []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, flate.BestCompression} {
		bases = append(bases, compress(t, text, level))
	}
	// Fixed Huffman codes (what compress/flate writes for tiny inputs).
	bases = append(bases, compress(t, []byte("abcabcabc"), flate.BestSpeed))
	d := NewDecoder(nil)
	for i := range 40000 {
		z := bytes.Clone(bases[i%len(bases)])
		switch r.IntN(4) {
		case 0:
			for range 1 + r.IntN(3) {
				z[r.IntN(len(z))] ^= byte(1 << r.IntN(8))
			}
		case 1:
			at := r.IntN(len(z))
			z = append(z[:at], append([]byte{byte(r.Uint32())}, z[at:]...)...)
		case 2:
			at := r.IntN(len(z))
			z = append(z[:at], z[at+1:]...)
		default:
			z = z[:r.IntN(len(z))]
		}
		want, wantErr := stdDecode(z)
		got, err := decodeAll(r, d, split(r, z))
		if (err != nil) != (wantErr != nil) || (err == nil && !bytes.Equal(got, want)) {
			t.Fatalf("%x: %d bytes, %v; compress/flate %d bytes, %v", z, len(got), err, len(want), wantErr)
		}
	}
}
