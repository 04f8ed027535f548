package room_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// statusServer answers every signalling upgrade with status and counts the requests.
func statusServer(t *testing.T, status int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		http.Error(w, "no", status)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// lastEvent reads events until the queue ends and returns the last one.
func lastEvent(t *testing.T, ctx context.Context, r *room.Room) room.Event {
	t.Helper()
	var last room.Event
	for {
		ev, err := r.NextEvent(ctx)
		if errors.Is(err, room.ErrDisconnected) {
			return last
		}
		if err != nil {
			t.Fatalf("NextEvent: %v", err)
		}
		last = ev
	}
}

func TestNewDisconnectBeforeConnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r, err := room.New(room.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != room.StateDisconnected {
		t.Fatalf("state of a new room: %v", r.State())
	}
	if err := r.LocalParticipant().PublishData(ctx, []byte("x"), room.DataPublishOptions{Reliable: true}); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("PublishData before Connect: %v", err)
	}
	if _, err := r.LocalParticipant().PublishDataTrack(ctx, "t", room.DataTrackOptions{}); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("PublishDataTrack before Connect: %v", err)
	}
	if err := r.LocalParticipant().SetMetadata(ctx, "m"); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("SetMetadata before Connect: %v", err)
	}
	if err := r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Disconnect(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	select {
	case <-r.Done():
	default:
		t.Fatal("Done not closed after Disconnect")
	}
	d, ok := lastEvent(t, ctx, r).(room.Disconnected)
	if !ok || d.Err != nil {
		t.Fatalf("final event %#v", d)
	}
	if _, err := r.Connect(ctx, "ws://127.0.0.1:1", "tok"); !errors.Is(err, room.ErrRoomEnded) || room.KindOf(err) != room.KindFailedPrecondition {
		t.Fatalf("Connect after Disconnect: %v", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []room.Options{
		{JoinAttempts: -1},
		{JoinAttempts: room.MaxJoinAttempts + 1},
		{JoinRetryDelay: -time.Second},
		{AutoSubscribeOptions: room.SubscribeOptions{BufferSize: -1}},
		{ICEServers: []room.ICEServer{{}}},
		{ICEServers: make([]room.ICEServer, room.MaxICEServers+1)},
		{ICEServers: []room.ICEServer{{URLs: []string{string(make([]byte, room.MaxICEServerURLSize+1))}}}},
		{ICEServers: []room.ICEServer{{URLs: []string{"http://turn.example.com"}}}},
		{ICEServers: []room.ICEServer{{URLs: []string{"turn:"}, Username: "u", Credential: "c"}}},
		{ICEServers: []room.ICEServer{{URLs: []string{"turn:h:3478?transport=sctp"}, Username: "u", Credential: "c"}}},
		{ICEServers: []room.ICEServer{{URLs: []string{"stun:h:3478", "turn:h:3478"}, Username: "u"}}},
		{ICEServers: []room.ICEServer{{URLs: []string{"turns:h:443?transport=tcp"}, Credential: "c"}}},
		{SCTPReceiveBufferSize: 1},
		{SCTPReceiveBufferSize: room.MinSCTPReceiveBufferSize - 1},
		{SCTPReceiveBufferSize: room.MaxSCTPReceiveBufferSize + 1},
	} {
		if _, err := room.New(o); !errors.Is(err, room.ErrInvalidArgument) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// Well-formed ICE servers are accepted: STUN without credentials, TURN over
// UDP, TCP and TLS with them.
func TestNewAcceptsICEServers(t *testing.T) {
	r, err := room.New(room.Options{ICEServers: []room.ICEServer{
		{URLs: []string{"stun:stun.example.com:3478", "stun:127.0.0.1"}},
		{URLs: []string{"turn:turn.example.com:3478?transport=udp", "turn:[::1]:3478?transport=tcp", "turns:turn.example.com:443?transport=tcp"}, Username: "1700000000:alice", Credential: "c2VjcmV0"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Disconnect(context.Background())
}

// The bounds of the SCTP window themselves are accepted.
func TestNewAcceptsSCTPWindowBounds(t *testing.T) {
	for _, b := range []uint32{0, room.MinSCTPReceiveBufferSize, room.MaxSCTPReceiveBufferSize} {
		r, err := room.New(room.Options{SCTPReceiveBufferSize: b})
		if err != nil {
			t.Fatalf("SCTPReceiveBufferSize %d: %v", b, err)
		}
		_ = r.Disconnect(context.Background())
	}
}

func TestJoinAttemptsRetryOnlyRetryableFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cases := []struct {
		status int
		want   int32 // requests the server sees
		kind   room.ErrorKind
		retry  bool
	}{
		{http.StatusServiceUnavailable, 3, room.KindConnectionFailed, true},
		{http.StatusUnauthorized, 1, room.KindUnauthorized, false},
	}
	for _, c := range cases {
		srv, n := statusServer(t, c.status)
		r, err := room.New(room.Options{JoinAttempts: 3, JoinRetryDelay: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Connect(ctx, srv.URL, "tok")
		var he *room.HTTPError
		if !errors.As(err, &he) || he.StatusCode != c.status {
			t.Fatalf("%d: error %v", c.status, err)
		}
		if k, retry := room.Classify(err); k != c.kind || retry != c.retry {
			t.Errorf("%d: Classify = %v, %v", c.status, k, retry)
		}
		if got := n.Load(); got != c.want {
			t.Errorf("%d: %d join requests, want %d", c.status, got, c.want)
		}
		if r.State() != room.StateDisconnected {
			t.Errorf("%d: state after a failed Connect: %v", c.status, r.State())
		}
		if err := r.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// A failed Connect leaves the Room as New made it: handlers registered before stay, and a
// second Connect joins; a third one is refused while connected.
func TestConnectAgainAfterFailureKeepsRegistrations(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r, err := room.New(room.Options{Logger: s.Logger("callee")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Disconnect(context.Background())
	if err := r.RegisterRPCMethod("echo", func(_ context.Context, inv rpc.Invocation) (string, error) {
		return "echo:" + inv.Payload, nil
	}); err != nil {
		t.Fatal(err)
	}
	bad, _ := statusServer(t, http.StatusServiceUnavailable)
	if _, err := r.Connect(ctx, bad.URL, "tok"); !errors.Is(err, room.ErrServerError) {
		t.Fatalf("first Connect: %v", err)
	}
	snap, err := r.Connect(ctx, s.URL(), s.MustToken(t, "rc", "callee"))
	if err != nil {
		t.Fatalf("second Connect: %v", err)
	}
	if snap.LocalParticipant.Identity != "callee" || snap.Room.Name != "rc" || r.State() != room.StateConnected {
		t.Fatalf("snapshot %+v, state %v", snap, r.State())
	}
	if _, err := r.Connect(ctx, s.URL(), s.MustToken(t, "rc", "callee")); !errors.Is(err, room.ErrAlreadyConnected) {
		t.Fatalf("Connect while connected: %v", err)
	}
	caller := join(t, ctx, s, "rc", "caller")
	caller.waitParticipant(ctx, "callee")
	resp, err := caller.r.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "callee", Method: "echo", Payload: "hi"})
	if err != nil || resp != "echo:hi" {
		t.Fatalf("RPC registered before Connect: %q %v", resp, err)
	}
}

// Disconnect while Connect waits for the server ends the Room; Connect returns
// context.Canceled and nothing keeps running (goleak).
func TestDisconnectWhileConnecting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-req.Context().Done():
		}
		http.Error(w, "late", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	defer close(release)
	r, err := room.New(room.Options{JoinAttempts: 5, JoinRetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := r.Connect(ctx, srv.URL, "tok")
		res <- err
	}()
	<-entered
	if _, err := r.Connect(ctx, srv.URL, "tok"); !errors.Is(err, room.ErrAlreadyConnected) {
		t.Fatalf("second Connect while connecting: %v", err)
	}
	derr := make(chan error, 1)
	go func() { derr <- r.Disconnect(ctx) }()
	if err := <-res; !errors.Is(err, context.Canceled) || room.KindOf(err) != room.KindCancelled {
		t.Fatalf("Connect interrupted by Disconnect: %v", err)
	}
	if err := <-derr; err != nil {
		t.Fatal(err)
	}
	if _, ok := lastEvent(t, ctx, r).(room.Disconnected); !ok {
		t.Fatal("no final Disconnected event")
	}
	if _, err := r.Connect(ctx, srv.URL, "tok"); !errors.Is(err, room.ErrRoomEnded) {
		t.Fatalf("Connect after the room ended: %v", err)
	}
}

// The snapshot holds the participants and tracks present when Connect returned, and no
// event repeats them; with AutoSubscribe their subscriptions are in it, and a track
// published later arrives with its subscription in DataTrackPublished.
func TestSnapshotIsTheBaselineOfEvents(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub := joinPeer(t, ctx, s, "snap", "pub", room.Options{})
	early := publish(t, ctx, pub, "early")

	r, err := room.New(room.Options{Logger: s.Logger("sub"), AutoSubscribe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Disconnect(context.Background())
	snap, err := r.Connect(ctx, s.URL(), s.MustToken(t, "snap", "sub"))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.RemoteParticipants) != 1 || snap.RemoteParticipants[0].Identity != "pub" || r.RemoteParticipant("pub") == nil {
		t.Fatalf("snapshot participants %+v", snap.RemoteParticipants)
	}
	if len(snap.RemoteDataTracks) != 1 {
		t.Fatalf("snapshot tracks %+v", snap.RemoteDataTracks)
	}
	st := snap.RemoteDataTracks[0]
	if st.Info.SID != early.SID() || st.Track != r.RemoteParticipant("pub").DataTrack("early") || st.Subscription == nil {
		t.Fatalf("snapshot track %+v", st)
	}
	late := publish(t, ctx, pub, "late")
	var lateSub *room.DataTrackSubscription
	for lateSub == nil {
		ev, err := r.NextEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case room.ConnectionStateChanged:
			t.Fatalf("state event after the snapshot: %v", e.State)
		case room.ParticipantConnected:
			t.Fatalf("participant in the snapshot announced again: %s", e.Info.Identity)
		case room.DataTrackPublished:
			if e.Track.Name() != "late" || e.Subscription == nil || e.Track.SID() != late.SID() {
				t.Fatalf("DataTrackPublished %s (subscription %v)", e.Track.Name(), e.Subscription)
			}
			lateSub = e.Subscription
		}
	}
	// An auto-subscription is handed over while the server may still be
	// setting it up (frames before that are legitimately not delivered):
	// wait until it is established. The channel never retransmits: a frame
	// that does not arrive is pushed again (nextOrRepush). Whatever arrives
	// must be that track's frame.
	for _, c := range []struct {
		lt  *room.LocalDataTrack
		sub *room.DataTrackSubscription
	}{{early, st.Subscription}, {late, lateSub}} {
		if err := c.sub.WaitEstablished(ctx); err != nil {
			t.Fatalf("%s: %v", c.lt.Name(), err)
		}
		push := func() { pushRetry(t, ctx, c.lt, room.Frame{Payload: []byte(c.lt.Name())}) }
		push()
		repushes := 0
		if f := nextOrRepush(t, ctx, c.sub, &repushes, push); string(f.Payload) != c.lt.Name() {
			t.Fatalf("%s: frame %q", c.lt.Name(), f.Payload)
		}
	}
}
