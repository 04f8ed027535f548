package e2ee

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package matches one of them
// with errors.Is.
var (
	// ErrNoKey means no key is stored for the identity and key index needed.
	ErrNoKey = errors.New("e2ee: no key for participant and key index")
	// ErrDecrypt means AES-GCM authentication failed with every candidate key
	// (the stored key and, if enabled, its ratchets).
	ErrDecrypt = errors.New("e2ee: decryption failed")
	// ErrNotEncrypted means DecryptPacket was given a packet without an
	// encrypted_packet value.
	ErrNotEncrypted = errors.New("e2ee: packet is not encrypted")
	// ErrMalformed means an encrypted packet or its decrypted payload cannot
	// be used: empty IV, key index out of range for the wire, unparsable
	// EncryptedPacketPayload or a payload without a known value.
	ErrMalformed = errors.New("e2ee: malformed encrypted packet")
	// ErrInvalidKeyIndex means a key index outside the key ring was given to
	// a key provider.
	ErrInvalidKeyIndex = errors.New("e2ee: key index outside the key ring")
	// ErrInvalidOptions means Options (or key material) were rejected.
	ErrInvalidOptions = errors.New("e2ee: invalid options")
)

// DecryptError is returned by the decrypting methods of [Cryptor]. It names
// the sending participant and the key index so that the room can raise a
// "decryption failed" event for that participant. Err is one of the sentinel
// errors (ErrNoKey, ErrDecrypt, ErrMalformed) and is matched by errors.Is.
type DecryptError struct {
	// Identity is the sender's participant identity (the publisher of a data
	// track, or DataPacket.participant_identity).
	Identity string
	// KeyIndex is the key index the sender used.
	KeyIndex uint32
	// Err is the underlying sentinel error.
	Err error
}

// Error implements error. It never contains key material or payload bytes.
func (e *DecryptError) Error() string {
	return fmt.Sprintf("%v (participant %q, key index %d)", e.Err, e.Identity, e.KeyIndex)
}

// Unwrap returns the underlying sentinel error.
func (e *DecryptError) Unwrap() error { return e.Err }
