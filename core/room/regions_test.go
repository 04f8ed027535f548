package room_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Region failover on LiveKit Cloud, with the project's host played by an
// HTTP server (its /settings/regions, and a signalling endpoint that fails)
// and regions played by TCP forwarders to devsfu instances.

// regionProxy forwards each TCP connection to target while on, and closes it
// at once otherwise (a region that cannot be reached).
type regionProxy struct {
	ln       net.Listener
	target   string
	on       atomic.Bool
	accepted atomic.Int32
	done     chan struct{} // the accept loop has returned
	mu       sync.Mutex
	conns    []net.Conn
	copies   sync.WaitGroup
}

// startRegionProxy forwards to target (host:port; "": never reachable).
func startRegionProxy(t *testing.T, target string) *regionProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &regionProxy{ln: ln, target: target, done: make(chan struct{})}
	p.on.Store(target != "")
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		<-p.done
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.copies.Wait()
	})
	return p
}

func (p *regionProxy) url() string { return "ws://" + p.ln.Addr().String() }

func (p *regionProxy) serve() {
	defer close(p.done)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if !p.on.Load() {
			_ = c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.copies.Add(2)
		go func() { defer p.copies.Done(); _, _ = io.Copy(u, c); _ = u.Close() }()
		go func() { defer p.copies.Done(); _, _ = io.Copy(c, u); _ = c.Close() }()
	}
}

// cloudHost plays a LiveKit Cloud project's host: /settings/regions lists
// regions; its own signalling endpoint answers with joinStatus.
type cloudHost struct {
	*httptest.Server
	mu           sync.Mutex
	regions      []string
	cacheControl string
	listStatus   int
	joinStatus   int
	auth         []string // Authorization of each list request
	joins        atomic.Int32
	// joinAwaitsList (set before use): a join is answered only once the list
	// was requested (or after 3 s); listBeforeJoinFailed tells which.
	joinAwaitsList       chan struct{}
	listBeforeJoinFailed atomic.Bool
	refusals             atomic.Int32 // list requests answered 401
}

func startCloudHost(t *testing.T, regions []string, cacheControl string) *cloudHost {
	t.Helper()
	h := &cloudHost{regions: regions, cacheControl: cacheControl, listStatus: 200, joinStatus: http.StatusServiceUnavailable}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/rtc") && h.joinAwaitsList != nil {
			select {
			case <-h.joinAwaitsList:
				h.listBeforeJoinFailed.Store(true)
			case <-time.After(3 * time.Second):
			}
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		switch {
		case r.URL.Path == "/settings/regions":
			if len(h.auth) == 0 && h.joinAwaitsList != nil {
				close(h.joinAwaitsList)
			}
			h.auth = append(h.auth, r.Header.Get("Authorization"))
			if h.listStatus != 200 {
				if h.listStatus == http.StatusUnauthorized {
					h.refusals.Add(1)
				}
				http.Error(w, "invalid token", h.listStatus)
				return
			}
			type region struct {
				Region   string `json:"region"`
				URL      string `json:"url"`
				Distance string `json:"distance"`
			}
			var list struct {
				Regions []region `json:"regions"`
			}
			for i, u := range h.regions {
				list.Regions = append(list.Regions, region{Region: "r" + string(rune('a'+i)), URL: u, Distance: "1000"})
			}
			w.Header().Set("Cache-Control", h.cacheControl)
			_ = json.NewEncoder(w).Encode(list)
		case strings.HasPrefix(r.URL.Path, "/rtc"):
			h.joins.Add(1)
			http.Error(w, "this region is down", h.joinStatus)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *cloudHost) listRequests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.auth...)
}

// joinRefreshing joins alice to a devsfu room through a Cloud host whose
// list (that room's URL) has max-age=1: while the room lives the list is
// fetched again every second.
func joinRefreshing(t *testing.T, ctx context.Context) (*sfu.Server, *cloudHost, *peer) {
	t.Helper()
	s := sfu.Start(t, devsfu.Options{})
	cloud := startCloudHost(t, []string{s.URL()}, "max-age=1")
	alice := joinPeerAt(t, ctx, s, cloud.URL, "regions", "alice", room.WithCloudHosts(room.Options{}, everyHostIsCloud))
	return s, cloud, alice
}

// assertNoListRequest fails when a list request comes within 1.6 s (more
// than the 1 s a max-age=1 list is fetched again after). settle first lets
// a request already sent reach the handler.
func (h *cloudHost) assertNoListRequest(t *testing.T, what string, settle time.Duration) {
	t.Helper()
	time.Sleep(settle)
	n := len(h.listRequests())
	time.Sleep(1600 * time.Millisecond)
	if m := len(h.listRequests()); m != n {
		t.Fatalf("%s: %d list requests in 1.6 s", what, m-n)
	}
}

