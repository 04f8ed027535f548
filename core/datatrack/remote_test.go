package datatrack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

func participant(identity, sid string, version uint32, tracks ...*lkpb.DataTrackInfo) *lkpb.ParticipantInfo {
	return &lkpb.ParticipantInfo{Identity: identity, Sid: sid, Version: version, State: lkpb.ParticipantInfo_ACTIVE, DataTracks: tracks}
}

func dti(handle uint32, sid, name string, enc lkpb.Encryption_Type) *lkpb.DataTrackInfo {
	return &lkpb.DataTrackInfo{PubHandle: handle, Sid: sid, Name: name, Encryption: enc}
}

func handles(m map[uint32]string) *lkpb.DataTrackSubscriberHandles {
	out := &lkpb.DataTrackSubscriberHandles{SubHandles: map[uint32]*lkpb.DataTrackSubscriberHandles_PublishedDataTrack{}}
	for h, sid := range m {
		out.SubHandles[h] = &lkpb.DataTrackSubscriberHandles_PublishedDataTrack{PublisherIdentity: "alice", PublisherSid: "PA_alice", TrackSid: sid}
	}
	return out
}

func singlePacket(t testing.TB, handle, seq uint16, payload []byte) []byte {
	p := Packet{Header: Header{Marker: MarkerSingle, Handle: handle, Sequence: seq, FrameNumber: seq}, Payload: payload}
	b, err := p.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func oneRemoteRequest(t testing.TB, outs []RemoteOutput) *lkpb.UpdateDataSubscription_Update {
	t.Helper()
	rs := outputsOf[SendRequest](outs)
	if len(rs) != 1 || len(rs[0].Request.GetUpdateDataSubscription().GetUpdates()) != 1 {
		t.Fatalf("want one subscription update, got %v", outs)
	}
	return rs[0].Request.GetUpdateDataSubscription().GetUpdates()[0]
}

func recvAll(t testing.TB, s *Subscription) ([]Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var fs []Frame
	for {
		f, err := s.Recv(ctx)
		if err != nil {
			return fs, err
		}
		fs = append(fs, f)
	}
}

// Replays the subscriber side of trace 1b-subscribe-js: the recorded join announces the track,
// the subscribe request equals the recorded one, the recorded handle snapshot (handle 238)
// activates it, the recorded packets produce the 4 frames, and the publisher's DISCONNECTED
// update ends the stream normally.
func TestRemoteReplay1bSubscribe(t *testing.T) {
	replay1b(t, "1b-subscribe-js", "sub-js", "pub-js", "DTR_MuciXv9V4bJR", 4)
	replay1b(t, "1b-subscribe-rust", "sub-rust", "pub-rust", "DTR_dZ4MgCnAb67i", 0) // no packet capture for Rust
}

func replay1b(t *testing.T, scenario, local, publisher, sid string, wantFrames int) {
	m := NewRemoteManager(RemoteConfig{LocalIdentity: local})
	var sub *Subscription
	var published []TrackInfo
	var ended []SubscriptionEnded
	for _, s := range loadTraceSignals(t, scenario, "sub") {
		if s.Dir == "c2s" {
			if s.Req.GetUpdateDataSubscription().GetUpdates()[0].GetSubscribe() {
				var outs []RemoteOutput
				var err error
				sub, outs, err = m.Subscribe(published[0].Sid, SubscribeOptions{}, t0)
				if err != nil {
					t.Fatal(err)
				}
				expectRequest(t, outputsOf[SendRequest](outs)[0], s)
			}
			// JS also unsubscribes when the publisher leaves; Rust and lkcore do not need to
			// (the server drops the subscription with the track).
			continue
		}
		outs, handled := m.HandleSignal(s.Resp, t0)
		if !handled {
			t.Fatalf("%s not handled", s.Type)
		}
		for _, p := range outputsOf[RemoteTrackPublished](outs) {
			published = append(published, p.Info)
		}
		ended = append(ended, outputsOf[SubscriptionEnded](outs)...)
		if s.Type == "dataTrackSubscriberHandles" && len(s.Resp.GetDataTrackSubscriberHandles().GetSubHandles()) == 1 {
			if a := outputsOf[SubscriptionActive](outs); len(a) != 1 || !sub.Active() {
				t.Fatal("snapshot did not activate the subscription")
			}
			for _, tp := range loadTracePackets(t) {
				if tp.Scenario == scenario && tp.Dir == "recv" {
					if o := m.HandlePacket(testkit.Unhex(t, tp.Hex)); len(o.Drops()) != 0 || o.TrackSid != published[0].Sid {
						t.Fatalf("packet seq %d: %+v", tp.Seq, o)
					}
				}
			}
		}
	}
	want := TrackInfo{Sid: sid, Name: "sensor", Handle: 1, PublisherIdentity: publisher}
	if len(published) != 1 || published[0].Sid != want.Sid || published[0].Name != want.Name ||
		published[0].Handle != want.Handle || published[0].PublisherIdentity != want.PublisherIdentity || published[0].Encrypted {
		t.Fatalf("published %+v", published)
	}
	frames, err := recvAll(t, sub)
	if len(frames) != wantFrames || (wantFrames == 4 && (len(frames[3].Payload) != 7*64 || frames[3].FrameNumber != 3)) {
		t.Fatalf("%s: %d frames", scenario, len(frames))
	}
	var se *StreamEndError
	if !errors.Is(err, ErrStreamEnded) || !errors.As(err, &se) || !errors.Is(se, ErrTrackUnpublished) || len(ended) != 1 {
		t.Fatalf("end: %v", err)
	}
	if st := m.Stats(); wantFrames == 4 && (st.Frames != 4 || st.Packets != 10) {
		t.Fatalf("stats %+v", st)
	}
}

func setupRemote(t testing.TB, cfg RemoteConfig, tracks ...*lkpb.DataTrackInfo) *RemoteManager {
	t.Helper()
	m := NewRemoteManager(cfg)
	outs := m.HandleJoin([]*lkpb.ParticipantInfo{participant("alice", "PA_alice", 1, tracks...)}, t0)
	if len(outputsOf[RemoteTrackPublished](outs)) != len(tracks) {
		t.Fatalf("join: %v", outs)
	}
	return m
}

func TestRemoteFanOutAndUnsubscribe(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", lkpb.Encryption_NONE))
	fast, outs, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	if u := oneRemoteRequest(t, outs); u.TrackSid != "DTR_a" || !u.Subscribe || u.Options != nil {
		t.Fatalf("subscribe %v", u)
	}
	slow, outs, _ := m.Subscribe("DTR_a", SubscribeOptions{BufferSize: 1}, t0)
	if len(outs) != 0 {
		t.Fatal("second subscriber must not signal")
	}
	outs = m.HandleSubscriberHandles(handles(map[uint32]string{77: "DTR_a"}), t0)
	if len(outputsOf[SubscriptionActive](outs)) != 2 {
		t.Fatalf("activation %v", outs)
	}
	for i := range 3 {
		if o := m.HandlePacket(singlePacket(t, 77, uint16(i), []byte{byte(i)})); !o.Delivered {
			t.Fatal(o.Drops())
		}
	}
	if fast.buf.Len() != 3 || slow.buf.Len() != 1 || slow.Dropped() != 2 || fast.Dropped() != 0 {
		t.Fatalf("fast %d slow %d/%d", fast.buf.Len(), slow.buf.Len(), slow.Dropped())
	}
	if f, _ := slow.TryRecv(); f.Payload[0] != 2 {
		t.Fatal("slow stream should keep the newest frame")
	}
	// a third subscriber of an active track attaches at once
	late, outs, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	if a := outputsOf[SubscriptionActive](outs); len(a) != 1 || len(outputsOf[SendRequest](outs)) != 0 {
		t.Fatal(outs)
	}
	for _, s := range []*Subscription{slow, late} {
		if outs, err := m.Unsubscribe(s, t0); err != nil || len(outs) != 0 {
			t.Fatalf("unsubscribe of a non-last stream: %v %v", outs, err)
		}
	}
	if _, err := late.Recv(context.Background()); !errors.Is(err, ErrStreamEnded) {
		t.Fatal(err)
	}
	outs, _ = m.Unsubscribe(fast, t0)
	if u := oneRemoteRequest(t, outs); u.Subscribe {
		t.Fatal("last unsubscribe must send subscribe=false")
	}
	if o := m.HandlePacket(singlePacket(t, 77, 9, []byte{9})); o.Delivered || o.Drops()[0].Reason != DropUnknownHandle {
		t.Fatal("route survived the unsubscribe")
	}
	if _, err := m.Unsubscribe(fast, t0); !errors.Is(err, ErrUnknownSubscription) {
		t.Fatal(err)
	}
}

func TestRemoteSubscribeTimeoutAndErrors(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", lkpb.Encryption_NONE), dti(2, "DTR_e", "e", lkpb.Encryption_GCM))
	if _, _, err := m.Subscribe("DTR_x", SubscribeOptions{}, t0); !errors.Is(err, ErrUnknownTrack) {
		t.Fatal(err)
	}
	if _, _, err := m.Subscribe("DTR_e", SubscribeOptions{}, t0); !errors.Is(err, ErrE2EENoKeys) {
		t.Fatalf("E2EE without keys: %v", err)
	}
	s, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	if dl, ok := m.NextDeadline(); !ok || !dl.Equal(t0.Add(DefaultSubscribeTimeout)) {
		t.Fatal(dl)
	}
	if outs := m.Tick(t0.Add(time.Second)); len(outs) != 0 {
		t.Fatal(outs)
	}
	outs := m.Tick(t0.Add(DefaultSubscribeTimeout))
	if u := oneRemoteRequest(t, outs); u.Subscribe || u.TrackSid != "DTR_a" {
		t.Fatal(outs)
	}
	if _, err := s.Recv(context.Background()); !errors.Is(err, ErrTimeout) || errors.Is(err, ErrStreamEnded) {
		t.Fatalf("timeout: %v", err)
	}
	// a refusal while pending fails after PermissionGrace, with ErrSubscribeNotAllowed
	s2, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	outs, handled := m.HandleSubscriptionPermission(&lkpb.SubscriptionPermissionUpdate{TrackSid: "DTR_a", Allowed: false}, t0)
	if !handled || len(outs) != 0 || s2.Err() != nil {
		t.Fatal(outs, s2.Err())
	}
	if dl, ok := m.NextDeadline(); !ok || !dl.Equal(t0.Add(PermissionGrace)) {
		t.Fatal(dl)
	}
	m.HandleSubscriptionPermission(&lkpb.SubscriptionPermissionUpdate{TrackSid: "DTR_a", Allowed: false}, t0.Add(time.Second))
	if dl, _ := m.NextDeadline(); !dl.Equal(t0.Add(PermissionGrace)) {
		t.Fatalf("a repeated refusal moved the deadline to %v", dl)
	}
	if outs := m.Tick(t0.Add(PermissionGrace - time.Millisecond)); len(outs) != 0 {
		t.Fatal(outs)
	}
	outs = m.Tick(t0.Add(PermissionGrace))
	if oneRemoteRequest(t, outs).Subscribe || !errors.Is(s2.Err(), ErrSubscribeNotAllowed) {
		t.Fatal(outs, s2.Err())
	}
	// a refusal lifted within the grace: the handle activates the subscription
	s3, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	m.HandleSubscriptionPermission(&lkpb.SubscriptionPermissionUpdate{TrackSid: "DTR_a", Allowed: false}, t0)
	m.HandleSubscriptionPermission(&lkpb.SubscriptionPermissionUpdate{TrackSid: "DTR_a", Allowed: true}, t0)
	if outs := m.Tick(t0.Add(PermissionGrace)); len(outs) != 0 {
		t.Fatalf("granted subscription failed at the grace's end: %v", outs)
	}
	if outs := m.HandleSubscriberHandles(handles(map[uint32]string{9: "DTR_a"}), t0); len(outputsOf[SubscriptionActive](outs)) != 1 || !s3.Active() {
		t.Fatalf("granted within the grace: %v", outs)
	}
	if outs := m.Tick(t0.Add(DefaultSubscribeTimeout)); len(outs) != 0 {
		t.Fatalf("established subscription failed: %v", outs)
	}
	if _, handled := m.HandleSubscriptionPermission(&lkpb.SubscriptionPermissionUpdate{TrackSid: "TR_video"}, t0); handled {
		t.Fatal("media track SID handled")
	}
}

// Revocation of an established subscription, in the server's order (docs/protocol.md,
// Subscription permissions): a handle snapshot without the track, then allowed=false; the
// subscription stays open and gets nothing; a grant sends allowed=true and a new handle, and
// frames flow again. Repeated answers are not reported twice; nothing is unsubscribed.
func TestRemotePermissionRevokedAndGrantedAgain(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", lkpb.Encryption_NONE))
	s, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	perm := func(allowed bool) []RemoteOutput {
		t.Helper()
		outs, handled := m.HandleSubscriptionPermission(&lkpb.SubscriptionPermissionUpdate{TrackSid: "DTR_a", Allowed: allowed}, t0)
		if !handled || len(outputsOf[SendRequest](outs)) != 0 {
			t.Fatalf("allowed=%v: handled %v, %v", allowed, handled, outs)
		}
		return outs
	}
	if outs := perm(true); len(outs) != 0 { // the normal subscribe's answer
		t.Fatal(outs)
	}
	m.HandleSubscriberHandles(handles(map[uint32]string{5: "DTR_a"}), t0)
	if o := m.HandlePacket(singlePacket(t, 5, 1, []byte{1})); !o.Delivered {
		t.Fatal(o.Drops())
	}
	m.HandleSubscriberHandles(handles(map[uint32]string{}), t0)
	outs := perm(false)
	if ch := outputsOf[SubscriptionPermissionChanged](outs); len(ch) != 1 || ch[0].Allowed || ch[0].Info.Sid != "DTR_a" {
		t.Fatalf("revoked: %v", outs)
	}
	if outs := perm(false); len(outs) != 0 {
		t.Fatalf("repeated refusal reported again: %v", outs)
	}
	if o := m.HandlePacket(singlePacket(t, 5, 2, []byte{2})); o.Delivered {
		t.Fatal("delivered on the revoked handle")
	}
	if s.Err() != nil {
		t.Fatalf("revoked subscription ended: %v", s.Err())
	}
	outs = perm(true)
	if ch := outputsOf[SubscriptionPermissionChanged](outs); len(ch) != 1 || !ch[0].Allowed {
		t.Fatalf("granted: %v", outs)
	}
	m.HandleSubscriberHandles(handles(map[uint32]string{6: "DTR_a"}), t0)
	if o := m.HandlePacket(singlePacket(t, 6, 3, []byte{3})); !o.Delivered {
		t.Fatal(o.Drops())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range []byte{1, 3} {
		f, err := s.Recv(ctx)
		if err != nil || !bytes.Equal(f.Payload, []byte{want}) {
			t.Fatalf("frame %d: %v %v", want, f.Payload, err)
		}
	}
}

// Race (docs/protocol.md, Remote tracks and subscriptions): unsubscribe then subscribe before the
// server reconciles — no new snapshot comes, the subscription activates from the last one.
func TestRemoteResubscribeRace(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", lkpb.Encryption_NONE))
	s, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	m.HandleSubscriberHandles(handles(map[uint32]string{5: "DTR_a"}), t0)
	m.Unsubscribe(s, t0)
	s2, outs, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	if len(outputsOf[SendRequest](outs)) != 1 || len(outputsOf[SubscriptionActive](outs)) != 1 || !s2.Active() {
		t.Fatalf("race: %v", outs)
	}
	if o := m.HandlePacket(singlePacket(t, 5, 1, []byte{1})); !o.Delivered {
		t.Fatal(o.Drops())
	}
}

// The snapshot replaces the route table; subscription state stays and a later snapshot re-routes.
func TestRemoteSnapshotReplacesRoutes(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", lkpb.Encryption_NONE), dti(2, "DTR_b", "b", lkpb.Encryption_NONE))
	sa, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	sb, _, _ := m.Subscribe("DTR_b", SubscribeOptions{}, t0)
	m.HandleSubscriberHandles(handles(map[uint32]string{10: "DTR_a", 11: "DTR_b", 12: "DTR_unknown"}), t0)
	m.HandleSubscriberHandles(handles(map[uint32]string{11: "DTR_b"}), t0)
	if o := m.HandlePacket(singlePacket(t, 10, 1, []byte{1})); o.Delivered {
		t.Fatal("absent route still delivers")
	}
	if o := m.HandlePacket(singlePacket(t, 11, 1, []byte{1})); !o.Delivered {
		t.Fatal("kept route lost")
	}
	if !sa.Active() || !sb.Active() {
		t.Fatal("state must stay active")
	}
	m.HandleSubscriberHandles(handles(map[uint32]string{11: "DTR_b", 20: "DTR_a"}), t0)
	if o := m.HandlePacket(singlePacket(t, 20, 2, []byte{2})); !o.Delivered || o.TrackSid != "DTR_a" {
		t.Fatal("new route for active track")
	}
}

// SID reassignment (docs/protocol.md, Remote tracks and subscriptions): the publisher republished
// after a full reconnect.
func TestRemoteSidReassignment(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_old", "a", lkpb.Encryption_NONE))
	s, _, _ := m.Subscribe("DTR_old", SubscribeOptions{}, t0)
	m.HandleSubscriberHandles(handles(map[uint32]string{5: "DTR_old"}), t0)
	outs := m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("alice", "PA_alice2", 1, dti(1, "DTR_new", "a", lkpb.Encryption_NONE))}, t0)
	if len(outputsOf[RemoteTrackPublished](outs)) != 0 || len(outputsOf[RemoteTrackUnpublished](outs)) != 0 {
		t.Fatalf("reassignment must not emit published/unpublished: %v", outs)
	}
	if c := outputsOf[RemoteTrackSidChanged](outs); len(c) != 1 || c[0].OldSid != "DTR_old" || c[0].Info.Sid != "DTR_new" {
		t.Fatal(outs)
	}
	if u := oneRemoteRequest(t, outs); !u.Subscribe || u.TrackSid != "DTR_new" {
		t.Fatal(u)
	}
	// the old handle keeps routing, even if a snapshot still names the old SID
	m.HandleSubscriberHandles(handles(map[uint32]string{5: "DTR_old"}), t0)
	if o := m.HandlePacket(singlePacket(t, 5, 1, []byte{1})); !o.Delivered {
		t.Fatal("old handle stopped routing")
	}
	m.HandleSubscriberHandles(handles(map[uint32]string{9: "DTR_new"}), t0)
	if o := m.HandlePacket(singlePacket(t, 5, 2, []byte{2})); o.Delivered {
		t.Fatal("old handle still routes after the new one")
	}
	if o := m.HandlePacket(singlePacket(t, 9, 3, []byte{3})); !o.Delivered {
		t.Fatal("new handle does not route")
	}
	if fs := s.buf.Len(); fs != 2 || s.Err() != nil {
		t.Fatal("stream interrupted")
	}
	// different attributes: a new publication, the old one goes
	outs = m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("alice", "PA_alice2", 2, dti(1, "DTR_other", "renamed", lkpb.Encryption_NONE))}, t0)
	if len(outputsOf[RemoteTrackPublished](outs)) != 1 || len(outputsOf[RemoteTrackUnpublished](outs)) != 1 {
		t.Fatal(outs)
	}
	if _, err := recvAll(t, s); !errors.Is(err, ErrStreamEnded) {
		t.Fatal(err)
	}
}

