package datatrack_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/e2ee"
	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// FuzzReceivePathE2EE feeds arbitrary packet sequences (length-prefixed) into a RemoteManager
// whose subscribed track is end-to-end encrypted, with the room's real decryptor (e2ee.Cryptor
// with a shared key): malformed extensions, wrong key indices, truncated tags, forged
// ciphertexts and multi-packet frames must never panic, and a delivered frame is always one
// the publisher encrypted (never ciphertext or garbage).
func FuzzReceivePathE2EE(f *testing.F) {
	kp, err := e2ee.NewSharedKeyProvider([]byte("fuzz key"), e2ee.Options{})
	if err != nil {
		f.Fatal(err)
	}
	enc := e2ee.NewCryptor("alice", kp)
	dec := e2ee.NewCryptor("me", kp)
	plain := [][]byte{[]byte("frame one"), bytes.Repeat([]byte{7}, 3000), {}}
	valid := map[string]bool{}
	for _, p := range plain {
		valid[string(p)] = true
	}
	// Seeds: the publisher's real packets (small MTU so the large frame has several).
	sp, err := datatrack.NewSendPipeline(1, 1200, datatrack.NewClock(1, time.Unix(0, 0)), enc)
	if err != nil {
		f.Fatal(err)
	}
	q := datatrack.NewSendQueue(0, 0, datatrack.RejectNew)
	var all []byte
	for _, p := range plain {
		pf := q.NewFrame()
		if err := sp.Encode(pf, datatrack.Frame{Payload: p, UserTimestamp: 42, HasUserTimestamp: true}, time.Unix(1, 0)); err != nil {
			f.Fatal(err)
		}
		var one []byte
		for i := 0; i < pf.Len(); i++ {
			one = protowire.AppendBytes(one, pf.Packet(i))
		}
		f.Add(one)
		all = append(all, one...)
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, data []byte) {
		rm := datatrack.NewRemoteManager(datatrack.RemoteConfig{LocalIdentity: "me", Decryptor: dec})
		rm.HandleJoin([]*lkpb.ParticipantInfo{{Identity: "alice", Sid: "PA_alice", Version: 1, State: lkpb.ParticipantInfo_ACTIVE,
			DataTracks: []*lkpb.DataTrackInfo{{PubHandle: 1, Sid: "DTR_e", Name: "e", Encryption: lkpb.Encryption_GCM}}}}, time.Unix(0, 0))
		if err := rm.SetMaxPartialFrames("DTR_e", 4); err != nil {
			t.Fatal(err)
		}
		sub, _, err := rm.Subscribe("DTR_e", datatrack.SubscribeOptions{BufferSize: 64}, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		rm.HandleSubscriberHandles(&lkpb.DataTrackSubscriberHandles{SubHandles: map[uint32]*lkpb.DataTrackSubscriberHandles_PublishedDataTrack{
			1: {PublisherIdentity: "alice", PublisherSid: "PA_alice", TrackSid: "DTR_e"}}}, time.Unix(0, 0))
		for len(data) > 0 {
			msg, n := protowire.ConsumeBytes(data)
			if n < 0 {
				break
			}
			data = data[n:]
			rm.HandlePacket(bytes.Clone(msg))
		}
		for {
			fr, ok := sub.TryRecv()
			if !ok {
				break
			}
			if !valid[string(fr.Payload)] {
				t.Fatalf("delivered a frame the publisher never encrypted: %d bytes", len(fr.Payload))
			}
		}
		rm.Close()
	})
}
