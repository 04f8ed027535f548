package e2ee

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

// fast returns opts with a low PBKDF2 iteration count: logic tests do not
// need the real cost (the vectors in vectors_test.go use it).
func fast(o Options) Options { o.iterations = 10; return o }

func mustShared(t testing.TB, material string, o Options) *SharedKeyProvider {
	t.Helper()
	p, err := NewSharedKeyProvider([]byte(material), fast(o))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustParticipant(t testing.TB, o Options) *ParticipantKeyProvider {
	t.Helper()
	p, err := NewParticipantKeyProvider(fast(o))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFrameRoundTrip(t *testing.T) {
	p := mustShared(t, "secret", Options{})
	alice, bob := NewCryptor("alice", p), NewCryptor("bob", p)
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 100_000} {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		ct, idx, iv, err := alice.EncryptFrame(pt)
		if err != nil {
			t.Fatal(err)
		}
		if idx != 0 || len(ct) != n+TagSize {
			t.Fatalf("n=%d: idx %d len %d", n, idx, len(ct))
		}
		// Independent check: the key's AEAD with the returned IV.
		if want := p.Key("", 0).aead.Seal(nil, iv[:], pt, nil); !bytes.Equal(ct, want) {
			t.Fatalf("n=%d: ciphertext differs from AES-GCM(iv)", n)
		}
		got, err := bob.DecryptFrame("alice", idx, iv, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: %v", n, err)
		}
		// Tampering is detected.
		if n > 0 {
			ct[0] ^= 1
			if _, err := bob.DecryptFrame("alice", idx, iv, ct); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("tampered: %v", err)
			}
		}
	}
	// Too short to hold a tag.
	if _, err := bob.DecryptFrame("alice", 0, [12]byte{}, []byte{1, 2}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("short: %v", err)
	}
}

func TestAppendVariants(t *testing.T) {
	p := mustShared(t, "secret", Options{})
	c := NewCryptor("a", p)
	pt := []byte("in place please")
	buf := make([]byte, len(pt), len(pt)+TagSize)
	copy(buf, pt)
	ct, idx, iv, err := c.AppendEncryptFrame(buf[:0], buf)
	if err != nil || &ct[0] != &buf[0] {
		t.Fatalf("not in place: %v", err)
	}
	out, err := c.AppendDecryptFrame([]byte("prefix:"), "b", idx, iv, ct)
	if err != nil || string(out) != "prefix:in place please" {
		t.Fatalf("%q %v", out, err)
	}
}

func TestIVsUnique(t *testing.T) {
	p := mustShared(t, "secret", Options{})
	c := NewCryptor("a", p)
	seen := map[[12]byte]bool{}
	for range 1000 {
		_, _, iv, err := c.EncryptFrame([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if seen[iv] {
			t.Fatalf("IV reused: %x", iv)
		}
		seen[iv] = true
	}
	// Two Cryptors on one shared key start from independent random points.
	_, _, iv1, _ := NewCryptor("a", p).EncryptFrame(nil)
	_, _, iv2, _ := NewCryptor("b", p).EncryptFrame(nil)
	if iv1 == iv2 {
		t.Fatal("two cryptors produced the same IV")
	}
}

func TestErrors(t *testing.T) {
	pp := mustParticipant(t, Options{})
	c := NewCryptor("me", pp)
	// No local key.
	if _, _, _, err := c.EncryptFrame([]byte("x")); !errors.Is(err, ErrNoKey) {
		t.Fatalf("encrypt without key: %v", err)
	}
	pkt := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("x")}}}
	if err := c.EncryptPacket(pkt); !errors.Is(err, ErrNoKey) || pkt.GetUser() == nil {
		t.Fatalf("EncryptPacket without key: %v", err)
	}
	// Unknown sender.
	_, err := c.DecryptFrame("ghost", 0, [12]byte{}, make([]byte, 32))
	var de *DecryptError
	if !errors.Is(err, ErrNoKey) || !errors.As(err, &de) || de.Identity != "ghost" {
		t.Fatalf("unknown sender: %v", err)
	}
	// Key index outside the ring.
	if err := pp.SetKey("me", 16, []byte("k")); !errors.Is(err, ErrInvalidKeyIndex) {
		t.Fatalf("SetKey(16): %v", err)
	}
	if err := pp.SetCurrentKeyIndex("me", 200); !errors.Is(err, ErrInvalidKeyIndex) {
		t.Fatalf("SetCurrentKeyIndex(200): %v", err)
	}
	if err := pp.SetKey("me", 0, nil); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("empty material: %v", err)
	}
	// Options validation.
	for _, o := range []Options{{KeyRingSize: 257}, {KeyRingSize: -1}, {RatchetWindowSize: -1}, {KDF: 7}} {
		if _, err := NewParticipantKeyProvider(o); !errors.Is(err, ErrInvalidOptions) {
			t.Fatalf("%+v: %v", o, err)
		}
	}
	// Plain packet.
	if err := c.DecryptPacket(&lkpb.DataPacket{Value: &lkpb.DataPacket_User{}}); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("plain: %v", err)
	}
	// Error strings carry no key material or payload.
	if s := (&DecryptError{Identity: "x", KeyIndex: 3, Err: ErrDecrypt}).Error(); s != `e2ee: decryption failed (participant "x", key index 3)` {
		t.Fatalf("error text %q", s)
	}
}

