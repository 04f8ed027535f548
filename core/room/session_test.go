package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

// fakeICE records what applyJoin hands to the engine.
type fakeICE struct {
	servers    []*lkpb.ICEServer
	setServers int
	forceRelay bool
	setRelay   int
}

func (f *fakeICE) SetICEServers(s []*lkpb.ICEServer, forceRelay bool) error {
	f.servers, f.forceRelay = s, forceRelay
	f.setServers++
	return nil
}

func (f *fakeICE) SetForceRelay(forceRelay bool) error {
	f.forceRelay = forceRelay
	f.setRelay++
	return nil
}

// offlineNew is a Room from New whose join state is applied by hand (no network).
func offlineNew(t *testing.T) *Room {
	t.Helper()
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.closeDataTracks()
		_ = r.Disconnect(context.Background())
	})
	return r
}

func joinResponse(roomMeta, localSID, localName string, others ...*lkpb.ParticipantInfo) *lkpb.SignalResponse {
	return &lkpb.SignalResponse{Message: &lkpb.SignalResponse_Join{Join: &lkpb.JoinResponse{
		Room:              &lkpb.Room{Sid: "RM_1", Name: "r", Metadata: roomMeta, NumParticipants: uint32(len(others) + 1)},
		Participant:       &lkpb.ParticipantInfo{Sid: localSID, Identity: "me", Name: localName, State: lkpb.ParticipantInfo_ACTIVE, Version: 1},
		OtherParticipants: others,
		ServerInfo:        &lkpb.ServerInfo{Version: "1.13.5"},
		IceServers:        []*lkpb.ICEServer{{Urls: []string{"turn:t.example:3478"}, Username: "u", Credential: "c"}},
		ClientConfiguration: &lkpb.ClientConfiguration{
			ForceRelay: lkpb.ClientConfigSetting_ENABLED, ResumeConnection: lkpb.ClientConfigSetting_DISABLED,
		},
		PingInterval: 5,
		PingTimeout:  15,
	}}}
}

func remoteInfo(identity string, tracks ...string) *lkpb.ParticipantInfo {
	p := &lkpb.ParticipantInfo{Sid: "PA_" + identity, Identity: identity, State: lkpb.ParticipantInfo_ACTIVE, Version: 1}
	for i, name := range tracks {
		p.DataTracks = append(p.DataTracks, &lkpb.DataTrackInfo{PubHandle: uint32(i + 1), Sid: "DTR_" + identity + name, Name: name})
	}
	return p
}

func drain(r *Room) []Event {
	var evs []Event
	for r.events.pending() > 0 {
		ev, _ := r.events.next(context.Background())
		evs = append(evs, ev)
	}
	return evs
}

func TestApplyJoinFirst(t *testing.T) {
	r := offlineNew(t)
	ice := &fakeICE{}
	r.applyJoin(joinFirst, joinResponse("m0", "PA_me1", "Me", remoteInfo("b", "t1")), ice)

	if evs := drain(r); len(evs) != 0 {
		t.Fatalf("a first join is described by the snapshot, not events: %#v", evs)
	}
	if r.Name() != "r" || r.Metadata() != "m0" || r.LocalParticipant().SID() != "PA_me1" || r.LocalParticipant().Name() != "Me" {
		t.Fatalf("room %q/%q, local %q/%q", r.Name(), r.Metadata(), r.LocalParticipant().SID(), r.LocalParticipant().Name())
	}
	b := r.RemoteParticipant("b")
	if b == nil || len(r.RemoteParticipants()) != 1 || b.DataTrack("t1") == nil || b.DataTrack("t1").SID() != "DTR_bt1" {
		t.Fatalf("remote participants %v", r.RemoteParticipants())
	}
	if r.dapi.t.ServerVersion() != "1.13.5" {
		t.Fatalf("server version %q", r.dapi.t.ServerVersion())
	}
	if ice.setServers != 1 || ice.setRelay != 0 || !ice.forceRelay || len(ice.servers) != 1 || ice.servers[0].GetUsername() != "u" {
		t.Fatalf("ICE %+v", ice)
	}
	if r.rc.pingInterval != 5*time.Second || r.rc.pingTimeout != 15*time.Second || !r.rc.m.resumeDisabled {
		t.Fatalf("join settings: ping %v/%v, resume disabled %v", r.rc.pingInterval, r.rc.pingTimeout, r.rc.m.resumeDisabled)
	}
	snap := r.takeSnapshot()
	if snap.Room.Metadata != "m0" || snap.LocalParticipant.SID != "PA_me1" || len(snap.RemoteParticipants) != 1 ||
		len(snap.RemoteDataTracks) != 1 || snap.RemoteDataTracks[0].Track != b.DataTrack("t1") {
		t.Fatalf("snapshot %+v", snap)
	}
}

