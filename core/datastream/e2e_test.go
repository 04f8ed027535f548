package datastream_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datastream/dstest"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/tests/testkit"
)

// pair connects two managers over an in-memory network: alice (protocol
// aliceProto) and bob (protocol bobProto, with or without the compression
// capability).
type pair struct {
	net      *dstest.Network
	a, b     *datastream.Manager
	aEP, bEP *dstest.Endpoint
	bTexts   chan *datastream.TextStreamReader
	bBytes   chan *datastream.ByteStreamReader
}

// onLeave reports a departure dstest announces to m (dstest stamps the session "PA_"+identity).
func onLeave(m *datastream.Manager) func(identity string) {
	return func(identity string) { m.HandleParticipantDisconnected(identity, "PA_"+identity) }
}

func newPair(tb testing.TB, bobProto int32, bobCaps ...lkpb.ClientInfo_Capability) *pair {
	p := &pair{net: dstest.NewNetwork(), bTexts: make(chan *datastream.TextStreamReader, 8), bBytes: make(chan *datastream.ByteStreamReader, 8)}
	p.aEP = p.net.Join("alice", 2, lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW)
	p.bEP = p.net.Join("bob", bobProto, bobCaps...)
	p.net.IntroduceAll()
	p.a = datastream.NewManager(p.aEP, datastream.Options{})
	p.b = datastream.NewManager(p.bEP, datastream.Options{})
	p.aEP.Start(p.a.HandlePacket, onLeave(p.a))
	p.bEP.Start(p.b.HandlePacket, onLeave(p.b))
	_ = p.b.RegisterTextStreamHandler("t", func(r *datastream.TextStreamReader, _ string) { p.bTexts <- r })
	_ = p.b.RegisterByteStreamHandler("t", func(r *datastream.ByteStreamReader, _ string) { p.bBytes <- r })
	tb.Cleanup(func() {
		_ = p.a.Close()
		_ = p.b.Close()
		p.net.Close()
	})
	return p
}

func TestE2EText100KB(t *testing.T) {
	for _, bob := range []struct {
		name  string
		proto int32
		caps  []lkpb.ClientInfo_Capability
	}{{"v2 compressing", 2, capsAll}, {"v2 no capability", 2, nil}, {"v1", 1, nil}, {"v0", 0, nil}} {
		t.Run(bob.name, func(t *testing.T) {
			p := newPair(t, bob.proto, bob.caps...)
			text := strings.Repeat("Ünïcödé ✓ 😀 ", 2000) + pseudoText(100_000-2000*len("Ünïcödé ✓ 😀 "))
			ctx := testkit.Context(t, 0)
			errc := make(chan error, 1)
			go func() {
				_, err := p.a.SendText(ctx, text, datastream.SendTextOptions{Topic: "t", DestinationIdentities: []string{"bob"}})
				errc <- err
			}()
			rd := <-p.bTexts
			got, err := rd.ReadAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256([]byte(got)) != sha256.Sum256([]byte(text)) {
				t.Fatal("sha256 differs")
			}
			wantComp := lkpb.DataStream_NONE
			if bob.caps != nil {
				wantComp = lkpb.DataStream_DEFLATE_RAW
			}
			if i := rd.Info(); i.Compression != wantComp || i.SenderIdentity != "alice" || *i.Size != uint64(len(text)) {
				t.Fatalf("info %+v", i)
			}
		})
	}
}

func TestE2EBytes5MB(t *testing.T) {
	p := newPair(t, 2, capsAll...)
	data := pseudoBytes(5 << 20)
	ctx := testkit.Context(t, 0)
	errc := make(chan error, 1)
	go func() {
		_, err := p.a.SendBytes(ctx, data, datastream.SendBytesOptions{Topic: "t", Name: "blob", MimeType: "application/x-test"})
		errc <- err
	}()
	rd := <-p.bBytes
	h := sha256.New()
	if _, err := io.Copy(h, rd); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != sha256.Sum256(data) {
		t.Fatal("sha256 differs")
	}
	if i := rd.Info(); i.Name != "blob" || i.MimeType != "application/x-test" {
		t.Fatalf("info %+v", i)
	}
}

func TestE2ESendFileCompressed(t *testing.T) {
	p := newPair(t, 2, capsAll...)
	data := []byte(strings.Repeat("file line\n", 300_000))
	ctx := testkit.Context(t, 0)
	errc := make(chan error, 1)
	go func() {
		_, err := p.a.SendFile(ctx, strings.NewReader(string(data)), uint64(len(data)), datastream.SendFileOptions{Topic: "t", Name: "log.txt"})
		errc <- err
	}()
	rd := <-p.bBytes
	got, err := rd.ReadAll(ctx)
	if err != nil || string(got) != string(data) || <-errc != nil {
		t.Fatal(err)
	}
	if rd.Info().Compression != lkpb.DataStream_DEFLATE_RAW {
		t.Fatal("not compressed")
	}
}

