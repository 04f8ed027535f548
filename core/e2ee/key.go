package e2ee

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/sha256"
	"fmt"
	"sync"
)

// KDF selects the key-derivation function used to turn key material into an
// AES key and to ratchet material.
type KDF int

const (
	// PBKDF2 is PBKDF2-HMAC-SHA256 with 100 000 iterations: JS when the key
	// is a string (its UTF-8 bytes are the material), Rust's default. This is
	// the zero value.
	PBKDF2 KDF = iota
	// HKDF is HKDF-SHA256 with info = 128 zero bytes: JS when the key is an
	// ArrayBuffer, Rust KeyDerivationAlgorithm::HKDF.
	HKDF
)

// String returns the KDF name.
func (k KDF) String() string {
	switch k {
	case PBKDF2:
		return "PBKDF2"
	case HKDF:
		return "HKDF"
	}
	return fmt.Sprintf("KDF(%d)", int(k))
}

const (
	// DefaultRatchetSalt is the default salt for key derivation and
	// ratcheting (JS SALT, Rust ratchet_salt default).
	DefaultRatchetSalt = "LKFrameEncryptionKey"
	// PBKDF2Iterations is the PBKDF2 iteration count of every official SDK.
	PBKDF2Iterations = 100_000
	// KeySize is the AES key size in bytes (AES-128) produced by derivation.
	KeySize = 16
	// IVSize is the AES-GCM IV size in bytes used by every official sender.
	IVSize = 12
	// TagSize is the AES-GCM tag size in bytes, appended to the ciphertext.
	TagSize = 16

	// ratchetMaterialSize is the length of ratcheted material (JS deriveBits
	// 256, libwebrtc 256 bits).
	ratchetMaterialSize = 32
	// hkdfInfoSize is the number of zero bytes used as HKDF info.
	hkdfInfoSize = 128
)

// hkdfInfo is 128 zero bytes, as a string for crypto/hkdf.
var hkdfInfo = string(make([]byte, hkdfInfoSize))

// kdfParams are the derivation parameters shared by all keys of a provider.
type kdfParams struct {
	kdf        KDF
	salt       []byte // immutable after construction
	iterations int    // PBKDF2 iterations; tests lower it for speed
}

// derive runs the KDF on material and returns n bytes.
func (p *kdfParams) derive(material []byte, n int) ([]byte, error) {
	switch p.kdf {
	case PBKDF2:
		return pbkdf2.Key(sha256.New, string(material), p.salt, p.iterations, n)
	case HKDF:
		return hkdf.Key(sha256.New, material, p.salt, hkdfInfo, n)
	}
	return nil, fmt.Errorf("%w: unknown KDF %d", ErrInvalidOptions, int(p.kdf))
}

// Key is one derived AES-128-GCM key together with what is needed to ratchet
// it. A Key is immutable and safe for concurrent use; providers replace the
// *Key stored in a ring slot rather than mutating it, so a pointer identifies
// one key version.
//
// Derivation detail: with SHA-256 both KDFs produce their first 32 output
// bytes as one block, so KDF(M, 16) is the prefix of KDF(M, 32). A Key keeps
// the 32-byte output D = KDF(M, 32): the AES key is D[:16] and D is the
// material of the next ratchet step. Each key version costs exactly one KDF.
type Key struct {
	params *kdfParams
	chain  [ratchetMaterialSize]byte // KDF(material, 32): AES key prefix and next material
	aead   cipher.AEAD               // AES-GCM, 12-byte nonce
	block  cipher.Block              // for IVs of other lengths (receive only)

	nextOnce sync.Once
	next     *Key
	nextErr  error
}

// NewKey derives a key from raw material with the given KDF and salt (nil
// salt = DefaultRatchetSalt). For a passphrase pass its UTF-8 bytes with
// PBKDF2; this runs the full KDF (tens of milliseconds for PBKDF2), so call it
// off the hot path.
func NewKey(material []byte, kdf KDF, salt []byte) (*Key, error) {
	p, err := newKDFParams(kdf, salt, PBKDF2Iterations)
	if err != nil {
		return nil, err
	}
	return p.newKey(material)
}

func newKDFParams(kdf KDF, salt []byte, iterations int) (*kdfParams, error) {
	if kdf != PBKDF2 && kdf != HKDF {
		return nil, fmt.Errorf("%w: unknown KDF %d", ErrInvalidOptions, int(kdf))
	}
	if salt == nil {
		salt = []byte(DefaultRatchetSalt)
	}
	return &kdfParams{kdf: kdf, salt: append([]byte(nil), salt...), iterations: iterations}, nil
}

func (p *kdfParams) newKey(material []byte) (*Key, error) {
	if len(material) == 0 {
		return nil, fmt.Errorf("%w: empty key material", ErrInvalidOptions)
	}
	d, err := p.derive(material, ratchetMaterialSize)
	if err != nil {
		return nil, fmt.Errorf("%w: key derivation: %v", ErrInvalidOptions, err)
	}
	k := &Key{params: p}
	copy(k.chain[:], d)
	clear(d)
	block, err := aes.NewCipher(k.chain[:KeySize])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k.block, k.aead = block, aead
	return k, nil
}

// KDF returns the key-derivation function this key was derived with.
func (k *Key) KDF() KDF { return k.params.kdf }

// Ratchet returns the next key of the ratchet chain: its material is
// KDF(material, salt, 32 bytes) and its AES key is derived from that material
// like any other. The result is computed once and cached, so repeated calls
// (auto-ratchet on every failing packet) cost no KDF after the first.
func (k *Key) Ratchet() (*Key, error) {
	k.nextOnce.Do(func() {
		k.next, k.nextErr = k.params.newKey(k.chain[:])
	})
	return k.next, k.nextErr
}

// ratchetMaterial returns a copy of the material of the next ratchet step
// (JS "chainKey"), for applications that distribute ratcheted keys.
func (k *Key) ratchetMaterial() []byte {
	return append([]byte(nil), k.chain[:]...)
}

// open decrypts ciphertext‖tag with iv and no AAD, appending to dst.
func (k *Key) open(dst, iv, ciphertext []byte) ([]byte, error) {
	if len(iv) == IVSize {
		return k.aead.Open(dst, iv, ciphertext, nil)
	}
	// Official senders always use 12 bytes; accept other lengths on receive
	// at the cost of a per-call GCM instance.
	aead, err := cipher.NewGCMWithNonceSize(k.block, len(iv))
	if err != nil {
		return nil, err
	}
	return aead.Open(dst, iv, ciphertext, nil)
}
