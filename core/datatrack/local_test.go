package datatrack

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
	"google.golang.org/protobuf/proto"
)

func fixedNow() time.Time { return t0 }

func newLocal(cfg LocalConfig) *LocalManager {
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	return NewLocalManager(cfg)
}

func oneRequest(t testing.TB, outs []LocalOutput) SendRequest {
	t.Helper()
	rs := outputsOf[SendRequest](outs)
	if len(rs) != 1 {
		t.Fatalf("want one request, got %v", outs)
	}
	return rs[0]
}

func oneCompletion(t testing.TB, outs []LocalOutput) PublishCompleted {
	t.Helper()
	cs := outputsOf[PublishCompleted](outs)
	if len(cs) != 1 {
		t.Fatalf("want one completion, got %v", outs)
	}
	return cs[0]
}

func publishResp(handle uint32, sid, name string) *lkpb.PublishDataTrackResponse {
	return &lkpb.PublishDataTrackResponse{Info: &lkpb.DataTrackInfo{PubHandle: handle, Sid: sid, Name: name}}
}

// Trace 1c-publish-errors-js (pub and nodata): the manager emits the recorded requests and maps
// the recorded answers: success, DUPLICATE_NAME, NOT_ALLOWED.
func TestLocalReplay1cPublishErrors(t *testing.T) {
	for _, scenario := range []string{"1c-publish-errors-js", "1c-publish-errors-rust"} {
		for _, who := range []string{"pub", "nodata"} {
			m := newLocal(LocalConfig{})
			var last uint16
			var results []PublishCompleted
			for _, s := range loadTraceSignals(t, scenario, who) {
				switch {
				case s.Type == "publishDataTrackRequest":
					h, outs, err := m.Publish(PublishOptions{Name: s.Req.GetPublishDataTrackRequest().GetName()}, t0)
					if err != nil {
						t.Fatal(err)
					}
					expectRequest(t, oneRequest(t, outs), s)
					last = h
				case s.Resp != nil:
					outs, handled := m.HandleSignal(s.Resp, t0)
					if s.Type == "requestResponse" || strings.HasPrefix(s.Type, "publish") {
						if !handled {
							t.Fatalf("%s not handled", s.Type)
						}
					}
					results = append(results, outputsOf[PublishCompleted](outs)...)
				}
			}
			switch who {
			case "pub":
				if len(results) != 2 || results[0].Err != nil || results[0].Track.Info().Sid == "" ||
					!errors.Is(results[1].Err, ErrDuplicateName) || last != 2 {
					t.Fatalf("%s pub: %+v", scenario, results)
				}
				var pe *PublishError
				if !errors.As(results[1].Err, &pe) || pe.Message != "a data track with same name already exists" || pe.Reason != lkpb.RequestResponse_DUPLICATE_NAME {
					t.Fatalf("PublishError %+v", pe)
				}
			case "nodata":
				if len(results) != 1 || !errors.Is(results[0].Err, ErrNotAllowed) {
					t.Fatalf("%s nodata: %+v", scenario, results)
				}
			}
		}
	}
}

