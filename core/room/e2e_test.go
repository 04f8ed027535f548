package room_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/joinreq"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hang guard for every end-to-end test; never a timing assertion.
const testTimeout = 30 * time.Second

// client is a connected room plus an event recorder that reads every event
// (via Events) until the final Disconnected.
type client struct {
	t      testing.TB
	r      *room.Room
	events chan room.Event
}

func join(t testing.TB, ctx context.Context, s *sfu.Server, roomName, identity string, opts ...auth.TokenOption) *client {
	t.Helper()
	opts = append([]auth.TokenOption{auth.WithGrant(func(g *auth.VideoGrant) { g.CanUpdateOwnMetadata = auth.Bool(true) })}, opts...)
	tok, err := s.Token(roomName, identity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := room.Connect(ctx, s.URL(), tok, room.Options{Logger: s.Logger(identity)})
	if err != nil {
		t.Fatalf("%s: connect: %v", identity, err)
	}
	c := &client{t: t, r: r, events: make(chan room.Event, 4096)}
	go func() {
		defer close(c.events)
		for ev := range r.Events() {
			c.events <- ev
		}
	}()
	t.Cleanup(func() {
		_ = r.Disconnect(context.Background())
		for range c.events { //nolint:revive // drain until closed
		}
	})
	return c
}

// waitFor returns the first event satisfying match, failing on ctx expiry or
// when the room ends first.
func (c *client) waitFor(ctx context.Context, what string, match func(room.Event) bool) room.Event {
	c.t.Helper()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				c.t.Fatalf("%s: events ended while waiting for %s", c.r.LocalParticipant().Identity(), what)
			}
			if match(ev) {
				return ev
			}
		case <-ctx.Done():
			c.t.Fatalf("%s: timed out waiting for %s", c.r.LocalParticipant().Identity(), what)
		}
	}
}

func (c *client) waitData(ctx context.Context) room.DataReceived {
	c.t.Helper()
	return c.waitFor(ctx, "data", func(ev room.Event) bool { _, ok := ev.(room.DataReceived); return ok }).(room.DataReceived)
}

