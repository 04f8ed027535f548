package e2ee

import (
	"fmt"
	"sync"
	"sync/atomic"
)

const (
	// DefaultKeyRingSize is the number of key slots per ring (JS keyringSize,
	// Rust key_ring_size).
	DefaultKeyRingSize = 16
	// MaxKeyRingSize is the largest ring: key indices travel as one byte in
	// data-track frames.
	MaxKeyRingSize = 256
	// RustDefaultRatchetWindow is the Rust SDK's default ratchet window.
	RustDefaultRatchetWindow = 16
	// JSDefaultRatchetWindow is the JS default ratchet window for
	// per-participant keys (its shared-key provider uses 0).
	JSDefaultRatchetWindow = 8
)

// Options configures a key provider. The zero value is usable: PBKDF2, salt
// "LKFrameEncryptionKey", 16 key slots, no auto-ratchet.
type Options struct {
	// KDF selects PBKDF2 (default) or HKDF.
	KDF KDF
	// RatchetSalt is the KDF salt; nil means DefaultRatchetSalt.
	RatchetSalt []byte
	// RatchetWindowSize is the number of successive ratchets a receiver tries
	// when authentication fails (0 = none, the JS shared-key behaviour; JS
	// per-participant default 8, Rust default 16). At most 256.
	RatchetWindowSize int
	// KeyRingSize is the number of key slots (0 = DefaultKeyRingSize, at most
	// MaxKeyRingSize). Key indices are 0..KeyRingSize-1.
	KeyRingSize int
	// OnKeyRatcheted, if set, is called after a key was replaced by its
	// ratchet (auto-ratchet on receive, or RatchetKey). identity is "" for a
	// SharedKeyProvider. It runs on the caller's goroutine (possibly a
	// receive path) and must not block.
	OnKeyRatcheted func(identity string, index uint8)

	// iterations overrides PBKDF2Iterations (tests only).
	iterations int
}

// normalize validates o and returns the derivation parameters and ring size.
func (o *Options) normalize() (*kdfParams, int, error) {
	size := o.KeyRingSize
	if size == 0 {
		size = DefaultKeyRingSize
	}
	if size < 1 || size > MaxKeyRingSize {
		return nil, 0, fmt.Errorf("%w: key ring size %d not in 1..%d", ErrInvalidOptions, size, MaxKeyRingSize)
	}
	if o.RatchetWindowSize < 0 || o.RatchetWindowSize > 256 {
		return nil, 0, fmt.Errorf("%w: ratchet window %d not in 0..256", ErrInvalidOptions, o.RatchetWindowSize)
	}
	iter := o.iterations
	if iter == 0 {
		iter = PBKDF2Iterations
	}
	p, err := newKDFParams(o.KDF, o.RatchetSalt, iter)
	if err != nil {
		return nil, 0, err
	}
	return p, size, nil
}

// KeyProvider supplies keys to a [Cryptor]. Implementations must be safe for
// concurrent use and cheap on Key and CurrentKeyIndex (no KDF there).
// [SharedKeyProvider] and [ParticipantKeyProvider] implement it.
type KeyProvider interface {
	// Key returns the key stored for identity at index, or nil if none.
	// Shared-key providers ignore identity.
	Key(identity string, index uint8) *Key
	// CurrentKeyIndex returns the index identity encrypts with.
	CurrentKeyIndex(identity string) uint8
	// ReplaceKey stores next at (identity, index) if the slot still holds
	// old, and reports whether it did. The Cryptor calls it after a
	// successful auto-ratchet, so a key set meanwhile is not overwritten.
	ReplaceKey(identity string, index uint8, old, next *Key) bool
	// RatchetWindowSize returns how many ratchets a receiver tries after an
	// authentication failure (0 = none).
	RatchetWindowSize() int
}

// ring is a fixed-size key ring with a current index. Slots are replaced
// atomically; readers never lock.
type ring struct {
	slots   []atomic.Pointer[Key]
	current atomic.Uint32
}

func newRing(size int) *ring { return &ring{slots: make([]atomic.Pointer[Key], size)} }

