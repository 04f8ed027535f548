package room

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/lkcore/lkcore/core/e2ee"
	"github.com/lkcore/lkcore/core/lkpb"
)

// End-to-end encryption of the room's data plane.
//
// With Options.E2EE set, the room creates one e2ee.Cryptor for the local
// identity and uses it for:
//   - data packets: SendPacket encrypts every eligible value (user packets,
//     RPC requests/acks/responses, data-stream headers/chunks/trailers; see
//     e2ee.Encryptable) into encrypted_packet before the sequence is
//     stamped; handlePacket decrypts encrypted_packet with the sender's keys
//     before dispatch and tells the dispatch which encryption was used;
//   - data tracks: every published track is E2EE (Encryption GCM, decided at
//     connect time like both SDKs; docs/protocol.md, Data-track E2EE) and
//     E2EE remote tracks are decrypted per frame. Plain remote tracks are
//     delivered as they are.
//
// Decryption failures never deliver garbage: the packet or frame is dropped
// and a DecryptionFailed event names the sender. Without E2EE, encrypted
// packets are dropped with a DecryptionFailed (ErrE2EENotConfigured) and
// subscribing to an E2EE track fails with ErrE2EENoKeys.

// E2EE errors (use errors.Is).
var (
	// ErrE2EENotConfigured: an end-to-end encrypted packet arrived in a room
	// without E2EE (reported in DecryptionFailed.Err).
	ErrE2EENotConfigured = errors.New("room: end-to-end encrypted data received but E2EE is not configured")
	// ErrEncryptionFailed: a data packet could not be encrypted (the error
	// also matches the cause, e.g. e2ee.ErrNoKey when the local key is
	// missing); nothing was sent. Data-track frames report
	// datatrack.ErrEncryptionFailed from TryPush.
	ErrEncryptionFailed = errors.New("room: end-to-end encryption failed")
)

// E2EEOptions turns on end-to-end encryption for a room (Options.E2EE).
type E2EEOptions struct {
	// KeyProvider supplies the keys: e2ee.SharedKeyProvider (one key for
	// everybody, JS ExternalE2EEKeyProvider / Rust with_shared_key) or
	// e2ee.ParticipantKeyProvider (a key ring per identity). Required. Keys
	// may be changed on the provider while the room runs.
	KeyProvider e2ee.KeyProvider
}

// SharedKeyE2EE returns E2EE options with a shared key derived from key
// (a passphrase's UTF-8 bytes) with the defaults both SDKs use (PBKDF2-SHA256,
// 100 000 iterations, salt "LKFrameEncryptionKey", key index 0): it
// interoperates with JS ExternalE2EEKeyProvider.setKey(string) and Rust
// KeyProvider::with_shared_key.
func SharedKeyE2EE(key []byte) (*E2EEOptions, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty E2EE key", ErrInvalidArgument)
	}
	kp, err := e2ee.NewSharedKeyProvider(key, e2ee.Options{})
	if err != nil {
		return nil, err
	}
	return &E2EEOptions{KeyProvider: kp}, nil
}

// validate checks the options given to Connect (nil = no E2EE).
func (o *E2EEOptions) validate() error {
	if o != nil && o.KeyProvider == nil {
		return fmt.Errorf("%w: E2EEOptions.KeyProvider is nil", ErrInvalidArgument)
	}
	return nil
}

// DecryptionKind says what could not be decrypted.
type DecryptionKind int

// Decryption kinds.
const (
	// DecryptionKindPacket: a data packet (user packet, RPC or data-stream packet).
	DecryptionKindPacket DecryptionKind = iota + 1
	// DecryptionKindFrame: a data-track frame.
	DecryptionKindFrame
)

// String returns the kind's name.
func (k DecryptionKind) String() string {
	switch k {
	case DecryptionKindPacket:
		return "packet"
	case DecryptionKindFrame:
		return "frame"
	}
	return fmt.Sprintf("DecryptionKind(%d)", int(k))
}

// DecryptionFailed reports end-to-end encrypted data that could not be
// decrypted (wrong or missing key, corrupted data, or no E2EE configured);
// it was dropped, never delivered. Err matches e2ee.ErrDecrypt,
// e2ee.ErrNoKey, e2ee.ErrMalformed, datatrack.ErrMissingE2EEExtension or
// ErrE2EENotConfigured (and is an *e2ee.DecryptError where the cryptor
// failed). Like DataReceived, these events count against
// Options.MaxPendingDataEvents; data-track frame failures beyond that limit
// are only counted (Room.E2EEStats), so a flood never blocks the receive path.
type DecryptionFailed struct {
	// ParticipantIdentity is the sender (packet) or track publisher (frame).
	ParticipantIdentity string
	// Participant is the sender if currently known, else nil.
	Participant *RemoteParticipant
	// Kind says whether a packet or a data-track frame failed.
	Kind DecryptionKind
	// TrackSid is the data track's SID (frames only).
	TrackSid string
	// Err is the cause (see the type comment).
	Err error
	// State is the participant's EncryptionState the failure leaves (EncryptionMissingKey
	// or EncryptionDecryptionFailed, from Err).
	State EncryptionState
}