// waitParticipant waits until identity is a known remote participant (either
// present at join or announced later).
func (c *client) waitParticipant(ctx context.Context, identity string) *room.RemoteParticipant {
	c.t.Helper()
	for {
		if rp := c.r.RemoteParticipant(identity); rp != nil {
			return rp
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("%s never saw %s", c.r.LocalParticipant().Identity(), identity)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestTwoAndThreeParticipantsSeeEachOther(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	a := join(t, ctx, s, "r1", "alice", auth.WithName("Alice"), auth.WithMetadata("md-a"), auth.WithAttributes(map[string]string{"role": "x"}))
	if a.r.State() != room.StateConnected {
		t.Fatalf("state after Connect: %v", a.r.State())
	}
	lp := a.r.LocalParticipant()
	if lp.Identity() != "alice" || !strings.HasPrefix(lp.SID(), "PA_") || lp.Name() != "Alice" || lp.Metadata() != "md-a" || lp.Attributes()["role"] != "x" {
		t.Fatalf("local participant %v", lp.Info())
	}
	if a.r.Name() != "r1" {
		t.Fatalf("room name %q", a.r.Name())
	}
	// The connected state is part of Connect's snapshot: no event repeats it.

	b := join(t, ctx, s, "r1", "bob", auth.WithName("Bob"))
	// bob sees alice from the join (no event); alice gets ParticipantConnected for bob.
	if rp := b.r.RemoteParticipant("alice"); rp == nil || rp.Name() != "Alice" || rp.Metadata() != "md-a" {
		t.Fatalf("bob's view of alice: %v", rp)
	}
	ev := a.waitFor(ctx, "bob connected", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantConnected)
		return ok && e.Participant.Identity() == "bob"
	}).(room.ParticipantConnected)
	if ev.Participant.Name() != "Bob" || ev.Participant.SID() != b.r.LocalParticipant().SID() {
		t.Fatalf("alice's view of bob: %v", ev.Participant.Info())
	}
	// client_protocol/capabilities of remote participants are what we advertised.
	if ev.Participant.ClientProtocol() != 2 || !slices.Equal(ev.Participant.Capabilities(), []room.Capability{room.CapabilityDeflateRaw}) {
		t.Fatalf("bob's client protocol %d caps %v", ev.Participant.ClientProtocol(), ev.Participant.Capabilities())
	}

	c := join(t, ctx, s, "r1", "carol")
	for _, x := range []*client{a, b} {
		x.waitFor(ctx, "carol connected", func(ev room.Event) bool {
			e, ok := ev.(room.ParticipantConnected)
			return ok && e.Participant.Identity() == "carol"
		})
	}
	if got := len(c.r.RemoteParticipants()); got != 2 {
		t.Fatalf("carol sees %d participants", got)
	}
	ids := []string{}
	for _, rp := range a.r.RemoteParticipants() {
		ids = append(ids, rp.Identity())
	}
	if strings.Join(ids, ",") != "bob,carol" {
		t.Fatalf("alice sees %v", ids)
	}

	// carol leaves: the others get ParticipantDisconnected(CLIENT_INITIATED).
	if err := c.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*client{a, b} {
		e := x.waitFor(ctx, "carol disconnected", func(ev room.Event) bool {
			e, ok := ev.(room.ParticipantDisconnected)
			return ok && e.Participant.Identity() == "carol"
		}).(room.ParticipantDisconnected)
		if e.Reason != room.DisconnectClientInitiated {
			t.Fatalf("carol's disconnect reason %v", e.Reason)
		}
		if x.r.RemoteParticipant("carol") != nil {
			t.Fatal("carol still listed")
		}
	}
	// carol's own final events.
	var last []room.Event
	for ev := range c.events {
		last = append(last, ev)
	}
	if n := len(last); n < 2 {
		t.Fatalf("carol's final events %v", last)
	}
	if e, ok := last[len(last)-1].(room.Disconnected); !ok || e.Reason != room.DisconnectClientInitiated || e.Err != nil {
		t.Fatalf("last event %#v", last[len(last)-1])
	}
	if e, ok := last[len(last)-2].(room.ConnectionStateChanged); !ok || e.State != room.StateDisconnected {
		t.Fatalf("second to last event %#v", last[len(last)-2])
	}
	if c.r.State() != room.StateDisconnected {
		t.Fatalf("state after disconnect %v", c.r.State())
	}
}

func TestDataPackets(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := join(t, ctx, s, "data", "alice")
	b := join(t, ctx, s, "data", "bob")
	c := join(t, ctx, s, "data", "carol")
	for _, x := range []*client{a, b, c} {
		for _, id := range []string{"alice", "bob", "carol"} {
			if id != x.r.LocalParticipant().Identity() {
				x.waitParticipant(ctx, id)
			}
		}
	}

	// Reliable broadcast with topics, in order.
	const n = 50
	for i := 0; i < n; i++ {
		err := a.r.LocalParticipant().PublishData(ctx, []byte(fmt.Sprintf("msg-%03d", i)), room.DataPublishOptions{Reliable: true, Topic: "chat"})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range []*client{b, c} {
		for i := 0; i < n; i++ {
			d := x.waitData(ctx)
			if want := fmt.Sprintf("msg-%03d", i); string(d.Payload) != want || d.Topic != "chat" || !d.Reliable || d.SenderIdentity != "alice" {
				t.Fatalf("%s got %q topic %q reliable %v from %q, want %q", x.r.LocalParticipant().Identity(), d.Payload, d.Topic, d.Reliable, d.SenderIdentity, want)
			}
			if d.Participant == nil || d.Participant.Identity() != "alice" {
				t.Fatal("sender participant not resolved")
			}
		}
	}

	// Destinations: only bob receives; carol receives the next broadcast
	// first, which proves she did not get the targeted one.
	forBob := "for-bob " + testkit.PayloadMarker // the logs must never carry a payload
	if err := a.r.LocalParticipant().PublishData(ctx, []byte(forBob), room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.r.LocalParticipant().PublishData(ctx, []byte("for-all"), room.DataPublishOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	if d := b.waitData(ctx); string(d.Payload) != forBob || d.Topic != "" {
		t.Fatalf("bob got %q", d.Payload)
	}
	if d := b.waitData(ctx); string(d.Payload) != "for-all" {
		t.Fatalf("bob got %q", d.Payload)
	}
	if d := c.waitData(ctx); string(d.Payload) != "for-all" {
		t.Fatalf("carol got %q instead of the broadcast", d.Payload)
	}

	// Lossy with topic and destination (loopback: nothing is lost).
	if err := b.r.LocalParticipant().PublishData(ctx, []byte("lossy"), room.DataPublishOptions{Topic: "t", DestinationIdentities: []string{"carol"}}); err != nil {
		t.Fatal(err)
	}
	if d := c.waitData(ctx); string(d.Payload) != "lossy" || d.Topic != "t" || d.Reliable || d.SenderIdentity != "bob" {
		t.Fatalf("carol got %+v", d)
	}

	// Maximum size: a payload that fits exactly is delivered; one byte more is refused.
	payload := maxPayload(t, a.r.LocalParticipant().Identity())
	if err := a.r.LocalParticipant().PublishData(ctx, payload, room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"bob"}}); err != nil {
		t.Fatalf("max-size packet: %v", err)
	}
	if d := b.waitData(ctx); !bytes.Equal(d.Payload, payload) {
		t.Fatalf("max-size payload corrupted (%d bytes)", len(d.Payload))
	}
	err := a.r.LocalParticipant().PublishData(ctx, append(payload, 0), room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"bob"}})
	var tooLarge *engine.PacketTooLargeError
	if !errors.Is(err, room.ErrPacketTooLarge) || !errors.As(err, &tooLarge) || tooLarge.Size != 64001 || tooLarge.Max != 64000 {
		t.Fatalf("oversized packet: %v", err)
	}
	// The refused packet did not consume a sequence number: the next one still arrives.
	if err := a.r.LocalParticipant().PublishData(ctx, []byte("after"), room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	if d := b.waitData(ctx); string(d.Payload) != "after" {
		t.Fatalf("bob got %q", d.Payload)
	}
}

// maxPayload returns a payload whose reliable user packet (with destination
// "bob", the sender identity inside the UserPacket and sequence stamp)
// serialises to exactly 64 000 bytes.
func maxPayload(t *testing.T, identity string) []byte {
	// alice has sent 52 reliable packets before: this one is sequence 53.
	size := func(n int) int {
		return room.UserPacketSize(identity, n, room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"bob"}}, 53)
	}
	n := 64000 - 100
	for size(n) < 64000 {
		n++
	}
	if size(n) != 64000 {
		t.Fatalf("no payload size gives exactly 64000 bytes (%d → %d)", n, size(n))
	}
	return bytes.Repeat([]byte{0xab}, n)
}

