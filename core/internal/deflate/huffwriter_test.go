package deflate

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"io"
	mrand "math/rand/v2"
	"testing"
)

// huffInputs covers every block shape: empty, one byte, one repeated byte,
// bytes that do not compress (stored blocks), base64 (dynamic blocks),
// frequencies so skewed that an optimal code would exceed 15 bits, and
// several blocks.
func huffInputs(t testing.TB) map[string][]byte {
	raw := make([]byte, 200000)
	rand.Read(raw)
	var skewed []byte
	a, b := 1, 1
	for s := 0; s < 30; s++ { // Fibonacci frequencies: code lengths up to 29 unlimited
		for range a {
			skewed = append(skewed, byte(s))
		}
		a, b = b, a+b
	}
	return map[string][]byte{
		"empty":    {},
		"one":      {'x'},
		"same":     bytes.Repeat([]byte{'a'}, 70000),
		"random":   raw,
		"base64":   []byte(base64.StdEncoding.EncodeToString(raw)),
		"skewed":   skewed,
		"two":      []byte("abababababababababab"),
		"blocks+1": []byte(base64.StdEncoding.EncodeToString(raw[:3*huffBlockSize/4*2+3])),
	}
}

func huffCompress(t testing.TB, w *HuffmanWriter, p []byte, r *mrand.Rand) []byte {
	var buf bytes.Buffer
	w.Reset(&buf)
	for rest := p; len(rest) > 0; {
		n := min(len(rest), 1+r.IntN(100000))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHuffmanWriterRoundTrips(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 1))
	w := NewHuffmanWriter(nil)
	d := NewDecoder(nil)
	for name, p := range huffInputs(t) {
		z := huffCompress(t, w, p, r)
		std, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
		if err != nil || !bytes.Equal(std, p) {
			t.Fatalf("%s: compress/flate decodes %d bytes, %v (want %d)", name, len(std), err, len(p))
		}
		own, err := decodeAll(r, d, split(r, z))
		if err != nil || !bytes.Equal(own, p) || d.Trailing() {
			t.Fatalf("%s: Decoder decodes %d bytes, %v (want %d)", name, len(own), err, len(p))
		}
		// As small as compress/flate's HuffmanOnly, within 1 % and a header.
		var ref bytes.Buffer
		fw, _ := flate.NewWriter(&ref, flate.HuffmanOnly)
		fw.Write(p)
		fw.Close()
		if len(z) > ref.Len()+ref.Len()/100+300 {
			t.Errorf("%s: %d bytes, compress/flate HuffmanOnly %d", name, len(z), ref.Len())
		}
		t.Logf("%s: %d -> %d bytes (compress/flate HuffmanOnly %d)", name, len(p), len(z), ref.Len())
	}
}

func TestCodeLengthsLimitAndComplete(t *testing.T) {
	r := mrand.New(mrand.NewPCG(2, 2))
	for i := range 2000 {
		n := 1 + r.IntN(maxSymbols)
		freq := make([]uint32, n)
		for s := range freq {
			switch i % 3 {
			case 0:
				freq[s] = r.Uint32N(1000)
			case 1:
				freq[s] = uint32(1) << r.IntN(31) // very skewed
			default:
				if r.IntN(4) == 0 {
					freq[s] = 1 + r.Uint32N(5)
				}
			}
		}
		lens := make([]uint8, n)
		limit := 7 + r.IntN(9)
		for 1<<limit < n {
			limit++
		}
		codeLengths(freq, lens, limit)
		used, kraft := 0, 0
		for s, l := range lens {
			if (l == 0) != (freq[s] == 0) || int(l) > limit {
				t.Fatalf("symbol %d: freq %d, length %d (limit %d)", s, freq[s], l, limit)
			}
			if l > 0 {
				used++
				kraft += 1 << (maxCodeLen - l)
			}
		}
		if used == 1 && kraft != 1<<(maxCodeLen-1) || used > 1 && kraft != 1<<maxCodeLen {
			t.Fatalf("%d symbols: Kraft sum %d/%d", used, kraft, 1<<maxCodeLen)
		}
	}
}

func TestHuffmanWriterAfterClose(t *testing.T) {
	w := NewHuffmanWriter(io.Discard)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err != errClosed {
		t.Fatalf("write after close: %v", err)
	}
}

func BenchmarkHuffmanOnly(b *testing.B) {
	raw := make([]byte, 3<<18)
	rand.Read(raw)
	p := []byte(base64.StdEncoding.EncodeToString(raw))
	b.Run("compress-flate", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		fw, _ := flate.NewWriter(io.Discard, flate.HuffmanOnly)
		for b.Loop() {
			fw.Reset(io.Discard)
			fw.Write(p)
			fw.Close()
		}
	})
	b.Run("HuffmanWriter", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		w := NewHuffmanWriter(io.Discard)
		for b.Loop() {
			w.Reset(io.Discard)
			w.Write(p)
			w.Close()
		}
	})
}

// Any input, written in any pieces: compress/flate and Decoder both give it
// back. Inputs stay small (fast executions, many symbol distributions); block
// boundaries are TestHuffmanWriterRoundTrips' "blocks+1".
func FuzzHuffmanWriterRoundTrips(f *testing.F) {
	for _, p := range huffInputs(f) {
		f.Add(p[:min(len(p), 3000)], uint64(1))
	}
	w := NewHuffmanWriter(nil)
	d := NewDecoder(nil)
	f.Fuzz(func(t *testing.T, p []byte, seed uint64) {
		r := mrand.New(mrand.NewPCG(seed, 3))
		z := huffCompress(t, w, p, r)
		std, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
		if err != nil || !bytes.Equal(std, p) {
			t.Fatalf("compress/flate decodes %d bytes, %v (want %d)", len(std), err, len(p))
		}
		own, err := decodeAll(r, d, split(r, z))
		if err != nil || !bytes.Equal(own, p) || d.Trailing() {
			t.Fatalf("Decoder decodes %d bytes, %v (want %d)", len(own), err, len(p))
		}
	})
}