func (DecryptionFailed) isEvent() {}

// E2EEStats are the room's E2EE counters.
type E2EEStats struct {
	// DecryptionFailures counts packets and frames that failed to decrypt.
	DecryptionFailures uint64
	// EventsSuppressed counts failures not reported as events (event queue full).
	EventsSuppressed uint64
}

// roomE2EE is the room's E2EE state (nil without E2EE).
type roomE2EE struct {
	cryptor    *e2ee.Cryptor
	failures   atomic.Uint64
	suppressed atomic.Uint64
}

// initE2EE creates the cryptor once the local identity is known (each join
// attempt, before its engine can deliver anything).
func (r *Room) initE2EE() {
	if r.e2ee == nil {
		return
	}
	r.e2ee.cryptor = e2ee.NewCryptor(r.local.Identity(), r.opts.E2EE.KeyProvider)
}

func (e *roomE2EE) cryptorOrNil() *e2ee.Cryptor {
	if e == nil {
		return nil
	}
	return e.cryptor
}

// E2EEEnabled reports whether the room uses E2EE (Options.E2EE).
func (r *Room) E2EEEnabled() bool { return r.e2ee != nil }

// E2EEStats returns the room's E2EE counters (zero without E2EE).
func (r *Room) E2EEStats() E2EEStats {
	var s E2EEStats
	if r.e2ee != nil {
		s.DecryptionFailures = r.e2ee.failures.Load()
		s.EventsSuppressed = r.e2ee.suppressed.Load()
	}
	return s
}

// encryptPacket replaces pkt's eligible value by its encrypted form (E2EE
// rooms only; packets that stay in clear are left as they are).
func (r *Room) encryptPacket(pkt *lkpb.DataPacket) error {
	if r.e2ee == nil {
		return nil
	}
	if err := r.e2ee.cryptor.EncryptPacket(pkt); err != nil {
		return fmt.Errorf("%w: %w", ErrEncryptionFailed, err)
	}
	return nil
}

// decryptPacket restores the value of an encrypted packet in place. It
// returns the encryption the sender used (NONE for plain packets; GCM for
// encrypted ones: JS 2.23.0 leaves encryption_type at NONE inside the
// wrapper, so NONE is reported as GCM) and false when the packet must be
// dropped (failure reported as DecryptionFailed). Data channel goroutine.
func (r *Room) decryptPacket(pkt *lkpb.DataPacket) (lkpb.Encryption_Type, bool) {
	ep := pkt.GetEncryptedPacket()
	if ep == nil {
		return lkpb.Encryption_NONE, true
	}
	sender := pkt.GetParticipantIdentity()
	if r.e2ee == nil {
		r.log.Warn("room: dropping encrypted data packet (E2EE not configured)", "sender", sender)
		r.reportDecryptionFailure(sender, pkt.GetParticipantSid(), DecryptionKindPacket, "", ErrE2EENotConfigured)
		return lkpb.Encryption_NONE, false
	}
	enc := ep.GetEncryptionType()
	if enc == lkpb.Encryption_NONE {
		enc = lkpb.Encryption_GCM
	}
	if err := r.e2ee.cryptor.DecryptPacket(pkt); err != nil {
		r.log.Debug("room: data packet decryption failed", "sender", sender, "err", err)
		r.reportDecryptionFailure(sender, pkt.GetParticipantSid(), DecryptionKindPacket, "", err)
		return lkpb.Encryption_NONE, false
	}
	r.decryptionSucceeded(sender, DecryptionKindPacket, "")
	return enc, true
}

// reportDecryptionFailure counts a failure of the data of identity's session sid ("" if
// unknown), records the state it leaves and emits
// DecryptionFailed (queued as pushDecryptionEvent says).
func (r *Room) reportDecryptionFailure(identity, sid string, kind DecryptionKind, trackSid string, err error) {
	if r.e2ee != nil {
		r.e2ee.failures.Add(1)
	}
	st := encryptionStateOf(err)
	r.enc.failed(identity, sid, st)
	ev := DecryptionFailed{
		ParticipantIdentity: identity,
		Participant:         r.parts.remote(identity),
		Kind:                kind,
		TrackSid:            trackSid,
		Err:                 err,
		State:               st,
	}
	r.pushDecryptionEvent(ev, kind)
}

// pushDecryptionEvent queues a DecryptionFailed or EncryptionRecovered about data of kind:
// after a packet it waits for room in the event queue like DataReceived (the packets' reader is
// backpressured), after a frame it never waits (an event that does not fit is counted in
// E2EEStats.EventsSuppressed instead).
func (r *Room) pushDecryptionEvent(ev Event, kind DecryptionKind) {
	var ok bool
	if kind == DecryptionKindPacket {
		ok = r.events.pushData(ev, r.closing)
	} else {
		ok = r.events.tryPushData(ev)
	}
	if !ok && r.e2ee != nil {
		r.e2ee.suppressed.Add(1)
	}
}
