package ffi

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// Completion.owned_handles lists the handle of every Owned* message of the result, nested and
// repeated ones included, and nothing else (handles that are only referenced, like a frame's
// subscription_handle, are not transfers).
func TestOwnedHandlesOfACompletion(t *testing.T) {
	for _, tc := range []struct {
		name string
		comp *ffipb.Completion
		want []uint64
	}{
		{"connect with auto-subscriptions", &ffipb.Completion{Result: &ffipb.Completion_Connect{Connect: &ffipb.ConnectResult{
			AutoSubscriptions: []*ffipb.OwnedDataTrackSubscription{{Handle: 7}, {Handle: 9}},
		}}}, []uint64{7, 9}},
		{"connect without", &ffipb.Completion{Result: &ffipb.Completion_Connect{Connect: &ffipb.ConnectResult{}}}, nil},
		{"publish", &ffipb.Completion{Result: &ffipb.Completion_PublishDataTrack{PublishDataTrack: &ffipb.PublishDataTrackResult{
			Track: &ffipb.OwnedLocalDataTrack{Handle: 3, Info: &ffipb.DataTrackInfo{Name: "t"}},
		}}}, []uint64{3}},
		{"writer", &ffipb.Completion{Result: &ffipb.Completion_OpenByteWriter{OpenByteWriter: &ffipb.OwnedStreamWriter{Handle: 5}}}, []uint64{5}},
		{"rpc", &ffipb.Completion{Result: &ffipb.Completion_PerformRpc{PerformRpc: &ffipb.PerformRpcResult{Payload: "x"}}}, nil},
		{"failure", &ffipb.Completion{Error: &ffipb.Error{Code: ffipb.ErrorCode_ERROR_CODE_TIMEOUT}}, nil},
	} {
		if got := completionOwnedHandles(tc.comp); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Referenced handles are not transfers.
	ev := &ffipb.Event{Message: &ffipb.Event_DataTrackFrame{DataTrackFrame: &ffipb.DataTrackFrameEvent{SubscriptionHandle: 4}}}
	if got := appendOwned(nil, ev.ProtoReflect()); got != nil {
		t.Errorf("a frame event: %v", got)
	}
}

// RoomEvent.owned_handles (ABI 1.11) lists the handles a room event hands over: a stream's
// reader, a published track's auto-subscription; none for the other events.
func TestOwnedHandlesOfARoomEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   *ffipb.RoomEvent
		want []uint64
	}{
		{"stream opened", &ffipb.RoomEvent{Message: &ffipb.RoomEvent_StreamOpened{StreamOpened: &ffipb.StreamOpened{
			Reader: &ffipb.OwnedStreamReader{Handle: 8},
		}}}, []uint64{8}},
		{"published with auto-subscription", &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataTrackPublished{DataTrackPublished: &ffipb.RemoteDataTrackPublished{
			Track: &ffipb.RemoteDataTrackInfo{PublisherIdentity: "a"}, AutoSubscription: &ffipb.OwnedDataTrackSubscription{Handle: 6},
		}}}, []uint64{6}},
		{"published without", &ffipb.RoomEvent{Message: &ffipb.RoomEvent_DataTrackPublished{DataTrackPublished: &ffipb.RemoteDataTrackPublished{
			Track: &ffipb.RemoteDataTrackInfo{PublisherIdentity: "a"},
		}}}, nil},
		{"participant connected", &ffipb.RoomEvent{RoomHandle: 2, Message: &ffipb.RoomEvent_ParticipantConnected{ParticipantConnected: &ffipb.ParticipantConnected{}}}, nil},
	} {
		got := roomEventOwnedHandles(tc.ev)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		// roomEvent, through which every room event is queued, fills the field.
		if e := roomEvent(tc.ev); !slices.Equal(e.GetRoom().GetOwnedHandles(), tc.want) {
			t.Errorf("%s: queued with owned_handles %v, want %v", tc.name, e.GetRoom().GetOwnedHandles(), tc.want)
		}
	}
}

// The table the walk consults says, for every kind of room event and completion result,
// whether it can hand over a handle: exactly the kinds whose messages hold an Owned* message.
func TestOwnersFollowTheSchema(t *testing.T) {
	want := map[string]bool{
		// room events
		"data_track_published": true, // its auto-subscription
		"stream_opened":        true, // its reader
		"snapshot_taken":       true, // a ConnectResult (its auto_subscriptions list stays empty there)
		// completion results
		"connect": true, "publish_data_track": true, "open_text_writer": true, "open_byte_writer": true,
	}
	check := func(m protoreflect.Message, oneof protoreflect.Name) {
		fields := m.Descriptor().Oneofs().ByName(oneof).Fields()
		for i := range fields.Len() {
			f := fields.Get(i)
			if f.Message() == nil {
				continue
			}
			if got := owners[f.Message()]; got != want[string(f.Name())] {
				t.Errorf("%s.%s (%s): owns %v, want %v", m.Descriptor().Name(), f.Name(), f.Message().FullName(), got, want[string(f.Name())])
			}
		}
	}
	check((&ffipb.RoomEvent{}).ProtoReflect(), "message")
	check((&ffipb.Completion{}).ProtoReflect(), "result")
	for _, m := range []protoreflect.ProtoMessage{&ffipb.OwnedRoom{}, &ffipb.OwnedLocalDataTrack{}, &ffipb.OwnedDataTrackSubscription{}, &ffipb.OwnedStreamWriter{}, &ffipb.OwnedStreamReader{}} {
		if !owners[m.ProtoReflect().Descriptor()] {
			t.Errorf("%T is not in the table", m)
		}
	}
	// From the Event envelope alone: completions own, data packets do not.
	if o := ownersOf((&ffipb.Event{}).ProtoReflect().Descriptor()); !o[(&ffipb.Completion{}).ProtoReflect().Descriptor()] || o[(&ffipb.DataPacketReceived{}).ProtoReflect().Descriptor()] {
		t.Errorf("ownersOf(Event): %v", o)
	}
}
