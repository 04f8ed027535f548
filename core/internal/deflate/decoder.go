package deflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Source gives a Decoder its input.
type Source interface {
	// Next returns the next piece of input, waiting for it if needed, or
	// io.EOF after the last piece. Other errors end decoding and are
	// returned by Read as they are. The Decoder reads a piece until it asks
	// for the next one.
	Next() ([]byte, error)
}

// ErrCorrupt is wrapped by the errors of Read for input that is not valid
// DEFLATE data. Input that ends before the final block gives
// io.ErrUnexpectedEOF.
var ErrCorrupt = errors.New("deflate: invalid data")

const (
	windowSize = 1 << 15 // the farthest a match reaches back
	outSize    = 1 << 15 // output decoded between two slides of the window
	maxMatch   = 258
)

type state uint8

const (
	atHeader   state = iota // at a block boundary
	inStored                // copying a stored block
	inHuffman               // decoding a compressed block
	inLiterals              // decoding a compressed block without matches
	done                    // after the final block
)

// Decoder decodes one DEFLATE stream at a time; Reset starts the next. It
// is not safe for concurrent use.
type Decoder struct {
	src  Source
	in   []byte // the input piece being read
	ipos int    // next unread byte of in
	eof  bool   // src returned io.EOF

	// bits holds nbits unread input bits, the next one lowest. The bits
	// above them are zero or the next bytes of in (a refill loads eight
	// bytes and counts the whole ones), so they are never wrong, only
	// not yet counted.
	bits  uint64
	nbits uint

	// buf[:wpos] is output history, buf[rpos:wpos] output not yet read.
	buf        []byte
	rpos, wpos int

	st         state
	final      bool // the current block is the last
	storedLeft int
	err        error

	lit, dist         []entry // the current block's tables
	litBits           uint    // lit's primary width
	dynLit, dynDist   []entry // storage for a dynamic block's tables
	fixedLit, fixDist []entry // built on the first fixed block
	clen              []entry
	lengths           [286 + 30]uint8
}

// NewDecoder returns a Decoder reading src.
func NewDecoder(src Source) *Decoder {
	d := &Decoder{buf: make([]byte, windowSize+outSize+maxMatch)}
	d.Reset(src)
	return d
}

// Reset makes d decode a new stream read from src, keeping its buffers.
func (d *Decoder) Reset(src Source) {
	*d = Decoder{
		src: src, buf: d.buf,
		dynLit: d.dynLit, dynDist: d.dynDist, fixedLit: d.fixedLit, fixDist: d.fixDist, clen: d.clen,
	}
}

