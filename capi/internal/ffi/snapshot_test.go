package ffi

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// hostModel is what a host builds from the connect completion and the room events after it.
type hostModel struct {
	state  ffipb.ConnectionState
	parts  map[string]string // identity -> metadata
	tracks map[string]string // "publisher/name" -> sid
}

func hostModelOf(c *ffipb.ConnectResult) *hostModel {
	m := &hostModel{state: c.GetRoom().GetConnectionState(), parts: map[string]string{}, tracks: map[string]string{}}
	for _, p := range c.GetRemoteParticipants() {
		m.parts[p.GetIdentity()] = p.GetMetadata()
	}
	for _, t := range c.GetRemoteDataTracks() {
		m.tracks[t.GetPublisherIdentity()+"/"+t.GetInfo().GetName()] = t.GetInfo().GetSid()
	}
	return m
}

func (m *hostModel) apply(e *ffipb.RoomEvent) {
	switch {
	case e.GetConnectionStateChanged() != nil:
		m.state = e.GetConnectionStateChanged().GetState()
	case e.GetParticipantConnected() != nil:
		m.parts[e.GetParticipantConnected().GetInfo().GetIdentity()] = e.GetParticipantConnected().GetInfo().GetMetadata()
	case e.GetParticipantDisconnected() != nil:
		delete(m.parts, e.GetParticipantDisconnected().GetIdentity())
	case e.GetParticipantUpdated() != nil:
		i := e.GetParticipantUpdated().GetInfo()
		if _, remote := m.parts[i.GetIdentity()]; remote { // not the local participant
			m.parts[i.GetIdentity()] = i.GetMetadata()
		}
	case e.GetDataTrackPublished() != nil:
		t := e.GetDataTrackPublished().GetTrack()
		m.tracks[t.GetPublisherIdentity()+"/"+t.GetInfo().GetName()] = t.GetInfo().GetSid()
	case e.GetDataTrackUnpublished() != nil:
		u := e.GetDataTrackUnpublished()
		delete(m.tracks, u.GetPublisherIdentity()+"/"+u.GetName())
	case e.GetDataTrackSidChanged() != nil:
		c := e.GetDataTrackSidChanged()
		m.tracks[c.GetPublisherIdentity()+"/"+c.GetName()] = c.GetSid()
	}
}

func (m *hostModel) diff(c *ffipb.ConnectResult) string {
	got := hostModelOf(c)
	if got.state != m.state || !maps.Equal(got.parts, m.parts) || !maps.Equal(got.tracks, m.tracks) {
		return fmt.Sprintf("snapshot %v %v %v, events %v %v %v", got.state, got.parts, got.tracks, m.state, m.parts, m.tracks)
	}
	return ""
}

// RequestRoomSnapshot's event carries, at its place among the room events, exactly the state
// those events describe (connection state, participants, tracks with their sids), hands
// nothing over, and needs a connected room.
func TestRequestRoomSnapshotEventsMatchTheEventsBeforeThem(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	h := newHost(t)
	rh := h.createRoom(&ffipb.RoomOptions{AutoSubscribe: true, AutoSubscriptionsInSnapshot: true})
	ask := func() *ffipb.Response {
		return h.do(&ffipb.Request{Message: &ffipb.Request_RequestRoomSnapshot{RequestRoomSnapshot: &ffipb.RequestRoomSnapshotRequest{RoomHandle: rh}}})
	}
	wantRespCode(t, ask(), ffipb.ErrorCode_ERROR_CODE_DISCONNECTED)
	wantRespCode(t, h.do(&ffipb.Request{Message: &ffipb.Request_RequestRoomSnapshot{RequestRoomSnapshot: &ffipb.RequestRoomSnapshotRequest{RoomHandle: 424242}}}), ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)

	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	// Churn from Go rooms: each joins, sets its metadata, publishes a track; every other one
	// takes its track back and leaves.
	churned := make(chan error, 1)
	go func() {
		churned <- func() error {
			for i := range 6 {
				id := fmt.Sprintf("p%d", i)
				r, err := room.Connect(ctx, s.URL(), mintToken(t, s, "snap", id), room.Options{Logger: s.Logger(id)})
				if err != nil {
					return err
				}
				t.Cleanup(func() { _ = r.Disconnect(context.Background()) })
				if err := r.LocalParticipant().SetMetadata(ctx, "m"+id); err != nil {
					return err
				}
				tr, err := r.LocalParticipant().PublishDataTrack(ctx, "t"+id, room.DataTrackOptions{})
				if err != nil {
					return err
				}
				if i%2 == 1 {
					if err := tr.Unpublish(ctx); err != nil {
						return err
					}
					if err := r.Disconnect(ctx); err != nil {
						return err
					}
				}
			}
			return nil
		}()
	}()
	m := hostModelOf(h.connect(rh, s.URL(), mintToken(t, s, "snap", "host")))

	endState := func() bool {
		return slices.Equal(slices.Sorted(maps.Keys(m.parts)), []string{"p0", "p2", "p4"}) &&
			slices.Equal(slices.Sorted(maps.Keys(m.tracks)), []string{"p0/tp0", "p2/tp2", "p4/tp4"}) &&
			m.parts["p4"] == "mp4"
	}
	next, snapshots, churnDone, asked := 0, 0, false, false
	for !asked || snapshots == 0 || !churnDone || !endState() {
		if ctx.Err() != nil { // hang guard
			t.Fatalf("churn done %v, %d snapshots, model %v %v", churnDone, snapshots, m.parts, m.tracks)
		}
		if !churnDone {
			select {
			case err := <-churned:
				if err != nil {
					t.Fatal(err)
				}
				churnDone = true
			default:
			}
		}
		wantRespCode(t, ask(), ffipb.ErrorCode_ERROR_CODE_OK)
		asked = true
		evs := h.s.waitFor(t, "room events", func(evs []*ffipb.Event) bool { return len(evs) > next })
		for _, ev := range evs[next:] {
			re := ev.GetRoom()
			if re == nil {
				continue
			}
			if st := re.GetSnapshotTaken(); st != nil {
				snapshots++
				if d := m.diff(st.GetSnapshot()); d != "" {
					t.Fatalf("snapshot %d: %s", snapshots, d)
				}
				if len(re.GetOwnedHandles()) != 0 || len(st.GetSnapshot().GetAutoSubscriptions()) != 0 {
					t.Fatalf("snapshot %d hands over %v / %v", snapshots, re.GetOwnedHandles(), st.GetSnapshot().GetAutoSubscriptions())
				}
				if st.GetSnapshot().GetRoom().GetName() != "snap" || st.GetSnapshot().GetLocalParticipant().GetIdentity() != "host" {
					t.Fatalf("snapshot %d: room %v, local %v", snapshots, st.GetSnapshot().GetRoom(), st.GetSnapshot().GetLocalParticipant())
				}
				continue
			}
			m.apply(re)
		}
		next = len(evs)
	}
	if m.state != ffipb.ConnectionState_CONNECTION_STATE_CONNECTED {
		t.Fatalf("connection state %v", m.state)
	}

	h.call(&ffipb.Request{Message: &ffipb.Request_Disconnect{Disconnect: &ffipb.DisconnectRequest{RoomHandle: rh}}})
	wantRespCode(t, ask(), ffipb.ErrorCode_ERROR_CODE_DISCONNECTED)
}
