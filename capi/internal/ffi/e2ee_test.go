package ffi

import (
	"maps"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

func TestE2EEncryptedRoom(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	secret := []byte("secret " + testkit.PayloadMarker)
	join := func(identity string, key []byte) (*host, uint64) {
		h := newHost(t)
		h.logs.Forbid("the E2EE key", []byte("passphrase-e2ee-key"))
		h.logs.Forbid("a payload", secret)
		var opts *ffipb.RoomOptions
		if key != nil {
			opts = &ffipb.RoomOptions{E2Ee: &ffipb.E2EeOptions{SharedKey: key}}
		}
		rh := h.createRoom(opts)
		h.connect(rh, s.URL(), mintToken(t, s, "e2ee", identity))
		return h, rh
	}
	alice, ar := join("alice", []byte("passphrase-e2ee-key"))
	bob, br := join("bob", []byte("passphrase-e2ee-key"))
	eve, er := join("eve", nil)
	for _, who := range []*host{alice, bob} {
		who.roomEvent("eve joined", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantConnected().GetInfo().GetIdentity() == "eve" })
	}

	alice.call(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{RoomHandle: ar, Payload: secret, Reliable: true}}})
	ev, _ := bob.roomEvent("encrypted packet", 0, func(e *ffipb.RoomEvent) bool { return e.GetDataReceived() != nil })
	if d := ev.GetDataReceived(); string(d.GetPayload()) != string(secret) || !d.GetEncrypted() {
		t.Fatalf("bob got %v", d)
	}
	ev, _ = eve.roomEvent("undecryptable packet", 0, func(e *ffipb.RoomEvent) bool { return e.GetEncryptionStateChanged() != nil })
	if st := ev.GetEncryptionStateChanged(); st.GetParticipantIdentity() != "alice" || st.GetState() != ffipb.EncryptionState_ENCRYPTION_STATE_MISSING_KEY {
		t.Fatalf("eve: %v", st)
	}
	for _, e := range eve.s.snapshot() {
		if e.GetRoom().GetDataReceived() != nil {
			t.Fatal("eve received a packet she cannot decrypt")
		}
	}
	eveStates := func() map[string]ffipb.EncryptionState {
		t.Helper()
		resp := eve.do(&ffipb.Request{Message: &ffipb.Request_GetE2EeStats{GetE2EeStats: &ffipb.GetE2EeStatsRequest{RoomHandle: er}}})
		wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_OK)
		return resp.GetGetE2EeStats().GetParticipantStates()
	}
	if st := eveStates(); !maps.Equal(st, map[string]ffipb.EncryptionState{"alice": ffipb.EncryptionState_ENCRYPTION_STATE_MISSING_KEY}) {
		t.Fatalf("eve's states: %v", st)
	}

	// Tracks of an E2EE room are encrypted.
	track := publishTrack(t, alice, ar, "enc")
	if !track.GetInfo().GetUsesE2Ee() {
		t.Fatalf("track info: %v", track.GetInfo())
	}

	// Key rotation: after both set the same new key, packets still flow.
	for _, p := range []struct {
		h  *host
		rh uint64
	}{{alice, ar}, {bob, br}} {
		wantRespCode(t, p.h.do(&ffipb.Request{Message: &ffipb.Request_SetSharedKey{SetSharedKey: &ffipb.SetSharedKeyRequest{RoomHandle: p.rh, SharedKey: []byte("next"), KeyIndex: 1}}}), ffipb.ErrorCode_ERROR_CODE_OK)
	}
	alice.call(&ffipb.Request{Message: &ffipb.Request_PublishData{PublishData: &ffipb.PublishDataRequest{RoomHandle: ar, Payload: []byte("rotated"), Reliable: true}}})
	bob.roomEvent("packet after rotation", 0, func(e *ffipb.RoomEvent) bool { return string(e.GetDataReceived().GetPayload()) == "rotated" })

	wantRespCode(t, eve.do(&ffipb.Request{Message: &ffipb.Request_SetSharedKey{SetSharedKey: &ffipb.SetSharedKeyRequest{RoomHandle: er, SharedKey: []byte("k")}}}), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
	wantRespCode(t, alice.do(&ffipb.Request{Message: &ffipb.Request_SetSharedKey{SetSharedKey: &ffipb.SetSharedKeyRequest{RoomHandle: ar, SharedKey: []byte("k"), KeyIndex: 200}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)

	// alice leaves: her state goes with her (the event comes after the library forgot it).
	alice.call(&ffipb.Request{Message: &ffipb.Request_Disconnect{Disconnect: &ffipb.DisconnectRequest{RoomHandle: ar}}})
	eve.roomEvent("alice left", 0, func(e *ffipb.RoomEvent) bool { return e.GetParticipantDisconnected().GetIdentity() == "alice" })
	if st := eveStates(); len(st) != 0 {
		t.Fatalf("eve's states after alice left: %v", st)
	}
}
