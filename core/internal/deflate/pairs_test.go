package deflate

import (
	"math/rand/v2"
	"testing"
)

// Every entry of a paired table decodes what two lookups in the same table
// without pairs decode: the first symbol, and the second one only when its
// code ends within the table's bits.
func TestPairLiteralsMatchesTwoLookups(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 500 {
		// A literal-only code (the literals used and the end of block) from
		// random frequencies: skewed ones give short codes that pair.
		var freq [257]uint32
		used := 2 + r.IntN(255)
		for range used {
			freq[r.IntN(256)] += 1 + uint32(r.ExpFloat64()*float64(1+round%50))
		}
		freq[256] = 1
		var lengths [257]uint8
		codeLengths(freq[:], lengths[:], maxCodeLen)
		var single, paired []entry
		if !build(&single, lengths[:], literalsOnlyBits, litLenEntry) || !build(&paired, lengths[:], literalsOnlyBits, litLenEntry) {
			t.Fatalf("round %d: build failed for %v", round, lengths)
		}
		pairLiterals(paired, lengths[:], literalsOnlyBits)
		pairs := 0
		for i := range 1 << literalsOnlyBits {
			bits := uint64(i)
			e1 := lookup(single, bits, literalsOnlyBits)
			got := paired[i]
			n1 := uint(e1 & 31)
			if e1&kindMask != kindLiteral || n1 == 0 {
				if got != single[i] {
					t.Fatalf("round %d index %#x: %#x, want the single entry %#x", round, i, got, single[i])
				}
				continue
			}
			e2 := lookup(single, bits>>n1, literalsOnlyBits)
			n2 := uint(e2 & 31)
			if e2&kindMask != kindLiteral || n2 == 0 || n1+n2 > literalsOnlyBits {
				if got != single[i] {
					t.Fatalf("round %d index %#x: %#x, want the single entry %#x", round, i, got, single[i])
				}
				continue
			}
			pairs++
			if got&entryPair == 0 || byte(got>>16) != byte(e1>>16) || byte(got>>24) != byte(e2>>16) ||
				uint(got&31) != n1+n2 || uint(got>>8&15) != n1 || got&kindMask != kindLiteral {
				t.Fatalf("round %d index %#x: %#x, want the pair of %#x and %#x", round, i, got, e1, e2)
			}
		}
		if round == 0 && pairs == 0 {
			t.Fatal("no pairs in the first table: the test checks nothing")
		}
	}
}

// A pair whose second code has not arrived yet decodes its first literal
// alone, so a Read returns every literal the input at hand holds.
func TestPairWithoutItsSecondCodeDecodesTheFirst(t *testing.T) {
	// 'a' 1 bit (code 0), 'b' 2 bits (10), end of block 2 bits (11).
	var lengths [257]uint8
	lengths['a'], lengths['b'], lengths[256] = 1, 2, 2
	d := NewDecoder(nil)
	if !build(&d.dynLit, lengths[:], literalsOnlyBits, litLenEntry) {
		t.Fatal("build failed")
	}
	pairLiterals(d.dynLit, lengths[:], literalsOnlyBits)
	d.lit, d.litBits = d.dynLit, literalsOnlyBits

	// One bit at hand, 0: "a", and the pair "aa" the table holds for it
	// needs a second bit.
	d.bits, d.nbits = 0, 1
	e := lookup(d.lit, d.bits, d.litBits)
	if e&entryPair == 0 {
		t.Fatalf("entry %#x is not a pair", e)
	}
	if ok, end, err := d.symbol(e); !ok || end || err != nil || d.wpos != 1 || d.buf[0] != 'a' || d.nbits != 0 {
		t.Fatalf("ok %v end %v err %v: %q, %d bits left", ok, end, err, d.buf[:d.wpos], d.nbits)
	}

	// Both codes at hand ("a" then "b": bits 0, 1, 0): the pair.
	d.wpos, d.bits, d.nbits = 0, 0b010, 3
	if ok, _, err := d.symbol(lookup(d.lit, d.bits, d.litBits)); !ok || err != nil || string(d.buf[:d.wpos]) != "ab" || d.nbits != 0 {
		t.Fatalf("ok %v err %v: %q, %d bits left", ok, err, d.buf[:d.wpos], d.nbits)
	}
}
