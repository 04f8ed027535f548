package room

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

func TestEventQueueOrderAndClose(t *testing.T) {
	q := newEventQueue(2)
	stop := make(chan struct{})
	q.push(ConnectionStateChanged{State: StateConnected})
	if !q.pushData(DataReceived{Topic: "1"}, stop) {
		t.Fatal("pushData refused")
	}
	q.push(ParticipantConnected{})
	if !q.pushData(DataReceived{Topic: "2"}, stop) {
		t.Fatal("pushData refused")
	}
	// Signalling events never block, even with the data limit reached.
	q.push(RoomMetadataChanged{NewMetadata: "m"})
	q.closeQueue(Disconnected{Reason: DisconnectClientInitiated})
	q.push(ParticipantConnected{})                     // after close: dropped
	if q.pushData(DataReceived{Topic: "late"}, stop) { // after close: refused
		t.Fatal("pushData after close accepted")
	}
	want := []string{"room.ConnectionStateChanged", "room.DataReceived", "room.ParticipantConnected", "room.DataReceived", "room.RoomMetadataChanged", "room.Disconnected"}
	ctx := context.Background()
	for i, w := range want {
		ev, err := q.next(ctx)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got := reflect.TypeOf(ev).String(); got != w {
			t.Fatalf("event %d: %s, want %s", i, got, w)
		}
	}
	if _, err := q.next(ctx); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("after the last event: %v", err)
	}
}

func TestEventQueueDataBackpressure(t *testing.T) {
	q := newEventQueue(1)
	stop := make(chan struct{})
	q.pushData(DataReceived{Topic: "1"}, stop)
	accepted := make(chan bool)
	go func() { accepted <- q.pushData(DataReceived{Topic: "2"}, stop) }()
	// The second data event waits for the consumer; a signalling event does not.
	waitPushers(t, q, 1)
	q.push(ParticipantConnected{})
	select {
	case <-accepted:
		t.Fatal("data event accepted beyond the limit")
	default:
	}
	if data, _ := q.dataBacklog(); data != 1 || q.pending() != 2 {
		t.Fatalf("queue holds %d data events, %d events; want 1 and 2", data, q.pending())
	}
	ev, _ := q.next(context.Background())
	if ev.(DataReceived).Topic != "1" {
		t.Fatalf("first event %v", ev)
	}
	if !<-accepted {
		t.Fatal("waiting data event not accepted after space was freed")
	}
	if data, waiting := q.dataBacklog(); data != 1 || waiting != 0 {
		t.Fatalf("after the wait: %d data events, %d waiting pushers; want 1 and 0", data, waiting)
	}
	// Order: the signalling event pushed while the data pusher waited comes first.
	ev, _ = q.next(context.Background())
	if _, ok := ev.(ParticipantConnected); !ok {
		t.Fatalf("second event %T", ev)
	}
	ev, _ = q.next(context.Background())
	if ev.(DataReceived).Topic != "2" {
		t.Fatalf("third event %v", ev)
	}
	// A waiting pusher is released by stop.
	q.pushData(DataReceived{}, stop)
	go func() { accepted <- q.pushData(DataReceived{}, stop) }()
	waitPushers(t, q, 1)
	close(stop)
	if <-accepted {
		t.Fatal("pusher accepted after stop")
	}
	if _, waiting := q.dataBacklog(); waiting != 0 {
		t.Fatalf("%d pushers still counted as waiting", waiting)
	}
	// next honours ctx.
	q2 := newEventQueue(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q2.next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("next with cancelled ctx: %v", err)
	}
}

// The queue's backing array drops consumed slots once more than 256 were
// taken and they are the majority (so a lagging consumer does not pin memory),
// and not before.
func TestEventQueueCompacts(t *testing.T) {
	for _, c := range []struct {
		items, taken int
		compacted    bool
	}{
		{500, 257, true},  // more than 256 taken, and the majority
		{500, 256, false}, // not more than 256 taken
		{514, 257, false}, // exactly half taken
		{300, 200, false}, // the majority, but not more than 256
	} {
		q := newEventQueue(1)
		for i := 0; i < c.items; i++ {
			q.push(RoomMetadataChanged{NewMetadata: fmt.Sprint(i)})
		}
		for i := 0; i < c.taken; i++ {
			if ev, err := q.next(context.Background()); err != nil || ev.(RoomMetadataChanged).NewMetadata != fmt.Sprint(i) {
				t.Fatalf("%+v: event %d: %v %v", c, i, ev, err)
			}
		}
		q.mu.Lock()
		head, n := q.head, len(q.items)
		q.mu.Unlock()
		if compacted := head == 0; compacted != c.compacted || n-head != c.items-c.taken || q.pending() != c.items-c.taken {
			t.Fatalf("%+v: head %d, %d slots", c, head, n)
		}
		if ev, _ := q.next(context.Background()); ev.(RoomMetadataChanged).NewMetadata != fmt.Sprint(c.taken) {
			t.Fatalf("%+v: next event %v", c, ev)
		}
	}
}