// Read implements io.Reader: it returns decoded bytes, io.EOF after the
// final block, io.ErrUnexpectedEOF if the input ends before it, an error
// wrapping ErrCorrupt for invalid input, or the error of the Source. It
// returns the output it has before waiting for more input.
func (d *Decoder) Read(p []byte) (int, error) {
	for {
		if d.rpos < d.wpos {
			n := copy(p, d.buf[d.rpos:d.wpos])
			d.rpos += n
			return n, nil
		}
		if d.err != nil {
			return 0, d.err
		}
		if d.st == done {
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		if d.wpos > len(d.buf)-maxMatch {
			n := copy(d.buf, d.buf[d.wpos-windowSize:d.wpos])
			d.wpos, d.rpos = n, n
		}
		d.err = d.decode()
	}
}

// Trailing reports whether input was read beyond the final block: bytes
// left in the piece at hand or in the bit buffer. It is meaningful after
// Read returned io.EOF; later pieces of the Source are not looked at.
func (d *Decoder) Trailing() bool { return d.nbits >= 8 || d.ipos < len(d.in) }

func corrupt(what string) error { return fmt.Errorf("%w: %s", ErrCorrupt, what) }

// decode decodes blocks until the window is nearly full, the stream ends,
// or more input is needed while output is waiting to be read.
func (d *Decoder) decode() error {
	start := d.wpos
	for d.wpos <= len(d.buf)-maxMatch {
		switch d.st {
		case done:
			return nil
		case atHeader:
			if d.final {
				d.st = done
				return nil
			}
			if ok, err := d.fill(3, d.wpos > start); !ok {
				return err
			}
			h := d.take(3)
			d.final = h&1 == 1
			switch h >> 1 {
			case 0:
				if err := d.storedHeader(); err != nil {
					return err
				}
			case 1:
				d.useFixed()
			case 2:
				if err := d.dynamicHeader(); err != nil {
					return err
				}
			default:
				return corrupt("reserved block type")
			}
		case inStored:
			if stop, err := d.copyStored(start); stop || err != nil {
				return err
			}
		case inHuffman:
			if stop, err := d.huffman(start); stop || err != nil {
				return err
			}
		case inLiterals:
			if stop, err := d.literals(start); stop || err != nil {
				return err
			}
		}
	}
	return nil
}

// fill loads input until nbits >= n. At the end of the piece at hand it
// returns false without waiting when mayStop (output is waiting to be
// read), else it waits for the next piece.
func (d *Decoder) fill(n uint, mayStop bool) (bool, error) {
	for d.nbits < n {
		if d.ipos < len(d.in) {
			d.bits |= uint64(d.in[d.ipos]) << d.nbits
			d.ipos++
			d.nbits += 8
			continue
		}
		if mayStop {
			return false, nil
		}
		if err := d.next(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// need is fill that always waits for input.
func (d *Decoder) need(n uint) error {
	_, err := d.fill(n, false)
	return err
}

// take consumes and returns the next n (<= nbits) bits.
func (d *Decoder) take(n uint) uint32 {
	v := uint32(d.bits & (1<<n - 1))
	d.bits >>= n
	d.nbits -= n
	return v
}

// next moves to the Source's next non-empty piece.
func (d *Decoder) next() error {
	if d.eof {
		return io.ErrUnexpectedEOF
	}
	for {
		p, err := d.src.Next()
		if err == io.EOF {
			d.eof = true
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if len(p) > 0 {
			d.in, d.ipos = p, 0
			return nil
		}
	}
}

func (d *Decoder) storedHeader() error {
	d.take(d.nbits % 8) // to the byte boundary
	if err := d.need(32); err != nil {
		return err
	}
	n := d.take(16)
	if d.take(16) != ^n&0xffff {
		return corrupt("stored block length does not match its complement")
	}
	d.storedLeft, d.st = int(n), inStored
	return nil
}

// copyStored copies a stored block's bytes to the window: whole bytes left
// in the bit buffer first, then from the input pieces.
func (d *Decoder) copyStored(start int) (stop bool, err error) {
	for d.storedLeft > 0 {
		room := len(d.buf) - d.wpos
		if room == 0 {
			return true, nil
		}
		if d.nbits >= 8 {
			d.buf[d.wpos] = byte(d.take(8))
			d.wpos++
			d.storedLeft--
			continue
		}
		// Bytes are taken from the piece directly now: the bit buffer is
		// empty (a stored block is byte-aligned) and must not keep the
		// look-ahead of a refill.
		d.bits = 0
		if d.ipos == len(d.in) {
			if d.wpos > start {
				return true, nil
			}
			if err := d.next(); err != nil {
				return true, err
			}
		}
		n := copy(d.buf[d.wpos:d.wpos+min(room, d.storedLeft)], d.in[d.ipos:])
		d.ipos += n
		d.wpos += n
		d.storedLeft -= n
	}
	d.st = atHeader
	return false, nil
}

func (d *Decoder) useFixed() {
	if d.fixedLit == nil {
		var l [288]uint8
		for i := range l {
			switch {
			case i < 144:
				l[i] = 8
			case i < 256:
				l[i] = 9
			case i < 280:
				l[i] = 7
			default:
				l[i] = 8
			}
		}
		build(&d.fixedLit, l[:], litPrimaryBits, litLenEntry) // literals of 8 and 9 bits: no pairs
		var dl [32]uint8
		for i := range dl {
			dl[i] = 5
		}
		build(&d.fixDist, dl[:], distPrimaryBits, distEntry)
	}
	d.lit, d.litBits, d.dist, d.st = d.fixedLit, litPrimaryBits, d.fixDist, inHuffman
}

// dynamicHeader reads the code lengths of a dynamic block and builds its
// tables (RFC 1951 section 3.2.7).
func (d *Decoder) dynamicHeader() error {
	if err := d.need(14); err != nil {
		return err
	}
	nlit := int(d.take(5)) + 257
	ndist := int(d.take(5)) + 1
	nclen := int(d.take(4)) + 4
	if nlit > 286 || ndist > 30 {
		return corrupt("too many literal/length or distance codes")
	}
	order := [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
	var cl [19]uint8
	for i := range nclen {
		if err := d.need(3); err != nil {
			return err
		}
		cl[order[i]] = uint8(d.take(3))
	}
	if !build(&d.clen, cl[:], clenPrimaryBits, clenEntry) {
		return corrupt("invalid code-length code")
	}
	lengths := d.lengths[:nlit+ndist]
	for i := 0; i < len(lengths); {
		var e entry
		for {
			e = d.clen[d.bits&(1<<clenPrimaryBits-1)]
			n := uint(e & 31)
			if n == 0 {
				return corrupt("invalid code-length symbol")
			}
			if n <= d.nbits {
				d.take(n)
				break
			}
			if err := d.need(d.nbits + 1); err != nil {
				return err
			}
		}
		sym := uint8(e >> 16)
		if sym < 16 {
			lengths[i] = sym
			i++
			continue
		}
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 {
				return corrupt("repeated code length without a previous one")
			}
			if err := d.need(2); err != nil {
				return err
			}
			rep, v = 3+int(d.take(2)), lengths[i-1]
		case 17:
			if err := d.need(3); err != nil {
				return err
			}
			rep = 3 + int(d.take(3))
		default:
			if err := d.need(7); err != nil {
				return err
			}
			rep = 11 + int(d.take(7))
		}
		if i+rep > len(lengths) {
			return corrupt("code lengths repeated past the end")
		}
		for range rep {
			lengths[i] = v
			i++
		}
	}
	litBits, st := uint(literalsOnlyBits), inLiterals
	for _, n := range lengths[257:nlit] {
		if n != 0 {
			litBits, st = litPrimaryBits, inHuffman
			break
		}
	}
	if !build(&d.dynLit, lengths[:nlit], litBits, litLenEntry) ||
		!build(&d.dynDist, lengths[nlit:], distPrimaryBits, distEntry) {
		return corrupt("invalid Huffman code")
	}
	if st == inLiterals {
		pairLiterals(d.dynLit, lengths[:nlit], litBits)
	}
	d.lit, d.litBits, d.dist, d.st = d.dynLit, litBits, d.dynDist, st
	return nil
}

// huffman decodes a compressed block's symbols into the window until the
// block ends (stop false), the window is nearly full, or the input runs
// out while output is waiting (stop true).
func (d *Decoder) huffman(start int) (stop bool, err error) {
	bits, nbits := d.bits, d.nbits
	in, ipos := d.in, d.ipos
	buf, wpos := d.buf, d.wpos
	lit, dist := d.lit, d.dist
	limit := len(buf) - maxMatch
	for wpos <= limit {
		// A literal needs at most 15 bits; a length code, its extra bits
		// and a distance code with its extra bits at most 48 (15+5+15+13).
		// A refill leaves 56 or more.
		if nbits < 15 {
			if len(in)-ipos < 8 {
				goto slow
			}
			bits, nbits, ipos = refill(bits, nbits, in, ipos)
		}
		{
			e := lookup(lit, bits, litPrimaryBits)
			n := uint(e & 31)
			if e&kindMask == kindLiteral && n != 0 {
				bits >>= n
				nbits -= n
				buf[wpos] = byte(e >> 16)
				wpos++
				continue
			}
			if nbits < 48 {
				if len(in)-ipos < 8 {
					goto slow
				}
				bits, nbits, ipos = refill(bits, nbits, in, ipos)
			}
			if n == 0 || e&kindMask != kindBase {
				// The end of the block, or invalid data.
				d.bits, d.nbits, d.ipos, d.wpos = bits, nbits, ipos, wpos
				_, _, err := d.symbol(e)
				return false, err
			}
			x := uint(e >> 8 & 15)
			length := int(e>>16) + int(bits>>n&(1<<x-1))
			bits >>= n + x
			nbits -= n + x
			de := lookup(dist, bits, distPrimaryBits)
			dn := uint(de & 31)
			if dn == 0 || de&kindMask != kindBase {
				return false, corrupt("invalid distance code")
			}
			dx := uint(de >> 8 & 15)
			dd := int(de>>16) + int(bits>>dn&(1<<dx-1))
			bits >>= dn + dx
			nbits -= dn + dx
			if dd > wpos {
				return false, corrupt("match distance before the start of the output")
			}
			wpos = copyMatch(buf, wpos, dd, length)
			continue
		}
	slow:
		// The end of the piece: one symbol at a time, with exactly the
		// bits it needs.
		d.bits, d.nbits, d.ipos, d.wpos = bits, nbits, ipos, wpos
		if stop, end, err := d.slowSymbol(start); stop || end || err != nil {
			return stop, err
		}
		bits, nbits, in, ipos, wpos = d.bits, d.nbits, d.in, d.ipos, d.wpos
	}
	d.bits, d.nbits, d.ipos, d.wpos = bits, nbits, ipos, wpos
	return true, nil
}

// literals is huffman for a block whose code has no length symbols
// (Huffman-only data): a wider table whose entries can be pairs of literals
// (pairLiterals), and no matches to handle. A single literal's entry has a
// zero second byte, written past the output and replaced by the next write.
func (d *Decoder) literals(start int) (stop bool, err error) {
	bits, nbits := d.bits, d.nbits
	in, ipos := d.in, d.ipos
	buf, wpos := d.buf, d.wpos
	lit := d.lit
	limit := len(buf) - maxMatch
	for wpos <= limit {
		if nbits < 15 {
			if len(in)-ipos < 8 {
				goto slow
			}
			bits, nbits, ipos = refill(bits, nbits, in, ipos)
		}
		{
			e := lookup(lit, bits, literalsOnlyBits)
			n := uint(e & 31)
			if e&kindMask != kindLiteral || n == 0 {
				// The end of the block, or invalid data.
				d.bits, d.nbits, d.ipos, d.wpos = bits, nbits, ipos, wpos
				_, _, err := d.symbol(e)
				return false, err
			}
			bits >>= n
			nbits -= n
			buf[wpos] = byte(e >> 16)
			buf[wpos+1] = byte(e >> 24)
			wpos += 1 + int(e>>6&1)
			continue
		}
	slow:
		d.bits, d.nbits, d.ipos, d.wpos = bits, nbits, ipos, wpos
		if stop, end, err := d.slowSymbol(start); stop || end || err != nil {
			return stop, err
		}
		bits, nbits, in, ipos, wpos = d.bits, d.nbits, d.in, d.ipos, d.wpos
	}
	d.bits, d.nbits, d.ipos, d.wpos = bits, nbits, ipos, wpos
	return true, nil
}

// copyMatch copies length bytes from dist bytes back to buf[w:] and returns
// the end of the copy. An overlapping match repeats its last dist bytes: the
// source grows with each copy.
func copyMatch(buf []byte, w, dist, length int) int {
	src, end := w-dist, w+length
	for w < end {
		w += copy(buf[w:end], buf[src:w])
	}
	return end
}

// slowSymbol decodes one symbol from the last bytes of the piece at hand,
// moving to the next piece when the symbol needs more bits — unless output
// is waiting to be read, then it stops instead.
func (d *Decoder) slowSymbol(start int) (stop, end bool, err error) {
	for {
		for d.nbits <= 56 && d.ipos < len(d.in) {
			d.bits |= uint64(d.in[d.ipos]) << d.nbits
			d.ipos++
			d.nbits += 8
		}
		e := lookup(d.lit, d.bits, d.litBits)
		ok, end, err := d.symbol(e)
		if ok || err != nil {
			return false, end, err
		}
		if d.wpos > start {
			return true, false, nil
		}
		if err := d.next(); err != nil {
			return false, false, err
		}
	}
}

// symbol applies literal/length entry e at the head of the bit buffer:
// writes a literal or copies a match to the window, or ends the block. It
// returns ok false, consuming nothing, when the symbol needs more bits than
// the buffer has.
func (d *Decoder) symbol(e entry) (ok, end bool, err error) {
	n := uint(e & 31)
	if n == 0 {
		return false, false, corrupt("invalid literal/length code")
	}
	if e&entryPair != 0 && n > d.nbits {
		// The second literal's bits have not arrived (or are not there):
		// the first alone, with its own code length.
		e, n = e&^entryPair, uint(e>>8&15)
	}
	if n > d.nbits {
		return false, false, nil
	}
	switch e & kindMask {
	case kindLiteral:
		d.take(n)
		d.buf[d.wpos] = byte(e >> 16)
		if e&entryPair != 0 {
			d.buf[d.wpos+1] = byte(e >> 24)
			d.wpos++
		}
		d.wpos++
		return true, false, nil
	case kindEnd:
		d.take(n)
		d.st = atHeader
		return true, true, nil
	case kindInvalid:
		return false, false, corrupt("reserved literal/length symbol")
	}
	used := n + uint(e>>8&15)
	if used > d.nbits {
		return false, false, nil
	}
	length := int(e>>16) + int(d.bits>>n&(1<<(e>>8&15)-1))
	rest := d.bits >> used
	de := lookup(d.dist, rest, distPrimaryBits)
	dn := uint(de & 31)
	if dn == 0 {
		return false, false, corrupt("invalid distance code")
	}
	if used+dn > d.nbits {
		return false, false, nil
	}
	if de&kindMask != kindBase {
		return false, false, corrupt("reserved distance symbol")
	}
	dx := uint(de >> 8 & 15)
	if used+dn+dx > d.nbits {
		return false, false, nil
	}
	dist := int(de>>16) + int(rest>>dn&(1<<dx-1))
	if dist > d.wpos {
		return false, false, corrupt("match distance before the start of the output")
	}
	d.take(used + dn + dx)
	d.wpos = copyMatch(d.buf, d.wpos, dist, length)
	return true, false, nil
}

// refill adds to the bit buffer the whole bytes of the next eight of in at
// ipos (at least eight must remain), leaving 56 to 63 bits.
func refill(bits uint64, nbits uint, in []byte, ipos int) (uint64, uint, int) {
	bits |= binary.LittleEndian.Uint64(in[ipos:]) << nbits
	return bits, nbits | 56, ipos + int(63-nbits)>>3
}

// lookup is the entry of table t (primary bits wide) for the code at the
// head of bits, following a link to a subtable.
func lookup(t []entry, bits uint64, primary uint) entry {
	e := t[bits&(1<<primary-1)]
	if e&entryLink != 0 {
		e = t[e>>16+uint32(bits>>primary)&(1<<(e&15)-1)]
	}
	return e
}