func TestRemoteParticipantUpdateRules(t *testing.T) {
	m := NewRemoteManager(RemoteConfig{LocalIdentity: "me"})
	outs := m.UpdateParticipants([]*lkpb.ParticipantInfo{
		participant("me", "PA_me", 1, dti(1, "DTR_mine", "x", lkpb.Encryption_NONE)),
		participant("alice", "PA_alice", 3,
			dti(0, "DTR_h0", "bad handle", lkpb.Encryption_NONE),
			dti(2, "TR_nope", "bad sid", lkpb.Encryption_NONE),
			dti(3, "DTR_c", "custom enc", lkpb.Encryption_CUSTOM),
			dti(4, "DTR_ok", "ok", lkpb.Encryption_NONE)),
	}, t0)
	if p := outputsOf[RemoteTrackPublished](outs); len(p) != 1 || p[0].Info.Sid != "DTR_ok" {
		t.Fatalf("only the valid entry must be taken: %v", outs)
	}
	// idempotent
	if outs := m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("alice", "PA_alice", 3, dti(4, "DTR_ok", "ok", lkpb.Encryption_NONE))}, t0); len(outs) != 0 {
		t.Fatal(outs)
	}
	// stale version ignored
	if outs := m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("alice", "PA_alice", 2)}, t0); len(outs) != 0 {
		t.Fatal("stale update applied", outs)
	}
	// participants absent from an update are untouched; HandleJoin treats absence as gone
	if outs := m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("bob", "PA_bob", 1)}, t0); len(outs) != 0 {
		t.Fatal(outs)
	}
	if u := outputsOf[RemoteTrackUnpublished](m.HandleJoin(nil, t0)); len(u) != 1 {
		t.Fatal("join without alice must forget her tracks")
	}
}

