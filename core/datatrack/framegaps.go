package datatrack

// frameGaps counts the frames missing between consecutive delivered frames from the
// publisher's 16-bit frame numbers (docs/protocol.md, Frame loss accounting). A gap is counted
// when the frame after it arrives. The channel is unordered, so a frame counted missing can
// still arrive: it is delivered, and the count is taken back from the next gap (the running
// total is ahead by at most the late frames not yet taken back). The zero value expects any
// number.
type frameGaps struct {
	last    uint16 // the highest frame number seen
	seen    bool
	missing uint64 // bit k (1..63): frame last-k was counted missing and has not arrived
	credit  uint64 // frames counted missing that arrived after all, not yet taken back
	far     uint16 // a frame far behind last, seen just before (valid when hasFar)
	hasFar  bool
}

// window is how far behind the highest frame number a frame counts as late (overtaken on the
// unordered channel); further behind it is either very late or the first of a numbering that
// started again, which the frame after it tells apart.
const window = 64

// next returns how many frames are newly known to be missing before frame n.
func (g *frameGaps) next(n uint16) uint64 {
	if !g.seen {
		g.seen, g.last = true, n
		return 0
	}
	if g.hasFar {
		g.hasFar = false
		if d := n - g.far; d != 0 && d < window && g.last-n >= window {
			// Two numbers in a row far behind: the numbering started again at g.far.
			g.last, g.missing, g.credit = g.far, 0, 0
		}
	}
	d := n - g.last
	switch {
	case d == 0: // a duplicate
		return 0
	case d < 1<<15: // ahead: d-1 frames missing in between
		gap := uint64(d - 1)
		g.missing <<= d // 0 for d >= 64
		g.missing |= (uint64(1)<<min(gap, window-1) - 1) << 1
		g.last = n
		taken := min(gap, g.credit)
		g.credit -= taken
		return gap - taken
	}
	if k := g.last - n; k < window { // late: overtaken by later frames
		if g.missing&(uint64(1)<<k) != 0 {
			g.missing &^= uint64(1) << k
			g.credit++
		}
		return 0
	}
	g.far, g.hasFar = n, true
	return 0
}