var everyHostIsCloud = func(string) bool { return true }

// Connect fails over to the next region that works; resumes go to the
// region that joined; a full reconnect whose region fails goes on in the
// next one, with the list fetched once (it is fresh for its max-age).
func TestRegionFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s1 := sfu.Start(t, devsfu.Options{Region: "region-b"})
	s2 := sfu.Start(t, devsfu.Options{Region: "region-c"}) // same key and secret: a token is valid in both
	dead := startRegionProxy(t, "")
	b := startRegionProxy(t, strings.TrimPrefix(s1.URL(), "ws://"))
	cloud := startCloudHost(t, []string{dead.url(), b.url(), s2.URL()}, "public, max-age=60")

	alice := joinPeerAt(t, ctx, s1, cloud.URL, "regions", "alice", room.WithCloudHosts(room.Options{}, everyHostIsCloud))
	joinPeer(t, ctx, s1, "regions", "bob", room.Options{})
	waitPeer(t, ctx, alice.r, "bob")
	auth := cloud.listRequests()
	if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ey") {
		t.Fatalf("region list requests: %q", auth)
	}
	if j, d, n := cloud.joins.Load(), dead.accepted.Load(), b.accepted.Load(); j != 1 || d != 1 || n != 1 {
		t.Fatalf("joins: project host %d, dead region %d, region b %d (want 1 each)", j, d, n)
	}
	if srv := alice.r.Info().Server; srv.Region != "region-b" || srv.NodeID == "" || srv.Version != devsfu.ServerVersion {
		t.Fatalf("server after connecting: %+v", srv)
	}

	// A resume goes to region b, where the session is.
	s1.DropSignal("alice")
	alice.waitReconnected(ctx, room.ReconnectResume, 0)
	if j, n := cloud.joins.Load(), b.accepted.Load(); j != 1 || n != 2 {
		t.Fatalf("after the resume: project host %d, region b %d (want 1, 2)", j, n)
	}

	// Region b becomes unreachable and the server asks for a full
	// reconnect: b fails, the dead region too, s2 takes alice.
	b.on.Store(false)
	s1.SendLeave("alice", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_SERVER_SHUTDOWN)
	alice.waitReconnected(ctx, room.ReconnectFull, 0)
	// The new server is announced (the room's counts may change in the same event).
	alice.wait(ctx, "RoomInfoChanged with region-c", func(ev room.Event) bool {
		e, ok := ev.(room.RoomInfoChanged)
		return ok && e.Info.Server.Region == "region-c"
	})
	if alice.r.Info().Server.Region != "region-c" {
		t.Fatalf("server after the full reconnect: %+v", alice.r.Info().Server)
	}
	joinPeer(t, ctx, s2, "regions", "carol", room.Options{})
	waitPeer(t, ctx, alice.r, "carol")
	if j, d, n, l := cloud.joins.Load(), dead.accepted.Load(), b.accepted.Load(), len(cloud.listRequests()); j != 1 || d != 2 || n != 3 || l != 1 {
		t.Fatalf("after the full reconnect: project host %d, dead region %d, region b %d, list requests %d (want 1, 2, 3, 1)", j, d, n, l)
	}
}

// A full reconnect on LiveKit Cloud goes through the regions back to back
// within one attempt, as Connect does: with a single attempt allowed, the
// region that joined and an unreachable one fail, and the third takes alice.
func TestRegionFailoverWithinAReconnectAttempt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s1 := sfu.Start(t, devsfu.Options{})
	s2 := sfu.Start(t, devsfu.Options{Region: "region-c"})
	b := startRegionProxy(t, strings.TrimPrefix(s1.URL(), "ws://"))
	dead := startRegionProxy(t, "")
	cloud := startCloudHost(t, []string{b.url(), dead.url(), s2.URL()}, "max-age=60")
	alice := joinPeerAt(t, ctx, s1, cloud.URL, "regions", "alice",
		room.WithCloudHosts(room.Options{MaxReconnectAttempts: 1}, everyHostIsCloud))

	b.on.Store(false)
	s1.SendLeave("alice", lkpb.LeaveRequest_RECONNECT, lkpb.DisconnectReason_SERVER_SHUTDOWN)
	alice.waitReconnected(ctx, room.ReconnectFull, 0)
	joinPeer(t, ctx, s2, "regions", "carol", room.Options{})
	waitPeer(t, ctx, alice.r, "carol")
	if n, d, l := b.accepted.Load(), dead.accepted.Load(), len(cloud.listRequests()); n != 2 || d != 1 || l != 1 {
		t.Fatalf("joins: region b %d, dead region %d; list requests %d (want 2, 1, 1)", n, d, l)
	}
}

