package ffi

import (
	"context"
	"sync"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// Kind is the type of object a handle names. It is encoded in the handle, so type confusion
// is detected without a lookup.
type Kind uint8

// Handle kinds. Values are part of the handle encoding; never renumber.
const (
	KindRoom                  Kind = 1
	KindLocalDataTrack        Kind = 2
	KindDataTrackSubscription Kind = 3
	KindStreamWriter          Kind = 4
	KindStreamReader          Kind = 5
	kindLimit                      = 6 // first invalid kind
)

// String names the kind for error messages.
func (k Kind) String() string {
	switch k {
	case KindRoom:
		return "room"
	case KindLocalDataTrack:
		return "local data track"
	case KindDataTrackSubscription:
		return "data track subscription"
	case KindStreamWriter:
		return "stream writer"
	case KindStreamReader:
		return "stream reader"
	}
	return "unknown kind"
}

// Handle layout (opaque to hosts, documented here only):
//
//	bits 56..63  kind (non-zero, so a valid handle is never 0)
//	bits 32..55  client id (24 bits): a handle of another client is recognised as foreign
//	bits  0..31  serial, per client, starting at 1 and never reused
//
// Serials are never reused, so "dropped" (serial issued, not live) is told apart from "never
// issued" exactly, and a stale handle can never name a newer object.
const (
	kindShift   = 56
	clientShift = 32
	clientMask  = 1<<24 - 1
	serialMask  = 1<<32 - 1
	// MaxClientID is the largest client id a handle can carry.
	MaxClientID = clientMask
)

func makeHandle(kind Kind, client uint32, serial uint32) uint64 {
	return uint64(kind)<<kindShift | uint64(client&clientMask)<<clientShift | uint64(serial)
}

func splitHandle(h uint64) (kind Kind, client uint32, serial uint32) {
	return Kind(h >> kindShift), uint32(h>>clientShift) & clientMask, uint32(h & serialMask)
}

// Release is called once when a handle's object is released (dropped by the host, released
// with its parent, or at client close). It may block up to ctx's deadline (e.g. a room
// disconnecting) and must not call back into the handle table of the same client while
// holding locks of its own object.
type Release func(ctx context.Context)

type entry struct {
	kind     Kind
	obj      any
	parent   uint64
	children map[uint64]struct{}
	release  Release
}

// HandleTable maps a client's handles to objects. Safe for concurrent use; lookups take a
// read lock only.
type HandleTable struct {
	client uint32

	mu     sync.RWMutex
	serial uint32 // last issued serial
	live   map[uint64]*entry
	closed bool
	// kinds records the kind each of the last kindWindow serials was issued with, two serials
	// per byte (serial s in byte ((s-1) mod kindWindow)/2, low nibble for odd s), a ring once
	// full: a handle whose serial was issued but whose kind byte differs is forged and fails
	// with WRONG_HANDLE_TYPE, live or not. Half a byte per handle, at most kindWindow/2 bytes
	// (512 KiB by default) however many handles a long-running client issues. Forging a live
	// handle is recognised at any age (liveUnderOtherKindLocked); a dropped handle older than
	// the window is only known to have been issued, so it is INVALID_HANDLE, and dropping it
	// again succeeds as for any dropped handle.
	kinds      []byte
	kindWindow uint32 // even, > 0
}

// DefaultKindWindow is how many of the most recent serials' kinds a HandleTable remembers.
const DefaultKindWindow = 1 << 20

func (t *HandleTable) recordKindLocked(serial uint32, kind Kind) {
	slot := (serial - 1) % t.kindWindow
	i := int(slot / 2)
	if i >= len(t.kinds) {
		t.kinds = append(t.kinds, 0)
	}
	if slot%2 == 0 {
		t.kinds[i] = t.kinds[i]&0xf0 | byte(kind)
	} else {
		t.kinds[i] = t.kinds[i]&0x0f | byte(kind)<<4
	}
}

// issuedKindLocked returns the kind serial (1..t.serial) was issued with, if it is one of the
// last kindWindow serials.
func (t *HandleTable) issuedKindLocked(serial uint32) (Kind, bool) {
	if t.serial-serial >= t.kindWindow {
		return 0, false
	}
	slot := (serial - 1) % t.kindWindow
	b := t.kinds[slot/2]
	if slot%2 == 0 {
		return Kind(b & 0x0f), true
	}
	return Kind(b >> 4), true
}

// liveUnderOtherKindLocked returns the kind of the live handle with h's client and serial but
// another kind byte, if there is one.
func (t *HandleTable) liveUnderOtherKindLocked(h uint64) (Kind, bool) {
	kind, client, serial := splitHandle(h)
	for k := Kind(1); k < kindLimit; k++ {
		if k == kind {
			continue
		}
		if _, ok := t.live[makeHandle(k, client, serial)]; ok {
			return k, true
		}
	}
	return 0, false
}

// NewHandleTable returns an empty table for the client with the given id (1..MaxClientID).
func NewHandleTable(client uint32) *HandleTable {
	return &HandleTable{client: client & clientMask, live: make(map[uint64]*entry), kindWindow: DefaultKindWindow}
}

// Insert stores obj and returns its new handle. parent (0 = none) must be live: when the
// parent is released, so is the child. release may be nil.
func (t *HandleTable) Insert(kind Kind, obj any, parent uint64, release Release) (uint64, error) {
	if kind == 0 || kind >= kindLimit {
		return 0, Errorf(ffipb.ErrorCode_ERROR_CODE_INTERNAL, "invalid handle kind %d", kind)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, Errorf(ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED, "client is closed")
	}
	var pe *entry
	if parent != 0 {
		if pe = t.live[parent]; pe == nil {
			return 0, Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE, "parent handle is not live")
		}
	}
	if t.serial == serialMask {
		return 0, Errorf(ffipb.ErrorCode_ERROR_CODE_LIMIT_REACHED, "handle space of this client exhausted")
	}
	t.serial++
	t.recordKindLocked(t.serial, kind)
	h := makeHandle(kind, t.client, t.serial)
	t.live[h] = &entry{kind: kind, obj: obj, parent: parent, release: release}
	if pe != nil {
		if pe.children == nil {
			pe.children = make(map[uint64]struct{})
		}
		pe.children[h] = struct{}{}
	}
	return h, nil
}