func TestMalformedPackets(t *testing.T) {
	p := mustShared(t, "secret", Options{})
	c := NewCryptor("a", p)
	k := p.Key("", 0)
	iv := make([]byte, 12)
	mk := func(ep *lkpb.EncryptedPacket) *lkpb.DataPacket {
		return &lkpb.DataPacket{ParticipantIdentity: "b", Value: &lkpb.DataPacket_EncryptedPacket{EncryptedPacket: ep}}
	}
	cases := map[string]*lkpb.DataPacket{
		"empty iv":        mk(&lkpb.EncryptedPacket{EncryptedValue: k.aead.Seal(nil, iv, nil, nil)}),
		"index > 255":     mk(&lkpb.EncryptedPacket{Iv: iv, KeyIndex: 300}),
		"garbage payload": mk(&lkpb.EncryptedPacket{Iv: iv, EncryptedValue: k.aead.Seal(nil, iv, []byte{0xff, 0xff}, nil)}),
		// a payload with no known value (e.g. a field from a newer protocol)
		"unknown value": mk(&lkpb.EncryptedPacket{Iv: iv, EncryptedValue: k.aead.Seal(nil, iv, []byte{0x78, 0x01}, nil)}),
	}
	for name, pkt := range cases {
		before := proto.Clone(pkt)
		if err := c.DecryptPacket(pkt); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if !proto.Equal(before, pkt) {
			t.Errorf("%s: packet modified", name)
		}
	}
	// Index within a byte but outside the ring → no key.
	if err := c.DecryptPacket(mk(&lkpb.EncryptedPacket{Iv: iv, KeyIndex: 20})); !errors.Is(err, ErrNoKey) {
		t.Errorf("index 20: %v", err)
	}
	// Non-12-byte IVs are accepted on receive.
	iv16 := bytes.Repeat([]byte{7}, 16)
	payload, _ := proto.Marshal(&lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_User{User: &lkpb.UserPacket{Payload: []byte("hi")}}})
	aead16, _ := newGCM16(k)
	pkt := mk(&lkpb.EncryptedPacket{Iv: iv16, EncryptedValue: aead16.Seal(nil, iv16, payload, nil)})
	if err := c.DecryptPacket(pkt); err != nil || string(pkt.GetUser().GetPayload()) != "hi" {
		t.Errorf("16-byte IV: %v", err)
	}
}

