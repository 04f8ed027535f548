package ffi

import (
	"iter"

	"google.golang.org/protobuf/encoding/protowire"
)

// wireField is one field of an encoded protobuf message: its number, wire type and encoded
// value (the bytes after the tag, length prefix included for BytesType).
type wireField struct {
	num   protowire.Number
	typ   protowire.Type
	value []byte
}

// wireFields yields the fields of the encoded message b in order, stopping at the first that
// does not parse.
func wireFields(b []byte) iter.Seq[wireField] {
	return func(yield func(wireField) bool) {
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return
			}
			m := protowire.ConsumeFieldValue(num, typ, b[n:])
			if m < 0 || !yield(wireField{num, typ, b[n : n+m]}) {
				return
			}
			b = b[n+m:]
		}
	}
}

// lastBytesField returns the last length-delimited field num of the encoded message b (the one
// a decoder keeps), or nil when there is none.
func lastBytesField(b []byte, num protowire.Number) []byte {
	var out []byte
	for f := range wireFields(b) {
		if f.num == num && f.typ == protowire.BytesType {
			out, _ = protowire.ConsumeBytes(f.value)
		}
	}
	return out
}

// lastVarintField returns the last varint field num of the encoded message b.
func lastVarintField(b []byte, num protowire.Number) (v uint64, ok bool) {
	for f := range wireFields(b) {
		if f.num == num && f.typ == protowire.VarintType {
			v, _ = protowire.ConsumeVarint(f.value)
			ok = true
		}
	}
	return v, ok
}
