package room

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datastream/dstest"
	"github.com/lkcore/lkcore/core/e2ee"
	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
)

// Fuzz targets for what the room receives from remote peers and the server, on a Room built
// without a network (no engine, no WebSocket): the state Connect leaves behind after the
// JoinResponse, with the room marked as closing so that anything it would send (RPC acks,
// responses, data-track requests) fails at once instead of waiting for a transport.

// fuzzPeers are the remote participants of an offline room (the identities of the recordings).
func fuzzPeers() []string { return []string{"caller-js", "callee-js", "sender-js", "receiver-js"} }

// offlineRoom builds a room as Connect would after joining, without network. kp enables E2EE.
func offlineRoom(tb testing.TB, kp e2ee.KeyProvider) *Room {
	tb.Helper()
	opts := Options{}
	if kp != nil {
		opts.E2EE = &E2EEOptions{KeyProvider: kp}
	}
	r := &Room{
		opts: opts, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		events: newEventQueue(64), engEvents: make(chan engineEvent, 64), cmds: make(chan func()),
		disconnectCh: make(chan struct{}), connected: make(chan struct{}), closing: make(chan struct{}),
		done: make(chan struct{}), state: StateConnected,
	}
	close(r.connected)
	close(r.closing) // sends fail at once (ErrDisconnected)
	r.roomInfo = &lkpb.Room{Name: "fuzz", Sid: "RM_fuzz"}
	r.local = &LocalParticipant{room: r}
	r.local.store(&lkpb.ParticipantInfo{Identity: "me", Sid: "PA_me", State: lkpb.ParticipantInfo_ACTIVE, Version: 1,
		Permission: &lkpb.ParticipantPermission{CanPublishData: true, CanSubscribe: true}})
	var others []*lkpb.ParticipantInfo
	for i, id := range fuzzPeers() {
		others = append(others, &lkpb.ParticipantInfo{Identity: id, Sid: "PA_" + id, State: lkpb.ParticipantInfo_ACTIVE,
			Version: 1, ClientProtocol: 2, JoinedAt: int64(i),
			DataTracks: []*lkpb.DataTrackInfo{{PubHandle: 1, Sid: "DTR_" + id, Name: "t"}}})
	}
	r.parts = newParticipantTable(r.local)
	r.parts.seed(others)
	var err error
	if r.dapi, err = newDataAPI(r); err != nil {
		tb.Fatal(err)
	}
	r.serverInfo = &lkpb.ServerInfo{Version: "1.13.5"} // as a join would (the RPC version check)
	if kp != nil {
		r.e2ee = &roomE2EE{}
	}
	r.initE2EE()
	r.initDataTracks(others)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := r.dapi.rpc.RegisterMethod("echo", func(_ context.Context, inv rpc.Invocation) (string, error) { return inv.Payload, nil }); err != nil {
		tb.Fatal(err)
	}
	for _, topic := range []string{"text-small", "text-large", "chat"} {
		_ = r.dapi.ds.RegisterTextStreamHandler(topic, func(rd *datastream.TextStreamReader, _ string) {
			for {
				if _, err := rd.Next(ctx); err != nil {
					return
				}
			}
		})
	}
	_ = r.dapi.ds.RegisterByteStreamHandler("bytes", func(rd *datastream.ByteStreamReader, _ string) { _, _ = rd.ReadAll(ctx) })
	tb.Cleanup(func() {
		r.dapi.close() // waits for every handler
		r.closeDataTracks()
		cancel()
	})
	return r
}

// drainEvents takes every pending event (the queue holds at most 64 data events).
func drainEvents(r *Room) {
	for r.events.pending() > 0 {
		if _, err := r.events.next(context.Background()); err != nil {
			return
		}
	}
}

// traceSeeds returns the recorded received packets of the JS RPC and stream sessions (from the
// rpc and datastream packages' testdata), one seed per packet and one per session, in the
// FuzzDataPacketDispatch input format.
func traceSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, path := range []string{"../rpc/testdata/2b-rpc-js.reliable.jsonl", "../datastream/testdata/2c-streams-js.reliable.jsonl"} {
		msgs, err := dstest.ReadTrace(path)
		if err != nil {
			f.Fatal(err)
		}
		session := []byte{0}
		for _, m := range msgs {
			if m.Dir != "recv" {
				continue
			}
			b, err := proto.Marshal(m.Packet)
			if err != nil {
				f.Fatal(err)
			}
			one := protowire.AppendBytes([]byte{1}, b)
			out = append(out, append([]byte{0}, one...))
			session = append(session, one...)
		}
		out = append(out, session)
	}
	return out
}