// eligible lists one value of every encryptable kind with the first byte of
// its serialised EncryptedPacketPayload (field number << 3 | 2).
func eligible() []struct {
	name string
	tag  byte
	pkt  *lkpb.DataPacket
} {
	total := uint64(5)
	return []struct {
		name string
		tag  byte
		pkt  *lkpb.DataPacket
	}{
		{"user", 1<<3 | 2, &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("hello"), Topic: proto.String("t"), DestinationIdentities: []string{"b"}}}}},
		{"chat_message", 3<<3 | 2, &lkpb.DataPacket{Value: &lkpb.DataPacket_ChatMessage{ChatMessage: &lkpb.ChatMessage{Id: "m1", Timestamp: 42, Message: "hi"}}}},
		{"rpc_request", 4<<3 | 2, &lkpb.DataPacket{Value: &lkpb.DataPacket_RpcRequest{RpcRequest: &lkpb.RpcRequest{Id: "r", Method: "m", Payload: "p", ResponseTimeoutMs: 8000, Version: 1}}}},
		{"rpc_ack", 5<<3 | 2, &lkpb.DataPacket{Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: "r"}}}},
		{"rpc_response", 6<<3 | 2, &lkpb.DataPacket{Value: &lkpb.DataPacket_RpcResponse{RpcResponse: &lkpb.RpcResponse{RequestId: "r", Value: &lkpb.RpcResponse_Payload{Payload: "ok"}}}}},
		{"stream_header", 7<<3 | 2, &lkpb.DataPacket{Value: &lkpb.DataPacket_StreamHeader{StreamHeader: &lkpb.DataStream_Header{StreamId: "s", Topic: "t", MimeType: "text/plain", TotalLength: &total, ContentHeader: &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}}}}}},
		{"stream_chunk", 8<<3 | 2, &lkpb.DataPacket{Value: &lkpb.DataPacket_StreamChunk{StreamChunk: &lkpb.DataStream_Chunk{StreamId: "s", ChunkIndex: 1, Content: []byte("hello")}}}},
		{"stream_trailer", 9<<3 | 2, &lkpb.DataPacket{Value: &lkpb.DataPacket_StreamTrailer{StreamTrailer: &lkpb.DataStream_Trailer{StreamId: "s", Attributes: map[string]string{"a": "b"}}}}},
	}
}

func TestPacketRoundTripEveryKind(t *testing.T) {
	for _, shared := range []bool{true, false} {
		var send, recv KeyProvider
		if shared {
			p := mustShared(t, "secret", Options{})
			send, recv = p, p
		} else {
			a := mustParticipant(t, Options{})
			if err := a.SetKey("alice", 2, []byte("alice-key")); err != nil {
				t.Fatal(err)
			}
			b := mustParticipant(t, Options{})
			if err := b.SetKey("alice", 2, []byte("alice-key")); err != nil {
				t.Fatal(err)
			}
			send, recv = a, b
		}
		alice, bob := NewCryptor("alice", send), NewCryptor("bob", recv)
		for _, tc := range eligible() {
			t.Run(fmt.Sprintf("shared=%v/%s", shared, tc.name), func(t *testing.T) {
				pkt := tc.pkt
				pkt.Kind = lkpb.DataPacket_RELIABLE
				pkt.DestinationIdentities = []string{"bob"}
				want := proto.Clone(pkt).(*lkpb.DataPacket)
				if !Encryptable(pkt) {
					t.Fatal("not encryptable")
				}
				if err := alice.EncryptPacket(pkt); err != nil {
					t.Fatal(err)
				}
				ep := pkt.GetEncryptedPacket()
				wantIdx := uint32(0)
				if !shared {
					wantIdx = 2
				}
				if ep == nil || ep.EncryptionType != lkpb.Encryption_GCM || len(ep.Iv) != 12 || ep.KeyIndex != wantIdx {
					t.Fatalf("encrypted packet %v", ep)
				}
				if pkt.Kind != lkpb.DataPacket_RELIABLE || !slices.Equal(pkt.DestinationIdentities, []string{"bob"}) {
					t.Fatal("envelope changed")
				}
				// The plaintext is the EncryptedPacketPayload with the
				// payload field number of this kind.
				plain, err := recv.Key("alice", uint8(ep.KeyIndex)).aead.Open(nil, ep.Iv, ep.EncryptedValue, nil)
				if err != nil || plain[0] != tc.tag {
					t.Fatalf("payload tag %x, %v", plain[:1], err)
				}
				// Over the wire: the SFU sets the sender identity and sid.
				wire, err := proto.Marshal(pkt)
				if err != nil {
					t.Fatal(err)
				}
				var got lkpb.DataPacket
				if err := proto.Unmarshal(wire, &got); err != nil {
					t.Fatal(err)
				}
				got.ParticipantIdentity, got.ParticipantSid = "alice", "PA_alice"
				if err := bob.DecryptPacket(&got); err != nil {
					t.Fatal(err)
				}
				want.ParticipantIdentity, want.ParticipantSid = "alice", "PA_alice"
				if !proto.Equal(want, &got) {
					t.Fatalf("round trip: want %v\ngot %v", want, &got)
				}
			})
		}
	}
}