// While the room lives the region list is fetched again whenever it goes
// stale (as livekit-client does while connected), and again after a failed
// fetch; a refused token ends that until the server sends another; it ends
// with Disconnect.
func TestRegionListKeptFresh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, cloud, alice := joinRefreshing(t, ctx)
	requests := func() int { return len(cloud.listRequests()) }
	setStatus := func(code int) {
		cloud.mu.Lock()
		cloud.listStatus = code
		cloud.mu.Unlock()
	}

	waitUntil(t, ctx, "the list fetched twice more while connected", func() bool { return requests() >= 3 })
	setStatus(http.StatusInternalServerError)
	n := requests()
	waitUntil(t, ctx, "failed fetches tried again", func() bool { return requests() >= n+2 })
	setStatus(http.StatusUnauthorized)
	waitUntil(t, ctx, "a refusal", func() bool { return cloud.refusals.Load() == 1 })
	cloud.assertNoListRequest(t, "after the token was refused", 0)

	// The server answers a change of metadata with a new token (refresh_token).
	if err := alice.r.LocalParticipant().SetMetadata(ctx, "new token"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, "a fetch with the new token", func() bool { return cloud.refusals.Load() == 2 })
	auth := cloud.listRequests()
	if a, b := auth[len(auth)-2], auth[len(auth)-1]; a == b {
		t.Fatalf("the fetch after the refusal used the refused token %q", b)
	}
	cloud.assertNoListRequest(t, "after the new token was refused", 0)

	setStatus(200)
	if err := alice.r.LocalParticipant().SetMetadata(ctx, "another token"); err != nil {
		t.Fatal(err)
	}
	n = requests()
	waitUntil(t, ctx, "fetches again", func() bool { return requests() >= n+2 })
	if err := alice.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	cloud.assertNoListRequest(t, "after Disconnect", 300*time.Millisecond)
}

// The room's end (the server's leave) ends the refreshing of the region
// list too, and the room's end waits for it.
func TestRegionListRefreshEndsWithTheRoom(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, cloud, alice := joinRefreshing(t, ctx)
	waitUntil(t, ctx, "the list fetched again while connected", func() bool { return len(cloud.listRequests()) >= 2 })
	s.SendLeave("alice", lkpb.LeaveRequest_DISCONNECT, lkpb.DisconnectReason_ROOM_DELETED)
	select {
	case <-alice.r.Done():
	case <-ctx.Done():
		t.Fatal("the room did not end")
	}
	cloud.assertNoListRequest(t, "after the room ended", 300*time.Millisecond)
}

// The regions a LeaveRequest lists replace the fetched ones: the full
// reconnect it asks for fails over to a region only the leave names.
func TestRegionListFromLeave(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s1 := sfu.Start(t, devsfu.Options{})
	s2 := sfu.Start(t, devsfu.Options{})
	b := startRegionProxy(t, strings.TrimPrefix(s1.URL(), "ws://"))
	cloud := startCloudHost(t, []string{b.url()}, "max-age=60")
	alice := joinPeerAt(t, ctx, s1, cloud.URL, "regions", "alice", room.WithCloudHosts(room.Options{}, everyHostIsCloud))

	b.on.Store(false)
	s1.SendLeaveRequest("alice", &lkpb.LeaveRequest{
		CanReconnect: true, Reason: lkpb.DisconnectReason_SERVER_SHUTDOWN, Action: lkpb.LeaveRequest_RECONNECT,
		Regions: &lkpb.RegionSettings{Regions: []*lkpb.RegionInfo{{Region: "s2", Url: s2.URL(), Distance: 1}}},
	})
	alice.waitReconnected(ctx, room.ReconnectFull, 0)
	joinPeer(t, ctx, s2, "regions", "carol", room.Options{})
	waitPeer(t, ctx, alice.r, "carol")
	if l, n := len(cloud.listRequests()), b.accepted.Load(); l != 1 || n != 2 {
		t.Fatalf("list requests %d, region b joins %d (want 1, 2)", l, n)
	}
}

