package room_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// model is what a consumer builds from Connect's snapshot and the events after it: the state
// that SnapshotTaken must equal wherever it comes in the stream.
type model struct {
	roomMetadata string
	parts        map[string]room.ParticipantInfo // remote participants by identity
	tracks       map[string]string               // "publisher/name" -> sid
}

func modelOf(s room.Snapshot) *model {
	m := &model{roomMetadata: s.Room.Metadata, parts: map[string]room.ParticipantInfo{}, tracks: map[string]string{}}
	for _, p := range s.RemoteParticipants {
		m.parts[p.Identity] = p
	}
	for _, t := range s.RemoteDataTracks {
		m.tracks[t.Info.PublisherIdentity+"/"+t.Info.Name] = t.Info.SID
	}
	return m
}

// apply applies one event as a delta; it fails on an event the model contradicts (a
// participant or track announced twice, or ended without having been announced).
func (m *model) apply(ev room.Event) error {
	switch e := ev.(type) {
	case room.ParticipantConnected:
		if _, ok := m.parts[e.Info.Identity]; ok {
			return fmt.Errorf("%s announced again", e.Info.Identity)
		}
		m.parts[e.Info.Identity] = e.Info
	case room.ParticipantDisconnected:
		if _, ok := m.parts[e.Participant.Identity()]; !ok {
			return fmt.Errorf("%s left without having been announced", e.Participant.Identity())
		}
		delete(m.parts, e.Participant.Identity())
	case room.ParticipantMetadataChanged:
		m.update(e.Info)
	case room.ParticipantNameChanged:
		m.update(e.Info)
	case room.ParticipantAttributesChanged:
		m.update(e.Info)
	case room.RoomMetadataChanged:
		m.roomMetadata = e.NewMetadata
	case room.DataTrackPublished:
		i := e.Info
		k := i.PublisherIdentity + "/" + i.Name
		if _, ok := m.tracks[k]; ok {
			return fmt.Errorf("track %s announced again", k)
		}
		m.tracks[k] = i.SID
	case room.DataTrackUnpublished:
		i := e.Track.Info()
		k := i.PublisherIdentity + "/" + i.Name
		if _, ok := m.tracks[k]; !ok {
			return fmt.Errorf("track %s ended without having been announced", k)
		}
		delete(m.tracks, k)
	case room.DataTrackSidChanged:
		i := e.Info
		m.tracks[i.PublisherIdentity+"/"+i.Name] = i.SID
	}
	return nil
}

func (m *model) update(p room.ParticipantInfo) {
	if _, ok := m.parts[p.Identity]; ok { // the local participant is not in the model
		m.parts[p.Identity] = p
	}
}