func TestPacketsLeftInClear(t *testing.T) {
	p := mustShared(t, "secret", Options{})
	c := NewCryptor("a", p)
	enc := &lkpb.DataPacket{Value: &lkpb.DataPacket_EncryptedPacket{EncryptedPacket: &lkpb.EncryptedPacket{Iv: []byte{1}}}}
	for name, pkt := range map[string]*lkpb.DataPacket{
		"sip_dtmf":      {Value: &lkpb.DataPacket_SipDtmf{SipDtmf: &lkpb.SipDTMF{Code: 1, Digit: "1"}}},
		"metrics":       {Value: &lkpb.DataPacket_Metrics{Metrics: &lkpb.MetricsBatch{TimestampMs: 1}}},
		"speaker":       {Value: &lkpb.DataPacket_Speaker{Speaker: &lkpb.ActiveSpeakerUpdate{}}},
		"transcription": {Value: &lkpb.DataPacket_Transcription{Transcription: &lkpb.Transcription{TrackId: "t"}}},
		"no value":      {Kind: lkpb.DataPacket_LOSSY},
		"encrypted":     enc,
	} {
		before := proto.Clone(pkt)
		if Encryptable(pkt) {
			t.Errorf("%s: Encryptable", name)
		}
		if err := c.EncryptPacket(pkt); err != nil || !proto.Equal(before, pkt) {
			t.Errorf("%s: changed (%v)", name, err)
		}
	}
}