func TestE2EIncrementalWriter(t *testing.T) {
	p := newPair(t, 2, capsAll...)
	ctx := testkit.Context(t, 0)
	w, err := p.a.StreamText(ctx, datastream.StreamTextOptions{Topic: "t", Attributes: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	rd := <-p.bTexts
	parts := []string{"Hello", ", ", "wörld", strings.Repeat("€", 6000)}
	for _, s := range parts {
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
		got := ""
		for len(got) < len(s) { // deltas arrive as written (maybe split)
			d, err := rd.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got += d
		}
		if got != s {
			t.Fatalf("delta %q, want %q", got, s)
		}
	}
	if err := w.CloseWithReason("", map[string]string{"done": "yes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Next(ctx); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	if a := rd.Info().Attributes; a["k"] != "v" || a["done"] != "yes" {
		t.Fatalf("attributes %v", a)
	}
}

func TestE2ESenderDisconnectMidStream(t *testing.T) {
	p := newPair(t, 2, capsAll...)
	ctx := testkit.Context(t, 0)
	w, err := p.a.StreamBytes(ctx, datastream.StreamBytesOptions{Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	rd := <-p.bBytes
	if _, err := w.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if b, err := rd.Next(ctx); err != nil || string(b) != "first" {
		t.Fatal(b, err)
	}
	p.aEP.Leave()
	_, err = rd.ReadAll(ctx)
	if !errors.Is(err, datastream.ErrAbnormalEnd) || !strings.Contains(err.Error(), "alice unexpectedly disconnected") {
		t.Fatalf("err = %v", err)
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Fatal("write after leaving succeeded")
	}
}

func TestE2EBroadcastMixedRoom(t *testing.T) {
	net := dstest.NewNetwork()
	defer net.Close()
	a := net.Join("alice", 2, capsAll...)
	b := net.Join("bob", 2, capsAll...)
	c := net.Join("carol", 0)
	net.IntroduceAll()
	ma := datastream.NewManager(a, datastream.Options{})
	defer ma.Close()
	got := make(chan string, 2)
	for _, ep := range []*dstest.Endpoint{b, c} {
		m := datastream.NewManager(ep, datastream.Options{})
		defer m.Close()
		_ = m.RegisterTextStreamHandler("t", func(r *datastream.TextStreamReader, from string) {
			s, err := r.ReadAll(context.Background())
			if err != nil || r.Info().Inline {
				s = "error"
			}
			got <- s
		})
		ep.Start(m.HandlePacket, onLeave(m))
	}
	a.Start(ma.HandlePacket, nil)
	if _, err := ma.SendText(testkit.Context(t, 0), "to everyone", datastream.SendTextOptions{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if x, y := <-got, <-got; x != "to everyone" || y != x {
		t.Fatalf("%q %q", x, y)
	}
}

func BenchmarkByteStreamThroughput(b *testing.B) {
	for _, c := range []struct {
		name string
		data []byte
	}{{"random-1MB", pseudoBytes(1 << 20)}, {"text-1MB-compressible", []byte(strings.Repeat("benchmark text ", 1<<20/15))}} {
		b.Run(c.name, func(b *testing.B) {
			p := newPair(b, 2, capsAll...)
			ctx := context.Background()
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				errc := make(chan error, 1)
				go func() {
					_, err := p.a.SendBytes(ctx, c.data, datastream.SendBytesOptions{Topic: "t"})
					errc <- err
				}()
				rd := <-p.bBytes
				if _, err := io.Copy(io.Discard, rd); err != nil {
					b.Fatal(err)
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTextStreamThroughput: 1 MiB text streams through the in-memory
// network, read with ReadAll (the path of RPC v2 payloads). "base64" is
// base64 of random bytes: deflate keeps ~75 % of it, so inflating dominates
// the receiver; "text" compresses to almost nothing.
func BenchmarkTextStreamThroughput(b *testing.B) {
	raw := pseudoBytes(1 << 20)
	for _, c := range []struct {
		name string
		text string
	}{{"base64-1MB", base64.StdEncoding.EncodeToString(raw)[:1<<20]}, {"text-1MB", strings.Repeat("benchmark text ", 1<<20/15)}} {
		b.Run(c.name, func(b *testing.B) {
			p := newPair(b, 2, capsAll...)
			ctx := context.Background()
			b.SetBytes(int64(len(c.text)))
			b.ReportAllocs()
			for b.Loop() {
				errc := make(chan error, 1)
				go func() {
					_, err := p.a.SendText(ctx, c.text, datastream.SendTextOptions{Topic: "t"})
					errc <- err
				}()
				got, err := (<-p.bTexts).ReadAll(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != len(c.text) {
					b.Fatalf("read %d bytes, sent %d", len(got), len(c.text))
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