func TestApplyJoinResume(t *testing.T) {
	r := offlineNew(t)
	ice := &fakeICE{}
	r.applyJoin(joinFirst, joinResponse("m0", "PA_me1", "Me", remoteInfo("b")), ice)
	drain(r)

	// An empty ICE server list keeps the current servers; force_relay still applies.
	r.applyJoin(joinResume, &lkpb.SignalResponse{Message: &lkpb.SignalResponse_Reconnect{Reconnect: &lkpb.ReconnectResponse{
		LastMessageSeq: 42,
	}}}, ice)
	if r.rc.lastSeq != 42 || ice.setServers != 1 || ice.setRelay != 1 || ice.forceRelay {
		t.Fatalf("resume without servers: last seq %d, ICE %+v", r.rc.lastSeq, ice)
	}
	r.applyJoin(joinResume, &lkpb.SignalResponse{Message: &lkpb.SignalResponse_Reconnect{Reconnect: &lkpb.ReconnectResponse{
		IceServers:          []*lkpb.ICEServer{{Urls: []string{"turn:new.example"}}},
		ClientConfiguration: &lkpb.ClientConfiguration{ForceRelay: lkpb.ClientConfigSetting_ENABLED},
	}}}, ice)
	if ice.setServers != 2 || !ice.forceRelay || ice.servers[0].GetUrls()[0] != "turn:new.example" {
		t.Fatalf("resume with servers: ICE %+v", ice)
	}
	// Same session: nothing about the room or the participants changes.
	if evs := drain(r); len(evs) != 0 || r.LocalParticipant().SID() != "PA_me1" || r.RemoteParticipant("b") == nil {
		t.Fatalf("resume changed state: %#v", evs)
	}
}

func TestApplyJoinFull(t *testing.T) {
	r := offlineNew(t)
	ice := &fakeICE{}
	r.applyJoin(joinFirst, joinResponse("m0", "PA_me1", "Me", remoteInfo("b", "x"), remoteInfo("c", "y")), ice)
	close(r.connected) // later tracks are announced (DataTrackPublished), as after Connect
	drain(r)
	oldB := r.RemoteParticipant("b")
	trackX := oldB.DataTracks()[0]
	trackY := r.RemoteParticipant("c").DataTracks()[0]

	// The new join lists everyone in the room now: b stayed (same object, same
	// track), c left meanwhile, d joined with a track. Who joined is announced
	// before their tracks; who left is reported after theirs are unpublished.
	r.applyJoin(joinFull, joinResponse("m1", "PA_me2", "Me2", remoteInfo("b", "x"), remoteInfo("d", "z")), ice)

	evs := drain(r)
	order := eventLabels(evs, false)
	var meta *RoomMetadataChanged
	var name *ParticipantNameChanged
	for _, ev := range evs {
		switch e := ev.(type) {
		case RoomMetadataChanged:
			meta = &e
		case ParticipantNameChanged:
			name = &e
		}
	}
	if want := []string{"joined d", "unpublished y", "published z", "left c"}; !slices.Equal(order, want) {
		t.Fatalf("events %v, want %v", order, want)
	}
	if r.RemoteParticipant("b") != oldB || r.RemoteParticipant("c") != nil || r.RemoteParticipant("d") == nil {
		t.Fatal("participant table not reconciled with the join")
	}
	if got := oldB.DataTracks(); len(got) != 1 || got[0] != trackX || !trackX.IsPublished() || trackY.IsPublished() {
		t.Fatalf("tracks after the join: b has %v (x published %v), y published %v", got, trackX.IsPublished(), trackY.IsPublished())
	}
	if got := r.RemoteParticipant("d").DataTracks(); len(got) != 1 || got[0].Name() != "z" {
		t.Fatalf("d's tracks %v", got)
	}
	if meta == nil || meta.OldMetadata != "m0" || meta.NewMetadata != "m1" || meta.Info.Metadata != "m1" || meta.Info.SID != "RM_1" {
		t.Fatalf("room metadata event %+v", meta)
	}
	if name == nil || name.Participant != r.LocalParticipant() || name.OldName != "Me" || name.NewName != "Me2" || name.Info.SID != "PA_me2" {
		t.Fatalf("local name event %+v", name)
	}
	if r.LocalParticipant().SID() != "PA_me2" || r.rc.oldLocalSID != "PA_me1" {
		t.Fatalf("local sid %q, old %q", r.LocalParticipant().SID(), r.rc.oldLocalSID)
	}
	if ice.setServers != 2 {
		t.Fatalf("ICE servers not applied to the new engine: %+v", ice)
	}
}

