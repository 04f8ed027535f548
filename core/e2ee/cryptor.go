package e2ee

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync/atomic"
)

// Cryptor encrypts for the local participant and decrypts for remote
// participants with keys from a [KeyProvider]. It implements the frame
// methods of the data-track pipeline (datatrack.FrameEncryptor /
// FrameDecryptor) and the DataPacket methods of the room. Safe for
// concurrent use; no KDF runs on the encrypt path, and on the decrypt path
// only when auto-ratchet first walks a chain (then cached).
type Cryptor struct {
	local string
	keys  KeyProvider

	// IV = 4-byte random prefix ‖ 64-bit big-endian counter starting at a
	// random value. Unique for every frame/packet this Cryptor sends under any
	// key; two Cryptors sharing a key (shared-key rooms) collide only if both
	// random prefixes match and their counter ranges overlap.
	ivPrefix [4]byte
	ivCount  atomic.Uint64
}

// NewCryptor returns a Cryptor that encrypts with the keys of localIdentity
// (ignored by shared-key providers) and decrypts with those of the sender.
func NewCryptor(localIdentity string, keys KeyProvider) *Cryptor {
	c := &Cryptor{local: localIdentity, keys: keys}
	var seed [12]byte
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand crashes the program instead)
	copy(c.ivPrefix[:], seed[:4])
	c.ivCount.Store(binary.BigEndian.Uint64(seed[4:]))
	return c
}

// LocalIdentity returns the identity the Cryptor encrypts for.
func (c *Cryptor) LocalIdentity() string { return c.local }

// KeyProvider returns the provider the Cryptor reads keys from.
func (c *Cryptor) KeyProvider() KeyProvider { return c.keys }

func (c *Cryptor) nextIV() (iv [IVSize]byte) {
	copy(iv[:4], c.ivPrefix[:])
	binary.BigEndian.PutUint64(iv[4:], c.ivCount.Add(1))
	return iv
}

// sendKey returns the local participant's current key and its index.
func (c *Cryptor) sendKey() (*Key, uint8, error) {
	idx := c.keys.CurrentKeyIndex(c.local)
	k := c.keys.Key(c.local, idx)
	if k == nil {
		return nil, idx, fmt.Errorf("%w (local participant, key index %d)", ErrNoKey, idx)
	}
	return k, idx, nil
}

// EncryptFrame encrypts a data-track frame payload with the local
// participant's current key: ciphertext = AES-GCM(plaintext)‖tag (16 bytes),
// no AAD, with a fresh 12-byte IV. keyIndex and iv go into the frame's E2EE
// extension. The error matches ErrNoKey when no key is set.
func (c *Cryptor) EncryptFrame(plaintext []byte) (ciphertext []byte, keyIndex uint8, iv [12]byte, err error) {
	return c.AppendEncryptFrame(nil, plaintext)
}

// AppendEncryptFrame is EncryptFrame appending the ciphertext to dst
// (which may be plaintext[:0] to encrypt in place, if it has 16 bytes of
// spare capacity to avoid an allocation).
func (c *Cryptor) AppendEncryptFrame(dst, plaintext []byte) (ciphertext []byte, keyIndex uint8, iv [12]byte, err error) {
	k, idx, err := c.sendKey()
	if err != nil {
		return nil, idx, iv, err
	}
	iv = c.nextIV()
	var nonce []byte
	if dst == nil {
		// One allocation: output, then a private copy of the IV after it
		// (passing iv[:] to the AEAD interface would move iv to the heap).
		buf := make([]byte, len(plaintext)+TagSize+IVSize)
		dst, nonce = buf[:0:len(plaintext)+TagSize], buf[len(plaintext)+TagSize:]
		copy(nonce, iv[:])
	} else {
		nonce = append([]byte(nil), iv[:]...)
	}
	return k.aead.Seal(dst, nonce, plaintext, nil), idx, iv, nil
}

// DecryptFrame decrypts a data-track frame payload (ciphertext‖tag) sent by
// publisherIdentity with its key at keyIndex, ratcheting that key if the
// provider's ratchet window allows. Errors are *DecryptError wrapping
// ErrNoKey or ErrDecrypt.
func (c *Cryptor) DecryptFrame(publisherIdentity string, keyIndex uint8, iv [12]byte, ciphertext []byte) ([]byte, error) {
	return c.AppendDecryptFrame(nil, publisherIdentity, keyIndex, iv, ciphertext)
}

// AppendDecryptFrame is DecryptFrame appending the plaintext to dst. dst must
// not overlap ciphertext: a failed AES-GCM open may overwrite its output, and
// ratchet retries need the ciphertext intact.
func (c *Cryptor) AppendDecryptFrame(dst []byte, publisherIdentity string, keyIndex uint8, iv [12]byte, ciphertext []byte) ([]byte, error) {
	var nonce []byte
	if dst == nil && len(ciphertext) >= TagSize {
		// One allocation: output, then a private copy of the IV (see
		// AppendEncryptFrame).
		n := len(ciphertext) - TagSize
		buf := make([]byte, n+IVSize)
		dst, nonce = buf[:0:n], buf[n:]
		copy(nonce, iv[:])
	} else {
		nonce = append([]byte(nil), iv[:]...)
	}
	out, err := c.open(dst, publisherIdentity, keyIndex, nonce, ciphertext)
	if err != nil {
		return nil, &DecryptError{Identity: publisherIdentity, KeyIndex: uint32(keyIndex), Err: err}
	}
	return out, nil
}

// open authenticates and decrypts with the sender's key at index, then with
// up to RatchetWindowSize successive ratchets of it. A ratchet that works is
// stored in place of the key (unless the slot changed meanwhile); on failure
// the stored key is left untouched. Returns a sentinel error.
//
// Disagreement noted: JS 2.23.0 DataCryptor.decrypt retries with the stored
// key on every level of its recursion (it ignores ratchetOpts.encryptionKey
// and ratchets the unchanged stored material each time), so JS never
// recovers a data packet through auto-ratchet; libwebrtc (Rust) and this
// implementation walk the chain as docs/protocol.md, End-to-end encryption
// describes.
func (c *Cryptor) open(dst []byte, identity string, index uint8, iv, ciphertext []byte) ([]byte, error) {
	k := c.keys.Key(identity, index)
	if k == nil {
		return nil, ErrNoKey
	}
	if out, err := k.open(dst, iv, ciphertext); err == nil {
		return out, nil
	}
	cand := k
	for range c.keys.RatchetWindowSize() {
		next, err := cand.Ratchet()
		if err != nil {
			return nil, ErrDecrypt
		}
		cand = next
		if out, err := cand.open(dst, iv, ciphertext); err == nil {
			// Only the sender's ratchet could have produced this; adopt it.
			// (JS also makes index the current index of that key handler; we
			// leave current-index selection to the application.)
			c.keys.ReplaceKey(identity, index, k, cand)
			return out, nil
		}
	}
	return nil, ErrDecrypt
}
