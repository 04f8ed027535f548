package ffi

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// ownedHandles returns the handle of every Owned* message inside m (a completion's result),
// in the order they appear: the handles the message transfers to the host
// (Completion.owned_handles). It follows the schema rather than a list of result types, so a
// result type added later is covered without a change here.
func ownedHandles(m protoreflect.Message) []uint64 {
	var out []uint64
	var walk func(protoreflect.Message)
	walk = func(m protoreflect.Message) {
		d := m.Descriptor()
		if strings.HasPrefix(string(d.Name()), "Owned") {
			if f := d.Fields().ByName("handle"); f != nil && f.Kind() == protoreflect.Uint64Kind {
				if h := m.Get(f).Uint(); h != 0 {
					out = append(out, h)
				}
			}
		}
		m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case f.Message() == nil || f.IsMap():
			case f.IsList():
				for i, l := 0, v.List(); i < l.Len(); i++ {
					walk(l.Get(i).Message())
				}
			default:
				walk(v.Message())
			}
			return true
		})
	}
	walk(m)
	return out
}