// A room_update announces what it changed in RoomInfo, once: the metadata as
// RoomMetadataChanged (whose Info carries the other new values too), any
// other field as RoomInfoChanged; an update that changes nothing RoomInfo
// holds (enabled_codecs, say) announces nothing. A full reconnect's join is
// announced the same way (new sid, new counts); a first join is not.
func TestRoomUpdateAnnouncesWhatChanged(t *testing.T) {
	r := offlineNew(t)
	r.applyJoin(joinFirst, joinResponse("m0", "PA_me1", "Me", remoteInfo("b")), &fakeICE{})
	if evs := drain(r); len(evs) != 0 {
		t.Fatalf("first join announced %#v", evs)
	}
	update := func(meta string, n, pubs uint32, sid string) []Event {
		r.setRoomInfo(&lkpb.Room{Sid: sid, Name: "r", Metadata: meta, NumParticipants: n, NumPublishers: pubs}, nil, true)
		return drain(r)
	}
	srv := ServerInfo{Version: "1.13.5"} // the join's, kept by room updates
	if evs := update("m0", 3, 0, "RM_1"); len(evs) != 1 || evs[0] != (RoomInfoChanged{Info: RoomInfo{SID: "RM_1", Name: "r", Metadata: "m0", NumParticipants: 3, Server: srv}}) {
		t.Fatalf("count change: %#v", evs)
	}
	if evs := update("m0", 3, 1, "RM_1"); len(evs) != 1 || evs[0] != (RoomInfoChanged{Info: RoomInfo{SID: "RM_1", Name: "r", Metadata: "m0", NumParticipants: 3, NumPublishers: 1, Server: srv}}) {
		t.Fatalf("publisher count change: %#v", evs)
	}
	r.setRoomInfo(&lkpb.Room{Sid: "RM_1", Name: "r", Metadata: "m0", NumParticipants: 3, NumPublishers: 1,
		EnabledCodecs: []*lkpb.Codec{{Mime: "audio/opus"}}}, nil, true)
	if evs := drain(r); len(evs) != 0 {
		t.Fatalf("a change RoomInfo does not hold: %#v", evs)
	}
	evs := update("m1", 2, 0, "RM_1")
	if len(evs) != 1 {
		t.Fatalf("metadata and count change: %#v", evs)
	}
	if e, ok := evs[0].(RoomMetadataChanged); !ok || e.OldMetadata != "m0" || e.NewMetadata != "m1" || e.Info.NumParticipants != 2 {
		t.Fatalf("metadata and count change: %#v", evs)
	}
	r.applyJoin(joinFull, joinResponse("m1", "PA_me2", "Me", remoteInfo("b")), &fakeICE{})
	var infos []RoomInfoChanged
	for _, ev := range drain(r) {
		if e, ok := ev.(RoomInfoChanged); ok {
			infos = append(infos, e)
		}
	}
	if len(infos) != 0 {
		t.Fatalf("full reconnect into the same room with the same counts: %#v", infos)
	}
	r.applyJoin(joinFull, &lkpb.SignalResponse{Message: &lkpb.SignalResponse_Join{Join: &lkpb.JoinResponse{
		Room:        &lkpb.Room{Sid: "RM_2", Name: "r", Metadata: "m1", NumParticipants: 1},
		Participant: &lkpb.ParticipantInfo{Sid: "PA_me3", Identity: "me", Name: "Me", State: lkpb.ParticipantInfo_ACTIVE, Version: 1},
	}}}, &fakeICE{})
	for _, ev := range drain(r) {
		if e, ok := ev.(RoomInfoChanged); ok {
			infos = append(infos, e)
		}
	}
	if len(infos) != 1 || infos[0].Info.SID != "RM_2" || infos[0].Info.NumParticipants != 1 || r.Info().SID != "RM_2" {
		t.Fatalf("full reconnect into a new room: %#v", infos)
	}
	// A full reconnect to another server (a LiveKit Cloud region after a
	// failover) changes only the server.
	join := joinResponse("m1", "PA_me4", "Me")
	join.GetJoin().Room = &lkpb.Room{Sid: "RM_2", Name: "r", Metadata: "m1", NumParticipants: 1}
	join.GetJoin().ServerInfo = &lkpb.ServerInfo{Edition: lkpb.ServerInfo_Cloud, Version: "1.9.1", Protocol: 16, Region: "eu-central", NodeId: "ND_2"}
	r.applyJoin(joinFull, join, &fakeICE{})
	infos = nil
	for _, ev := range drain(r) {
		if e, ok := ev.(RoomInfoChanged); ok {
			infos = append(infos, e)
		}
	}
	want := ServerInfo{Edition: ServerCloud, Version: "1.9.1", Protocol: 16, Region: "eu-central", NodeID: "ND_2"}
	if len(infos) != 1 || infos[0].Info.Server != want || r.Info().Server != want || infos[0].Info.SID != "RM_2" {
		t.Fatalf("full reconnect to another server: %#v", infos)
	}
}