func TestMetadataUpdatesPropagate(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := join(t, ctx, s, "md", "alice")
	b := join(t, ctx, s, "md", "bob")
	b.waitParticipant(ctx, "alice")
	lp := a.r.LocalParticipant()

	if err := lp.SetMetadata(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	if lp.Metadata() != "hello" {
		t.Fatalf("local metadata %q after SetMetadata", lp.Metadata())
	}
	a.waitFor(ctx, "own metadata event", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantMetadataChanged)
		return ok && e.Participant.Identity() == "alice" && e.NewMetadata == "hello"
	})
	b.waitFor(ctx, "alice's metadata", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantMetadataChanged)
		return ok && e.Participant.Identity() == "alice" && e.OldMetadata == "" && e.NewMetadata == "hello"
	})

	if err := lp.SetName(ctx, "Alice A."); err != nil {
		t.Fatal(err)
	}
	b.waitFor(ctx, "alice's name", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantNameChanged)
		return ok && e.NewName == "Alice A."
	})

	if err := lp.SetAttributes(ctx, map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := lp.SetAttributes(ctx, map[string]string{"a": ""}); err != nil { // delete a
		t.Fatal(err)
	}
	if got := lp.Attributes(); len(got) != 1 || got["b"] != "2" {
		t.Fatalf("local attributes %v", got)
	}
	b.waitFor(ctx, "attribute removal", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantAttributesChanged)
		v, has := e.Changed["a"]
		return ok && has && v == ""
	})
	if got := b.r.RemoteParticipant("alice").Attributes(); len(got) != 1 || got["b"] != "2" {
		t.Fatalf("bob's view of alice's attributes %v", got)
	}
	if err := lp.SetMetadata(ctx, ""); !errors.Is(err, room.ErrInvalidArgument) {
		t.Fatalf("empty metadata: %v", err)
	}
	// More than a LiveKit server reads in one signalling message (2 MiB): refused before it
	// is sent (the server would drop the connection); the session goes on.
	if err := lp.SetMetadata(ctx, strings.Repeat("m", 3<<20)); !errors.Is(err, room.ErrSignalRequestTooLarge) ||
		room.KindOf(err) != room.KindPayloadTooLarge {
		t.Fatalf("3 MiB of metadata: %v", err)
	}
	if err := lp.SetMetadata(ctx, "after"); err != nil {
		t.Fatal(err)
	}
}