// notLive explains why a handle that is not live fails; dropped reports whether it was
// issued by this table earlier, with this kind (and has been released since).
func (t *HandleTable) notLive(h uint64) (dropped bool, err error) {
	kind, client, serial := splitHandle(h)
	switch {
	case h == 0:
		return false, Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE, "handle 0 is never valid")
	case client != t.client:
		return false, Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE, "handle belongs to another client")
	case kind == 0 || kind >= kindLimit || serial == 0 || serial > t.serial:
		return false, Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE, "handle was never issued")
	}
	issued, known := t.issuedKindLocked(serial)
	if !known {
		issued, known = t.liveUnderOtherKindLocked(h)
		if !known {
			issued = kind // an old serial, no longer live: its kind is not remembered
		}
	}
	if issued != kind {
		// The serial was issued, but for another kind: the kind byte was altered.
		return false, Errorf(ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE, "handle's kind byte says %s, but it was issued for a %s", kind, issued)
	}
	return true, Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE, "%s handle was dropped or released", kind)
}

// Get returns the object of a live handle of the given kind. Errors: INVALID_HANDLE (zero,
// foreign, never issued, dropped), WRONG_HANDLE_TYPE (a live handle of another kind, or a
// handle whose kind byte differs from the kind it was issued with), CLIENT_CLOSED.
func (t *HandleTable) Get(h uint64, kind Kind) (any, error) {
	t.mu.RLock()
	e := t.live[h]
	closed := t.closed
	var err error
	if e == nil {
		if closed {
			err = Errorf(ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED, "client is closed")
		} else {
			_, err = t.notLive(h)
		}
	}
	t.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if e.kind != kind {
		return nil, Errorf(ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE, "handle names a %s, not a %s", e.kind, kind)
	}
	return e.obj, nil
}

// Kind returns the kind of a live handle.
func (t *HandleTable) Kind(h uint64) (Kind, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if e := t.live[h]; e != nil {
		return e.kind, nil
	}
	if t.closed {
		return 0, Errorf(ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED, "client is closed")
	}
	_, err := t.notLive(h)
	return 0, err
}

// Drop removes a handle and all its descendants and returns their release functions,
// descendants first. Dropping a handle that was already dropped (or released with its
// parent) succeeds with nothing to release; zero, foreign and never-issued handles are
// INVALID_HANDLE; a handle whose kind byte differs from the kind it was issued with is
// WRONG_HANDLE_TYPE (nothing is dropped).
func (t *HandleTable) Drop(h uint64) ([]Release, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.live[h]
	if e == nil {
		if t.closed {
			return nil, nil // everything was released at close
		}
		if dropped, err := t.notLive(h); !dropped {
			return nil, err
		}
		return nil, nil // issued earlier and already released: idempotent
	}
	if pe := t.live[e.parent]; pe != nil {
		delete(pe.children, h)
	}
	var out []Release
	t.removeLocked(h, e, &out)
	return out, nil
}

func (t *HandleTable) removeLocked(h uint64, e *entry, out *[]Release) {
	for c := range e.children {
		if ce := t.live[c]; ce != nil {
			t.removeLocked(c, ce, out)
		}
	}
	delete(t.live, h)
	if e.release != nil {
		*out = append(*out, e.release)
	}
}

// CloseAll releases every handle and refuses new ones. It returns the release functions,
// children before their parents.
func (t *HandleTable) CloseAll() []Release {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var out []Release
	for h, e := range t.live {
		if e.parent == 0 {
			t.removeLocked(h, e, &out)
		}
	}
	// Orphans cannot exist (children are removed with parents), but be thorough.
	for h, e := range t.live {
		t.removeLocked(h, e, &out)
	}
	return out
}

// Len returns the number of live handles.
func (t *HandleTable) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.live)
}