// A peer's new session (its full reconnect) announced without the old one's departure ends the
// streams the old session was sending — found in an update or in the room's own full
// reconnect's join alike; a stream of the new session goes on.
func TestNewSessionOfAPeerEndsItsOldSessionsStreams(t *testing.T) {
	for _, viaJoin := range []bool{false, true} {
		r := offlineRoom(t, nil)
		readers := make(chan *datastream.TextStreamReader, 2)
		if err := r.dapi.ds.RegisterTextStreamHandler("long", func(rd *datastream.TextStreamReader, _ string) { readers <- rd }); err != nil {
			t.Fatal(err)
		}
		header := func(id, sid string) *lkpb.DataPacket {
			return &lkpb.DataPacket{ParticipantIdentity: "callee-js", ParticipantSid: sid, Value: &lkpb.DataPacket_StreamHeader{
				StreamHeader: &lkpb.DataStream_Header{StreamId: id, Topic: "long", ContentHeader: &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}}}}}
		}
		r.handlePacket(header("old", "PA_callee-js"), true)
		old := <-readers
		newSession := &lkpb.ParticipantInfo{Identity: "callee-js", Sid: "PA_callee-js-2", State: lkpb.ParticipantInfo_ACTIVE, Version: 1, ClientProtocol: 2}
		if viaJoin {
			join := joinResponse("", "PA_me", "", newSession)
			join.GetJoin().Participant = r.local.load()
			r.applyJoin(joinFull, join, &fakeICE{})
		} else {
			r.handleSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Update{Update: &lkpb.ParticipantUpdate{Participants: []*lkpb.ParticipantInfo{newSession}}}})
		}
		r.handlePacket(header("new", "PA_callee-js-2"), true)
		cur := <-readers
		ctx := testkit.Context(t, 0)
		if _, err := old.ReadAll(ctx); !errors.Is(err, datastream.ErrAbnormalEnd) {
			t.Fatalf("via join %v: the old session's stream: %v", viaJoin, err)
		}
		if n := r.dapi.ds.OpenIncomingStreams(); n != 1 || cur.Info().ID != "new" {
			t.Fatalf("via join %v: %d streams open", viaJoin, n)
		}
		drainEvents(r)
	}
}