func TestMetadataNotAllowed(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	tok, err := s.Token("md2", "nogrant", auth.WithGrant(func(g *auth.VideoGrant) { g.CanUpdateOwnMetadata = auth.Bool(false) }))
	if err != nil {
		t.Fatal(err)
	}
	r, err := room.Connect(ctx, s.URL(), tok, room.Options{Logger: s.Logger("nogrant")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Disconnect(ctx) //nolint:errcheck
	err = r.LocalParticipant().SetMetadata(ctx, "x")
	var re *room.RequestError
	if !errors.As(err, &re) || re.Reason != room.RequestNotAllowed {
		t.Fatalf("SetMetadata without grant: %v", err)
	}
}

func TestInvalidTokenAndURL(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// Token signed with another secret.
	bad, err := auth.NewToken("devkey", "another-secret-another-secret-000", auth.Claims{
		Identity: "mallory", Video: &auth.VideoGrant{RoomJoin: true, Room: "x"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.Logs.ForbidToken(bad)
	_, err = room.Connect(ctx, s.URL(), bad, room.Options{Logger: s.Logger("mallory")})
	var he *signal.HTTPError
	if !errors.Is(err, room.ErrUnauthorized) || !errors.As(err, &he) || he.StatusCode != 401 {
		t.Fatalf("bad token: %v", err)
	}
	if strings.Contains(err.Error(), bad) {
		t.Fatal("token in error text")
	}
	// Garbage token.
	log := s.Logger("y")
	if _, err = room.Connect(ctx, s.URL(), "not-a-jwt", room.Options{Logger: log}); !errors.Is(err, room.ErrUnauthorized) {
		t.Fatalf("garbage token: %v", err)
	}
	// Wrong scheme and nothing listening.
	tok, _ := s.Token("x", "y")
	if _, err = room.Connect(ctx, "ftp://127.0.0.1:1", tok, room.Options{Logger: log}); !errors.Is(err, room.ErrInvalidURL) {
		t.Fatalf("bad scheme: %v", err)
	}
	if _, err = room.Connect(ctx, "ws://127.0.0.1:1", tok, room.Options{Logger: log}); !errors.Is(err, room.ErrServerUnreachable) {
		t.Fatalf("nothing listening: %v", err)
	}
	if _, err = room.Connect(ctx, s.URL(), "", room.Options{Logger: log}); !errors.Is(err, room.ErrInvalidArgument) {
		t.Fatalf("empty token: %v", err)
	}
	// A context that ends during Connect.
	short, c2 := context.WithCancel(ctx)
	c2()
	if _, err = room.Connect(short, s.URL(), tok, room.Options{Logger: log}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

func TestCallsAfterDisconnect(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := join(t, ctx, s, "after", "alice")
	if err := a.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.r.Disconnect(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	lp := a.r.LocalParticipant()
	if err := lp.PublishData(ctx, []byte("x"), room.DataPublishOptions{Reliable: true}); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("PublishData: %v", err)
	}
	if err := lp.SetMetadata(ctx, "x"); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("SetMetadata: %v", err)
	}
	if err := lp.PublishData(ctx, []byte("x"), room.DataPublishOptions{}); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("lossy PublishData: %v", err)
	}
	if !errors.Is(a.r.Err(), room.ErrDisconnected) {
		t.Fatalf("Err: %v", a.r.Err())
	}
	// NextEvent reports the end after the remaining events are read (the
	// recorder consumed them through Events).
	for range a.events { //nolint:revive // drain
	}
	if _, err := a.r.NextEvent(ctx); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("NextEvent: %v", err)
	}
}

func TestServerGone(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := join(t, ctx, s, "gone", "alice")
	_ = s.Close()
	ev := a.waitFor(ctx, "Disconnected", func(ev room.Event) bool { _, ok := ev.(room.Disconnected); return ok }).(room.Disconnected)
	if ev.Err == nil && ev.Reason == room.DisconnectUnknown {
		t.Fatalf("server gone: %+v", ev)
	}
	<-a.r.Done()
	if err := a.r.LocalParticipant().PublishData(ctx, []byte("x"), room.DataPublishOptions{}); !errors.Is(err, room.ErrDisconnected) {
		t.Fatalf("PublishData after server gone: %v", err)
	}
}

// A consumer that does not read events must not stall signalling: while bob
// ignores his events (and his data backs up), he still processes participant
// updates and a metadata change round trip.
func TestSlowConsumerDoesNotBlockSignalling(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := join(t, ctx, s, "slow", "alice")
	tok, _ := s.Token("slow", "bob", auth.WithGrant(func(g *auth.VideoGrant) { g.CanUpdateOwnMetadata = auth.Bool(true) }))
	b, err := room.Connect(ctx, s.URL(), tok, room.Options{MaxPendingDataEvents: 4, Logger: s.Logger("bob")})
	if err != nil {
		t.Fatal(err)
	}
	a.waitParticipant(ctx, "bob")
	for i := 0; i < 20; i++ { // more than bob's pending limit
		if err := a.r.LocalParticipant().PublishData(ctx, []byte{byte(i)}, room.DataPublishOptions{Reliable: true}); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until bob's data path is really stuck: his queue holds its 4 data
	// events and the delivery of the next one is blocked on it.
	for {
		pending, blocked := room.DataBacklog(b)
		if pending == 4 && blocked == 1 {
			break
		}
		if pending > 4 || blocked > 1 {
			t.Fatalf("backlog %d pending, %d blocked: the limit of 4 is not honoured", pending, blocked)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("bob's data queue never filled (%d pending, %d blocked)", pending, blocked)
		case <-time.After(time.Millisecond):
		}
	}
	// Bob's signalling still works while his data events are backed up.
	if err := b.LocalParticipant().SetMetadata(ctx, "still-alive"); err != nil {
		t.Fatal(err)
	}
	a.waitFor(ctx, "bob's metadata", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantMetadataChanged)
		return ok && e.NewMetadata == "still-alive"
	})
	// Nothing was dropped: all 20 packets arrive in order once bob reads.
	got := 0
	for got < 20 {
		ev, err := b.NextEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := ev.(room.DataReceived); ok {
			if int(d.Payload[0]) != got {
				t.Fatalf("packet %d out of order: %d", got, d.Payload[0])
			}
			got++
		}
	}
	if err := b.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
}

// The join request matches what JS 2.23.0 sends where it matters (recorded
// in traces/1a-publish-js): /rtc/v1 with exactly access_token + padded
// join_request, GZIP, protocol 17, offer id 1 with an application m-line —
// and is honest for Go: sdk GO, client_protocol 0 until RPC/streams are
// wired, auto_subscribe false, no media sections.
func TestJoinRequestOnTheWire(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		http.Error(w, "invalid authorization token: test", http.StatusUnauthorized)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	logs := testkit.NewCapture(t)
	logs.ForbidToken("tok.en.value")
	_, err := room.Connect(ctx, srv.URL+"/prefix", "tok.en.value", room.Options{Logger: logs.Logger()})
	var he *signal.HTTPError
	if !errors.Is(err, room.ErrUnauthorized) || !errors.As(err, &he) || he.Body != "invalid authorization token: test" {
		t.Fatalf("connect: %v", err)
	}
	r := <-got
	if r.URL.Path != "/prefix/rtc/v1" {
		t.Fatalf("path %s", r.URL.Path)
	}
	q := r.URL.Query()
	if len(q) != 2 || q.Get("access_token") != "tok.en.value" {
		t.Fatalf("query keys %v", q)
	}
	param := q.Get("join_request")
	if len(param)%4 != 0 {
		t.Fatal("join_request not padded")
	}
	jr, comp, err := joinreq.Decode(param)
	if err != nil {
		t.Fatal(err)
	}
	ci := jr.GetClientInfo()
	if comp != lkpb.WrappedJoinRequest_GZIP || ci.GetProtocol() != 17 || ci.GetSdk() != lkpb.ClientInfo_GO ||
		ci.GetVersion() != room.Version || ci.GetClientProtocol() != 2 ||
		!slices.Equal(ci.GetCapabilities(), []lkpb.ClientInfo_Capability{lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW}) {
		t.Fatalf("client info %v (compression %v)", ci, comp)
	}
	if jr.GetConnectionSettings() == nil || jr.GetConnectionSettings().GetAutoSubscribe() || jr.GetReconnect() {
		t.Fatalf("settings %v reconnect %v", jr.GetConnectionSettings(), jr.GetReconnect())
	}
	offer := jr.GetPublisherOffer()
	if offer.GetType() != "offer" || offer.GetId() != 1 || !strings.Contains(offer.GetSdp(), "m=application") ||
		strings.Contains(offer.GetSdp(), "m=audio") || strings.Contains(offer.GetSdp(), "m=video") {
		t.Fatalf("offer id %d type %q sdp:\n%s", offer.GetId(), offer.GetType(), offer.GetSdp())
	}
}

// Joining again with the same identity kicks the first session with
// DUPLICATE_IDENTITY (as livekit-server does).
func TestDuplicateIdentity(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	first := join(t, ctx, s, "dup", "alice")
	_ = join(t, ctx, s, "dup", "alice")
	ev := first.waitFor(ctx, "Disconnected", func(ev room.Event) bool { _, ok := ev.(room.Disconnected); return ok }).(room.Disconnected)
	if ev.Reason != room.DisconnectDuplicateIdentity || ev.Err != nil {
		t.Fatalf("first session ended with %+v", ev)
	}
}

// How a session ends without Disconnect: a server leave{DISCONNECT} ends it
// with the server's reason. (A dropped signal, leave{RESUME|RECONNECT} and a
// transport closed by the server reconnect instead: reconnect_test.go.)
func TestSessionEndings(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	final := func(c *client) room.Disconnected {
		t.Helper()
		ev := c.waitFor(ctx, "Disconnected", func(ev room.Event) bool { _, ok := ev.(room.Disconnected); return ok }).(room.Disconnected)
		<-c.r.Done()
		if c.r.State() != room.StateDisconnected {
			t.Fatalf("state %v", c.r.State())
		}
		return ev
	}

	removed := join(t, ctx, s, "end", "removed")
	s.SendLeave("removed", lkpb.LeaveRequest_DISCONNECT, lkpb.DisconnectReason_PARTICIPANT_REMOVED)
	if ev := final(removed); ev.Reason != room.DisconnectParticipantRemoved || ev.Err != nil {
		t.Fatalf("removed: %+v", ev)
	}
}

// TestRoomMetadataUpdates: the server changes the room's metadata (its
// RoomService.UpdateRoomMetadata); every participant gets RoomMetadataChanged
// carrying the old and the new value, and a later joiner's snapshot holds it.
func TestRoomMetadataUpdates(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "rmeta", "alice", room.Options{})
	for i, md := range []string{"m1", "m2"} {
		if !s.UpdateRoomMetadata("rmeta", md) {
			t.Fatal("room not found")
		}
		old := []string{"", "m1"}[i]
		ev := alice.wait(ctx, "metadata "+md, func(ev room.Event) bool {
			e, ok := ev.(room.RoomMetadataChanged)
			return ok && e.NewMetadata == md
		}).(room.RoomMetadataChanged)
		if ev.OldMetadata != old || ev.Info.Metadata != md || ev.Info.Name != "rmeta" {
			t.Fatalf("RoomMetadataChanged %+v, want old %q", ev, old)
		}
	}
	if n := alice.count(func(ev room.Event) bool { _, ok := ev.(room.RoomMetadataChanged); return ok }); n != 2 {
		t.Fatalf("%d RoomMetadataChanged events, want 2", n)
	}
	bob, err := room.New(room.Options{Logger: s.Logger("bob")})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Disconnect(context.Background())
	snap, err := bob.Connect(ctx, s.URL(), s.MustToken(t, "rmeta", "bob"))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Room.Metadata != "m2" {
		t.Fatalf("late joiner's snapshot metadata %q", snap.Room.Metadata)
	}
}

// TestParticipantPermissionChange: the server API revokes bob's data permission; bob (about
// himself) and alice (about bob) get ParticipantPermissionsChanged with the old and the new
// permission, and the participants' Info follows. The server removed bob's data track without
// telling him: it ends with ErrDataTrackNotAllowed. What the server would now drop without a
// word is refused (ErrPublishDataNotAllowed).
func TestParticipantPermissionChange(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "perm", "alice", room.Options{})
	bob := joinPeer(t, ctx, s, "perm", "bob", room.Options{})
	alice.wait(ctx, "bob", func(ev room.Event) bool {
		e, ok := ev.(room.ParticipantConnected)
		return ok && e.Info.Identity == "bob"
	})
	track, err := bob.r.LocalParticipant().PublishDataTrack(ctx, "sensor", room.DataTrackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ev := bob.wait(ctx, "track ended", func(ev room.Event) bool { _, ok := ev.(room.LocalDataTrackUnpublished); return ok }).(room.LocalDataTrackUnpublished)
		if ev.Track != track || !errors.Is(ev.Reason, room.ErrDataTrackNotAllowed) || track.IsPublished() {
			t.Fatalf("%+v", ev)
		}
	}()
	if !s.UpdateParticipantPermission("perm", "bob", &lkpb.ParticipantPermission{CanSubscribe: true}) {
		t.Fatal("bob not found")
	}
	want := room.ParticipantPermission{CanSubscribe: true}
	for _, p := range []*peer{alice, bob} {
		ev := p.wait(ctx, "bob's permission", func(ev room.Event) bool {
			e, ok := ev.(room.ParticipantPermissionsChanged)
			return ok && e.Info.Identity == "bob"
		}).(room.ParticipantPermissionsChanged)
		if ev.OldPermission == nil || !ev.OldPermission.CanPublishData || ev.Info.Permission == nil || *ev.Info.Permission != want ||
			ev.Participant.Info().Permission == nil || *ev.Participant.Info().Permission != want {
			t.Fatalf("%+v", ev)
		}
	}
	if p := bob.r.LocalParticipant().Info().Permission; p == nil || *p != want {
		t.Fatalf("bob's own permission %+v", p)
	}
	// What the server would now drop without a word is refused: data packets, streams, RPCs.
	err = bob.r.LocalParticipant().PublishData(ctx, []byte("x"), room.DataPublishOptions{Reliable: true})
	if !errors.Is(err, room.ErrPublishDataNotAllowed) || room.KindOf(err) != room.KindNotAllowed {
		t.Fatalf("publish data: %v", err)
	}
	_, err = bob.r.LocalParticipant().SendText(ctx, "x", datastream.SendTextOptions{Topic: "t"})
	if !errors.Is(err, room.ErrPublishDataNotAllowed) || room.KindOf(err) != room.KindNotAllowed {
		t.Fatalf("send text: %v", err)
	}
	_, err = bob.r.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "alice", Method: "m", Payload: "p"})
	if re, ok := errors.AsType[*rpc.RpcError](err); !ok || re.Code != rpc.CodeSendFailed || !errors.Is(err, room.ErrPublishDataNotAllowed) {
		t.Fatalf("rpc: %v", err)
	}
}