// TestRemoteSessions: a publisher's tracks belong to its latest session (SID). A DISCONNECTED
// of an earlier session that arrives after the identity rejoined is ignored, as the room's
// participant table ignores it; the current session's DISCONNECTED removes the tracks. The
// manager remembers only present publishers' sessions, however many come and go.
func TestRemoteSessions(t *testing.T) {
	m := NewRemoteManager(RemoteConfig{LocalIdentity: "me"})
	disconnected := func(identity, sid string, version uint32) *lkpb.ParticipantInfo {
		p := participant(identity, sid, version)
		p.State = lkpb.ParticipantInfo_DISCONNECTED
		return p
	}
	m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("alice", "PA_old", 5, dti(1, "DTR_a", "a", lkpb.Encryption_NONE))}, t0) // a new session starts again at a low version
	outs := m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("alice", "PA_new", 1, dti(1, "DTR_b", "b", lkpb.Encryption_NONE))}, t0)
	if p, u := outputsOf[RemoteTrackPublished](outs), outputsOf[RemoteTrackUnpublished](outs); len(p) != 1 || len(u) != 1 || p[0].Info.Sid != "DTR_b" {
		t.Fatalf("rejoin: %v", outs)
	}
	if outs := m.UpdateParticipants([]*lkpb.ParticipantInfo{disconnected("alice", "PA_old", 2)}, t0); len(outs) != 0 {
		t.Fatalf("the old session's late DISCONNECTED changed the new session's tracks: %v", outs)
	}
	// Stale versions are per session: version 1 of the new session after its version 3.
	m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("alice", "PA_new", 3, dti(1, "DTR_b", "b", lkpb.Encryption_NONE))}, t0)
	if outs := m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("alice", "PA_new", 2)}, t0); len(outs) != 0 {
		t.Fatalf("stale update applied: %v", outs)
	}
	outs = m.UpdateParticipants([]*lkpb.ParticipantInfo{disconnected("alice", "PA_new", 4)}, t0)
	if u := outputsOf[RemoteTrackUnpublished](outs); len(u) != 1 || u[0].Info.Sid != "DTR_b" {
		t.Fatalf("the current session's DISCONNECTED: %v", outs)
	}
	for i := range 100 {
		sid := fmt.Sprintf("PA_%d", i)
		m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("bob", sid, 1, dti(2, "DTR_"+sid, "t", lkpb.Encryption_NONE))}, t0)
		m.UpdateParticipants([]*lkpb.ParticipantInfo{disconnected("bob", sid, 2)}, t0)
	}
	m.UpdateParticipants([]*lkpb.ParticipantInfo{participant("carol", "PA_carol", 1)}, t0)
	if len(m.sessions) != 1 {
		t.Fatalf("%d sessions remembered, want carol's only", len(m.sessions))
	}
	m.HandleJoin(nil, t0) // a new session's list without carol
	if len(m.sessions) != 0 {
		t.Fatalf("%d sessions remembered after a join without publishers", len(m.sessions))
	}
}