func TestKeyIndexSelection(t *testing.T) {
	sendP := mustParticipant(t, Options{})
	recvP := mustParticipant(t, Options{})
	for _, p := range []*ParticipantKeyProvider{sendP, recvP} {
		for i, m := range []string{"k0", "k1", "k2", "k3"} {
			if err := p.SetKey("alice", uint8(i), []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
	}
	alice, bob := NewCryptor("alice", sendP), NewCryptor("bob", recvP)
	// SetKey makes its index current (JS setKey default).
	if got := sendP.CurrentKeyIndex("alice"); got != 3 {
		t.Fatalf("current %d", got)
	}
	for _, idx := range []uint8{3, 1, 0, 2} {
		if err := sendP.SetCurrentKeyIndex("alice", idx); err != nil {
			t.Fatal(err)
		}
		ct, gotIdx, iv, err := alice.EncryptFrame([]byte("frame"))
		if err != nil || gotIdx != idx {
			t.Fatalf("idx %d: got %d, %v", idx, gotIdx, err)
		}
		if pt, err := bob.DecryptFrame("alice", idx, iv, ct); err != nil || string(pt) != "frame" {
			t.Fatalf("idx %d: %v", idx, err)
		}
		// Any other index is the wrong key.
		if _, err := bob.DecryptFrame("alice", (idx+1)%4, iv, ct); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("idx %d+1: %v", idx, err)
		}
		// Other identities' rings are not consulted.
		if _, err := bob.DecryptFrame("carol", idx, iv, ct); !errors.Is(err, ErrNoKey) {
			t.Fatalf("carol: %v", err)
		}
	}
	// A remote's current index does not change the local one.
	_ = sendP.SetKey("carol", 5, []byte("c5"))
	if got := sendP.CurrentKeyIndex("alice"); got != 2 {
		t.Fatalf("alice current %d", got)
	}
	// Per-participant rings: a frame attributed to the wrong sender fails
	// even when that sender has a key at the same index.
	_ = recvP.SetKey("mallory", 2, []byte("k2-mallory"))
	ct, idx, iv, _ := alice.EncryptFrame([]byte("x"))
	if _, err := bob.DecryptFrame("mallory", idx, iv, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong sender: %v", err)
	}
	sendP.RemoveParticipant("alice")
	if _, _, _, err := alice.EncryptFrame([]byte("x")); !errors.Is(err, ErrNoKey) {
		t.Fatalf("after RemoveParticipant: %v", err)
	}
	// Shared provider: current index applies to everyone.
	sp := mustShared(t, "s0", Options{KeyRingSize: 4})
	if err := sp.SetKey(3, []byte("s3")); err != nil {
		t.Fatal(err)
	}
	if err := sp.SetKey(4, []byte("s4")); !errors.Is(err, ErrInvalidKeyIndex) {
		t.Fatalf("ring size 4, index 4: %v", err)
	}
	_, idx, _, _ = NewCryptor("anyone", sp).EncryptFrame(nil)
	if idx != 3 {
		t.Fatalf("shared idx %d", idx)
	}
	_ = sp.SetCurrentKeyIndex(0)
	if _, idx, _, _ := NewCryptor("anyone", sp).EncryptFrame(nil); idx != 0 {
		t.Fatalf("shared idx %d", idx)
	}
}

func TestRatchet(t *testing.T) {
	type ev struct {
		id  string
		idx uint8
	}
	var (
		mu     sync.Mutex
		events []ev
	)
	onR := func(id string, idx uint8) { mu.Lock(); events = append(events, ev{id, idx}); mu.Unlock() }

	sender := mustParticipant(t, Options{})
	_ = sender.SetKey("alice", 1, []byte("alice-1"))
	tight := mustParticipant(t, Options{RatchetWindowSize: 2, OnKeyRatcheted: onR})
	_ = tight.SetKey("alice", 1, []byte("alice-1"))
	none := mustParticipant(t, Options{})
	_ = none.SetKey("alice", 1, []byte("alice-1"))
	alice := NewCryptor("alice", sender)
	rTight, rNone := NewCryptor("bob", tight), NewCryptor("carol", none)

	// The sender ratchets twice; the returned material is the new key's
	// material (applications distribute it).
	orig := tight.Key("alice", 1)
	var mat []byte
	for range 2 {
		m, err := sender.RatchetKey("alice", 1)
		if err != nil {
			t.Fatal(err)
		}
		mat = m
	}
	r1, _ := orig.Ratchet()
	r2, _ := r1.Ratchet()
	if !bytes.Equal(mat, r1.ratchetMaterial()) || sender.Key("alice", 1).chain != r2.chain {
		t.Fatal("RatchetKey did not advance the chain by one step each")
	}
	ct, idx, iv, _ := alice.EncryptFrame([]byte("after ratchet"))

	// Without a window: failure, key untouched.
	if _, err := rNone.DecryptFrame("alice", idx, iv, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("window 0: %v", err)
	}
	// Window 2: succeeds and stores the ratcheted key.
	pt, err := rTight.DecryptFrame("alice", idx, iv, ct)
	if err != nil || string(pt) != "after ratchet" {
		t.Fatalf("window 2: %v", err)
	}
	if got := tight.Key("alice", 1); got == orig || got.chain != r2.chain {
		t.Fatal("ratcheted key not stored")
	}
	mu.Lock()
	if len(events) != 1 || events[0] != (ev{"alice", 1}) {
		t.Fatalf("events %v", events)
	}
	mu.Unlock()
	// Packets too: next packet decrypts with the stored key, no new event.
	pkt := &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("p")}}}
	_ = alice.EncryptPacket(pkt)
	pkt.ParticipantIdentity = "alice"
	if err := rTight.DecryptPacket(pkt); err != nil || string(pkt.GetUser().GetPayload()) != "p" {
		t.Fatalf("packet after ratchet: %v", err)
	}
	if len(events) != 1 {
		t.Fatal("unexpected second ratchet")
	}

	// Three more sender ratchets exceed the window of 2: failure and the
	// receiver's stored key is unchanged.
	for range 3 {
		if _, err := sender.RatchetKey("alice", 1); err != nil {
			t.Fatal(err)
		}
	}
	before := tight.Key("alice", 1)
	ct, idx, iv, _ = alice.EncryptFrame([]byte("too far"))
	if _, err := rTight.DecryptFrame("alice", idx, iv, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("beyond window: %v", err)
	}
	if tight.Key("alice", 1) != before {
		t.Fatal("key changed after failed ratchet")
	}
	// A manual ratchet on the receiver catches up by one (now 2 behind → window works).
	if _, err := tight.RatchetKey("alice", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := rTight.DecryptFrame("alice", idx, iv, ct); err != nil {
		t.Fatalf("after manual catch-up: %v", err)
	}
	// RatchetKey without a key.
	if _, err := tight.RatchetKey("nobody", 0); !errors.Is(err, ErrNoKey) {
		t.Fatalf("ratchet unknown: %v", err)
	}
	// A key set while a decrypt ratchets is not overwritten (CAS).
	k := tight.Key("alice", 1)
	next, _ := k.Ratchet()
	_ = tight.SetKey("alice", 1, []byte("brand new"))
	if tight.ReplaceKey("alice", 1, k, next) {
		t.Fatal("ReplaceKey overwrote a newer key")
	}
}