// waitPushers waits (bounded) until n data pushers are blocked on q.
func waitPushers(t *testing.T, q *eventQueue, n int) {
	t.Helper()
	ctx := testkit.Context(t, 0)
	for {
		if _, waiting := q.dataBacklog(); waiting == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never %d blocked data pushers", n)
		case <-time.After(time.Millisecond):
		}
	}
}

func info(identity, sid string, version uint32, mut func(*lkpb.ParticipantInfo)) *lkpb.ParticipantInfo {
	i := &lkpb.ParticipantInfo{Identity: identity, Sid: sid, Version: version, State: lkpb.ParticipantInfo_ACTIVE}
	if mut != nil {
		mut(i)
	}
	return i
}

func TestParticipantTable(t *testing.T) {
	local := &LocalParticipant{}
	local.store(info("me", "PA_me", 1, nil))
	tab := newParticipantTable(local)
	tab.seed([]*lkpb.ParticipantInfo{info("alice", "PA_a", 3, func(i *lkpb.ParticipantInfo) {
		i.ClientProtocol = 2
		i.Capabilities = []lkpb.ClientInfo_Capability{lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW}
	})})
	alice := tab.remote("alice")
	if alice == nil || alice.ClientProtocol() != 2 || !alice.HasCapability(CapabilityDeflateRaw) {
		t.Fatal("seeded participant missing its protocol/capabilities")
	}

	types := func(evs []Event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, reflect.TypeOf(e).Name())
		}
		return out
	}

	// A new participant, then a metadata + attribute change of alice, and a
	// stale (older version) update of alice that must be ignored.
	evs, localChanged := tab.apply([]*lkpb.ParticipantInfo{
		info("bob", "PA_b", 1, nil),
		info("alice", "PA_a", 4, func(i *lkpb.ParticipantInfo) {
			i.Metadata = "m1"
			i.Name = "Alice"
			i.Attributes = map[string]string{"k": "v"}
		}),
		info("alice", "PA_a", 2, func(i *lkpb.ParticipantInfo) { i.Metadata = "stale" }),
	})
	if localChanged {
		t.Fatal("local changed")
	}
	if got, want := types(evs), []string{"ParticipantConnected", "ParticipantNameChanged", "ParticipantMetadataChanged", "ParticipantAttributesChanged"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if tab.remote("alice") != alice || alice.Metadata() != "m1" {
		t.Fatal("alice not updated in place")
	}

	// Attribute removal is reported with "".
	evs, _ = tab.apply([]*lkpb.ParticipantInfo{info("alice", "PA_a", 5, func(i *lkpb.ParticipantInfo) {
		i.Metadata = "m1"
		i.Name = "Alice"
		i.Attributes = map[string]string{"x": "1"}
	})})
	ac, ok := evs[0].(ParticipantAttributesChanged)
	if len(evs) != 1 || !ok || !reflect.DeepEqual(ac.Changed, map[string]string{"k": "", "x": "1"}) {
		t.Fatalf("attribute diff %v", evs)
	}

	// Local participant updates produce events for the local participant.
	evs, localChanged = tab.apply([]*lkpb.ParticipantInfo{info("me", "PA_me", 2, func(i *lkpb.ParticipantInfo) { i.Metadata = "mine" })})
	if !localChanged || len(evs) != 1 || evs[0].(ParticipantMetadataChanged).Participant != Participant(local) {
		t.Fatalf("local update: %v", evs)
	}

	// A stale DISCONNECTED for an older session of bob is ignored; the real one removes him.
	evs, _ = tab.apply([]*lkpb.ParticipantInfo{info("bob", "PA_old", 9, func(i *lkpb.ParticipantInfo) { i.State = lkpb.ParticipantInfo_DISCONNECTED })})
	if len(evs) != 0 || tab.remote("bob") == nil {
		t.Fatal("stale disconnect removed bob")
	}
	evs, _ = tab.apply([]*lkpb.ParticipantInfo{info("bob", "PA_b", 2, func(i *lkpb.ParticipantInfo) {
		i.State = lkpb.ParticipantInfo_DISCONNECTED
		i.DisconnectReason = lkpb.DisconnectReason_CLIENT_INITIATED
	})})
	pd, ok := evs[0].(ParticipantDisconnected)
	if len(evs) != 1 || !ok || pd.Reason != DisconnectClientInitiated || pd.Participant.Identity() != "bob" {
		t.Fatalf("disconnect: %v", evs)
	}
	if tab.remote("bob") != nil {
		t.Fatal("bob still present")
	}
	// An update carrying only a sid is resolved through the sid map.
	evs, _ = tab.apply([]*lkpb.ParticipantInfo{{Sid: "PA_a", Version: 6, State: lkpb.ParticipantInfo_ACTIVE, Metadata: "by-sid", Name: "Alice", Attributes: map[string]string{"x": "1"}}})
	if len(evs) != 1 || alice.Metadata() != "by-sid" {
		t.Fatalf("sid-only update: %v", evs)
	}
	if alice.Identity() != "alice" || tab.remote("alice") != alice {
		t.Fatalf("after a sid-only update the participant reports identity %q", alice.Identity())
	}
	if l := tab.list(); len(l) != 1 || l[0] != alice {
		t.Fatalf("list %v", l)
	}

	// A permission change has its event; the same info again has none.
	same := func(sid string, version uint32) *lkpb.ParticipantInfo {
		return info("alice", sid, version, func(i *lkpb.ParticipantInfo) {
			i.Metadata, i.Name, i.Attributes = "by-sid", "Alice", map[string]string{"x": "1"}
			i.Permission = &lkpb.ParticipantPermission{CanSubscribe: true, CanPublishData: true}
		})
	}
	evs, _ = tab.apply([]*lkpb.ParticipantInfo{same("PA_a", 7)})
	pc, ok := evs[0].(ParticipantPermissionsChanged)
	if len(evs) != 1 || !ok || pc.Participant != Participant(alice) || pc.OldPermission != nil ||
		pc.Info.Permission == nil || *pc.Info.Permission != (ParticipantPermission{CanSubscribe: true, CanPublishData: true}) {
		t.Fatalf("permission change: %#v", evs)
	}
	if evs, _ = tab.apply([]*lkpb.ParticipantInfo{same("PA_a", 8)}); len(evs) != 0 {
		t.Fatalf("an update that changes nothing: %#v", evs)
	}
	// A new session of alice (her full reconnect, announced before the old one's departure):
	// the same participant with a new sid, reported with the old one; the old session's
	// departure that follows is stale.
	evs, _ = tab.apply([]*lkpb.ParticipantInfo{same("PA_a2", 1)})
	ic, ok := evs[0].(ParticipantInfoChanged)
	if len(evs) != 1 || !ok || ic.Participant != Participant(alice) || ic.OldSID != "PA_a" || ic.Info.SID != "PA_a2" || alice.SID() != "PA_a2" {
		t.Fatalf("new session: %#v", evs)
	}
	evs, _ = tab.apply([]*lkpb.ParticipantInfo{info("alice", "PA_a", 9, func(i *lkpb.ParticipantInfo) { i.State = lkpb.ParticipantInfo_DISCONNECTED })})
	if len(evs) != 0 || tab.remote("alice") != alice {
		t.Fatalf("the old session's departure: %#v", evs)
	}
	// A new session that also brings other values (the token's metadata, not the one set in
	// the old session): the new sid first, then the other changes.
	third := same("PA_a3", 1)
	third.Metadata = "from the token"
	evs, _ = tab.apply([]*lkpb.ParticipantInfo{third})
	if got, want := types(evs), []string{"ParticipantInfoChanged", "ParticipantMetadataChanged"}; !reflect.DeepEqual(got, want) ||
		evs[0].(ParticipantInfoChanged).OldSID != "PA_a2" {
		t.Fatalf("new session with new metadata: %#v", evs)
	}
}