func TestRemoteE2EE(t *testing.T) {
	key := bytes.Repeat([]byte{3}, 16)
	c := &gcmCrypto{t: t, sendKey: key, keys: map[string][]byte{"alice": key}}
	m := setupRemote(t, RemoteConfig{Decryptor: c}, dti(1, "DTR_e", "e", lkpb.Encryption_GCM), dti(2, "DTR_p", "p", lkpb.Encryption_NONE))
	se, _, _ := m.Subscribe("DTR_e", SubscribeOptions{}, t0)
	sp, _, _ := m.Subscribe("DTR_p", SubscribeOptions{}, t0)
	m.HandleSubscriberHandles(handles(map[uint32]string{1: "DTR_e", 2: "DTR_p"}), t0)
	pipe, _ := NewSendPipeline(1, 0, NewClock(0, t0), c)
	var f PacketizedFrame
	_ = pipe.Encode(&f, NewFrame([]byte("top secret")).WithUserTimestamp(5), t0)
	pkt := bytes.Clone(f.Packet(0))
	if o := m.HandlePacket(pkt); !o.Delivered {
		t.Fatal(o.Drops())
	}
	if fr, _ := se.TryRecv(); string(fr.Payload) != "top secret" || fr.UserTimestamp != 5 || !fr.HasUserTimestamp {
		t.Fatalf("decrypted %+v", fr)
	}
	// plain track in the same room: delivered unchanged
	if o := m.HandlePacket(singlePacket(t, 2, 0, []byte("plain"))); !o.Delivered {
		t.Fatal(o.Drops())
	}
	if fr, _ := sp.TryRecv(); string(fr.Payload) != "plain" {
		t.Fatal(fr)
	}
	// wrong key: reported, counted, nothing delivered
	c.keys["alice"] = bytes.Repeat([]byte{4}, 16)
	f.Reset()
	_ = pipe.Encode(&f, NewFrame([]byte("x")), t0)
	o := m.HandlePacket(bytes.Clone(f.Packet(0)))
	if o.Delivered || len(o.Drops()) != 1 || o.Drops()[0].Reason != DropDecryptFailed || se.buf.Len() != 0 {
		t.Fatalf("%+v", o)
	}
	if m.Stats().Drops[DropDecryptFailed] != 1 {
		t.Fatal("not counted")
	}
	// malformed input
	if o := m.HandlePacket([]byte{1, 2, 3}); o.Drops()[0].Reason != DropMalformedPacket || !errors.Is(o.Drops()[0].Err, ErrTooShort) {
		t.Fatal(o)
	}
}