// diff describes how the model and a snapshot differ ("" when they agree).
func (m *model) diff(s room.Snapshot) string {
	var out []string
	if s.Room.Metadata != m.roomMetadata {
		out = append(out, fmt.Sprintf("room metadata %q, events say %q", s.Room.Metadata, m.roomMetadata))
	}
	got := modelOf(s)
	for id, p := range got.parts {
		q, ok := m.parts[id]
		switch {
		case !ok:
			out = append(out, id+" in the snapshot, not announced")
		case p.Name != q.Name || p.Metadata != q.Metadata || !maps.Equal(p.Attributes, q.Attributes):
			out = append(out, fmt.Sprintf("%s: snapshot %q/%q/%v, events %q/%q/%v", id, p.Name, p.Metadata, p.Attributes, q.Name, q.Metadata, q.Attributes))
		}
	}
	for id := range m.parts {
		if _, ok := got.parts[id]; !ok {
			out = append(out, id+" announced, not in the snapshot")
		}
	}
	if !maps.Equal(got.tracks, m.tracks) {
		out = append(out, fmt.Sprintf("tracks %v, events say %v", got.tracks, m.tracks))
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// A snapshot asked for while participants join, change, publish, unpublish and leave is
// exactly the state the events before it describe: nothing ahead, nothing behind.
func TestSnapshotTakenMatchesTheEventsBeforeIt(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const rm = "snapshots"
	obs, err := room.New(room.Options{Logger: s.Logger("observer")})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Disconnect(context.Background())
	// One participant is there before the observer, so its snapshot is not empty.
	first := joinPeer(t, ctx, s, rm, "p0", room.Options{})
	if err := first.r.LocalParticipant().SetMetadata(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	snap, err := obs.Connect(ctx, s.URL(), s.MustToken(t, rm, "observer"))
	if err != nil {
		t.Fatal(err)
	}
	m := modelOf(snap)

	// Churn: participants come, change, publish a track, take it back and go, while the room's
	// metadata changes; the observer asks for snapshots all along.
	churned := make(chan error, 1)
	go func() {
		churned <- func() error {
			for i := 1; i <= 6; i++ {
				id := fmt.Sprintf("p%d", i)
				p := joinPeer(t, ctx, s, rm, id, room.Options{})
				lp := p.r.LocalParticipant()
				if err := lp.SetMetadata(ctx, "m"+id); err != nil {
					return err
				}
				if err := lp.SetAttributes(ctx, map[string]string{"k": id}); err != nil {
					return err
				}
				tr, err := lp.PublishDataTrack(ctx, "t"+id, room.DataTrackOptions{})
				if err != nil {
					return err
				}
				s.UpdateRoomMetadata(rm, "room "+id)
				if i%2 == 0 {
					if err := tr.Unpublish(ctx); err != nil {
						return err
					}
					if err := p.r.Disconnect(ctx); err != nil {
						return err
					}
				}
			}
			return nil
		}()
	}()
	var requests sync.WaitGroup
	stopAsking := make(chan struct{})
	requests.Add(1)
	go func() {
		defer requests.Done()
		for {
			select {
			case <-stopAsking:
				return
			default:
			}
			if err := obs.RequestSnapshot(); err != nil {
				t.Errorf("RequestSnapshot: %v", err)
				return
			}
			runtime.Gosched()
		}
	}()

	// Apply events, checking every snapshot, until the churn has ended and the model shows
	// its end state: p0 and the odd participants stay with their tracks, the room's metadata
	// is the last set. Then one more snapshot, which must show that state too.
	snapshots := 0
	check := func(e room.SnapshotTaken) {
		snapshots++
		if d := m.diff(e.Snapshot); d != "" {
			t.Fatalf("snapshot %d disagrees with the events before it: %s", snapshots, d)
		}
		for _, tr := range e.Snapshot.RemoteDataTracks {
			if tr.Subscription != nil {
				t.Fatalf("snapshot %d hands over a subscription of %s", snapshots, tr.Info.Name)
			}
		}
	}
	endState := func() bool {
		return slices.Equal(slices.Sorted(maps.Keys(m.parts)), []string{"p0", "p1", "p3", "p5"}) &&
			slices.Equal(slices.Sorted(maps.Keys(m.tracks)), []string{"p1/tp1", "p3/tp3", "p5/tp5"}) &&
			m.roomMetadata == "room p6" && m.parts["p5"].Attributes["k"] == "p5" && m.parts["p0"].Metadata == "before"
	}
	churnDone := false
	for {
		if !churnDone {
			select {
			case err := <-churned:
				if err != nil {
					t.Fatal(err)
				}
				churnDone = true
				close(stopAsking)
				requests.Wait()
			default:
			}
		}
		if churnDone && endState() {
			break
		}
		ev, err := obs.NextEvent(ctx)
		if err != nil {
			t.Fatalf("events: %v (participants %v, tracks %v, room metadata %q, p0 %+v, p5 %+v)", err, slices.Sorted(maps.Keys(m.parts)), m.tracks, m.roomMetadata, m.parts["p0"], m.parts["p5"])
		}
		if e, ok := ev.(room.SnapshotTaken); ok {
			check(e)
		} else if err := m.apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	asked := snapshots
	if err := obs.RequestSnapshot(); err != nil {
		t.Fatal(err)
	}
	for snapshots == asked {
		ev, err := obs.NextEvent(ctx)
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		if e, ok := ev.(room.SnapshotTaken); ok {
			check(e)
		} else if err := m.apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	if !endState() {
		t.Fatalf("the end state changed after the churn: %v, %v", m.parts, m.tracks)
	}
}

// RequestSnapshot needs a connected room; requests made together are answered by one event,
// never by none.
func TestRequestSnapshotLifecycle(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r, err := room.New(room.Options{Logger: s.Logger("solo")})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RequestSnapshot(); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("before Connect: %v, want ErrDisconnected", err)
	}
	snap, err := r.Connect(ctx, s.URL(), s.MustToken(t, "solo", "solo"))
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if err := r.RequestSnapshot(); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := r.NextEvent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := ev.(room.SnapshotTaken)
	if !ok {
		t.Fatalf("first event %T, want SnapshotTaken", ev)
	}
	if e.Snapshot.LocalParticipant.SID != snap.LocalParticipant.SID || e.Snapshot.Room.Name != "solo" || len(e.Snapshot.RemoteParticipants) != 0 {
		t.Fatalf("snapshot %+v, connected as %+v", e.Snapshot, snap)
	}
	// The 50 requests were answered by that event and at most one more (a request the loop
	// had not served when the event was read); a request after reading gets an event of its
	// own unless that one is still unread. So 2 or 3 in all, whatever the timing.
	if err := r.RequestSnapshot(); err != nil {
		t.Fatal(err)
	}
	if err := r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	taken := 1
	for {
		ev, err := r.NextEvent(ctx)
		if err != nil {
			t.Fatalf("events ended without Disconnected: %v", err)
		}
		if _, ok := ev.(room.SnapshotTaken); ok {
			taken++
			continue
		}
		if _, ok := ev.(room.Disconnected); ok {
			break
		}
	}
	if taken < 2 || taken > 3 {
		t.Fatalf("%d SnapshotTaken events for 50 requests, then one after the first was read; want 2 or 3", taken)
	}
	if err := r.RequestSnapshot(); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("after Disconnect: %v, want ErrDisconnected", err)
	}
}
