package deflate

import (
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// benchPayloads: 1 MiB of base64 of random bytes (what a large RPC payload
// often is) and of repetitive text.
func benchPayloads(b *testing.B) map[string][]byte {
	raw := make([]byte, 3<<18)
	rand.Read(raw)
	return map[string][]byte{
		"base64": []byte(base64.StdEncoding.EncodeToString(raw)),
		"words":  words(1 << 20),
	}
}

// words is n bytes of words drawn at random from a small vocabulary: text
// with repeated strings at varying distances.
func words(n int) []byte {
	vocab := strings.Fields("the of and to in is was for that with as on by at from his her they this which " +
		"data stream track room participant frame chunk header trailer packet server client publish " +
		"subscribe remote local handle event error timeout reconnect session signal offer answer")
	r := mrand.New(mrand.NewPCG(3, 4))
	var b []byte
	for len(b) < n {
		b = append(append(b, vocab[r.IntN(len(vocab))]...), ' ')
	}
	return b[:n]
}

// chunks cuts b into 15 000-byte pieces, the size of data stream chunks.
func chunks(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(len(b), 15000)
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// byteSource is what compress/flate reads from in core/datastream: an
// io.ByteReader over the pieces.
type byteSource struct {
	p   [][]byte
	cur []byte
}

func (s *byteSource) ReadByte() (byte, error) {
	for len(s.cur) == 0 {
		if len(s.p) == 0 {
			return 0, io.EOF
		}
		s.cur, s.p = s.p[0], s.p[1:]
	}
	c := s.cur[0]
	s.cur = s.cur[1:]
	return c, nil
}

func (s *byteSource) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if len(s.p) == 0 {
			return 0, io.EOF
		}
		s.cur, s.p = s.p[0], s.p[1:]
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

func BenchmarkInflate(b *testing.B) {
	for name, p := range benchPayloads(b) {
		for _, level := range []int{flate.HuffmanOnly, flate.BestSpeed, 6} {
			z := compress(b, p, level)
			out := make([]byte, 64<<10)
			name := fmt.Sprintf("%s/level%d", name, level)
			b.Run(name+"/compress-flate", func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				fr := flate.NewReader(nil)
				for b.Loop() {
					fr.(flate.Resetter).Reset(&byteSource{p: chunks(z)}, nil)
					for {
						if _, err := fr.Read(out); err != nil {
							break
						}
					}
				}
			})
			b.Run(name+"/Decoder", func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				d := NewDecoder(nil)
				for b.Loop() {
					d.Reset(&pieces{p: chunks(z)})
					for {
						if _, err := d.Read(out); err != nil {
							break
						}
					}
				}
			})
		}
	}
}