// Trace 1d-resume-js (pub): publish, quick resume with SyncState.publish_data_tracks, unpublish.
func TestLocalReplay1dResume(t *testing.T) {
	m := newLocal(LocalConfig{})
	var track *LocalTrack
	for _, s := range loadTraceSignals(t, "1d-resume-js", "pub") {
		switch s.Type {
		case "publishDataTrackRequest":
			_, outs, err := m.Publish(PublishOptions{Name: "sensor"}, t0)
			if err != nil {
				t.Fatal(err)
			}
			expectRequest(t, oneRequest(t, outs), s)
		case "publishDataTrackResponse":
			outs, _ := m.HandleSignal(s.Resp, t0)
			track = oneCompletion(t, outs).Track
		case "syncState":
			got := &lkpb.SyncState{PublishDataTracks: m.SyncStateTracks()}
			if !proto.Equal(got, s.Req.GetSyncState()) {
				t.Fatalf("sync state %v, recorded %v", got, s.Req.GetSyncState())
			}
		case "unpublishDataTrackRequest":
			outs, err := m.Unpublish(track.Handle(), t0)
			if err != nil {
				t.Fatal(err)
			}
			expectRequest(t, oneRequest(t, outs), s)
			if track.IsPublished() || !errors.Is(track.TryPush(NewFrame([]byte{1})), ErrTrackUnpublished) {
				t.Fatal("track still accepts frames after Unpublish")
			}
			select {
			case <-track.Unpublished():
			default:
				t.Fatal("Unpublished not closed")
			}
		case "unpublishDataTrackResponse":
			outs, _ := m.HandleSignal(s.Resp, t0)
			if u := outputsOf[UnpublishCompleted](outs); len(u) != 1 || !u[0].Acknowledged {
				t.Fatalf("unpublish completion %v", outs)
			}
		}
	}
	if track == nil || len(m.SyncStateTracks()) != 0 {
		t.Fatal("replay incomplete")
	}
}

// The first pushed frame produces the packet header recorded in 1a-publish-js (timestamps
// aside): Single, handle 1, sequence 0, frame 0, 12-byte header + 32-byte payload.
func TestLocalTrackPushMatchesRecording(t *testing.T) {
	m := newLocal(LocalConfig{})
	h, _, _ := m.Publish(PublishOptions{Name: "sensor"}, t0)
	tr := oneCompletion(t, m.HandlePublishResponse(publishResp(uint32(h), "DTR_rVMhX89qWLSy", "sensor"), t0)).Track
	rec := loadTracePackets(t)[0] // 1a-publish-js, first frame
	payload := testkit.Unhex(t, rec.Hex)[12:]
	if err := tr.TryPush(NewFrame(payload)); err != nil {
		t.Fatal(err)
	}
	f, ok := tr.Queue().Pop()
	if !ok || f.Len() != 1 {
		t.Fatal("no frame queued")
	}
	got := f.Packet(0)
	want := testkit.Unhex(t, rec.Hex)
	if len(got) != len(want) || string(got[:8]) != string(want[:8]) || string(got[12:]) != string(want[12:]) {
		t.Fatalf("packet %x\nrecorded %x", got, want)
	}
	tr.Queue().Done(f)
}

func TestLocalPublishValidation(t *testing.T) {
	m := newLocal(LocalConfig{})
	for _, name := range []string{"", strings.Repeat("x", 257)} {
		if _, _, err := m.Publish(PublishOptions{Name: name}, t0); !errors.Is(err, ErrInvalidName) {
			t.Fatalf("name len %d: %v", len(name), err)
		}
	}
	if h, _, err := m.Publish(PublishOptions{Name: strings.Repeat("é", 128)}, t0); err != nil || h != 1 {
		t.Fatalf("256-byte name: %d %v", h, err)
	}
	fe := &lkpb.DataTrackFrameEncoding{Value: &lkpb.DataTrackFrameEncoding_WellKnown{WellKnown: lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_PROTOBUF}}
	if _, _, err := m.Publish(PublishOptions{Name: "a", FrameEncoding: fe}, t0); !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("protobuf without schema: %v", err)
	}
	m.lastHandle = MaxHandle
	if _, _, err := m.Publish(PublishOptions{Name: "b"}, t0); !errors.Is(err, ErrLimitReached) {
		t.Fatalf("handles exhausted: %v", err)
	}
}