// TestRoomCountsFollowJoinsAndLeaves: the server's room updates after a join
// and a leave reach the participant who was there first as RoomInfoChanged,
// and Room.Info follows (before, only a metadata change was announced, and a
// binding's room model kept the participant count of its join forever).
func TestRoomCountsFollowJoinsAndLeaves(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "counts", "alice", room.Options{})
	if n := alice.r.Info().NumParticipants; n != 1 {
		t.Fatalf("alice alone: %d participants", n)
	}
	counted := func(n uint32) func(room.Event) bool {
		return func(ev room.Event) bool {
			e, ok := ev.(room.RoomInfoChanged)
			return ok && e.Info.NumParticipants == n
		}
	}
	bob := joinPeer(t, ctx, s, "counts", "bob", room.Options{})
	ev := alice.wait(ctx, "two participants", counted(2)).(room.RoomInfoChanged)
	if ev.Info.Name != "counts" || ev.Info.SID != alice.r.Info().SID {
		t.Fatalf("RoomInfoChanged %+v, room %+v", ev, alice.r.Info())
	}
	if err := bob.r.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	alice.wait(ctx, "one participant", counted(1))
	if n := alice.r.Info().NumParticipants; n != 1 {
		t.Fatalf("Room.Info after bob left: %d participants", n)
	}
}