// When failover applies, and which error Connect returns.
func TestRegionFailoverRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	connect := func(url string, opts room.Options) error {
		r, err := room.Connect(ctx, url, "tok", opts)
		if err == nil {
			_ = r.Disconnect(ctx)
			t.Fatal("connected")
		}
		return err
	}

	t.Run("not LiveKit Cloud", func(t *testing.T) {
		dead := startRegionProxy(t, "")
		cloud := startCloudHost(t, []string{dead.url()}, "")
		if err := connect(cloud.URL, room.Options{}); !errors.Is(err, room.ErrServerError) {
			t.Fatalf("Connect: %v", err)
		}
		if l, d := len(cloud.listRequests()), dead.accepted.Load(); l != 0 || d != 0 {
			t.Fatalf("list requests %d, region joins %d (want none)", l, d)
		}
	})
	t.Run("refusals are not failed over", func(t *testing.T) {
		dead := startRegionProxy(t, "")
		cloud := startCloudHost(t, []string{dead.url()}, "")
		cloud.joinStatus = http.StatusUnauthorized
		if err := connect(cloud.URL, room.WithCloudHosts(room.Options{}, everyHostIsCloud)); !errors.Is(err, room.ErrUnauthorized) {
			t.Fatalf("Connect: %v", err)
		}
		// At most the list Connect prefetches (its failure cancels that).
		if l, d := len(cloud.listRequests()), dead.accepted.Load(); l > 1 || d != 0 {
			t.Fatalf("list requests %d, region joins %d (want at most 1, none)", l, d)
		}
	})
	t.Run("no list: the Connect URL's error", func(t *testing.T) {
		dead := startRegionProxy(t, "")
		cloud := startCloudHost(t, []string{dead.url()}, "")
		cloud.listStatus = http.StatusUnauthorized
		if err := connect(cloud.URL, room.WithCloudHosts(room.Options{}, everyHostIsCloud)); !errors.Is(err, room.ErrServerError) {
			t.Fatalf("Connect: %v", err)
		}
		// Connect's prefetch failed, so the failover asked again.
		if l, d := len(cloud.listRequests()), dead.accepted.Load(); l != 2 || d != 0 {
			t.Fatalf("list requests %d, region joins %d (want 2, 0)", l, d)
		}
	})
	t.Run("every region fails: the last one's error, in each attempt", func(t *testing.T) {
		dead := startRegionProxy(t, "")
		last := regionAnswering(t, http.StatusInternalServerError)
		cloud := startCloudHost(t, []string{dead.url(), last.URL}, "max-age=0")
		opts := room.WithCloudHosts(room.Options{JoinAttempts: 2, JoinRetryDelay: time.Millisecond}, everyHostIsCloud)
		var he *room.HTTPError
		if err := connect(cloud.URL, opts); !errors.As(err, &he) || he.StatusCode != http.StatusInternalServerError {
			t.Fatalf("Connect: %v", err)
		}
		// Each attempt: the project host, then both regions; the list is
		// requested when Connect starts and after each failure, since
		// max-age=0 lets none be reused (as the official SDKs do).
		if j, l, d, n := cloud.joins.Load(), len(cloud.listRequests()), dead.accepted.Load(), last.joins.Load(); j != 2 || l != 7 || d != 2 || n != 2 {
			t.Fatalf("joins: project host %d, dead region %d, last region %d; list requests %d (want 2, 2, 2; 7)", j, d, n, l)
		}
	})
	t.Run("a region's refusal ends the attempt", func(t *testing.T) {
		dead := startRegionProxy(t, "")
		refusing := regionAnswering(t, http.StatusNotFound)
		cloud := startCloudHost(t, []string{refusing.URL, dead.url()}, "")
		var he *room.HTTPError
		if err := connect(cloud.URL, room.WithCloudHosts(room.Options{}, everyHostIsCloud)); !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
			t.Fatalf("Connect: %v", err)
		}
		if n, d := refusing.joins.Load(), dead.accepted.Load(); n != 1 || d != 0 {
			t.Fatalf("joins: refusing region %d, the next region %d (want 1, 0)", n, d)
		}
	})
	t.Run("the list is fetched while the first join runs", func(t *testing.T) {
		b := regionAnswering(t, http.StatusInternalServerError)
		cloud := startCloudHost(t, []string{b.URL}, "max-age=60")
		cloud.joinAwaitsList = make(chan struct{})
		if err := connect(cloud.URL, room.WithCloudHosts(room.Options{}, everyHostIsCloud)); !errors.Is(err, room.ErrServerError) {
			t.Fatalf("Connect: %v", err)
		}
		// Requested once, before the project host answered the join: the
		// failover used that list.
		if !cloud.listBeforeJoinFailed.Load() {
			t.Fatal("the region list was not requested while the join ran")
		}
		if l, n := len(cloud.listRequests()), b.joins.Load(); l != 1 || n != 1 {
			t.Fatalf("list requests %d, region joins %d (want 1, 1)", l, n)
		}
	})
	t.Run("Connect to another URL does not use the first one's list", func(t *testing.T) {
		deadA, deadB := startRegionProxy(t, ""), startRegionProxy(t, "")
		hostA := startCloudHost(t, []string{deadA.url()}, "max-age=60")
		hostB := startCloudHost(t, []string{deadB.url()}, "max-age=60")
		r, err := room.New(room.WithCloudHosts(room.Options{}, everyHostIsCloud))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.Disconnect(ctx) }()
		for _, u := range []string{hostA.URL, hostB.URL} {
			if _, err := r.Connect(ctx, u, "tok"); !errors.Is(err, room.ErrServerUnreachable) {
				t.Fatalf("Connect %s: %v", u, err)
			}
		}
		if la, lb, a, b := len(hostA.listRequests()), len(hostB.listRequests()), deadA.accepted.Load(), deadB.accepted.Load(); la != 1 || lb != 1 || a != 1 || b != 1 {
			t.Fatalf("list requests A %d, B %d; joins in A's region %d, B's %d (want 1 each)", la, lb, a, b)
		}
	})
	t.Run("Disconnect aborts the fetch of the list", func(t *testing.T) {
		cloud := startCloudHost(t, nil, "")
		h := holdListRequests()
		r, err := room.New(room.WithCloudHosts(room.Options{Dial: h.dial}, everyHostIsCloud))
		if err != nil {
			t.Fatal(err)
		}
		connected := make(chan error, 1)
		go func() { _, err := r.Connect(ctx, cloud.URL, "tok"); connected <- err }()
		select {
		case <-h.fetching:
		case <-ctx.Done():
			t.Fatal("no region list request")
		}
		// The join fails meanwhile, and its failover waits for the list.
		for cloud.joins.Load() == 0 {
			select {
			case <-ctx.Done():
				t.Fatal("no join")
			case <-time.After(5 * time.Millisecond):
			}
		}
		disconnected := make(chan error, 1)
		go func() { disconnected <- r.Disconnect(ctx) }()
		// The request ends because of Disconnect, not at its own timeout.
		if err := <-h.ended; !errors.Is(err, context.Canceled) {
			t.Fatalf("the region list request ended with %v", err)
		}
		if err := <-connected; !errors.Is(err, context.Canceled) {
			t.Fatalf("Connect: %v", err)
		}
		if err := <-disconnected; err != nil {
			t.Fatalf("Disconnect: %v", err)
		}
		if n := len(h.ended); n != 0 {
			t.Fatalf("%d more list requests after Disconnect", n)
		}
	})
	t.Run("a failed Connect ends its prefetch", func(t *testing.T) {
		cloud := startCloudHost(t, nil, "")
		cloud.joinStatus = http.StatusUnauthorized
		h := holdListRequests()
		cloud.joinAwaitsList = h.fetching // the join is refused once the prefetch is held
		// Room.Connect: a failed one leaves the Room as New made it, nothing
		// running (room.Connect would end the Room, and the prefetch with it).
		r, err := room.New(room.WithCloudHosts(room.Options{Dial: h.dial}, everyHostIsCloud))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.Disconnect(ctx) }()
		if _, err := r.Connect(ctx, cloud.URL, "tok"); !errors.Is(err, room.ErrUnauthorized) {
			t.Fatalf("Connect: %v", err)
		}
		select {
		case err := <-h.ended:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the prefetch ended with %v", err)
			}
		default:
			t.Fatal("the prefetch still runs after Connect returned")
		}
	})
}

// listHolds dials real connections whose requests for the region list are
// held (fetching is closed at the first) until the request's context ends
// (its error is sent to ended).
type listHolds struct {
	fetching chan struct{}
	once     sync.Once
	ended    chan error
}

func holdListRequests() *listHolds {
	return &listHolds{fetching: make(chan struct{}), ended: make(chan error, 4)}
}

func (h *listHolds) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &listHolder{Conn: c, hold: func() error {
		h.once.Do(func() { close(h.fetching) })
		<-ctx.Done()
		h.ended <- ctx.Err()
		return ctx.Err()
	}}, nil
}

// listHolder is a connection whose request for the region list (its first
// write) is handed to hold instead of being sent.
type listHolder struct {
	net.Conn
	hold func() error
}

func (c *listHolder) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("GET /settings/regions")) {
		return 0, c.hold()
	}
	return c.Conn.Write(p)
}

// regionAnswering is a region whose signalling answers with status.
func regionAnswering(t *testing.T, status int) *cloudHost {
	h := startCloudHost(t, nil, "")
	h.joinStatus = status
	return h
}
