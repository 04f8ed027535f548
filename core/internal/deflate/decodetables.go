package deflate

// Decoding tables for the canonical Huffman codes of a DEFLATE block
// (RFC 1951 section 3.2.2).
//
// A table is indexed by the next bits of the input, least significant bit
// first (DEFLATE packs Huffman codes starting with their most significant
// bit, so codes are stored bit-reversed). Codes up to the table's primary
// width are found in one lookup; a longer code's primary entry links to a
// subtable indexed by the bits that follow.
//
// An entry is a uint32:
//
//	bits 0-4   code length in bits (0: no code has these bits)
//	bit  5     link: bits 0-3 are the subtable's width, bits 16-31 its offset
//	bit  6     pair: two literals (see pairLiterals)
//	bits 8-11  extra bits that follow the code (lengths and distances); in
//	           a pair, the length of the first literal's code
//	bits 12-13 kind: literal, length or distance, end of block, invalid symbol
//	bits 16-31 value: the literal byte, or the base length or distance; in a
//	           pair, bits 24-31 are the second literal
type entry = uint32

const (
	entryLink = 1 << 5
	entryPair = 1 << 6

	kindShift   = 12
	kindLiteral = 0 << kindShift
	kindBase    = 1 << kindShift // a length or a distance: value + extra bits
	kindEnd     = 2 << kindShift
	kindInvalid = 3 << kindShift // a symbol the format reserves (286, 287; distances 30, 31)
	kindMask    = 3 << kindShift

	maxCodeLen = 15

	litPrimaryBits = 10
	// literalsOnlyBits is the primary width of a block without matches
	// (Huffman-only data such as compressed base64): two 6-bit codes
	// pair up in it. A wider table costs more to build than it saves in a
	// block with matches, where literals are fewer.
	literalsOnlyBits = 12
	distPrimaryBits  = 8
	clenPrimaryBits  = 7 // code-length codes are at most 7 bits: one level
)

// litLenEntry is the entry of literal/length symbol s without its code length.
func litLenEntry(s int) entry {
	switch {
	case s < 256:
		return kindLiteral | entry(s)<<16
	case s == 256:
		return kindEnd
	case s < 265:
		return kindBase | entry(s-254)<<16
	case s < 285:
		extra := (s - 261) / 4
		return kindBase | entry(extra)<<8 | entry((4+(s-265)%4)<<extra+3)<<16
	case s == 285:
		return kindBase | 258<<16
	default:
		return kindInvalid
	}
}

// distEntry is the entry of distance symbol s without its code length.
func distEntry(s int) entry {
	switch {
	case s < 4:
		return kindBase | entry(s+1)<<16
	case s < 30:
		extra := (s - 2) / 2
		return kindBase | entry(extra)<<8 | entry((2+s%2)<<extra+1)<<16
	default:
		return kindInvalid
	}
}

// clenEntry is the entry of code-length symbol s: its value is s.
func clenEntry(s int) entry { return kindLiteral | entry(s)<<16 }

// reverse returns the low n bits of c in reverse order.
func reverse(c uint32, n uint) uint32 {
	var r uint32
	for range n {
		r = r<<1 | c&1
		c >>= 1
	}
	return r
}

// build fills *t with the decoding table of the code given by the code
// length of each symbol (0: unused), primary bits wide, the entry of symbol s
// being sym(s) plus its code length. It reports false for a code that is
// over-subscribed or incomplete, except a single code of one bit (which zlib
// writes for a block with one distance) and a code with no symbols at all
// (valid only as a distance code: a block with no matches; any use of it
// then fails as invalid data).
func build(t *[]entry, lengths []uint8, primary uint, sym func(int) entry) bool {
	next, count, maxLen := firstCodes(lengths)
	tab := (*t)[:0]
	size := 1 << primary
	tab = append(tab, make([]entry, size)...)
	defer func() { *t = tab }()
	if maxLen == 0 {
		return true
	}
	// Complete: the codes of the longest length end exactly at 2^maxLen.
	if end := next[maxLen] + uint32(count[maxLen]); end != 1<<maxLen && !(maxLen == 1 && count[1] == 1) {
		return false
	}
	// Subtable widths: for each primary prefix, the longest code through it.
	var subBits [1 << literalsOnlyBits]uint8 // the widest primary
	if maxLen > primary {
		c := next
		for _, n := range lengths {
			if uint(n) > primary {
				rc := reverse(c[n], uint(n))
				c[n]++
				p := rc & (1<<primary - 1)
				subBits[p] = max(subBits[p], n-uint8(primary))
			} else if n != 0 {
				c[n]++
			}
		}
	}
	for s, n := range lengths {
		if n == 0 {
			continue
		}
		l := uint(n)
		rc := reverse(next[l], l)
		next[l]++
		e := sym(s) | entry(l)
		if l <= primary {
			for i := rc; i < uint32(size); i += 1 << l {
				tab[i] = e
			}
			continue
		}
		p := rc & (1<<primary - 1)
		link := tab[p]
		sb := uint(subBits[p])
		if link == 0 {
			link = entryLink | entry(sb) | entry(len(tab))<<16
			tab[p] = link
			tab = append(tab, make([]entry, 1<<sb)...)
		}
		off := uint32(link >> 16)
		for i := rc >> primary; i < 1<<sb; i += 1 << (l - primary) {
			tab[off+i] = e
		}
	}
	return true
}

// pairLiterals turns each primary entry of literal/length table t (built
// from lengths, primary bits wide) whose code is a literal followed, within
// the primary bits, by the complete code of another literal into a pair
// entry: both bytes, the length of both codes (bits 0-4) and the first
// code's length (bits 8-11, for a decoder that has fewer bits than the pair
// needs). One lookup then decodes two literals. The decoder pairs the
// tables of blocks without matches only (Decoder.literals).
//
// It visits only the entries of literal codes short enough to be followed
// by another literal's (a literal's code is at least minLit bits), so a
// block whose literals are long costs nothing here.
func pairLiterals(t []entry, lengths []uint8, primary uint) {
	minLit := uint(maxCodeLen)
	for _, n := range lengths[:256] {
		if n != 0 {
			minLit = min(minLit, uint(n))
		}
	}
	next, _, _ := firstCodes(lengths)
	for s, n8 := range lengths {
		n := uint(n8)
		if n == 0 {
			continue
		}
		rc := reverse(next[n], n)
		next[n]++
		if s >= 256 || n+minLit > primary {
			continue
		}
		// The entries of this code: its bits, then any primary-n bits k,
		// whose own entry (the same table from its start) is the code that
		// follows, if it ends within them. That entry may be a pair already:
		// its first literal is the code.
		for k := uint32(0); k < 1<<(primary-n); k++ {
			e2 := t[k]
			n2 := uint(e2 & 31)
			if e2&entryPair != 0 {
				n2 = uint(e2 >> 8 & 15)
			}
			if e2&(entryLink|kindMask) != kindLiteral || n2 == 0 || n+n2 > primary {
				continue
			}
			t[rc|k<<n] = kindLiteral | entryPair | entry(s)<<16 | (e2>>16&0xff)<<24 | entry(n)<<8 | entry(n+n2)
		}
	}
}
