package ffi

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// owners holds the descriptor of every message of the schema that is an Owned* message or can
// contain one (in a field, or further down). The walk enters no other message, so an event
// that cannot hand anything over (a data packet, a participant update: most events) costs one
// lookup. Computed once from the schema, from the two envelopes the library sends (Event and
// Response) down; never written after package initialisation.
var owners = ownersOf((&ffipb.Event{}).ProtoReflect().Descriptor(), (&ffipb.Response{}).ProtoReflect().Descriptor())

// ownersOf computes owners for the messages reachable from roots: an Owned* message owns; a
// message with a (non-map) field of an owning message owns; repeated until nothing changes, so
// cycles in the schema are handled.
// Descriptors are keyed by identity: the schema has one descriptor per message.
func ownersOf(roots ...protoreflect.MessageDescriptor) map[protoreflect.MessageDescriptor]bool {
	seen := map[protoreflect.MessageDescriptor]bool{}
	var all []protoreflect.MessageDescriptor
	for todo := roots; len(todo) > 0; {
		d := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[d] {
			continue
		}
		seen[d] = true
		all = append(all, d)
		for i, fields := 0, d.Fields(); i < fields.Len(); i++ {
			if m := fields.Get(i).Message(); m != nil {
				todo = append(todo, m)
			}
		}
	}
	out := map[protoreflect.MessageDescriptor]bool{}
	for changed := true; changed; {
		changed = false
		for _, d := range all {
			if out[d] {
				continue
			}
			owns := isOwned(d)
			for i, fields := 0, d.Fields(); i < fields.Len() && !owns; i++ {
				f := fields.Get(i)
				owns = f.Message() != nil && !f.IsMap() && out[f.Message()]
			}
			if owns {
				out[d] = true
				changed = true
			}
		}
	}
	return out
}

// isOwned reports whether d is an Owned* message: it transfers its uint64 handle.
func isOwned(d protoreflect.MessageDescriptor) bool {
	f := d.Fields().ByName("handle")
	return strings.HasPrefix(string(d.Name()), "Owned") && f != nil && f.Kind() == protoreflect.Uint64Kind
}

// The oneofs whose set member the walks below start at (schema descriptors, read-only).
var (
	completionResult = (&ffipb.Completion{}).ProtoReflect().Descriptor().Oneofs().ByName("result")
	roomEventMessage = (&ffipb.RoomEvent{}).ProtoReflect().Descriptor().Oneofs().ByName("message")
)

// completionOwnedHandles lists what a completion's result hands over (Completion.owned_handles): the walk starts at the set
// member of the result oneof rather than at each of the completion's fields.
func completionOwnedHandles(c *ffipb.Completion) []uint64 {
	return oneofOwnedHandles(c.ProtoReflect(), completionResult)
}

// roomEventOwnedHandles lists what a room event hands over (RoomEvent.owned_handles, ABI 1.11):
// the walk starts at the set member of its message oneof.
func roomEventOwnedHandles(e *ffipb.RoomEvent) []uint64 {
	return oneofOwnedHandles(e.ProtoReflect(), roomEventMessage)
}

// oneofOwnedHandles is appendOwned of the set member of m's oneof o.
func oneofOwnedHandles(m protoreflect.Message, o protoreflect.OneofDescriptor) []uint64 {
	f := m.WhichOneof(o)
	if f == nil || f.Message() == nil || !owners[f.Message()] {
		return nil
	}
	return appendOwned(nil, m.Get(f).Message())
}

// appendOwned appends the handle of every Owned* message inside m, in the order they appear:
// the handles m transfers to the host. It follows the schema rather than a list of result or
// event types, so a type added later is covered without a change here.
func appendOwned(out []uint64, m protoreflect.Message) []uint64 {
	d := m.Descriptor()
	fields := d.Fields()
	if isOwned(d) {
		if h := m.Get(fields.ByName("handle")).Uint(); h != 0 {
			out = append(out, h)
		}
	}
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Message() == nil || f.IsMap() || !owners[f.Message()] || !m.Has(f) {
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
