package datastream_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datastream/dstest"
	"github.com/lkcore/lkcore/core/lkpb"
)

// FuzzIncomingEncrypted is FuzzIncoming for packets that arrived end-to-end encrypted: every
// length-prefixed DataPacket is preceded by one byte choosing the encryption type it arrived
// with (none, GCM, custom, or an unknown value), so streams whose header, chunks and trailer
// disagree are exercised. Nothing may panic, hang or exceed the caps.
func FuzzIncomingEncrypted(f *testing.F) {
	seed := func(enc byte, hexes ...string) []byte {
		var b []byte
		for _, h := range hexes {
			b = append(b, enc)
			b = protowire.AppendBytes(b, mustHex(f, h))
		}
		return b
	}
	f.Add(seed(1, vecV7))
	f.Add(seed(1, vecV8Header, vecV8Chunk, vecV8Trailer))
	f.Add(append(seed(1, vecV8Header), seed(0, vecV8Chunk, vecV8Trailer)...)) // mismatch
	f.Add(seed(2, vecV9))
	f.Add(seed(1, vecV10))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := datastream.NewManager(&dstest.Recorder{}, datastream.Options{Limits: datastream.Limits{
			MaxPayloadBytes: 1 << 16, MaxBufferedBytes: 1 << 16, MaxOpenStreams: 8, MaxOpenStreamsPerSender: 4, ReadPieceSize: 1024}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.RegisterTextStreamHandler("t", func(r *datastream.TextStreamReader, _ string) {
			for {
				if _, err := r.Next(ctx); err != nil {
					return
				}
			}
		})
		_ = m.RegisterByteStreamHandler("files", func(r *datastream.ByteStreamReader, _ string) {
			b, _ := r.ReadAll(ctx)
			if len(b) > 1<<16 {
				t.Errorf("read %d bytes past the cap", len(b))
			}
		})
		for len(data) > 1 {
			enc := lkpb.Encryption_Type(data[0] % 4)
			msg, n := protowire.ConsumeBytes(data[1:])
			if n < 0 {
				break
			}
			data = data[1+n:]
			p := new(lkpb.DataPacket)
			if proto.Unmarshal(msg, p) != nil {
				continue
			}
			p.ParticipantIdentity = "alice"
			m.HandlePacketWithEncryption(p, enc)
		}
		m.HandleParticipantDisconnected("alice", "PA_alice")
		_ = m.Close()
	})
}