// TestUnannouncedDepartureEndsItsStreams: a DISCONNECTED update for a session the room never
// held (a participant that publishes nothing and leaves within the server's batch of updates is
// only ever reported gone) ends the streams that session was sending, without a participant
// event: before, a reader of such a stream waited for ever. An identity the same update
// announces with a new session keeps that session's streams, and a stale DISCONNECTED for an
// older session of a known participant ends only the streams stamped with the older sid.
func TestUnannouncedDepartureEndsItsStreams(t *testing.T) {
	type stream struct {
		identity, sid, id string
		fails             bool
	}
	cases := []struct {
		name    string
		streams []stream
		update  []*lkpb.ParticipantInfo
		// joined: the identity the update announces (ParticipantConnected), if any.
		joined string
	}{{
		name:    "never announced",
		streams: []stream{{"ghost", "PA_ghost", "g", true}, {"ghost", "", "g-unstamped", true}, {"callee-js", "PA_callee-js", "other", false}},
		update:  []*lkpb.ParticipantInfo{{Identity: "ghost", Sid: "PA_ghost", State: lkpb.ParticipantInfo_DISCONNECTED, Version: 3}},
	}, {
		name:    "replaced within the batch",
		streams: []stream{{"ghost", "PA_ghost", "old", true}, {"ghost", "PA_ghost-2", "new", false}},
		update: []*lkpb.ParticipantInfo{
			{Identity: "ghost", Sid: "PA_ghost", State: lkpb.ParticipantInfo_DISCONNECTED, Version: 3, JoinedAt: 1},
			{Identity: "ghost", Sid: "PA_ghost-2", State: lkpb.ParticipantInfo_ACTIVE, Version: 1, JoinedAt: 2, ClientProtocol: 2},
		},
		joined: "ghost",
	}, {
		name:    "older session of a known participant",
		streams: []stream{{"callee-js", "PA_callee-js-0", "stale", true}, {"callee-js", "PA_callee-js", "current", false}},
		update:  []*lkpb.ParticipantInfo{{Identity: "callee-js", Sid: "PA_callee-js-0", State: lkpb.ParticipantInfo_DISCONNECTED, Version: 9}},
	}}
	for _, c := range cases {
		r := offlineRoom(t, nil)
		readers := make(chan *datastream.TextStreamReader, len(c.streams))
		if err := r.dapi.ds.RegisterTextStreamHandler("long", func(rd *datastream.TextStreamReader, _ string) { readers <- rd }); err != nil {
			t.Fatal(err)
		}
		byID := map[string]*datastream.TextStreamReader{}
		for _, s := range c.streams {
			r.handlePacket(&lkpb.DataPacket{ParticipantIdentity: s.identity, ParticipantSid: s.sid, Value: &lkpb.DataPacket_StreamHeader{
				StreamHeader: &lkpb.DataStream_Header{StreamId: s.id, Topic: "long", ContentHeader: &lkpb.DataStream_Header_TextHeader{TextHeader: &lkpb.DataStream_TextHeader{}}}}}, true)
			rd := <-readers
			byID[rd.Info().ID] = rd
		}
		drainEvents(r)
		r.handleSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Update{Update: &lkpb.ParticipantUpdate{Participants: c.update}}})
		var evs []Event
		for r.events.pending() > 0 {
			ev, err := r.events.next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		switch {
		case c.joined == "" && len(evs) != 0:
			t.Fatalf("%s: events %#v, want none (no participant came or went)", c.name, evs)
		case c.joined != "":
			if len(evs) != 1 {
				t.Fatalf("%s: events %#v", c.name, evs)
			}
			if ev, ok := evs[0].(ParticipantConnected); !ok || ev.Participant.Identity() != c.joined {
				t.Fatalf("%s: event %#v", c.name, evs[0])
			}
		}
		open := 0
		for _, s := range c.streams {
			if !s.fails {
				open++
				continue
			}
			ctx := testkit.Context(t, 0)
			if _, err := byID[s.id].ReadAll(ctx); !errors.Is(err, datastream.ErrAbnormalEnd) {
				t.Fatalf("%s: stream %q: %v", c.name, s.id, err)
			}
		}
		if n := r.dapi.ds.OpenIncomingStreams(); n != open {
			t.Fatalf("%s: %d streams open, want %d", c.name, n, open)
		}
	}
}