func TestValidateSchema(t *testing.T) {
	wkf := func(v lkpb.DataTrackFrameEncoding_WellKnownFrameEncoding) *lkpb.DataTrackFrameEncoding {
		return &lkpb.DataTrackFrameEncoding{Value: &lkpb.DataTrackFrameEncoding_WellKnown{WellKnown: v}}
	}
	sch := func(v lkpb.DataTrackSchemaEncoding_WellKnownSchemaEncoding) *lkpb.DataTrackSchemaId {
		return &lkpb.DataTrackSchemaId{Name: "s", Encoding: &lkpb.DataTrackSchemaEncoding{Value: &lkpb.DataTrackSchemaEncoding_WellKnown{WellKnown: v}}}
	}
	custom := &lkpb.DataTrackFrameEncoding{Value: &lkpb.DataTrackFrameEncoding_Custom{Custom: "a"}}
	customSchema := &lkpb.DataTrackSchemaId{Name: "s", Encoding: &lkpb.DataTrackSchemaEncoding{Value: &lkpb.DataTrackSchemaEncoding_Custom{Custom: "b"}}}
	ok := []struct {
		fe *lkpb.DataTrackFrameEncoding
		s  *lkpb.DataTrackSchemaId
	}{
		{nil, nil},
		{wkf(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_JSON), nil},
		{wkf(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_CBOR), nil},
		{wkf(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_JSON), sch(lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_JSON_SCHEMA)},
		{wkf(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_CDR), sch(lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_OMG_IDL)},
		{wkf(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_ROS1), sch(lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_ROS1_MSG)},
		{custom, customSchema},
		{custom, nil},
	}
	for i, c := range ok {
		if err := ValidateSchema(c.fe, c.s); err != nil {
			t.Errorf("ok case %d: %v", i, err)
		}
	}
	bad := []struct {
		fe *lkpb.DataTrackFrameEncoding
		s  *lkpb.DataTrackSchemaId
	}{
		{nil, sch(lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_PROTOBUF)},
		{wkf(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_FLATBUFFER), nil},
		{wkf(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_PROTOBUF), sch(lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_FLATBUFFER)},
		{wkf(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_CBOR), sch(lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_JSON_SCHEMA)},
		{wkf(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_JSON), customSchema},
	}
	for i, c := range bad {
		if err := ValidateSchema(c.fe, c.s); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("bad case %d: %v", i, err)
		}
	}
}

// A server without data tracks never answers (docs/protocol.md, Servers without data tracks):
// ErrTimeout after 10 s; a late success is answered with an unpublish; handles are never reused.
func TestLocalPublishTimeoutAndLateSuccess(t *testing.T) {
	m := newLocal(LocalConfig{})
	h, _, _ := m.Publish(PublishOptions{Name: "a"}, t0)
	if dl, ok := m.NextDeadline(); !ok || !dl.Equal(t0.Add(DefaultPublishTimeout)) {
		t.Fatalf("deadline %v", dl)
	}
	if outs := m.Tick(t0.Add(DefaultPublishTimeout - time.Millisecond)); len(outs) != 0 {
		t.Fatalf("early timeout %v", outs)
	}
	c := oneCompletion(t, m.Tick(t0.Add(DefaultPublishTimeout)))
	if c.Handle != h || !errors.Is(c.Err, ErrTimeout) {
		t.Fatalf("%+v", c)
	}
	outs := m.HandlePublishResponse(publishResp(uint32(h), "DTR_aaaaaaaaaaaa", "a"), t0.Add(11*time.Second))
	if r := oneRequest(t, outs); r.Request.GetUnpublishDataTrackRequest().GetPubHandle() != uint32(h) {
		t.Fatalf("late success: %v", outs)
	}
	h2, _, _ := m.Publish(PublishOptions{Name: "a"}, t0)
	if h2 != h+1 {
		t.Fatalf("handle reused: %d", h2)
	}
	// cancellation: completes with the caller's error; nothing else sent before an answer
	outs = m.CancelPublish(h2, errors.New("ctx canceled"))
	if c := oneCompletion(t, outs); c.Err == nil || len(outs) != 1 {
		t.Fatalf("cancel %v", outs)
	}
}