func (r *ring) get(index uint8) *Key {
	if int(index) >= len(r.slots) {
		return nil
	}
	return r.slots[index].Load()
}

// base holds what both providers share.
type base struct {
	params    *kdfParams
	size      int
	window    int
	onRatchet func(identity string, index uint8)
}

func newBase(opts Options) (base, error) {
	p, size, err := opts.normalize()
	if err != nil {
		return base{}, err
	}
	return base{params: p, size: size, window: opts.RatchetWindowSize, onRatchet: opts.OnKeyRatcheted}, nil
}

func (b *base) checkIndex(index uint8) error {
	if int(index) >= b.size {
		return fmt.Errorf("%w: %d (ring size %d)", ErrInvalidKeyIndex, index, b.size)
	}
	return nil
}

// setKey derives material and stores it at index of r, making index current.
func (b *base) setKey(r *ring, index uint8, material []byte) error {
	if err := b.checkIndex(index); err != nil {
		return err
	}
	k, err := b.params.newKey(material)
	if err != nil {
		return err
	}
	r.slots[index].Store(k)
	r.current.Store(uint32(index))
	return nil
}

// ratchet replaces the key at index of r by its ratchet and returns the new
// material (JS "chainKey").
func (b *base) ratchet(r *ring, identity string, index uint8) ([]byte, error) {
	if err := b.checkIndex(index); err != nil {
		return nil, err
	}
	for {
		old := r.slots[index].Load()
		if old == nil {
			return nil, ErrNoKey
		}
		next, err := old.Ratchet()
		if err != nil {
			return nil, err
		}
		if r.slots[index].CompareAndSwap(old, next) {
			if b.onRatchet != nil {
				b.onRatchet(identity, index)
			}
			return old.ratchetMaterial(), nil
		}
	}
}

func (b *base) replace(r *ring, identity string, index uint8, old, next *Key) bool {
	if int(index) >= len(r.slots) || old == nil || next == nil {
		return false
	}
	if !r.slots[index].CompareAndSwap(old, next) {
		return false
	}
	if b.onRatchet != nil {
		b.onRatchet(identity, index)
	}
	return true
}

// SharedKeyProvider holds one key ring used for every participant (JS
// ExternalE2EEKeyProvider, Rust KeyProvider::with_shared_key). Safe for
// concurrent use.
type SharedKeyProvider struct {
	base
	ring *ring
}