// room_moved (move.go) against a table: who is not in the new room leaves (tracks first), then
// RoomMoved, then the local participant's new session, the new session of a participant in both
// rooms (same object), the arrivals and their tracks; the token of the move is the room's.
func TestApplyMove(t *testing.T) {
	r := offlineNew(t)
	r.applyJoin(joinFirst, joinResponse("m0", "PA_me1", "Me", remoteInfo("b", "x"), remoteInfo("c", "y")), &fakeICE{})
	close(r.connected)
	drain(r)
	oldB := r.RemoteParticipant("b")
	trackX := oldB.DataTracks()[0]
	trackY := r.RemoteParticipant("c").DataTracks()[0]

	b2 := remoteInfo("b", "x")
	b2.Sid = "PA_b2"
	r.applyMove(&lkpb.RoomMovedResponse{
		Room:              &lkpb.Room{Sid: "RM_2", Name: "r2", Metadata: "m2"},
		Token:             "tok2",
		Participant:       &lkpb.ParticipantInfo{Sid: "PA_me2", Identity: "me", Name: "Me", State: lkpb.ParticipantInfo_ACTIVE, Version: 2},
		OtherParticipants: []*lkpb.ParticipantInfo{b2, remoteInfo("d", "z"), remoteInfo("me"), {Identity: "gone", Sid: "PA_g", State: lkpb.ParticipantInfo_DISCONNECTED}},
	})

	order := eventLabels(drain(r), true)
	want := []string{"unpublished y", "left c", "moved r>r2 m2", "info me PA_me1>PA_me2", "info b PA_b>PA_b2", "joined d", "published z"}
	if !slices.Equal(order, want) {
		t.Fatalf("events %v, want %v", order, want)
	}
	if r.RemoteParticipant("b") != oldB || oldB.SID() != "PA_b2" || r.RemoteParticipant("c") != nil || r.RemoteParticipant("d") == nil ||
		r.RemoteParticipant("gone") != nil || len(r.RemoteParticipants()) != 2 {
		t.Fatalf("participants after the move: %v", r.RemoteParticipants())
	}
	if got := oldB.DataTracks(); len(got) != 1 || got[0] != trackX || !trackX.IsPublished() || trackY.IsPublished() {
		t.Fatalf("tracks after the move: b has %v, y published %v", got, trackY.IsPublished())
	}
	if r.Name() != "r2" || r.Info().SID != "RM_2" || r.LocalParticipant().SID() != "PA_me2" || *r.token.Load() != "tok2" {
		t.Fatalf("room %q %q, local %q, token %q", r.Name(), r.Info().SID, r.LocalParticipant().SID(), *r.token.Load())
	}
}

// eventLabels describes evs in order: who joined and left, tracks published and unpublished
// (by name), a participant's new session ("info identity old>new"), RoomMoved ("moved
// old>new metadata"); with all, every other event by its type, else those are left out.
func eventLabels(evs []Event, all bool) []string {
	var order []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case ParticipantDisconnected:
			order = append(order, "left "+e.Participant.Identity())
		case ParticipantConnected:
			order = append(order, "joined "+e.Info.Identity)
		case DataTrackPublished:
			order = append(order, "published "+e.Info.Name)
		case DataTrackUnpublished:
			order = append(order, "unpublished "+e.Track.Name())
		case ParticipantInfoChanged:
			order = append(order, "info "+e.Info.Identity+" "+e.OldSID+">"+e.Info.SID)
		case RoomMoved:
			order = append(order, "moved "+e.OldName+">"+e.Info.Name+" "+e.Info.Metadata)
		default:
			if all {
				order = append(order, fmt.Sprintf("%T", ev))
			}
		}
	}
	return order
}
