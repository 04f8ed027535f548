package room

import (
	"fmt"
	"strings"
	"testing"
)

// TestSchemaAccounting: the room's kept definitions are counted once per schema (a new
// definition replaces the old one's bytes), definitions being stored count too, and the bound
// refuses what would exceed it.
func TestSchemaAccounting(t *testing.T) {
	var s schemaState
	def := func(name, enc string, n int) *definedSchema {
		return newDefinedSchema(schemaProto(&DataTrackSchema{Name: name, Encoding: enc}), strings.Repeat("d", n))
	}
	s.keep(def("pose", "protobuf", 100))
	s.keep(def("pose", "protobuf", 40)) // replaces
	s.keep(def("pose", "json_schema", 10))
	if want := (4 + 8 + 40) + (4 + 11 + 10); s.bytes != want || len(s.defined) != 2 {
		t.Fatalf("bytes %d (want %d), %d kept", s.bytes, want, len(s.defined))
	}
	if got, want := s.bytesWith(def("pose", "protobuf", 1)), s.bytes-40+1; got != want {
		t.Fatalf("replacing: %d, want %d", got, want)
	}
	s.requests = map[uint32]*blobRequest{1: {define: def("imu", "", 1000)}, 2: {}}
	if got, want := s.bytesWith(def("x", "", 1)), s.bytes+2+1003; got != want {
		t.Fatalf("with one being stored: %d, want %d", got, want)
	}
	// Filled with the largest definitions: 20 fit beside the others in 1 MiB, the 21st does not.
	n := 0
	for ; ; n++ {
		d := def(fmt.Sprint("n", n), "", MaxSchemaDefinitionSize)
		if s.bytesWith(d) > maxDefinedSchemaBytes {
			break
		}
		s.keep(d)
	}
	if n != 20 || s.bytes > maxDefinedSchemaBytes {
		t.Fatalf("%d large definitions kept, %d bytes", n, s.bytes)
	}
}
