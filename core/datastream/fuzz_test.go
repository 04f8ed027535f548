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

// FuzzIncoming feeds arbitrary sequences of DataPackets (each a
// length-prefixed protobuf) to a receiving manager with small limits and
// reads every stream to its end: nothing may panic, hang or exceed the caps.
func FuzzIncoming(f *testing.F) {
	seed := func(hexes ...string) []byte {
		var b []byte
		for _, h := range hexes {
			b = protowire.AppendBytes(b, mustHex(f, h))
		}
		return b
	}
	f.Add(seed(vecV7))
	f.Add(seed(vecV8Header, vecV8Chunk, vecV8Trailer))
	f.Add(seed(vecV9))
	f.Add(seed(vecV10))
	f.Add(seed(vecV8Header, vecV8Chunk, vecV8Chunk, vecV8Trailer))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := datastream.NewManager(&dstest.Recorder{}, datastream.Options{Limits: datastream.Limits{
			MaxPayloadBytes: 1 << 16, MaxBufferedBytes: 1 << 16, MaxOpenStreams: 8, MaxOpenStreamsPerSender: 4, ReadPieceSize: 1024}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		read := func(r interface {
			Next(context.Context) (string, error)
		}) {
			for {
				if _, err := r.Next(ctx); err != nil {
					return
				}
			}
		}
		_ = m.RegisterTextStreamHandler("t", func(r *datastream.TextStreamReader, _ string) { read(r) })
		_ = m.RegisterByteStreamHandler("files", func(r *datastream.ByteStreamReader, _ string) {
			b, _ := r.ReadAll(ctx)
			if len(b) > 1<<16 {
				t.Errorf("read %d bytes past the cap", len(b))
			}
		})
		for len(data) > 0 {
			msg, n := protowire.ConsumeBytes(data)
			if n < 0 {
				break
			}
			data = data[n:]
			p := new(lkpb.DataPacket)
			if proto.Unmarshal(msg, p) != nil {
				continue
			}
			p.ParticipantIdentity = "alice"
			m.HandlePacket(p)
		}
		m.HandleParticipantDisconnected("alice", "PA_alice")
		_ = m.Close()
	})
}