func TestLocalUnpublishPaths(t *testing.T) {
	m := newLocal(LocalConfig{})
	publish := func(name string, sid string) *LocalTrack {
		h, _, _ := m.Publish(PublishOptions{Name: name}, t0)
		return oneCompletion(t, m.HandlePublishResponse(publishResp(uint32(h), sid, name), t0)).Track
	}
	a := publish("a", "DTR_aaaaaaaaaaaa")
	b := publish("b", "DTR_bbbbbbbbbbbb")
	c := publish("c", "DTR_cccccccccccc")
	// NOT_FOUND counts as done
	m.Unpublish(a.Handle(), t0)
	outs, handled := m.HandleRequestResponse(&lkpb.RequestResponse{Reason: lkpb.RequestResponse_NOT_FOUND,
		Request: &lkpb.RequestResponse_UnpublishDataTrack{UnpublishDataTrack: &lkpb.UnpublishDataTrackRequest{PubHandle: uint32(a.Handle())}}})
	if u := outputsOf[UnpublishCompleted](outs); !handled || len(u) != 1 || !u[0].Acknowledged {
		t.Fatalf("NOT_FOUND: %v", outs)
	}
	// no answer: completes after the bounded wait, unacknowledged
	m.Unpublish(b.Handle(), t0)
	if u := outputsOf[UnpublishCompleted](m.Tick(t0.Add(DefaultUnpublishTimeout))); len(u) != 1 || u[0].Acknowledged {
		t.Fatalf("unpublish timeout: %v", u)
	}
	if _, err := m.Unpublish(b.Handle(), t0); !errors.Is(err, ErrUnknownHandle) {
		t.Fatal("second unpublish", err)
	}
	// unsolicited unpublish_data_track_response: SFU-initiated
	outs = m.HandleUnpublishResponse(&lkpb.UnpublishDataTrackResponse{Info: &lkpb.DataTrackInfo{PubHandle: uint32(c.Handle()), Sid: "DTR_cccccccccccc"}})
	if u := outputsOf[LocalTrackUnpublished](outs); len(u) != 1 || !errors.Is(u[0].Reason, ErrUnpublishedByServer) || c.IsPublished() {
		t.Fatalf("server unpublish: %v", outs)
	}
}

// Full reconnect (docs/protocol.md, Reconnection of data tracks): pending fails, tracks go
// Republishing, the same handle is republished, the SID changes in place and pushing resumes
// with continuing counters.
func TestLocalFullReconnectRepublish(t *testing.T) {
	m := newLocal(LocalConfig{})
	h, _, _ := m.Publish(PublishOptions{Name: "sensor"}, t0)
	tr := oneCompletion(t, m.HandlePublishResponse(publishResp(uint32(h), "DTR_old000000000", "sensor"), t0)).Track
	if err := tr.TryPush(NewFrame([]byte{1})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tr.Accepting():
	default:
		t.Fatal("a published track's Accepting is open")
	}
	pending, _, _ := m.Publish(PublishOptions{Name: "other"}, t0)

	outs := m.SessionLost(t0)
	if c := oneCompletion(t, outs); c.Handle != pending || !errors.Is(c.Err, ErrDisconnected) {
		t.Fatalf("pending: %+v", c)
	}
	if len(outputsOf[LocalTrackRepublishing](outs)) != 1 || tr.State() != LocalRepublishing || !tr.IsPublished() {
		t.Fatal("not republishing")
	}
	if err := tr.TryPush(NewFrame([]byte{2})); !errors.Is(err, ErrRepublishing) {
		t.Fatalf("push while republishing: %v", err)
	}
	accepting := tr.Accepting()
	select {
	case <-accepting:
		t.Fatal("Accepting closed while republishing")
	default:
	}
	m.SessionLost(t0) // lost again during the republication: the same wait goes on
	if tr.Accepting() != accepting {
		t.Fatal("a second loss replaced the channel a producer waits on")
	}
	if st := tr.Queue().Stats(); st.Frames != 1 || st.Discarded != 0 {
		t.Fatalf("the queued frame must wait for the republish: %+v", st)
	}
	if len(m.SyncStateTracks()) != 0 {
		t.Fatal("republishing tracks are not in SyncState")
	}
	// a publish requested during the reconnect is sent when the session is back
	later, outs, _ := m.Publish(PublishOptions{Name: "later"}, t0)
	if len(outs) != 0 {
		t.Fatal("request sent without a session")
	}
	outs = m.SessionRestored(t0.Add(time.Second))
	reqs := outputsOf[SendRequest](outs)
	if len(reqs) != 2 {
		t.Fatalf("requests %v", outs)
	}
	want := &lkpb.PublishDataTrackRequest{PubHandle: uint32(h), Name: "sensor"}
	if !proto.Equal(reqs[0].Request.GetPublishDataTrackRequest(), want) || reqs[1].Request.GetPublishDataTrackRequest().GetPubHandle() != uint32(later) {
		t.Fatalf("republish %v", reqs)
	}
	outs = m.HandlePublishResponse(publishResp(uint32(h), "DTR_new000000000", "sensor"), t0.Add(time.Second))
	if r := outputsOf[LocalTrackRepublished](outs); len(r) != 1 || r[0].OldSid != "DTR_old000000000" || r[0].NewSid != "DTR_new000000000" {
		t.Fatalf("republished %v", outs)
	}
	if tr.Info().Sid != "DTR_new000000000" || tr.State() != LocalPublished {
		t.Fatal("SID not updated in place")
	}
	select {
	case <-accepting:
	default:
		t.Fatal("Accepting still open after the republish")
	}
	if err := tr.TryPush(NewFrame([]byte{3})); err != nil {
		t.Fatal(err)
	}
	if p := tr.pipeline.Packetizer(); p.NextFrameNumber() != 2 || p.NextSequence() != 2 {
		t.Fatal("packetizer counters did not continue")
	}
}

