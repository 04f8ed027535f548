package ffi

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// schemaLines describes every field and enum value of the lkcore.ffi.v1 package, over all the
// schema's files, in the format of testdata/schema-abi-1.2.txt.
func schemaLines() map[string]bool {
	_ = ffipb.File_lkcore_ffi_proto // registers every file of the schema
	out := map[string]bool{}
	enum := func(e protoreflect.EnumDescriptor) {
		for i := 0; i < e.Values().Len(); i++ {
			v := e.Values().Get(i)
			out[fmt.Sprintf("enum %s.%s %d", e.FullName(), v.Name(), v.Number())] = true
		}
	}
	var msg func(protoreflect.MessageDescriptor)
	msg = func(m protoreflect.MessageDescriptor) {
		for i := 0; i < m.Fields().Len(); i++ {
			f := m.Fields().Get(i)
			card := "single"
			if f.Cardinality() == protoreflect.Repeated {
				card = "repeated"
			}
			line := fmt.Sprintf("field %s %d %s %s", f.FullName(), f.Number(), card, f.Kind())
			switch {
			case f.Message() != nil:
				line += " " + string(f.Message().FullName())
			case f.Enum() != nil:
				line += " " + string(f.Enum().FullName())
			}
			out[line] = true
		}
		for i := 0; i < m.Enums().Len(); i++ {
			enum(m.Enums().Get(i))
		}
		for i := 0; i < m.Messages().Len(); i++ {
			msg(m.Messages().Get(i))
		}
	}
	protoregistry.GlobalFiles.RangeFilesByPackage(Schema, func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Messages().Len(); i++ {
			msg(fd.Messages().Get(i))
		}
		for i := 0; i < fd.Enums().Len(); i++ {
			enum(fd.Enums().Get(i))
		}
		return true
	})
	return out
}

// Within ABI 1.x the schema only grows: every field and enum value of ABI 1.2 is still there
// with the same name, number, cardinality and type, whichever file of the schema holds it.
func TestSchemaKeepsABI12(t *testing.T) {
	f, err := os.Open("testdata/schema-abi-1.2.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	now := schemaLines()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		if !now[line] {
			t.Errorf("ABI 1.2 schema element changed or removed: %s", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 400 || len(now) < n {
		t.Fatalf("%d baseline lines, %d now: the baseline or the registry walk is incomplete", n, len(now))
	}
}