// The rest of the room's info: the server's timeouts from the join, the publisher count and
// the recording state as they change, each change a RoomInfoChanged.
func TestRoomInfoPublishersRecordingAndTimeouts(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := joinPeer(t, ctx, s, "info", "alice", room.Options{})
	if in := alice.r.Info(); in.EmptyTimeout != 300*time.Second || in.DepartureTimeout != 20*time.Second ||
		in.NumPublishers != 0 || in.ActiveRecording {
		t.Fatalf("info after the join: %+v", in)
	}
	bob := joinPeer(t, ctx, s, "info", "bob", room.Options{})
	if _, err := bob.r.LocalParticipant().PublishDataTrack(ctx, "t", room.DataTrackOptions{}); err != nil {
		t.Fatal(err)
	}
	alice.wait(ctx, "one publisher", func(ev room.Event) bool {
		e, ok := ev.(room.RoomInfoChanged)
		return ok && e.Info.NumPublishers == 1 && e.Info.NumParticipants == 2
	})
	if !s.SetRoomRecording("info", true) {
		t.Fatal("SetRoomRecording")
	}
	for _, p := range []*peer{alice, bob} {
		ev := p.wait(ctx, "recording", func(ev room.Event) bool {
			e, ok := ev.(room.RoomInfoChanged)
			return ok && e.Info.ActiveRecording
		}).(room.RoomInfoChanged)
		if !p.r.Info().ActiveRecording || ev.Info.NumPublishers != 1 {
			t.Fatalf("%s: %+v, room %+v", p.r.LocalParticipant().Identity(), ev.Info, p.r.Info())
		}
	}
	s.SetRoomRecording("info", false)
	on := false // wait scans the events in order: the end comes after the start
	alice.wait(ctx, "recording ended", func(ev room.Event) bool {
		e, ok := ev.(room.RoomInfoChanged)
		if ok && e.Info.ActiveRecording {
			on = true
		}
		return ok && on && !e.Info.ActiveRecording && e.Info.NumPublishers == 1
	})
}
