package datatrack

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/lkcore/lkcore/tests/testkit"
)

// gcmCrypto is a tiny AES-GCM implementation of FrameEncryptor/FrameDecryptor as
// docs/protocol.md, Data-track E2EE describes it: 96-bit IV, 128-bit tag appended, no AAD,
// per-identity keys.
type gcmCrypto struct {
	t        testing.TB
	keys     map[string][]byte // decryption keys by publisher identity
	sendKey  []byte
	keyIndex uint8
	ivs      [][12]byte // IVs to use, in order (tests need deterministic IVs)
	failEnc  error
	decCalls int
}

func (c *gcmCrypto) aead(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		c.t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		c.t.Fatal(err)
	}
	return g
}

func (c *gcmCrypto) EncryptFrame(pt []byte) ([]byte, uint8, [12]byte, error) {
	if c.failEnc != nil {
		return nil, 0, [12]byte{}, c.failEnc
	}
	var iv [12]byte
	if len(c.ivs) > 0 {
		iv, c.ivs = c.ivs[0], c.ivs[1:]
	}
	return c.aead(c.sendKey).Seal(nil, iv[:], pt, nil), c.keyIndex, iv, nil
}

func (c *gcmCrypto) DecryptFrame(identity string, keyIndex uint8, iv [12]byte, ct []byte) ([]byte, error) {
	c.decCalls++
	key, ok := c.keys[identity]
	if !ok {
		return nil, errors.New("no key for participant")
	}
	return c.aead(key).Open(nil, iv[:], ct, nil)
}

// Reference E2EE vector: PBKDF2-SHA256("password", "LKFrameEncryptionKey", 100 000, 16) = 421890b1…
func vectorKey(t testing.TB, pass string) []byte {
	k, err := pbkdf2.Key(sha256.New, pass, []byte("LKFrameEncryptionKey"), 100000, 16)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestE2EEVector(t *testing.T) {
	key := vectorKey(t, "password")
	if hex.EncodeToString(key) != "421890b1557504a8ea1a90c253b419e4" {
		t.Fatalf("derived key %x", key)
	}
	c := &gcmCrypto{t: t, sendKey: key, keys: map[string][]byte{"alice": key},
		ivs: [][12]byte{iv(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)}}
	sp, err := NewSendPipeline(1, 0, NewClock(0, t0), c)
	if err != nil {
		t.Fatal(err)
	}
	var f PacketizedFrame
	if err := sp.Encode(&f, NewFrame([]byte("hello")), t0); err != nil {
		t.Fatal(err)
	}
	// Reference packet vector E byte for byte (see packet_test.go).
	want := testkit.Unhex(t, "1C 00 0001 0000 0000 00000000 0004 01 0D 00 0102030405060708090A0B0C 000000 669660CB02 0398918905E1C05A26BCF6FDF8EB749D")
	if f.Len() != 1 || !bytes.Equal(f.Packet(0), want) {
		t.Fatalf("packet %x", f.Packet(0))
	}
	rp, err := NewReceivePipeline("alice", true, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	if err := p.Unmarshal(want); err != nil {
		t.Fatal(err)
	}
	r := rp.Push(&p)
	if !r.HasFrame || string(r.Frame.Payload) != "hello" || len(r.Drops()) != 0 {
		t.Fatalf("%+v", r)
	}
}

// Every single-packet E2EE frame recorded in 2a-e2ee-js and 2a-e2ee-rust-to-js (JS and Rust
// publishers) decrypts with the shared key used in the recording to a test frame
// whose first u64 is the frame's sequence in the test program.
func TestRecordedE2EEFrames(t *testing.T) {
	key := vectorKey(t, "acceptance-shared-e2ee-key")
	if hex.EncodeToString(key) != "575aa0e6cd921243ad41181cdd7b9511" {
		t.Fatalf("key %x", key)
	}
	n := 0
	for _, tp := range loadTracePackets(t) {
		if tp.KeyIndex == nil || !tp.Full || tp.Marker != "Single" {
			continue
		}
		c := &gcmCrypto{t: t, keys: map[string][]byte{"pub": key}}
		rp, err := NewReceivePipeline("pub", true, c, 1)
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		if err := p.Unmarshal(testkit.Unhex(t, tp.Hex)); err != nil {
			t.Fatal(err)
		}
		r := rp.Push(&p)
		if !r.HasFrame || len(r.Frame.Payload) != 32 || binary.BigEndian.Uint64(r.Frame.Payload) != uint64(tp.Frame) {
			t.Fatalf("%s seq %d: %+v %v", tp.Scenario, tp.Seq, r.Frame, r.Drops())
		}
		n++
	}
	if n != 7 { // 2a-e2ee-js: 2 sent + 2 received; 2a-e2ee-rust-to-js: 3 received
		t.Fatalf("only %d recorded E2EE frames", n)
	}
}

func TestPipelineRoundTripMultiPacket(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 16)
	for _, encrypted := range []bool{false, true} {
		c := &gcmCrypto{t: t, sendKey: key, keys: map[string][]byte{"bob": key}}
		var enc FrameEncryptor
		var dec FrameDecryptor
		if encrypted {
			enc, dec = c, c
		}
		sp, _ := NewSendPipeline(5, 0, NewClock(0, t0), enc)
		rp, err := NewReceivePipeline("bob", encrypted, dec, 1)
		if err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, 100000)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		var f PacketizedFrame
		if err := sp.Encode(&f, NewFrame(payload).WithUserTimestamp(0), t0); err != nil {
			t.Fatal(err)
		}
		if est := sp.EstimateBytes(&Frame{Payload: payload, HasUserTimestamp: true}); est != f.Bytes() {
			t.Fatalf("EstimateBytes %d, actual %d", est, f.Bytes())
		}
		var got ReceiveResult
		for i := range f.Len() {
			var p Packet
			if err := p.Unmarshal(bytes.Clone(f.Packet(i))); err != nil {
				t.Fatal(err)
			}
			got = rp.Push(&p)
		}
		if !got.HasFrame || !bytes.Equal(got.Frame.Payload, payload) || !got.Frame.HasUserTimestamp || got.Frame.UserTimestamp != 0 {
			t.Fatalf("encrypted=%v: frame not delivered intact", encrypted)
		}
	}
}

