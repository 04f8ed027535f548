package ffi

import (
	"context"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// forge returns h with its kind byte replaced (the serial and client id are kept).
func forge(h uint64, k Kind) uint64 {
	_, client, serial := splitHandle(h)
	return makeHandle(k, client, serial)
}

// TestForgedHandleKinds: a handle whose serial was issued but whose kind byte was altered is
// WRONG_HANDLE_TYPE everywhere — table lookups, requests, both fast paths and drop — whether
// the real handle is live or already dropped, and nothing is released by it.
func TestForgedHandleKinds(t *testing.T) {
	tab := NewHandleTable(9)
	room, _ := tab.Insert(KindRoom, "room", 0, nil)
	released := 0
	sub, _ := tab.Insert(KindDataTrackSubscription, "sub", room, func(context.Context) { released++ })
	for _, h := range []uint64{room, sub} {
		orig, _, _ := splitHandle(h)
		for k := Kind(1); k < kindLimit; k++ {
			if k == orig {
				continue
			}
			f := forge(h, k)
			_, err := tab.Get(f, k)
			wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
			_, err = tab.Get(f, orig)
			wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
			_, err = tab.Kind(f)
			wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
			rels, err := tab.Drop(f)
			wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
			if len(rels) != 0 || tab.Len() != 2 {
				t.Fatalf("forged drop released %d, %d live", len(rels), tab.Len())
			}
		}
	}
	// Dropped: the real handle's second drop is idempotent, a forged one is still refused.
	if rels, err := tab.Drop(sub); err != nil || len(rels) != 1 {
		t.Fatalf("drop: %v %v", rels, err)
	} else {
		rels[0](context.Background())
	}
	if released != 1 {
		t.Fatalf("released %d times", released)
	}
	if _, err := tab.Drop(sub); err != nil {
		t.Fatal(err)
	}
	_, err := tab.Drop(forge(sub, KindStreamReader))
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	_, err = tab.Get(forge(sub, KindRoom), KindRoom)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	// Kinds of many serials are recorded independently (two per byte).
	var hs []uint64
	for i := range 7 {
		h, _ := tab.Insert(Kind(1+i%int(kindLimit-1)), i, 0, nil)
		hs = append(hs, h)
	}
	for _, h := range hs {
		k, _, _ := splitHandle(h)
		if got, err := tab.Kind(h); err != nil || got != k {
			t.Fatalf("kind of %x: %v %v", h, got, err)
		}
	}
}

// TestForgedHandlesThroughClient: the same through a client's requests, fast paths and
// DropHandle (what lk_request, lk_data_track_push/read and lk_handle_drop call).
func TestForgedHandlesThroughClient(t *testing.T) {
	c := newTestClient(t, nextClientID.Add(1), nil)
	room := do(t, c, &ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{}}}).GetCreateRoom().GetRoom().GetHandle()
	asTrack, asSub := forge(room, KindLocalDataTrack), forge(room, KindDataTrackSubscription)
	wantCode(t, c.PushFrame(asTrack, []byte("x"), 0, false), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	_, err := c.ReadFrame(asSub, 0)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_UnpublishDataTrack{UnpublishDataTrack: &ffipb.UnpublishDataTrackRequest{TrackHandle: asTrack}}}), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_GrantCredits{GrantCredits: &ffipb.GrantCreditsRequest{Handle: asSub, Credits: 1}}}), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: forge(room, KindStreamWriter)}}}), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantCode(t, c.DropHandle(asTrack), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	// The room was untouched by all of it.
	wantRespCode(t, do(t, c, &ffipb.Request{Message: &ffipb.Request_GetRoomSnapshot{GetRoomSnapshot: &ffipb.GetRoomSnapshotRequest{RoomHandle: room}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	if err := c.DropHandle(room); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.DropHandle(room), ffipb.ErrorCode_ERROR_CODE_OK)
	wantCode(t, c.DropHandle(asTrack), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	wantCode(t, c.PushFrame(asTrack, nil, 0, false), ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
}

// TestKindWindow: a table remembers the kinds of its last kindWindow serials only, in a ring
// of half a byte each, so a long-running client's memory stays bounded. Within the window a
// forged handle is WRONG_HANDLE_TYPE live or not; a live one is recognised at any age; a
// dropped one older than the window is INVALID_HANDLE, and dropping it again succeeds.
func TestKindWindow(t *testing.T) {
	tab := NewHandleTable(3)
	tab.kindWindow = 8
	room, _ := tab.Insert(KindRoom, "room", 0, nil) // serial 1, live throughout
	old, _ := tab.Insert(KindStreamReader, "old", room, nil)
	if rels, err := tab.Drop(old); err != nil || len(rels) != 0 {
		t.Fatalf("drop: %v %v", rels, err)
	}
	// Fill the ring several times over with kinds that differ from the slots' previous ones.
	var recent []uint64
	for i := range 37 {
		h, err := tab.Insert(Kind(1+i%int(kindLimit-1)), i, room, nil)
		if err != nil {
			t.Fatal(err)
		}
		recent = append(recent, h)
		if _, err := tab.Drop(h); err != nil {
			t.Fatal(err)
		}
	}
	if len(tab.kinds) > int(tab.kindWindow)/2 {
		t.Fatalf("%d bytes of kinds for a window of %d serials", len(tab.kinds), tab.kindWindow)
	}
	// The last 8 serials (dropped) keep their kinds: each forged variant is refused, the
	// genuine handle is known as dropped.
	for _, h := range recent[len(recent)-8:] {
		k, _, _ := splitHandle(h)
		if _, err := tab.Drop(h); err != nil {
			t.Fatalf("second drop of %x: %v", h, err)
		}
		_, err := tab.Get(h, k)
		wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
		for f := Kind(1); f < kindLimit; f++ {
			if f != k {
				_, err := tab.Drop(forge(h, f))
				wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
			}
		}
	}
	// Older than the window and dropped: genuine or forged, only "dropped" is known.
	_, err := tab.Get(old, KindStreamReader)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	_, err = tab.Get(forge(old, KindStreamWriter), KindStreamWriter)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	if _, err := tab.Drop(old); err != nil {
		t.Fatalf("second drop of an old handle: %v", err)
	}
	// Older than the window and live: forging it is still recognised, and drops nothing.
	for f := Kind(2); f < kindLimit; f++ {
		rels, err := tab.Drop(forge(room, f))
		wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
		if len(rels) != 0 {
			t.Fatal("a forged handle released something")
		}
	}
	if got, err := tab.Get(room, KindRoom); err != nil || got != "room" {
		t.Fatalf("room: %v %v", got, err)
	}
}
