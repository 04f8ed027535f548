package e2ee

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

func benchCryptor(b *testing.B) *Cryptor {
	p, err := NewSharedKeyProvider([]byte("password"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	return NewCryptor("bench", p)
}

func BenchmarkEncryptFrame(b *testing.B) {
	for _, n := range []int{1 << 10, 100_000} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			c := benchCryptor(b)
			pt := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := c.EncryptFrame(pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecryptFrame(b *testing.B) {
	for _, n := range []int{1 << 10, 100_000} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			c := benchCryptor(b)
			ct, idx, iv, err := c.EncryptFrame(make([]byte, n))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.DecryptFrame("pub", idx, iv, ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendFrame is the allocation-free variant (reused buffers).
func BenchmarkAppendFrame(b *testing.B) {
	c := benchCryptor(b)
	pt := make([]byte, 1<<10)
	ctBuf := make([]byte, 0, len(pt)+TagSize)
	ptBuf := make([]byte, 0, len(pt))
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		ct, idx, iv, err := c.AppendEncryptFrame(ctBuf[:0], pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.AppendDecryptFrame(ptBuf[:0], "pub", idx, iv, ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPacketRoundTrip(b *testing.B) {
	c := benchCryptor(b)
	payload := make([]byte, 1<<10)
	b.ReportAllocs()
	for b.Loop() {
		pkt := &lkpb.DataPacket{ParticipantIdentity: "bench", Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: payload}}}
		if err := c.EncryptPacket(pkt); err != nil {
			b.Fatal(err)
		}
		if err := c.DecryptPacket(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecryptPacket feeds arbitrary decrypted payloads (authenticated with
// the right key, so they reach the payload parser) and arbitrary envelopes.
func FuzzDecryptPacket(f *testing.F) {
	p, err := NewSharedKeyProvider([]byte("fuzz"), fast(Options{RatchetWindowSize: 1}))
	if err != nil {
		f.Fatal(err)
	}
	c := NewCryptor("fuzz", p)
	seed, _ := proto.Marshal(&lkpb.EncryptedPacketPayload{Value: &lkpb.EncryptedPacketPayload_User{User: &lkpb.UserPacket{Payload: []byte("x")}}})
	f.Add(seed, []byte{})
	f.Add([]byte{0x3a, 0x00}, []byte{0x92, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, plain, envelope []byte) {
		iv := make([]byte, 12)
		pkt := &lkpb.DataPacket{ParticipantIdentity: "x", Value: &lkpb.DataPacket_EncryptedPacket{EncryptedPacket: &lkpb.EncryptedPacket{
			Iv: iv, EncryptedValue: p.Key("", 0).aead.Seal(nil, iv, plain, nil),
		}}}
		if err := c.DecryptPacket(pkt); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("authentic payload: %v", err)
		}
		var raw lkpb.DataPacket
		if proto.Unmarshal(envelope, &raw) == nil {
			_ = c.DecryptPacket(&raw)
		}
	})
}
