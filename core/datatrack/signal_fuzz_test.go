package datatrack

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// signalSeeds returns the recorded server messages of every scenario, each as its own
// sequence, plus every scenario's whole sequence (length-prefixed SignalResponse protobufs).
func signalSeeds(f *testing.F) [][]byte {
	byScenario := map[string][]byte{}
	var order []string
	var out [][]byte
	for _, scenario := range []string{"1a-publish-js", "1b-subscribe-js", "1b-subscribe-rust", "1d-resume-js"} {
		for _, s := range loadTraceSignals(f, scenario, "") {
			if s.Resp == nil {
				continue
			}
			b, err := proto.Marshal(s.Resp)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, protowire.AppendBytes(nil, b))
			if _, ok := byScenario[scenario]; !ok {
				order = append(order, scenario)
			}
			byScenario[scenario] = protowire.AppendBytes(byScenario[scenario], b)
		}
	}
	for _, s := range order {
		out = append(out, byScenario[s])
	}
	// A revocation and a grant of the subscribed track as the server sends them: handles
	// without it, allowed=false; allowed=true, handles with a new handle.
	var perm []byte
	for _, m := range []*lkpb.SignalResponse{
		{Message: &lkpb.SignalResponse_DataTrackSubscriberHandles{DataTrackSubscriberHandles: handles(map[uint32]string{3: "DTR_a"})}},
		{Message: &lkpb.SignalResponse_DataTrackSubscriberHandles{DataTrackSubscriberHandles: handles(map[uint32]string{})}},
		{Message: &lkpb.SignalResponse_SubscriptionPermissionUpdate{SubscriptionPermissionUpdate: &lkpb.SubscriptionPermissionUpdate{TrackSid: "DTR_a"}}},
		{Message: &lkpb.SignalResponse_SubscriptionPermissionUpdate{SubscriptionPermissionUpdate: &lkpb.SubscriptionPermissionUpdate{TrackSid: "DTR_a", Allowed: true}}},
		{Message: &lkpb.SignalResponse_DataTrackSubscriberHandles{DataTrackSubscriberHandles: handles(map[uint32]string{4: "DTR_a"})}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		perm = protowire.AppendBytes(perm, b)
	}
	return append(out, perm)
}

// FuzzSignalResponses feeds arbitrary sequences of SignalResponse messages (publish and
// unpublish responses, request responses, participant updates with data tracks, subscriber
// handle maps, ...) to a LocalManager with a published track and a pending publish, and to a
// RemoteManager with a subscribed track: nothing may panic, handles stay in range and every
// packet is routed only where the latest handle map says.
func FuzzSignalResponses(f *testing.F) {
	for _, s := range signalSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lm := newLocal(LocalConfig{})
		h, _, _ := lm.Publish(PublishOptions{Name: "sensor"}, t0)
		lm.HandlePublishResponse(publishResp(uint32(h), "DTR_sensor000000", "sensor"), t0)
		lm.Publish(PublishOptions{Name: "pending"}, t0)
		rm := NewRemoteManager(RemoteConfig{LocalIdentity: "me"})
		rm.HandleJoin([]*lkpb.ParticipantInfo{participant("alice", "PA_alice", 1, dti(1, "DTR_a", "a", 0))}, t0)
		sub, _, _ := rm.Subscribe("DTR_a", SubscribeOptions{BufferSize: 4}, t0)
		for len(data) > 0 {
			msg, n := protowire.ConsumeBytes(data)
			if n < 0 {
				break
			}
			data = data[n:]
			res := new(lkpb.SignalResponse)
			if proto.Unmarshal(msg, res) != nil {
				continue
			}
			lm.HandleSignal(res, t0)
			if p := res.GetUpdate(); p != nil {
				for _, pi := range p.GetParticipants() {
					if pi.GetIdentity() == "me" {
						lm.HandleLocalParticipantInfo(pi)
					}
				}
			}
			rm.HandleSignal(res, t0)
			for _, tr := range lm.Tracks() {
				if tr.Handle() == 0 || int(tr.Handle()) > MaxHandle {
					t.Fatalf("local track with handle %d", tr.Handle())
				}
			}
			checkRouting(t, rm, res.GetDataTrackSubscriberHandles())
		}
		if sub != nil {
			for {
				if _, ok := sub.TryRecv(); !ok {
					break
				}
			}
		}
		lm.Close()
		rm.Close()
	})
}

