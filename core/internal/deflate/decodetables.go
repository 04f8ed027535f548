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
//	bits 8-11  extra bits that follow the code (lengths and distances)
//	bits 12-13 kind: literal, length or distance, end of block, invalid symbol
//	bits 16-31 value: the literal byte, or the base length or distance
type entry = uint32

const (
	entryLink = 1 << 5

	kindShift   = 12
	kindLiteral = 0 << kindShift
	kindBase    = 1 << kindShift // a length or a distance: value + extra bits
	kindEnd     = 2 << kindShift
	kindInvalid = 3 << kindShift // a symbol the format reserves (286, 287; distances 30, 31)
	kindMask    = 3 << kindShift

	maxCodeLen = 15

	litPrimaryBits  = 10
	distPrimaryBits = 8
	clenPrimaryBits = 7 // code-length codes are at most 7 bits: one level
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
	var count [maxCodeLen + 1]int
	maxLen := uint(0)
	for _, n := range lengths {
		if n != 0 {
			count[n]++
			maxLen = max(maxLen, uint(n))
		}
	}
	tab := (*t)[:0]
	size := 1 << primary
	tab = append(tab, make([]entry, size)...)
	defer func() { *t = tab }()
	if maxLen == 0 {
		return true
	}
	var next [maxCodeLen + 2]uint32
	code := uint32(0)
	for n := 1; n <= maxCodeLen; n++ {
		code = (code + uint32(count[n-1])) << 1
		next[n] = code
	}
	// Complete: the codes of the longest length end exactly at 2^maxLen.
	if end := next[maxLen] + uint32(count[maxLen]); end != 1<<maxLen && !(maxLen == 1 && count[1] == 1) {
		return false
	}
	// Subtable widths: for each primary prefix, the longest code through it.
	var subBits [1 << litPrimaryBits]uint8 // primary is at most litPrimaryBits
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
