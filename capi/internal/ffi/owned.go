package ffi

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// ownedHandles returns the handle of every Owned* message inside m (a completion's result),
// in the order they appear: the handles the message transfers to the host
// (Completion.owned_handles). It follows the schema rather than a list of result types, so a
// result type added later is covered without a change here.
func ownedHandles(m protoreflect.Message) []uint64 { return appendOwned(nil, m) }

// completionOwnedHandles is ownedHandles of a completion's result: the walk starts at the set
// member of the result oneof rather than at each of the completion's fields.
func completionOwnedHandles(c *ffipb.Completion) []uint64 {
	return oneofOwnedHandles(c.ProtoReflect(), "result")
}

// roomEventOwnedHandles is ownedHandles of a room event (RoomEvent.owned_handles, ABI 1.11):
// the walk starts at the set member of its message oneof.
func roomEventOwnedHandles(e *ffipb.RoomEvent) []uint64 {
	return oneofOwnedHandles(e.ProtoReflect(), "message")
}

// oneofOwnedHandles is ownedHandles of the set member of m's oneof named name.
func oneofOwnedHandles(m protoreflect.Message, name protoreflect.Name) []uint64 {
	f := m.WhichOneof(m.Descriptor().Oneofs().ByName(name))
	if f == nil || f.Message() == nil {
		return nil
	}
	return appendOwned(nil, m.Get(f).Message())
}

func appendOwned(out []uint64, m protoreflect.Message) []uint64 {
	d := m.Descriptor()
	fields := d.Fields()
	if strings.HasPrefix(string(d.Name()), "Owned") {
		if f := fields.ByName("handle"); f != nil && f.Kind() == protoreflect.Uint64Kind {
			if h := m.Get(f).Uint(); h != 0 {
				out = append(out, h)
			}
		}
	}
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Message() == nil || f.IsMap() || !m.Has(f) {
			continue
		}
		if f.IsList() {
			for j, l := 0, m.Get(f).List(); j < l.Len(); j++ {
				out = appendOwned(out, l.Get(j).Message())
			}
			continue
		}
		out = appendOwned(out, m.Get(f).Message())
	}
	return out
}