// TestSharedRatchetHKDF: shared provider, HKDF, window like Rust's default.
func TestSharedRatchetHKDF(t *testing.T) {
	send := mustShared(t, "shared", Options{KDF: HKDF})
	recv := mustShared(t, "shared", Options{KDF: HKDF, RatchetWindowSize: RustDefaultRatchetWindow})
	for range RustDefaultRatchetWindow {
		if _, err := send.RatchetKey(0); err != nil {
			t.Fatal(err)
		}
	}
	pkt := &lkpb.DataPacket{ParticipantIdentity: "x", Value: &lkpb.DataPacket_RpcAck{RpcAck: &lkpb.RpcAck{RequestId: "r"}}}
	if err := NewCryptor("x", send).EncryptPacket(pkt); err != nil {
		t.Fatal(err)
	}
	if err := NewCryptor("y", recv).DecryptPacket(pkt); err != nil || pkt.GetRpcAck().GetRequestId() != "r" {
		t.Fatalf("%v", err)
	}
	if recv.Key("", 0).chain != send.Key("", 0).chain {
		t.Fatal("receiver did not adopt the ratcheted key")
	}
}

func TestConcurrent(t *testing.T) {
	p := mustParticipant(t, Options{RatchetWindowSize: 3})
	for _, id := range []string{"a", "b"} {
		_ = p.SetKey(id, 0, []byte(id+"-0"))
		_ = p.SetKey(id, 1, []byte(id+"-1"))
	}
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		ivMu     sync.Mutex
		ivs      = map[[12]byte]bool{}
	)
	a, b := NewCryptor("a", p), NewCryptor("b", p)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, peer := a, "a"
			if g%2 == 1 {
				c, peer = b, "b"
			}
			for i := range 200 {
				msg := []byte(fmt.Sprintf("g%d-%d", g, i))
				ct, idx, iv, err := c.EncryptFrame(msg)
				if err != nil {
					failures.Add(1)
					continue
				}
				ivMu.Lock()
				if ivs[iv] {
					failures.Add(1)
				}
				ivs[iv] = true
				ivMu.Unlock()
				pt, err := c.DecryptFrame(peer, idx, iv, ct)
				// The writer below may ratchet or replace index 1 between
				// encrypt and decrypt; only index 0 is stable.
				if idx == 0 && (err != nil || !bytes.Equal(pt, msg)) {
					failures.Add(1)
				}
				pkt := &lkpb.DataPacket{ParticipantIdentity: peer, Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: msg}}}
				if err := c.EncryptPacket(pkt); err != nil {
					failures.Add(1)
					continue
				}
				_ = c.DecryptPacket(pkt)
			}
		}()
	}
	// Writer: switch indices, ratchet and re-key index 1 concurrently.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 100 {
			_ = p.SetCurrentKeyIndex("a", uint8(i%2))
			_, _ = p.RatchetKey("b", 1)
			if i%10 == 0 {
				_ = p.SetKey("a", 1, []byte(fmt.Sprint("a-1-", i)))
				_ = p.SetCurrentKeyIndex("a", 0)
			}
		}
	}()
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d failures", n)
	}
}

func newGCM16(k *Key) (cipher.AEAD, error) { return cipher.NewGCMWithNonceSize(k.block, 16) }