// The subscriber's own full reconnect: streams survive (Rust behaviour), subscriptions are
// re-requested and the new handle routes into the same stream.
func TestRemoteOwnFullReconnect(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", lkpb.Encryption_NONE), dti(2, "DTR_b", "b", lkpb.Encryption_NONE))
	s, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	pend, _, _ := m.Subscribe("DTR_b", SubscribeOptions{}, t0)
	m.HandleSubscriberHandles(handles(map[uint32]string{4: "DTR_a"}), t0)
	m.SessionLost(t0)
	if o := m.HandlePacket(singlePacket(t, 4, 1, []byte{1})); o.Delivered {
		t.Fatal("old session's handle still routes")
	}
	outs := m.SessionRestored(t0.Add(5 * time.Second))
	reqs := outputsOf[SendRequest](outs)
	if len(reqs) != 2 {
		t.Fatal(outs)
	}
	if len(m.Tick(t0.Add(DefaultSubscribeTimeout+time.Second))) != 0 {
		t.Fatal("pending deadline must restart on SessionRestored")
	}
	m.HandleSubscriberHandles(handles(map[uint32]string{1: "DTR_a", 2: "DTR_b"}), t0)
	if o := m.HandlePacket(singlePacket(t, 1, 2, []byte{2})); !o.Delivered {
		t.Fatal(o.Drops())
	}
	if fr, ok := s.TryRecv(); !ok || fr.Payload[0] != 2 || !pend.Active() {
		t.Fatal("stream did not survive")
	}
	// Close: established streams end normally with cause ErrDisconnected
	outs = m.Close()
	if len(outputsOf[SubscriptionEnded](outs)) != 2 || len(outputsOf[RemoteTrackUnpublished](outs)) != 2 {
		t.Fatal(outs)
	}
	if err := s.Err(); !errors.Is(err, ErrStreamEnded) || !errors.Is(err, ErrDisconnected) {
		t.Fatal(err)
	}
	if _, _, err := m.Subscribe("DTR_a", SubscribeOptions{}, t0); !errors.Is(err, ErrDisconnected) {
		t.Fatal(err)
	}
	if m.Close() != nil {
		t.Fatal("Close not idempotent")
	}
}

