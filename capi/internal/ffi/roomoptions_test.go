package ffi

import (
	"strings"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
)

// RoomOptions.sctp_receive_buffer_bytes and disable_udp_batching (ABI 1.8) reach the core's
// options; a window outside the core's range fails CreateRoomRequest.
func TestRoomOptionsTransportTuning(t *testing.T) {
	h := newHost(t)
	for _, bad := range []uint32{1, room.MinSCTPReceiveBufferSize - 1, room.MaxSCTPReceiveBufferSize + 1} {
		resp := h.do(&ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{
			Options: &ffipb.RoomOptions{SctpReceiveBufferBytes: bad},
		}}})
		if e := resp.GetError(); e.GetCode() != ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT || !strings.Contains(e.GetMessage(), "SCTPReceiveBufferSize") {
			t.Errorf("window %d: %v", bad, resp)
		}
	}
	for _, c := range []struct {
		opts   *ffipb.RoomOptions
		window uint32
		noGSO  bool
	}{
		{&ffipb.RoomOptions{}, 0, false},
		{&ffipb.RoomOptions{SctpReceiveBufferBytes: 1 << 20, DisableUdpBatching: true}, 1 << 20, true},
		{&ffipb.RoomOptions{SctpReceiveBufferBytes: room.MaxSCTPReceiveBufferSize}, room.MaxSCTPReceiveBufferSize, false},
	} {
		r, err := h.c.room(h.createRoom(c.opts))
		if err != nil {
			t.Fatal(err)
		}
		if o := r.coreOptions(); o.SCTPReceiveBufferSize != c.window || o.DisableUDPBatching != c.noGSO {
			t.Errorf("%v: core options window %d, batching disabled %v", c.opts, o.SCTPReceiveBufferSize, o.DisableUDPBatching)
		}
	}
}
