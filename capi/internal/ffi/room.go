package ffi

import (
	"sync"

	"github.com/lkcore/lkcore/capi/ffipb"
	"google.golang.org/protobuf/proto"
)

// Room is the object behind a room handle: created unconnected by CreateRoomRequest so the
// host can register RPC methods and stream handlers before connecting. The connection to the
// core room is attached when ConnectRequest is wired (phase 2).
type Room struct {
	handle  uint64
	options *ffipb.RoomOptions // immutable copy

	mu    sync.Mutex
	state ffipb.ConnectionState // guarded by mu
}

// Handle returns the room's handle.
func (r *Room) Handle() uint64 { return r.handle }

// Options returns the room's options (do not modify).
func (r *Room) Options() *ffipb.RoomOptions { return r.options }

// Info returns a snapshot of the room's info.
func (r *Room) Info() *ffipb.RoomInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &ffipb.RoomInfo{ConnectionState: r.state}
}

func validateRoomOptions(o *ffipb.RoomOptions) error {
	if e := o.GetE2Ee(); e != nil && len(e.GetSharedKey()) == 0 {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "e2ee options need a non-empty shared_key")
	}
	return nil
}

func (c *Client) createRoom(m *ffipb.CreateRoomRequest, resp *ffipb.Response) error {
	opts := m.GetOptions()
	if opts == nil {
		opts = &ffipb.RoomOptions{}
	}
	if err := validateRoomOptions(opts); err != nil {
		return err
	}
	r := &Room{options: proto.Clone(opts).(*ffipb.RoomOptions)}
	// Dropping a room disconnects it: the release gets the core room's Disconnect in phase 2.
	h, err := c.handles.Insert(KindRoom, r, 0, nil)
	if err != nil {
		return err
	}
	r.handle = h
	resp.Message = &ffipb.Response_CreateRoom{CreateRoom: &ffipb.CreateRoomResponse{
		Room: &ffipb.OwnedRoom{Handle: h, Info: r.Info()},
	}}
	return nil
}