// checkRouting sends one single-packet frame for every handle of the latest map (if msg is
// one) and checks where it went.
func checkRouting(t *testing.T, rm *RemoteManager, msg *lkpb.DataTrackSubscriberHandles) {
	for h, pt := range msg.GetSubHandles() {
		if h == 0 || h > MaxHandle {
			continue
		}
		o := rm.HandlePacket(singlePacket(t, uint16(h), 1, []byte("x")))
		if o.TrackSid != "" && o.TrackSid != pt.GetTrackSid() {
			t.Fatalf("handle %d routed to %q, map says %q", h, o.TrackSid, pt.GetTrackSid())
		}
	}
}

// FuzzSubscriberHandles varies the subscriber-handle map itself (handles, SIDs, publisher
// identities, entries for unknown or unsubscribed tracks, handle 0 and handles above 65535)
// against a RemoteManager with three tracks of two publishers, two of them subscribed, then
// routes a packet for every handle: a packet is only delivered to the track its handle maps to
// in the latest map, and only if that track is subscribed.
func FuzzSubscriberHandles(f *testing.F) {
	// Each entry: handle (4 bytes, big endian), track index (1 byte), identity index (1 byte).
	entry := func(h uint32, track, who byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, h), track, who)
	}
	f.Add(append(entry(238, 0, 0), entry(239, 2, 1)...), byte(1))
	f.Add(append(entry(1, 0, 0), entry(1, 1, 0)...), byte(2))
	f.Add(append(entry(0, 0, 0), entry(70000, 1, 0)...), byte(1))
	f.Add(entry(5, 7, 9), byte(2))
	sids := []string{"DTR_a", "DTR_b", "DTR_c", "DTR_unknown", ""}
	whos := []string{"alice", "bob", "me", ""}
	f.Fuzz(func(t *testing.T, data []byte, maps byte) {
		rm := NewRemoteManager(RemoteConfig{LocalIdentity: "me"})
		rm.HandleJoin([]*lkpb.ParticipantInfo{
			participant("alice", "PA_alice", 1, dti(1, "DTR_a", "a", 0), dti(2, "DTR_b", "b", 0)),
			participant("bob", "PA_bob", 1, dti(1, "DTR_c", "c", 0)),
		}, t0)
		subscribed := map[string]*Subscription{}
		for _, sid := range []string{"DTR_a", "DTR_c"} {
			s, _, err := rm.Subscribe(sid, SubscribeOptions{BufferSize: 2}, t0)
			if err != nil {
				t.Fatal(err)
			}
			subscribed[sid] = s
		}
		for range int(maps%4) + 1 {
			msg := &lkpb.DataTrackSubscriberHandles{SubHandles: map[uint32]*lkpb.DataTrackSubscriberHandles_PublishedDataTrack{}}
			for len(data) >= 6 && len(msg.SubHandles) < 64 {
				h := binary.BigEndian.Uint32(data)
				msg.SubHandles[h] = &lkpb.DataTrackSubscriberHandles_PublishedDataTrack{
					TrackSid: sids[int(data[4])%len(sids)], PublisherIdentity: whos[int(data[5])%len(whos)],
					PublisherSid: fmt.Sprintf("PA_%s", whos[int(data[5])%len(whos)]),
				}
				data = data[6:]
				if len(data) > 0 && data[0] == 0xFF { // map separator
					data = data[1:]
					break
				}
			}
			rm.HandleSubscriberHandles(msg, t0)
			for h, pt := range msg.SubHandles {
				if h == 0 || h > MaxHandle {
					continue
				}
				o := rm.HandlePacket(singlePacket(t, uint16(h), uint16(h), []byte("x")))
				if o.Delivered && (o.TrackSid != pt.GetTrackSid() || subscribed[o.TrackSid] == nil) {
					t.Fatalf("handle %d delivered to %q; map says %q", h, o.TrackSid, pt.GetTrackSid())
				}
			}
		}
		for _, s := range subscribed {
			for {
				if _, ok := s.TryRecv(); !ok {
					break
				}
			}
		}
		rm.Close()
	})
}