func TestRemoteMaxPartialFramesAndLeave(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", lkpb.Encryption_NONE))
	if err := m.SetMaxPartialFrames("DTR_a", 2); err != nil {
		t.Fatal(err)
	}
	s, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	m.HandleSubscriberHandles(handles(map[uint32]string{3: "DTR_a"}), t0)
	send := func(mk Marker, seq, frame uint16, b byte) PacketOutcome {
		p := Packet{Header: Header{Marker: mk, Handle: 3, Sequence: seq, FrameNumber: frame}, Payload: []byte{b}}
		raw, _ := p.AppendTo(nil)
		return m.HandlePacket(raw)
	}
	send(MarkerStart, 1, 1, 1)
	send(MarkerStart, 10, 2, 2) // interleaved: fine with 2 partial frames
	send(MarkerFinal, 11, 2, 3)
	if o := send(MarkerFinal, 2, 1, 4); !o.Delivered {
		t.Fatal("interleaved frame lost", o.Drops())
	}
	if s.buf.Len() != 2 {
		t.Fatal(s.buf.Len())
	}
	if err := m.SetMaxPartialFrames("DTR_x", 2); !errors.Is(err, ErrUnknownTrack) {
		t.Fatal(err)
	}
	if outs := m.RemoveParticipant("alice", t0); len(outputsOf[RemoteTrackUnpublished](outs)) != 1 {
		t.Fatal(outs)
	}
	fs, err := recvAll(t, s)
	if len(fs) != 2 || !errors.Is(err, ErrTrackUnpublished) {
		t.Fatal(len(fs), err)
	}
}