func TestLocalRepublishFailureAndTimeout(t *testing.T) {
	m := newLocal(LocalConfig{})
	var tracks []*LocalTrack
	for i, name := range []string{"a", "b"} {
		h, _, _ := m.Publish(PublishOptions{Name: name}, t0)
		tracks = append(tracks, oneCompletion(t, m.HandlePublishResponse(publishResp(uint32(h), "DTR_old00000000"+string(rune('0'+i)), name), t0)).Track)
	}
	m.SessionLost(t0)
	m.SessionRestored(t0)
	outs, _ := m.HandleRequestResponse(&lkpb.RequestResponse{Reason: lkpb.RequestResponse_NOT_ALLOWED,
		Request: &lkpb.RequestResponse_PublishDataTrack{PublishDataTrack: &lkpb.PublishDataTrackRequest{PubHandle: 1, Name: "a"}}})
	if u := outputsOf[LocalTrackUnpublished](outs); len(u) != 1 || !errors.Is(u[0].Reason, ErrNotAllowed) || tracks[0].IsPublished() {
		t.Fatalf("failed republish: %v", outs)
	}
	outs = m.Tick(t0.Add(DefaultPublishTimeout))
	if u := outputsOf[LocalTrackUnpublished](outs); len(u) != 1 || !errors.Is(u[0].Reason, ErrTimeout) || tracks[1].IsPublished() {
		t.Fatalf("republish timeout: %v", outs)
	}
}

