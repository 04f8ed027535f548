package ffi

import (
	"bytes"
	"encoding/binary"
	"maps"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

func trackStats(t *testing.T, h *host, track uint64) *ffipb.LocalDataTrackStats {
	t.Helper()
	resp := h.do(&ffipb.Request{Message: &ffipb.Request_GetDataTrackStats{GetDataTrackStats: &ffipb.GetDataTrackStatsRequest{TrackHandle: track}}})
	wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
	return resp.GetGetDataTrackStats().GetStats()
}

// A subscription waited for with WaitDataTrackSubscribed receives the very next frame (no
// warm-up pushes); a waiting push queues past a full queue; flush empties it; the counters
// account for every frame.
func TestE2EDataTrackWaitSubscribedPushWaitFlushStats(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice, ar, _ := joinHost(t, s, "dt-wait", "alice")
	bob, br, _ := joinHost(t, s, "dt-wait", "bob")
	track := alice.call(&ffipb.Request{Message: &ffipb.Request_PublishDataTrack{PublishDataTrack: &ffipb.PublishDataTrackRequest{
		RoomHandle: ar, Name: "w", QueueSize: 2,
	}}}).GetPublishDataTrack().GetTrack()
	th := track.GetHandle()
	bob.roomEvent("track published", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataTrackPublished() != nil })

	sub := subscribe(t, bob, br, "alice", track.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_CREDITS)
	resp := bob.do(&ffipb.Request{Message: &ffipb.Request_WaitDataTrackSubscribed{WaitDataTrackSubscribed: &ffipb.WaitDataTrackSubscribedRequest{SubscriptionHandle: sub}}})
	wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST) // ASYNC: needs a request id
	bob.call(&ffipb.Request{Message: &ffipb.Request_WaitDataTrackSubscribed{WaitDataTrackSubscribed: &ffipb.WaitDataTrackSubscribedRequest{SubscriptionHandle: sub}}})
	if got := frameEvents(bob.s.snapshot(), sub); len(got) != 0 {
		t.Fatalf("frames before any push: %v", got)
	}

	// Fill the 2-frame queue with large frames until a push is refused, then push with the
	// waiting form: it must be queued, not refused.
	// Each large frame starts with its index among the accepted ones.
	big := bytes.Repeat([]byte{7}, 60_000)
	accepted, refused := 0, 0
	for refused == 0 && accepted < 10_000 {
		binary.BigEndian.PutUint32(big, uint32(accepted))
		switch err := alice.c.PushFrame(th, big, 0, false); CodeOf(err) {
		case ffipb.ErrorCode_ERROR_CODE_OK:
			accepted++
		case ffipb.ErrorCode_ERROR_CODE_QUEUE_FULL:
			refused++
		default:
			t.Fatal(err)
		}
	}
	if refused == 0 {
		t.Fatal("the queue never filled")
	}
	ts := uint64(42)
	alice.call(&ffipb.Request{Message: &ffipb.Request_PushDataTrackFrameWait{PushDataTrackFrameWait: &ffipb.PushDataTrackFrameRequest{
		TrackHandle: th, Payload: []byte("last"), UserTimestamp: &ts,
	}}})
	alice.call(&ffipb.Request{Message: &ffipb.Request_FlushDataTrack{FlushDataTrack: &ffipb.FlushDataTrackRequest{TrackHandle: th}}})
	st := trackStats(t, alice, th)
	if st.GetPushed() != uint64(accepted+1) || st.GetRejected() < uint64(refused) || st.GetQueued() != 0 ||
		st.GetSent()+st.GetSendFailed()+st.GetDiscarded() != st.GetPushed() || st.GetSent() == 0 {
		t.Fatalf("stats after flush (accepted %d, refused %d): %v", accepted, refused, st)
	}

	// The frames reach bob in order, the last one with its timestamp (credits let them through).
	wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: sub, Credits: 1 << 20}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	bob.s.waitFor(t, "the last frame", func(evs []*ffipb.Event) bool {
		fs := frameEvents(evs, sub)
		return len(fs) > 0 && string(fs[len(fs)-1].GetPayload()) == "last"
	})
	fs := frameEvents(bob.s.snapshot(), sub)
	if last := fs[len(fs)-1]; last.GetUserTimestamp() != 42 {
		t.Fatalf("last frame: %v", last)
	}
	// Every frame from the first one delivered on is accounted for (delivered or counted in a
	// dropped_before); the channel is lossy, and what is lost before the first delivered frame
	// cannot be counted (docs/protocol.md, Frame loss accounting).
	first := uint64(accepted) // only "last" arrived
	if p := fs[0].GetPayload(); string(p) != "last" {
		first = uint64(binary.BigEndian.Uint32(p))
	}
	var seen uint64
	for _, f := range fs {
		seen += 1 + f.GetDroppedBefore()
	}
	if seen != uint64(accepted+1)-first {
		t.Fatalf("bob accounted for %d frames from frame %d on, alice pushed %d", seen, first, accepted+1)
	}

	// Typed failures.
	wantRespCode(t, alice.do(&ffipb.Request{RequestId: 9001, Message: &ffipb.Request_FlushDataTrack{FlushDataTrack: &ffipb.FlushDataTrackRequest{TrackHandle: sub}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	wantRespCode(t, bob.do(&ffipb.Request{Message: &ffipb.Request_GetDataTrackStats{GetDataTrackStats: &ffipb.GetDataTrackStatsRequest{TrackHandle: sub}}}), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantRespCode(t, bob.do(&ffipb.Request{RequestId: 9002, Message: &ffipb.Request_WaitDataTrackSubscribed{WaitDataTrackSubscribed: &ffipb.WaitDataTrackSubscribedRequest{SubscriptionHandle: br}}}), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_UnpublishDataTrack{UnpublishDataTrack: &ffipb.UnpublishDataTrackRequest{TrackHandle: th}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	wantRespCode(t, alice.do(&ffipb.Request{RequestId: 9003, Message: &ffipb.Request_PushDataTrackFrameWait{PushDataTrackFrameWait: &ffipb.PushDataTrackFrameRequest{TrackHandle: th, Payload: []byte("x")}}}), ffipb.ErrorCode_ERROR_CODE_TRACK_UNPUBLISHED)
}

// Waiting on a subscription that cannot be established reports why: an E2EE track seen by a
// room without keys.
func TestE2EWaitSubscribedFailureAndE2EEStats(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	alice := newHost(t)
	ar := alice.createRoom(&ffipb.RoomOptions{E2Ee: &ffipb.E2EeOptions{SharedKey: []byte("alice")}})
	stats := func(h *host, rh uint64) *ffipb.GetE2EeStatsResponse {
		t.Helper()
		resp := h.do(&ffipb.Request{Message: &ffipb.Request_GetE2EeStats{GetE2EeStats: &ffipb.GetE2EeStatsRequest{RoomHandle: rh}}})
		wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
		return resp.GetGetE2EeStats()
	}
	if st := stats(alice, ar); !st.GetEnabled() || st.GetDecryptionFailures() != 0 {
		t.Fatalf("before connect: %v", st)
	}
	alice.connect(ar, s.URL(), mintToken(t, s, "dt-e2ee", "alice"))
	bob, br, _ := joinHost(t, s, "dt-e2ee", "bob")
	carol := newHost(t)
	cr := carol.createRoom(&ffipb.RoomOptions{E2Ee: &ffipb.E2EeOptions{SharedKey: []byte("carol")}})
	carol.connect(cr, s.URL(), mintToken(t, s, "dt-e2ee", "carol"))
	if st := stats(bob, br); st.GetEnabled() {
		t.Fatalf("bob without e2ee: %v", st)
	}

	track := publishTrack(t, alice, ar, "enc")
	bob.roomEvent("track published", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataTrackPublished() != nil })
	sub := subscribe(t, bob, br, "alice", track.GetInfo().GetSid(), ffipb.DeliveryMode_DELIVERY_MODE_CREDITS)
	comp := bob.completion(bob.async(&ffipb.Request{Message: &ffipb.Request_WaitDataTrackSubscribed{WaitDataTrackSubscribed: &ffipb.WaitDataTrackSubscribedRequest{SubscriptionHandle: sub}}}))
	if comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR {
		t.Fatalf("wait on an undecryptable track: %v", comp)
	}
	// The failure is also readable on the handle (what a pull reader asks after END_OF_STREAM).
	r := bob.do(&ffipb.Request{Message: &ffipb.Request_GetDataTrackSubscriptionEnd{GetDataTrackSubscriptionEnd: &ffipb.GetDataTrackSubscriptionEndRequest{SubscriptionHandle: sub}}})
	if e := r.GetGetDataTrackSubscriptionEnd(); !e.GetEnded() || e.GetEnd().GetReason() != ffipb.SubscriptionEndReason_SUBSCRIPTION_END_REASON_FAILED ||
		e.GetEnd().GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_ENCRYPTION_ERROR {
		t.Fatalf("end of a failed subscription: %v", r)
	}

	// Carol has another key: alice's packet fails to decrypt and is counted.
	alice.call(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{RoomHandle: ar, Payload: []byte("secret"), Reliable: true}}})
	ev, at := carol.roomEvent("decryption failure", 0, func(e *ffipb.RoomEvent) bool { return e.GetEncryptionStateChanged() != nil })
	if e := ev.GetEncryptionStateChanged(); e.GetParticipantIdentity() != "alice" || e.GetState() != ffipb.EncryptionState_ENCRYPTION_STATE_DECRYPTION_FAILED {
		t.Fatalf("carol: %v", e)
	}
	st := stats(carol, cr)
	if !st.GetEnabled() || st.GetDecryptionFailures() == 0 || !maps.Equal(st.GetParticipantStates(), map[string]ffipb.EncryptionState{"alice": ffipb.EncryptionState_ENCRYPTION_STATE_DECRYPTION_FAILED}) {
		t.Fatalf("carol: %v", st)
	}
	// With alice's key carol decrypts again: OK, as event and in the states (ABI 1.17).
	wantRespCode(t, carol.do(&ffipb.Request{Message: &ffipb.Request_SetSharedKey{SetSharedKey: &ffipb.SetSharedKeyRequest{RoomHandle: cr, SharedKey: []byte("alice")}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	alice.call(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{RoomHandle: ar, Payload: []byte("again"), Reliable: true}}})
	ev, _ = carol.roomEvent("recovery", at+1, func(e *ffipb.RoomEvent) bool { return e.GetEncryptionStateChanged() != nil })
	if e := ev.GetEncryptionStateChanged(); e.GetParticipantIdentity() != "alice" || e.GetState() != ffipb.EncryptionState_ENCRYPTION_STATE_OK {
		t.Fatalf("carol: %v", e)
	}
	if st := stats(carol, cr); !maps.Equal(st.GetParticipantStates(), map[string]ffipb.EncryptionState{"alice": ffipb.EncryptionState_ENCRYPTION_STATE_OK}) {
		t.Fatalf("carol after the key: %v", st)
	}
	// bob, without E2EE, lacks a key for alice's packets.
	bob.roomEvent("bob's failure", 0, func(e *ffipb.RoomEvent) bool { return e.GetEncryptionStateChanged() != nil })
	if st := stats(bob, br); !maps.Equal(st.GetParticipantStates(), map[string]ffipb.EncryptionState{"alice": ffipb.EncryptionState_ENCRYPTION_STATE_MISSING_KEY}) {
		t.Fatalf("bob: %v", st)
	}
}
