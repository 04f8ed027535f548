package room_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/e2ee"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// End-to-end encryption scenarios on devsfu: data tracks (docs/protocol.md,
// Data-track E2EE; rust-sdks test_e2ee) and data packets.
// Helpers are in datatrack_test.go.

// e2eeKey is the shared E2EE key of these tests; the room's logs must never
// carry it.
const e2eeKey = "e2ee-shared-key-7c41"

func TestDataTrackE2EE(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	key := func(k string) room.Options {
		s.Logs.ForbidString("an E2EE key", k)
		o, err := room.SharedKeyE2EE([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		return room.Options{E2EE: o}
	}
	pub := joinPeer(t, ctx, s, "dt", "pub", key(e2eeKey))
	good := joinPeer(t, ctx, s, "dt", "good", key(e2eeKey))
	wrong := joinPeer(t, ctx, s, "dt", "wrong", key("not-the-e2ee-key"))
	plain := joinPeer(t, ctx, s, "dt", "plain", room.Options{})

	lt := publish(t, ctx, pub, "secret")
	if !lt.IsEncrypted() {
		t.Fatal("track of an E2EE room is not encrypted")
	}
	rt := good.track(ctx, "pub", "secret")
	if !rt.IsEncrypted() {
		t.Fatal("remote track not marked encrypted")
	}
	// No keys: typed error, never ciphertext.
	if _, err := plain.track(ctx, "pub", "secret").Subscribe(ctx, room.SubscribeOptions{}); !errors.Is(err, room.ErrE2EENoKeys) {
		t.Fatalf("subscribe without keys: %v", err)
	}
	sGood := subscribe(t, ctx, rt, room.SubscribeOptions{})
	sWrong := subscribe(t, ctx, wrong.track(ctx, "pub", "secret"), room.SubscribeOptions{})

	// Rust test_e2ee: 196 608 × 0xFA.
	frame := bytes.Repeat([]byte{0xFA}, 196608)
	if err := lt.TryPush(room.Frame{Payload: frame}); err != nil {
		t.Fatal(err)
	}
	if f, err := sGood.Next(ctx); err != nil || !bytes.Equal(f.Payload, frame) {
		t.Fatalf("decrypted frame: %d bytes, %v", len(f.Payload), err)
	}
	ev := wrong.wait(ctx, "DecryptionFailed(frame)", func(ev room.Event) bool {
		e, ok := ev.(room.DecryptionFailed)
		return ok && e.Kind == room.DecryptionKindFrame
	}).(room.DecryptionFailed)
	if ev.ParticipantIdentity != "pub" || ev.TrackSid != lt.SID() || !errors.Is(ev.Err, e2ee.ErrDecrypt) {
		t.Fatalf("DecryptionFailed %+v", ev)
	}
	if wrong.r.DataTrackStats().Drops[datatrack.DropDecryptFailed] == 0 || wrong.r.E2EEStats().DecryptionFailures == 0 {
		t.Fatal("decryption failure not counted")
	}
	// The frame that failed is accounted for (dropped, counted): nothing of it
	// waits in the subscription (a poll: Next takes a queued frame before it
	// looks at its context).
	polled, stop := context.WithCancel(ctx)
	stop()
	if f, err := sWrong.Next(polled); !errors.Is(err, context.Canceled) {
		t.Fatalf("wrong key delivered a frame of %d bytes (%v)", len(f.Payload), err)
	}

	// A plain track in an E2EE room is delivered normally (docs/protocol.md,
	// Data-track E2EE).
	plt := publish(t, ctx, plain, "clear")
	ps := subscribe(t, ctx, good.track(ctx, "plain", "clear"), room.SubscribeOptions{})
	if err := plt.TryPush(room.Frame{Payload: []byte("clear text")}); err != nil {
		t.Fatal(err)
	}
	if f, err := ps.Next(ctx); err != nil || string(f.Payload) != "clear text" {
		t.Fatalf("plain track in E2EE room: %q %v", f.Payload, err)
	}
}

func TestE2EEDataPackets(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s.Logs.ForbidString("the E2EE key", e2eeKey)
	opts, err := room.SharedKeyE2EE([]byte(e2eeKey))
	if err != nil {
		t.Fatal(err)
	}
	wrongOpts, err := room.SharedKeyE2EE([]byte("wrong"))
	if err != nil {
		t.Fatal(err)
	}
	a := joinPeer(t, ctx, s, "e2ee", "a", room.Options{E2EE: opts})
	b := joinPeer(t, ctx, s, "e2ee", "b", room.Options{E2EE: opts})
	w := joinPeer(t, ctx, s, "e2ee", "w", room.Options{E2EE: wrongOpts})
	p := joinPeer(t, ctx, s, "e2ee", "p", room.Options{})
	if !a.r.E2EEEnabled() || p.r.E2EEEnabled() {
		t.Fatal("E2EEEnabled")
	}
	for _, c := range []*peer{b, w, p} {
		waitRemote(t, ctx, a.r, c.r.LocalParticipant().Identity())
		waitRemote(t, ctx, c.r, "a")
	}

	payload := []byte("top secret " + testkit.PayloadMarker)
	if err := a.r.LocalParticipant().PublishData(ctx, payload, room.DataPublishOptions{Reliable: true, Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	isData := func(ev room.Event) bool { _, ok := ev.(room.DataReceived); return ok }
	d := b.wait(ctx, "data", isData).(room.DataReceived)
	if !bytes.Equal(d.Payload, payload) || d.Topic != "t" || d.SenderIdentity != "a" || !d.Encrypted {
		t.Fatalf("decrypted packet %+v", d)
	}
	for _, c := range []*peer{w, p} {
		ev := c.wait(ctx, "DecryptionFailed(packet)", func(ev room.Event) bool {
			e, ok := ev.(room.DecryptionFailed)
			return ok && e.Kind == room.DecryptionKindPacket
		}).(room.DecryptionFailed)
		want := e2ee.ErrDecrypt
		if c == p {
			want = room.ErrE2EENotConfigured
		}
		if ev.ParticipantIdentity != "a" || !errors.Is(ev.Err, want) {
			t.Fatalf("%s: DecryptionFailed %+v", c.r.LocalParticipant().Identity(), ev)
		}
		if c.count(isData) != 0 {
			t.Fatalf("%s: garbage delivered as data", c.r.LocalParticipant().Identity())
		}
	}
	// Lossy too, and the other direction.
	if err := b.r.LocalParticipant().PublishData(ctx, []byte("back"), room.DataPublishOptions{DestinationIdentities: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	d = a.wait(ctx, "data from b", isData).(room.DataReceived)
	if string(d.Payload) != "back" || d.Reliable || d.SenderIdentity != "b" {
		t.Fatalf("lossy decrypted packet %+v", d)
	}
	// A plain sender's packets are delivered to E2EE rooms (NONE).
	if err := p.r.LocalParticipant().PublishData(ctx, []byte("plain"), room.DataPublishOptions{Reliable: true, DestinationIdentities: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	d = a.wait(ctx, "plain data", func(ev room.Event) bool {
		e, ok := ev.(room.DataReceived)
		return ok && e.SenderIdentity == "p"
	}).(room.DataReceived)
	if string(d.Payload) != "plain" || d.Encrypted {
		t.Fatalf("plain packet in E2EE room %+v", d)
	}
}

func waitRemote(t testing.TB, ctx context.Context, r *room.Room, identity string) {
	t.Helper()
	for r.RemoteParticipant(identity) == nil {
		select {
		case <-ctx.Done():
			t.Fatalf("%s never saw %s", r.LocalParticipant().Identity(), identity)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// RPC and data streams ride on the same send path: with E2EE their packets
// are encrypted and the receiver sees GCM (and a plain room cannot read them).
func TestE2EERPCAndStreams(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s.Logs.ForbidString("the E2EE key", e2eeKey)
	opts, err := room.SharedKeyE2EE([]byte(e2eeKey))
	if err != nil {
		t.Fatal(err)
	}
	a := joinPeer(t, ctx, s, "e2ee", "a", room.Options{E2EE: opts})
	b := joinPeer(t, ctx, s, "e2ee", "b", room.Options{E2EE: opts})
	waitRemote(t, ctx, a.r, "b")
	waitRemote(t, ctx, b.r, "a")

	if err := b.r.RegisterRPCMethod("echo", func(_ context.Context, inv rpc.Invocation) (string, error) {
		return "echo:" + inv.Payload, nil
	}); err != nil {
		t.Fatal(err)
	}
	out, err := a.r.LocalParticipant().PerformRPC(ctx, rpc.PerformParams{Destination: "b", Method: "echo", Payload: "hi " + testkit.PayloadMarker})
	if err != nil || out != "echo:hi "+testkit.PayloadMarker {
		t.Fatalf("RPC over E2EE: %q %v", out, err)
	}

	type got struct {
		text string
		enc  lkpb.Encryption_Type
		err  error
	}
	res := make(chan got, 1)
	if err := b.r.RegisterTextStreamHandler("t", func(rd *datastream.TextStreamReader, _ string) {
		var sb strings.Builder
		var rerr error
		for piece, e := range rd.All(ctx) {
			if e != nil {
				rerr = e
				break
			}
			sb.WriteString(piece)
		}
		res <- got{sb.String(), rd.Info().EncryptionType, rerr}
	}); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("encrypted stream ✓ "+testkit.PayloadMarker, 3000) // > 100 KB: many chunks
	if _, err := a.r.LocalParticipant().SendText(ctx, text, datastream.SendTextOptions{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-res:
		if g.err != nil || g.text != text || g.enc != lkpb.Encryption_GCM {
			t.Fatalf("text stream over E2EE: %d bytes, enc %v, err %v", len(g.text), g.enc, g.err)
		}
	case <-ctx.Done():
		t.Fatal("no text stream")
	}
}
