package deflate

import "slices"

// codeLengths sets lens[s] to the length of symbol s's code in a Huffman
// code for the symbol frequencies freq, no code longer than limit bits
// (freq and lens have the same length, at most maxSymbols and at most
// 1<<limit, so that such a code exists). Unused symbols
// get 0; a single used symbol gets a one-bit code. The code is complete
// (decoders reject incomplete codes but the single one-bit code).
//
// An optimal code can be longer than limit for very skewed frequencies;
// then the frequencies are halved (keeping every used one at least 1) and
// the code rebuilt, which ends at the latest when all are 1 (a balanced
// code of 9 bits for 286 symbols).
func codeLengths(freq []uint32, lens []uint8, limit int) {
	// Each used symbol as frequency<<16 | symbol: sorting the keys orders
	// the symbols by frequency, then by symbol.
	var keys [maxSymbols]uint64
	n := 0
	for s, f := range freq {
		lens[s] = 0
		if f > 0 {
			keys[n] = uint64(f)<<16 | uint64(s)
			n++
		}
	}
	switch n {
	case 0:
		return
	case 1:
		lens[keys[0]&0xffff] = 1
		return
	}
	used := keys[:n]
	var depth [maxSymbols]uint8
	for {
		slices.Sort(used)
		if depthsWithin(used, depth[:n], limit) {
			break
		}
		for i, k := range used {
			used[i] = (k>>17|1)<<16 | k&0xffff
		}
	}
	for i, k := range used {
		lens[k&0xffff] = depth[i]
	}
}

const maxSymbols = 286

// depthsWithin builds the Huffman tree of the sorted leaves (at least two,
// frequency<<16 | symbol) with the two-queue method, sets each leaf's depth
// and reports whether none is deeper than limit.
func depthsWithin(leaves []uint64, depths []uint8, limit int) bool {
	n := len(leaves)
	// Nodes 0..n-1 are the leaves, n..2n-2 the internal nodes in the order
	// they are made, which is also the order of their weights.
	var weight [2 * maxSymbols]uint64
	var parent [2 * maxSymbols]int16
	for i, k := range leaves {
		weight[i] = k >> 16
	}
	nextLeaf, nextInner := 0, n
	pick := func(made int) int {
		if nextLeaf < n && (nextInner >= made || weight[nextLeaf] <= weight[nextInner]) {
			nextLeaf++
			return nextLeaf - 1
		}
		nextInner++
		return nextInner - 1
	}
	for k := n; k < 2*n-1; k++ {
		a := pick(k)
		b := pick(k)
		weight[k] = weight[a] + weight[b]
		parent[a], parent[b] = int16(k), int16(k)
	}
	var depth [2 * maxSymbols]uint8
	ok := true
	for k := 2*n - 3; k >= 0; k-- {
		d := depth[parent[k]] + 1
		if int(d) > limit {
			ok = false
			d = uint8(limit) // keeps depths in range; the caller rebuilds
		}
		depth[k] = d
	}
	copy(depths, depth[:n])
	return ok
}

// firstCodes returns the first canonical code of each code length (RFC 1951
// section 3.2.2: codes of one length are consecutive, in symbol order, and
// follow the shorter ones), the number of codes of each length and the
// longest length.
func firstCodes(lengths []uint8) (next [maxCodeLen + 2]uint32, count [maxCodeLen + 1]int, maxLen uint) {
	for _, n := range lengths {
		if n != 0 {
			count[n]++
			maxLen = max(maxLen, uint(n))
		}
	}
	code := uint32(0)
	for n := 1; n <= maxCodeLen; n++ {
		code = (code + uint32(count[n-1])) << 1
		next[n] = code
	}
	return next, count, maxLen
}