func TestPendingUpdates(t *testing.T) {
	r := &Room{}
	r.local = &LocalParticipant{room: r}
	r.local.store(info("me", "PA_me", 1, func(i *lkpb.ParticipantInfo) { i.Metadata = "same" }))
	r.parts = newParticipantTable(r.local)
	mk := func(id uint32, want string) *pendingUpdate {
		p := &pendingUpdate{id: id, done: make(chan error, 1), reflected: func(i *lkpb.ParticipantInfo) bool { return i.GetMetadata() == want }}
		r.pending = append(r.pending, p)
		return p
	}
	refused := mk(1, "x")
	same := mk(2, "same")
	changed := mk(3, "new")

	r.checkPending(&lkpb.RequestResponse{RequestId: 1, Reason: lkpb.RequestResponse_NOT_ALLOWED, Message: "no"})
	var re *RequestError
	if err := <-refused.done; !errors.As(err, &re) || re.Reason != RequestNotAllowed || !errors.Is(err, ErrRequestFailed) {
		t.Fatalf("refused: %v", err)
	}
	// OK for a value that is already current completes at once.
	r.checkPending(&lkpb.RequestResponse{RequestId: 2})
	if err := <-same.done; err != nil {
		t.Fatal(err)
	}
	// OK before the update: keep waiting until the update reflects it.
	r.checkPending(&lkpb.RequestResponse{RequestId: 3})
	select {
	case <-changed.done:
		t.Fatal("completed before the update")
	default:
	}
	r.parts.apply([]*lkpb.ParticipantInfo{info("me", "PA_me", 2, func(i *lkpb.ParticipantInfo) { i.Metadata = "new" })})
	r.checkPending(nil)
	if err := <-changed.done; err != nil {
		t.Fatal(err)
	}
	if len(r.pending) != 0 {
		t.Fatalf("%d pending left", len(r.pending))
	}
}