// Every drop is counted once, under its own cause, and nothing else moves: removing any of
// the manager's counter increments fails here (the per-packet outcome alone would not show it).
func TestRemoteDropCountersPerCause(t *testing.T) {
	m := setupRemote(t, RemoteConfig{}, dti(1, "DTR_a", "a", lkpb.Encryption_NONE))
	if err := m.SetMaxPartialFrames("DTR_a", 1); err != nil {
		t.Fatal(err)
	}
	s, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
	m.HandleSubscriberHandles(handles(map[uint32]string{3: "DTR_a"}), t0)
	pkt := func(mk Marker, handle, seq, frame uint16) []byte {
		p := Packet{Header: Header{Marker: mk, Handle: handle, Sequence: seq, FrameNumber: frame}, Payload: []byte{byte(seq)}}
		raw, err := p.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	const none = numDropReasons
	var want RemoteStats
	for _, step := range []struct {
		name      string
		raw       []byte
		drop      DropReason
		delivered bool
	}{
		{"malformed", []byte{0xff}, DropMalformedPacket, false},
		{"truncated header", pkt(MarkerSingle, 3, 1, 1)[:5], DropMalformedPacket, false},
		{"unknown handle", pkt(MarkerSingle, 99, 2, 2), DropUnknownHandle, false},
		{"single frame", pkt(MarkerSingle, 3, 3, 3), none, true},
		{"inter without start", pkt(MarkerInter, 3, 5, 4), DropUnknownFrame, false},
		{"start", pkt(MarkerStart, 3, 10, 5), none, false},
		{"start evicting the partial frame", pkt(MarkerStart, 3, 20, 6), DropInterrupted, false},
		{"final after a gap", pkt(MarkerFinal, 3, 22, 6), DropIncomplete, false},
		{"unknown handle again", pkt(MarkerSingle, 98, 23, 7), DropUnknownHandle, false},
		{"another single frame", pkt(MarkerSingle, 3, 24, 8), none, true},
	} {
		o := m.HandlePacket(step.raw)
		want.Packets++
		if step.delivered {
			want.Frames++
		}
		if step.drop != none {
			want.Drops[step.drop]++
			if d := o.Drops(); len(d) != 1 || d[0].Reason != step.drop {
				t.Fatalf("%s: outcome drops %v, want one %v", step.name, d, step.drop)
			}
		} else if len(o.Drops()) != 0 {
			t.Fatalf("%s: unexpected drops %v", step.name, o.Drops())
		}
		if o.Delivered != step.delivered {
			t.Fatalf("%s: delivered %v", step.name, o.Delivered)
		}
		if got := m.Stats(); got != want {
			t.Fatalf("%s: stats %+v, want %+v", step.name, got, want)
		}
	}
	if s.buf.Len() != 2 {
		t.Fatalf("%d frames buffered, want 2", s.buf.Len())
	}
}
