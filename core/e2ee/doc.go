// Package e2ee implements LiveKit end-to-end encryption for the data plane:
// encrypted DataPackets (EncryptedPacket / EncryptedPacketPayload) and
// encrypted data-track frames, interoperable with livekit-client JS 2.23.0
// and the Rust SDK (libwebrtc DataPacketCryptor).
//
// # Keys
//
// A [KeyProvider] hands out AES-128-GCM keys by participant identity and key
// index. Two implementations are provided:
//
//   - [SharedKeyProvider]: one key ring for every participant (JS
//     ExternalE2EEKeyProvider, Rust KeyProvider::with_shared_key).
//   - [ParticipantKeyProvider]: one key ring per identity; the sender
//     encrypts with its own identity's current key and receivers decrypt with
//     the ring of the sending identity.
//
// Raw key material (for a passphrase: its UTF-8 bytes) is turned into an
// AES key with PBKDF2-HMAC-SHA256 (100 000 iterations, the default) or
// HKDF-SHA256 (info = 128 zero bytes), both salted with the ratchet salt
// (default "LKFrameEncryptionKey"). Ratcheting derives the next material as
// the 32-byte output of the same KDF; see [Key.Ratchet].
//
// Every derived cipher is cached in its [Key]; the hot path never runs a KDF
// (except the bounded auto-ratchet after an authentication failure, whose
// chain is also cached).
//
// # Encryption
//
// A [Cryptor] binds the local identity to a KeyProvider and implements the
// frame methods used by the data-track pipeline (EncryptFrame/DecryptFrame)
// and the DataPacket methods used by the room (EncryptPacket/DecryptPacket).
// All methods are safe for concurrent use.
//
// The primitive is AES-GCM with a 12-byte IV, a 16-byte tag appended to the
// ciphertext and no additional authenticated data.
package e2ee