// NewSharedKeyProvider returns a shared-key provider with material stored at
// key index 0 (the current index). For a passphrase pass its UTF-8 bytes;
// with the default PBKDF2 this interoperates with JS setKey(string) and Rust
// with_shared_key. material may be nil to set keys later with SetKey.
func NewSharedKeyProvider(material []byte, opts Options) (*SharedKeyProvider, error) {
	b, err := newBase(opts)
	if err != nil {
		return nil, err
	}
	p := &SharedKeyProvider{base: b, ring: newRing(b.size)}
	if material != nil {
		if err := p.SetKey(0, material); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// SetKey derives a key from material, stores it at index and makes index the
// current index.
func (p *SharedKeyProvider) SetKey(index uint8, material []byte) error {
	return p.setKey(p.ring, index, material)
}

// SetCurrentKeyIndex selects the index used for encryption.
func (p *SharedKeyProvider) SetCurrentKeyIndex(index uint8) error {
	if err := p.checkIndex(index); err != nil {
		return err
	}
	p.ring.current.Store(uint32(index))
	return nil
}

// RatchetKey replaces the key at index by its ratchet and returns the new
// key material, e.g. to hand it to other participants (JS ratchetKey).
func (p *SharedKeyProvider) RatchetKey(index uint8) ([]byte, error) {
	return p.ratchet(p.ring, "", index)
}

// Key implements KeyProvider; identity is ignored.
func (p *SharedKeyProvider) Key(_ string, index uint8) *Key { return p.ring.get(index) }

// CurrentKeyIndex implements KeyProvider; identity is ignored.
func (p *SharedKeyProvider) CurrentKeyIndex(string) uint8 { return uint8(p.ring.current.Load()) }

// ReplaceKey implements KeyProvider; identity is ignored.
func (p *SharedKeyProvider) ReplaceKey(_ string, index uint8, old, next *Key) bool {
	return p.replace(p.ring, "", index, old, next)
}

// RatchetWindowSize implements KeyProvider.
func (p *SharedKeyProvider) RatchetWindowSize() int { return p.window }

// ParticipantKeyProvider holds one key ring per participant identity (JS
// BaseKeyProvider with sharedKey false, Rust KeyProvider::new). The local
// participant's keys are set under its own identity. Safe for concurrent use.
type ParticipantKeyProvider struct {
	base
	mu    sync.RWMutex
	rings map[string]*ring
}

// NewParticipantKeyProvider returns an empty per-participant provider.
func NewParticipantKeyProvider(opts Options) (*ParticipantKeyProvider, error) {
	b, err := newBase(opts)
	if err != nil {
		return nil, err
	}
	return &ParticipantKeyProvider{base: b, rings: make(map[string]*ring)}, nil
}

func (p *ParticipantKeyProvider) ring(identity string, create bool) *ring {
	p.mu.RLock()
	r := p.rings[identity]
	p.mu.RUnlock()
	if r != nil || !create {
		return r
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r = p.rings[identity]; r == nil {
		r = newRing(p.size)
		p.rings[identity] = r
	}
	return r
}

// SetKey derives a key from material, stores it for identity at index and
// makes index that identity's current index.
func (p *ParticipantKeyProvider) SetKey(identity string, index uint8, material []byte) error {
	if err := p.checkIndex(index); err != nil {
		return err
	}
	// Derive before creating the ring so a bad material leaves no trace.
	k, err := p.params.newKey(material)
	if err != nil {
		return err
	}
	r := p.ring(identity, true)
	r.slots[index].Store(k)
	r.current.Store(uint32(index))
	return nil
}

// SetCurrentKeyIndex selects the index identity encrypts with (for the local
// identity: the index used by EncryptFrame/EncryptPacket).
func (p *ParticipantKeyProvider) SetCurrentKeyIndex(identity string, index uint8) error {
	if err := p.checkIndex(index); err != nil {
		return err
	}
	p.ring(identity, true).current.Store(uint32(index))
	return nil
}

// RatchetKey replaces identity's key at index by its ratchet and returns the
// new key material.
func (p *ParticipantKeyProvider) RatchetKey(identity string, index uint8) ([]byte, error) {
	r := p.ring(identity, false)
	if r == nil {
		if err := p.checkIndex(index); err != nil {
			return nil, err
		}
		return nil, ErrNoKey
	}
	return p.ratchet(r, identity, index)
}

// RemoveParticipant forgets every key of identity (e.g. when it leaves).
func (p *ParticipantKeyProvider) RemoveParticipant(identity string) {
	p.mu.Lock()
	delete(p.rings, identity)
	p.mu.Unlock()
}

// Key implements KeyProvider.
func (p *ParticipantKeyProvider) Key(identity string, index uint8) *Key {
	r := p.ring(identity, false)
	if r == nil {
		return nil
	}
	return r.get(index)
}

// CurrentKeyIndex implements KeyProvider; 0 for an unknown identity.
func (p *ParticipantKeyProvider) CurrentKeyIndex(identity string) uint8 {
	r := p.ring(identity, false)
	if r == nil {
		return 0
	}
	return uint8(r.current.Load())
}

// ReplaceKey implements KeyProvider.
func (p *ParticipantKeyProvider) ReplaceKey(identity string, index uint8, old, next *Key) bool {
	r := p.ring(identity, false)
	if r == nil {
		return false
	}
	return p.replace(r, identity, index, old, next)
}

// RatchetWindowSize implements KeyProvider.
func (p *ParticipantKeyProvider) RatchetWindowSize() int { return p.window }

var (
	_ KeyProvider = (*SharedKeyProvider)(nil)
	_ KeyProvider = (*ParticipantKeyProvider)(nil)
)