func TestPipelineE2EEErrors(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 16)
	other := bytes.Repeat([]byte{2}, 16)
	if _, err := NewReceivePipeline("x", true, nil, 1); !errors.Is(err, ErrE2EENoKeys) {
		t.Fatalf("no decryptor: %v", err)
	}
	// wrong key: dropped and reported, never delivered as ciphertext
	c := &gcmCrypto{t: t, sendKey: key, keys: map[string][]byte{"eve": other}}
	sp, _ := NewSendPipeline(1, 0, NewClock(0, t0), c)
	rp, _ := NewReceivePipeline("eve", true, c, 1)
	var f PacketizedFrame
	if err := sp.Encode(&f, NewFrame([]byte("secret")), t0); err != nil {
		t.Fatal(err)
	}
	var p Packet
	_ = p.Unmarshal(f.Packet(0))
	r := rp.Push(&p)
	if r.HasFrame || len(r.Drops()) != 1 || r.Drops()[0].Reason != DropDecryptFailed || !errors.Is(r.Drops()[0].Err, ErrDecryptionFailed) {
		t.Fatalf("wrong key: %+v", r)
	}
	// missing E2EE extension on an encrypted track
	_ = p.Unmarshal(testkit.Unhex(t, "18 00 0001 0000 0000 00000000 AABB"))
	r = rp.Push(&p)
	if r.HasFrame || len(r.Drops()) != 1 || r.Drops()[0].Reason != DropMissingE2EE {
		t.Fatalf("missing ext: %+v", r)
	}
	// plain track in an E2EE room: delivered as is, decryptor not used
	c.decCalls = 0
	rp2, _ := NewReceivePipeline("eve", false, c, 1)
	r = rp2.Push(&p)
	if !r.HasFrame || !bytes.Equal(r.Frame.Payload, []byte{0xAA, 0xBB}) || c.decCalls != 0 {
		t.Fatalf("plain track: %+v", r)
	}
	// encryptor failure: typed error, nothing consumed
	c.failEnc = errors.New("no key set")
	before := sp.Packetizer().NextFrameNumber()
	f.Reset()
	if err := sp.Encode(&f, NewFrame([]byte("x")), t0); !errors.Is(err, ErrEncryptionFailed) || f.Len() != 0 {
		t.Fatalf("encrypt failure: %v", err)
	}
	if sp.Packetizer().NextFrameNumber() != before {
		t.Fatal("failed encryption consumed a frame number")
	}
	// empty frame with E2EE: one packet carrying the 16-byte tag
	c.failEnc = nil
	f.Reset()
	if err := sp.Encode(&f, NewFrame(nil), t0); err != nil || f.Len() != 1 || len(f.Packet(0)) != 32+16 {
		t.Fatalf("empty E2EE frame: %d packets, %v", f.Len(), err)
	}
	// too large, counting the tag
	f.Reset()
	if err := sp.Encode(&f, NewFrame(make([]byte, 128*15968-15)), t0); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if err := sp.Encode(&f, NewFrame(make([]byte, 128*15968-16)), t0); err != nil || f.Len() != 128 {
		t.Fatalf("largest E2EE frame: %d, %v", f.Len(), err)
	}
}