// FuzzDataPacketDispatch is the whole receive path of `_reliable` and `_lossy`: arbitrary
// messages go through the engine's decoder and duplicate filter, then the room's handlePacket
// (E2EE decryption, identity rules) and dispatchPacket (user data, DTMF, RPC v1 and v2, data
// streams, ignored kinds), with an RPC method and stream handlers registered. The first byte
// chooses a plain or an E2EE room (shared key); each message is a flag byte (bit 0: reliable)
// and a length-prefixed DataPacket. Nothing may panic or hang.
func FuzzDataPacketDispatch(f *testing.F) {
	for _, s := range traceSeeds(f) {
		f.Add(s)
	}
	kp, err := e2ee.NewSharedKeyProvider([]byte("fuzz key"), e2ee.Options{})
	if err != nil {
		f.Fatal(err)
	}
	// E2EE seeds: a user packet, a stream header and a chat message, encrypted as a peer would.
	edited := int64(1_700_000_001_000)
	c := e2ee.NewCryptor("sender-js", kp)
	for _, pkt := range []*lkpb.DataPacket{
		{ParticipantIdentity: "sender-js", Sequence: 2, Value: &lkpb.DataPacket_ChatMessage{ChatMessage: &lkpb.ChatMessage{
			Id: "7b1e8a40-5c43-4d0e-9f7e-2f1f4a8e9b10", Timestamp: 1_700_000_000_000, EditTimestamp: &edited, Message: "hi"}}},
		{ParticipantIdentity: "sender-js", ParticipantSid: "PA_sender-js", Sequence: 1, Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: []byte("hello"), Topic: proto.String("t")}}},
		{ParticipantIdentity: "sender-js", Value: &lkpb.DataPacket_StreamHeader{StreamHeader: &lkpb.DataStream_Header{StreamId: "s", Topic: "chat",
			MimeType: "text/plain", InlineContent: []byte("hi"), ContentHeader: &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}}}}},
	} {
		if err := c.EncryptPacket(pkt); err != nil {
			f.Fatal(err)
		}
		b, err := proto.Marshal(pkt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{1, 1}, protowire.AppendBytes(nil, b)...))
	}
	// A DTMF packet (never encrypted), as a SIP participant sends it, in a plain and an E2EE room.
	dtmf, err := proto.Marshal(&lkpb.DataPacket{ParticipantIdentity: "sip_1", Sequence: 1, Value: &lkpb.DataPacket_SipDtmf{SipDtmf: &lkpb.SipDTMF{Code: 11, Digit: "#"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{0, 1}, protowire.AppendBytes(nil, dtmf)...))
	f.Add(append([]byte{1, 1}, protowire.AppendBytes(nil, dtmf)...))
	// A chat message in clear (a room without E2EE).
	chat, err := proto.Marshal(&lkpb.DataPacket{ParticipantIdentity: "sender-js", Sequence: 1, Value: &lkpb.DataPacket_ChatMessage{ChatMessage: &lkpb.ChatMessage{
		Id: "7b1e8a40-5c43-4d0e-9f7e-2f1f4a8e9b10", Timestamp: 1_700_000_000_000, Message: "hello"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{0, 1}, protowire.AppendBytes(nil, chat)...))
	// A transcription, as an agent sends it (never encrypted), in a plain and an E2EE room.
	tr, err := proto.Marshal(&lkpb.DataPacket{ParticipantIdentity: "agent", Sequence: 1, Value: &lkpb.DataPacket_Transcription{Transcription: &lkpb.Transcription{
		TranscribedParticipantIdentity: "sender-js", TrackId: "TR_mic", Segments: []*lkpb.TranscriptionSegment{{Id: "s1", Text: "hi", EndTime: 400, Final: true, Language: "en"}}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{0, 1}, protowire.AppendBytes(nil, tr)...))
	f.Add(append([]byte{1, 1}, protowire.AppendBytes(nil, tr)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		var keys e2ee.KeyProvider
		if data[0]&1 == 1 {
			keys = kp
		}
		r := offlineRoom(t, keys)
		var dedup engine.ReceiveDedup
		data = data[1:]
		for len(data) > 1 {
			reliable := data[0]&1 == 1
			msg, n := protowire.ConsumeBytes(data[1:])
			if n < 0 {
				break
			}
			data = data[1+n:]
			pkt, err := engine.DecodeDataPacket(&dedup, msg, time.Unix(1000, 0))
			if err != nil {
				continue
			}
			r.handlePacket(pkt, reliable)
			drainEvents(r)
		}
	})
}

// FuzzRoomSignal feeds arbitrary SignalResponse sequences to the room loop's handler and from
// there to the data-track managers: participant updates (joins, leaves, metadata, attributes,
// data tracks), room updates, request responses, publish/unpublish responses, subscriber-handle
// maps, token refreshes, moves to another room; a JoinResponse is taken as the join of a full reconnect (applyJoin).
// Answers, trickles and leaves go to the engine and to teardown, which have their own targets
// and tests, and are skipped. Nothing may panic, the participant table stays consistent, and
// a model built from the events alone (what a binding keeps) always equals the room's
// info, its participants' infos and their data tracks.
func FuzzRoomSignal(f *testing.F) {
	upd := func(infos ...*lkpb.ParticipantInfo) []byte {
		b, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Update{Update: &lkpb.ParticipantUpdate{Participants: infos}}})
		return protowire.AppendBytes(nil, b)
	}
	f.Add(upd(&lkpb.ParticipantInfo{Identity: "new", Sid: "PA_new", Version: 1, State: lkpb.ParticipantInfo_ACTIVE}))
	f.Add(upd(&lkpb.ParticipantInfo{Identity: "caller-js", Sid: "PA_caller-js", Version: 2, State: lkpb.ParticipantInfo_DISCONNECTED}))
	f.Add(upd(&lkpb.ParticipantInfo{Identity: "me", Sid: "PA_me", Version: 2, Metadata: "m", Attributes: map[string]string{"a": "b"}}))
	f.Add(upd(&lkpb.ParticipantInfo{Identity: "callee-js", Sid: "PA_other", Version: 5, State: lkpb.ParticipantInfo_ACTIVE,
		DataTracks: []*lkpb.DataTrackInfo{{PubHandle: 2, Sid: "DTR_x", Name: "x"}}}))
	// Media tracks: a new participant with two, a known one publishing, muting, unpublishing,
	// a new session of it, then both leaving.
	mic := func(sid string, muted bool) *lkpb.TrackInfo {
		return &lkpb.TrackInfo{Sid: sid, Type: lkpb.TrackType_AUDIO, Source: lkpb.TrackSource_MICROPHONE, Muted: muted, MimeType: "audio/opus"}
	}
	cam := &lkpb.TrackInfo{Sid: "TR_cam", Type: lkpb.TrackType_VIDEO, Source: lkpb.TrackSource_CAMERA, Width: 1280, Height: 720, Simulcast: true}
	active := func(id, sid string, v uint32, tracks ...*lkpb.TrackInfo) *lkpb.ParticipantInfo {
		return &lkpb.ParticipantInfo{Identity: id, Sid: sid, Version: v, State: lkpb.ParticipantInfo_ACTIVE, Tracks: tracks}
	}
	f.Add(slices.Concat(
		upd(active("new", "PA_new", 1, mic("TR_new_mic", false), cam)),
		upd(active("callee-js", "PA_callee-js", 2, mic("TR_mic", false))),
		upd(active("callee-js", "PA_callee-js", 3, mic("TR_mic", true), &lkpb.TrackInfo{Sid: "TR_data", Type: lkpb.TrackType_DATA})),
		upd(active("callee-js", "PA_callee-js", 4)),
		upd(active("callee-js", "PA_callee-js2", 1, mic("TR_mic2", false), mic("TR_mic2", true))),
		upd(&lkpb.ParticipantInfo{Identity: "new", Sid: "PA_new", Version: 2, State: lkpb.ParticipantInfo_DISCONNECTED},
			&lkpb.ParticipantInfo{Identity: "callee-js", Sid: "PA_callee-js2", Version: 2, State: lkpb.ParticipantInfo_DISCONNECTED})))
	hs, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_DataTrackSubscriberHandles{DataTrackSubscriberHandles: &lkpb.DataTrackSubscriberHandles{
		SubHandles: map[uint32]*lkpb.DataTrackSubscriberHandles_PublishedDataTrack{7: {PublisherIdentity: "caller-js", PublisherSid: "PA_caller-js", TrackSid: "DTR_caller-js"}}}}})
	f.Add(protowire.AppendBytes(nil, hs))
	ru, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_RoomUpdate{RoomUpdate: &lkpb.RoomUpdate{Room: &lkpb.Room{Name: "fuzz", Metadata: "x"}}}})
	f.Add(protowire.AppendBytes(nil, ru))
	// A full reconnect's join: callee-js stayed (its track republished under a new sid), the
	// others left, "new" joined with a track.
	jr, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Join{Join: &lkpb.JoinResponse{
		OtherParticipants: []*lkpb.ParticipantInfo{
			{Identity: "callee-js", Sid: "PA_callee-js", Version: 2, State: lkpb.ParticipantInfo_ACTIVE,
				DataTracks: []*lkpb.DataTrackInfo{{PubHandle: 1, Sid: "DTR_callee-js-2", Name: "t"}}},
			{Identity: "new", Sid: "PA_new", Version: 1, State: lkpb.ParticipantInfo_ACTIVE,
				DataTracks: []*lkpb.DataTrackInfo{{PubHandle: 1, Sid: "DTR_new", Name: "n"}}},
		}}}})
	f.Add(append(protowire.AppendBytes(nil, jr), upd(&lkpb.ParticipantInfo{Identity: "new", Sid: "PA_new", Version: 2, State: lkpb.ParticipantInfo_DISCONNECTED})...))
	// A move to another room: callee-js is there too (another session), "new" with a track, our
	// own session with a new sid.
	mv, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_RoomMoved{RoomMoved: &lkpb.RoomMovedResponse{
		Room: &lkpb.Room{Sid: "RM_elsewhere", Name: "elsewhere"}, Token: "t",
		Participant: &lkpb.ParticipantInfo{Identity: "me", Sid: "PA_me2", Version: 9, State: lkpb.ParticipantInfo_ACTIVE},
		OtherParticipants: []*lkpb.ParticipantInfo{
			{Identity: "callee-js", Sid: "PA_callee-js-2", Version: 1, State: lkpb.ParticipantInfo_ACTIVE},
			{Identity: "new", Sid: "PA_new", Version: 1, State: lkpb.ParticipantInfo_ACTIVE,
				DataTracks: []*lkpb.DataTrackInfo{{PubHandle: 1, Sid: "DTR_new", Name: "n"}}},
		}}}})
	f.Add(protowire.AppendBytes(nil, mv))
	// Connection quality: ours, a known participant's, an unknown session's, then a change.
	cq := func(q lkpb.ConnectionQuality, sids ...string) []byte {
		u := &lkpb.ConnectionQualityUpdate{}
		for _, sid := range sids {
			u.Updates = append(u.Updates, &lkpb.ConnectionQualityInfo{ParticipantSid: sid, Quality: q, Score: 4.5})
		}
		b, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_ConnectionQuality{ConnectionQuality: u}})
		return protowire.AppendBytes(nil, b)
	}
	f.Add(append(cq(lkpb.ConnectionQuality_EXCELLENT, "PA_me", "PA_callee-js", "PA_gone"), cq(lkpb.ConnectionQuality_LOST, "PA_callee-js")...))
	// Speaker updates: ours, two known participants', an unknown session's, a stop and a
	// reorder; then one speaker leaves, then a full reconnect's join and a move forget them.
	spk := func(infos ...*lkpb.SpeakerInfo) []byte {
		b, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_SpeakersChanged{SpeakersChanged: &lkpb.SpeakersChanged{Speakers: infos}}})
		return protowire.AppendBytes(nil, b)
	}
	speaking := spk(&lkpb.SpeakerInfo{Sid: "PA_me", Level: 0.25, Active: true}, &lkpb.SpeakerInfo{Sid: "PA_callee-js", Level: 0.5, Active: true},
		&lkpb.SpeakerInfo{Sid: "PA_caller-js", Level: 0.75, Active: true}, &lkpb.SpeakerInfo{Sid: "PA_gone", Level: 1, Active: true})
	reorder := spk(&lkpb.SpeakerInfo{Sid: "PA_me"}, &lkpb.SpeakerInfo{Sid: "PA_callee-js", Level: 1, Active: true})
	f.Add(slices.Concat(speaking, reorder, upd(&lkpb.ParticipantInfo{Identity: "caller-js", Sid: "PA_caller-js", Version: 2,
		State: lkpb.ParticipantInfo_DISCONNECTED})))
	f.Add(slices.Concat(speaking, protowire.AppendBytes(nil, jr)))
	f.Add(slices.Concat(speaking, protowire.AppendBytes(nil, mv), speaking))
	// Answers to the data-blob requests waiting below (1: a read, 2: a definition), twice, and
	// a store's answer to the read.
	msg := func(m *lkpb.SignalResponse) []byte {
		b, _ := proto.Marshal(m)
		return protowire.AppendBytes(nil, b)
	}
	getOK := msg(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_GetDataBlobResponse{GetDataBlobResponse: &lkpb.GetDataBlobResponse{
		RequestId: 1, Blob: &lkpb.DataBlob{Contents: []byte("def")}}}})
	storeOK := msg(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_StoreDataBlobResponse{StoreDataBlobResponse: &lkpb.StoreDataBlobResponse{RequestId: 2}}})
	refused := msg(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_RequestResponse{RequestResponse: &lkpb.RequestResponse{
		RequestId: 1, Reason: lkpb.RequestResponse_NOT_FOUND}}})
	f.Add(slices.Concat(getOK, storeOK, getOK, refused, storeOK))
	f.Add(slices.Concat(msg(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_StoreDataBlobResponse{StoreDataBlobResponse: &lkpb.StoreDataBlobResponse{RequestId: 1}}}), refused))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := offlineRoom(t, nil)
		model := newEventModel(stateOf(r))
		// Two data-blob requests wait for their answers: each is answered at most once (its
		// channel holds one answer; a second would block the loop), a definition is kept only
		// once stored.
		def := newDefinedSchema(schemaProto(&DataTrackSchema{Name: "s"}), "d")
		read, define := &blobRequest{done: make(chan blobAnswer, 1)}, &blobRequest{define: def, done: make(chan blobAnswer, 1)}
		r.schemas.requests = map[uint32]*blobRequest{1: read, 2: define}
		defer func() {
			select {
			case a := <-define.done:
				if (a.err == nil) != (r.schemas.defined["s\x00"] == def) {
					t.Fatalf("definition answered %v, kept %v", a.err, r.schemas.defined)
				}
			default:
				if len(r.schemas.defined) != 0 {
					t.Fatal("a definition kept before it was stored")
				}
			}
			select {
			case a := <-read.done:
				if a.err == nil && a.blob == nil {
					t.Fatal("a read answered without a definition")
				}
			default:
			}
		}()
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
			switch m := res.GetMessage().(type) {
			case *lkpb.SignalResponse_Answer, *lkpb.SignalResponse_Trickle, *lkpb.SignalResponse_Leave:
				continue
			case *lkpb.SignalResponse_Join:
				m.Join.Participant = r.local.load() // our own new session is not what is fuzzed
				r.applyJoin(joinFull, res, &fakeICE{})
			default:
				if r.handleSignal(res) == stepStop {
					t.Fatal("the room ended on a signal message")
				}
			}
			for r.events.pending() > 0 {
				ev, err := r.events.next(context.Background())
				if err != nil {
					break
				}
				if err := model.apply(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := model.matches(stateOf(r)); err != nil {
				t.Fatal(err)
			}
			for _, rp := range r.RemoteParticipants() {
				if rp.Identity() == "" || rp.Identity() == r.local.Identity() {
					t.Fatalf("remote participant %q in the table", rp.Identity())
				}
				if r.parts.remote(rp.Identity()) != rp {
					t.Fatalf("participant %q is not stored under its identity", rp.Identity())
				}
				if id := r.parts.sids[rp.SID()]; id != rp.Identity() {
					t.Fatalf("sid %q of %q maps to %q", rp.SID(), rp.Identity(), id)
				}
			}
		}
	})
}