func TestLocalPermissionRevokedAndClose(t *testing.T) {
	m := newLocal(LocalConfig{})
	h, _, _ := m.Publish(PublishOptions{Name: "a"}, t0)
	tr := oneCompletion(t, m.HandlePublishResponse(publishResp(uint32(h), "DTR_aaaaaaaaaaaa", "a"), t0)).Track
	if outs := m.HandleLocalParticipantInfo(&lkpb.ParticipantInfo{Permission: &lkpb.ParticipantPermission{CanPublishData: true}}); len(outs) != 0 {
		t.Fatal(outs)
	}
	outs := m.HandleLocalParticipantInfo(&lkpb.ParticipantInfo{Permission: &lkpb.ParticipantPermission{CanPublish: true}})
	if u := outputsOf[LocalTrackUnpublished](outs); len(u) != 1 || !errors.Is(tr.UnpublishReason(), ErrNotAllowed) {
		t.Fatalf("revocation: %v", outs)
	}
	h2, _, _ := m.Publish(PublishOptions{Name: "b"}, t0)
	tr2 := oneCompletion(t, m.HandlePublishResponse(publishResp(uint32(h2), "DTR_bbbbbbbbbbbb", "b"), t0)).Track
	h3, _, _ := m.Publish(PublishOptions{Name: "c"}, t0)
	outs = m.Close()
	if c := oneCompletion(t, outs); c.Handle != h3 || !errors.Is(c.Err, ErrDisconnected) {
		t.Fatal(outs)
	}
	if tr2.IsPublished() || !errors.Is(tr2.UnpublishReason(), ErrDisconnected) || len(m.Close()) != 0 {
		t.Fatal("close")
	}
	if _, _, err := m.Publish(PublishOptions{Name: "d"}, t0); !errors.Is(err, ErrDisconnected) {
		t.Fatal(err)
	}
}

// With WaitForTransport the publish resolves only once the data channel is open
// (docs/protocol.md, Departures).
func TestLocalWaitForTransport(t *testing.T) {
	m := newLocal(LocalConfig{WaitForTransport: true})
	h, _, _ := m.Publish(PublishOptions{Name: "a"}, t0)
	if outs := m.HandlePublishResponse(publishResp(uint32(h), "DTR_aaaaaaaaaaaa", "a"), t0); len(outs) != 0 {
		t.Fatalf("resolved before transport: %v", outs)
	}
	if c := oneCompletion(t, m.SetTransportReady(true, t0)); c.Track == nil {
		t.Fatal(c.Err)
	}
	// accepted but the transport never comes: timeout plus unpublish
	m.SetTransportReady(false, t0)
	h2, _, _ := m.Publish(PublishOptions{Name: "b"}, t0)
	m.HandlePublishResponse(publishResp(uint32(h2), "DTR_bbbbbbbbbbbb", "b"), t0)
	outs := m.Tick(t0.Add(DefaultPublishTimeout))
	if c := oneCompletion(t, outs); !errors.Is(c.Err, ErrTimeout) || oneRequest(t, outs).Request.GetUnpublishDataTrackRequest() == nil {
		t.Fatal(outs)
	}
}

func TestLocalTrackPushErrors(t *testing.T) {
	enc := &gcmCrypto{t: t, sendKey: make([]byte, 16)}
	m := newLocal(LocalConfig{Encryptor: enc, QueueFrames: 2})
	h, outs, _ := m.Publish(PublishOptions{Name: "a"}, t0)
	if oneRequest(t, outs).Request.GetPublishDataTrackRequest().GetEncryption() != lkpb.Encryption_GCM {
		t.Fatal("E2EE room must publish GCM tracks")
	}
	tr := oneCompletion(t, m.HandlePublishResponse(&lkpb.PublishDataTrackResponse{Info: &lkpb.DataTrackInfo{
		PubHandle: uint32(h), Sid: "DTR_aaaaaaaaaaaa", Name: "a", Encryption: lkpb.Encryption_GCM}}, t0)).Track
	if !tr.Info().Encrypted {
		t.Fatal("not encrypted")
	}
	if err := tr.TryPush(NewFrame(make([]byte, 128*15968))); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatal(err)
	}
	for range 2 {
		if err := tr.TryPush(NewFrame([]byte{1})); err != nil {
			t.Fatal(err)
		}
	}
	before := tr.pipeline.Packetizer().NextSequence()
	if err := tr.TryPush(NewFrame([]byte{1})); !errors.Is(err, ErrQueueFull) {
		t.Fatal(err)
	}
	if tr.pipeline.Packetizer().NextSequence() != before || tr.Queue().Stats().Rejected != 1 {
		t.Fatal("refused frame consumed counters or was not counted")
	}
	tr.Queue().Clear()
	enc.failEnc = errors.New("no key")
	if err := tr.TryPush(NewFrame([]byte{1})); !errors.Is(err, ErrEncryptionFailed) {
		t.Fatal(err)
	}
	// empty plain frame: success, nothing queued
	m2 := newLocal(LocalConfig{})
	h2, _, _ := m2.Publish(PublishOptions{Name: "p"}, t0)
	tr2 := oneCompletion(t, m2.HandlePublishResponse(publishResp(uint32(h2), "DTR_pppppppppppp", "p"), t0)).Track
	if err := tr2.TryPush(NewFrame(nil)); err != nil || tr2.Queue().Stats().Frames != 0 {
		t.Fatal("empty frame", err)
	}
}

