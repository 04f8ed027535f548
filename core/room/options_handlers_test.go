package room_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Handlers given in Options are in place before the room can receive
// anything: a caller that fires the moment the callee appears (here: as soon
// as alice sees bob, possibly before bob's Connect has returned) reaches them.
func TestOptionsHandlersRegisteredWhileJoining(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s := sfu.Start(t, devsfu.Options{})
	alice := dataClient(t, ctx, s, "early", "alice", room.Options{})

	texts := make(chan string, 1)
	type result struct {
		resp string
		err  error
	}
	called := make(chan result, 1)
	go func() {
		for alice.RemoteParticipant("bob") == nil { // no t.Fatal off the test goroutine
			select {
			case <-ctx.Done():
				called <- result{"", ctx.Err()}
				return
			case <-time.After(time.Millisecond):
			}
		}
		resp, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "hello", Payload: "early"})
		if err == nil {
			_, err = alice.LocalParticipant().SendText(ctx, "early text", datastream.SendTextOptions{Topic: "chat", DestinationIdentities: []string{"bob"}})
		}
		called <- result{resp, err}
	}()

	dataClient(t, ctx, s, "early", "bob", room.Options{
		RPCMethods: map[string]rpc.Handler{
			"hello": func(_ context.Context, inv rpc.Invocation) (string, error) { return "hi " + inv.Payload, nil },
		},
		TextStreamHandlers: map[string]datastream.TextStreamHandler{
			"chat": func(rd *datastream.TextStreamReader, from string) {
				txt, err := rd.ReadAll(ctx)
				if err != nil {
					txt = "error: " + err.Error()
				}
				texts <- from + ": " + txt
			},
		},
	})

	select {
	case res := <-called:
		if res.err != nil || res.resp != "hi early" {
			t.Fatalf("early call: %q, %v", res.resp, res.err)
		}
	case <-ctx.Done():
		t.Fatal("early call never finished")
	}
	select {
	case got := <-texts:
		if got != "alice: early text" {
			t.Fatalf("stream handler got %q", got)
		}
	case <-ctx.Done():
		t.Fatal("stream handler never ran")
	}
}

// A bad entry in Options fails Connect with the Register method's error.
func TestOptionsHandlersInvalid(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s := sfu.Start(t, devsfu.Options{})
	tok, err := s.Token("bad", "carol")
	if err != nil {
		t.Fatal(err)
	}
	_, err = room.Connect(ctx, s.URL(), tok, room.Options{Logger: s.Logger("carol"), RPCMethods: map[string]rpc.Handler{"": nil}})
	if !errors.Is(err, rpc.ErrInvalidArgument) {
		t.Fatalf("empty method: %v", err)
	}
	_, err = room.Connect(ctx, s.URL(), tok, room.Options{Logger: s.Logger("carol"), TextStreamHandlers: map[string]datastream.TextStreamHandler{
		"lk.rpc_request": func(*datastream.TextStreamReader, string) {},
	}})
	if !errors.Is(err, datastream.ErrHandlerAlreadyRegistered) {
		t.Fatalf("reserved topic: %v", err)
	}
}

// A callee that answers and leaves at once: the answer reaches the caller
// (Disconnect lets running handlers send their responses before the leave).
// The handler returns only once bob's Disconnect has logged that it waits for
// running handlers, so the answer is sent while Disconnect is under way.
func TestRPCAnswerThenDisconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s := sfu.Start(t, devsfu.Options{})
	leaving := make(chan struct{})
	var once sync.Once
	alice := dataClient(t, ctx, s, "data", "alice", room.Options{})
	bob := dataClient(t, ctx, s, "data", "bob", room.Options{Logger: slog.New(onMessage{
		Handler: s.Logger("bob").Handler(),
		msg:     "room: leaving; waiting for running RPC handlers",
		fn:      func() { once.Do(func() { close(leaving) }) },
	})})
	waitPeer(t, ctx, alice, "bob")
	started := make(chan struct{})
	if err := bob.RegisterRPCMethod("bye", func(hctx context.Context, inv rpc.Invocation) (string, error) {
		close(started)
		select { // still working when Disconnect starts waiting
		case <-leaving:
		case <-ctx.Done():
		}
		return "bye " + inv.Payload, nil
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		select {
		case <-started:
			_ = bob.Disconnect(ctx)
		case <-ctx.Done():
		}
	}()
	resp, err := alice.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "bob", Method: "bye", Payload: "alice"})
	if err != nil || resp != "bye alice" {
		t.Fatalf("answer lost: %q, %v", resp, err)
	}
	select {
	case <-leaving:
	default:
		t.Fatal("the handler answered before Disconnect waited for it")
	}
}

// onMessage is a log handler that calls fn for every record with message msg
// (at any level) and passes all records on to Handler.
type onMessage struct {
	slog.Handler
	msg string
	fn  func()
}

func (h onMessage) Enabled(context.Context, slog.Level) bool { return true }

func (h onMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.fn()
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h onMessage) WithAttrs(as []slog.Attr) slog.Handler {
	return onMessage{Handler: h.Handler.WithAttrs(as), msg: h.msg, fn: h.fn}
}

func (h onMessage) WithGroup(name string) slog.Handler {
	return onMessage{Handler: h.Handler.WithGroup(name), msg: h.msg, fn: h.fn}
}