// PublishOptions.QueueFrames overrides the manager's queue length for that track only, on both
// activation paths (direct and after WaitForTransport); with nothing draining, the limit is
// reached deterministically.
func TestLocalPerTrackQueueFrames(t *testing.T) {
	for _, wait := range []bool{false, true} {
		m := newLocal(LocalConfig{WaitForTransport: wait})
		small, _, err := m.Publish(PublishOptions{Name: "small", QueueFrames: 2}, t0)
		if err != nil {
			t.Fatal(err)
		}
		def, _, err := m.Publish(PublishOptions{Name: "default"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		var done []PublishCompleted
		done = append(done, outputsOf[PublishCompleted](m.HandlePublishResponse(publishResp(uint32(small), "DTR_small0000000", "small"), t0))...)
		done = append(done, outputsOf[PublishCompleted](m.HandlePublishResponse(publishResp(uint32(def), "DTR_default00000", "default"), t0))...)
		if wait {
			if len(done) != 0 {
				t.Fatalf("completed before the transport: %v", done)
			}
			done = outputsOf[PublishCompleted](m.SetTransportReady(true, t0))
		}
		if len(done) != 2 || done[0].Err != nil || done[1].Err != nil {
			t.Fatalf("wait=%v: %+v", wait, done)
		}
		for _, c := range []struct {
			tr    *LocalTrack
			limit int
		}{{m.Track(small), 2}, {m.Track(def), DefaultSendQueueFrames}} {
			for i := range c.limit {
				if err := c.tr.TryPush(NewFrame([]byte{byte(i)})); err != nil {
					t.Fatalf("wait=%v %s push %d: %v", wait, c.tr.Info().Name, i+1, err)
				}
			}
			if err := c.tr.TryPush(NewFrame([]byte{9})); !errors.Is(err, ErrQueueFull) {
				t.Fatalf("wait=%v %s push %d: %v, want ErrQueueFull", wait, c.tr.Info().Name, c.limit+1, err)
			}
			if st := c.tr.Queue().Stats(); st.Rejected != 1 {
				t.Fatalf("%s stats %+v", c.tr.Info().Name, st)
			}
		}
	}
}

// A republication that ends with the track unpublished wakes whoever waits on Accepting (its
// next push gets ErrTrackUnpublished).
func TestLocalRepublishEndsUnpublished(t *testing.T) {
	m := newLocal(LocalConfig{})
	h, _, _ := m.Publish(PublishOptions{Name: "sensor"}, t0)
	tr := oneCompletion(t, m.HandlePublishResponse(publishResp(uint32(h), "DTR_old000000000", "sensor"), t0)).Track
	m.SessionLost(t0)
	accepting := tr.Accepting()
	tr.setState(LocalUnpublished, ErrDisconnected)
	select {
	case <-accepting:
	default:
		t.Fatal("Accepting still open after the track ended")
	}
	if err := tr.TryPush(NewFrame([]byte{1})); !errors.Is(err, ErrTrackUnpublished) {
		t.Fatalf("push after the end: %v", err)
	}
}
