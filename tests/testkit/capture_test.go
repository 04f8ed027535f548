package testkit

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// fakeTB records what a Capture reports instead of failing the real test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...) }
func (f *fakeTB) Logf(string, ...any)               {}
func (f *fakeTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errors) > 0
}

// end runs the cleanups like testing does (last registered first).
func (f *fakeTB) end() []string {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return f.errors
}

func TestCaptureFailsOnEveryForm(t *testing.T) {
	key := []byte{0x00, 0x01, 0xfe, 0xff, 'k', 'e', 'y', 0x10, 0x20, 0x30, 0x40, 0x50}
	forms := map[string]func(*slog.Logger){
		"raw string":   func(l *slog.Logger) { l.Debug("x", "secret", "devsecret-devsecret") },
		"in a message": func(l *slog.Logger) { l.Info("token devsecret-devsecret seen") },
		"quoted bytes": func(l *slog.Logger) { l.Debug("x", "key", key) },
		"hex":          func(l *slog.Logger) { l.Debug("x", "key", hex.EncodeToString(key)) },
		"base64":       func(l *slog.Logger) { l.Debug("x", "key", base64.StdEncoding.EncodeToString(key)) },
		"byte list":    func(l *slog.Logger) { l.Debug("x", "key", fmt.Sprint(key)) },
		"marker":       func(l *slog.Logger) { l.Debug("x", "payload", []byte("abc"+PayloadMarker)) },
		"any JWT":      func(l *slog.Logger) { l.Debug("x", "t", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZw") },
		"verbose":      func(l *slog.Logger) { l.Log(context.Background(), slog.LevelDebug-8, "devsecret-devsecret") },
	}
	for name, logIt := range forms {
		t.Run(name, func(t *testing.T) {
			f := &fakeTB{}
			c := NewCapture(f)
			c.ForbidString("the secret", "devsecret-devsecret")
			c.Forbid("the key", key)
			logIt(c.Logger())
			if errs := f.end(); len(errs) == 0 {
				t.Fatalf("not reported; captured: %s", c.Text())
			} else if strings.Contains(strings.Join(errs, "\n"), "devsecret-devsecret") {
				t.Fatalf("the report repeats the secret: %v", errs)
			}
		})
	}
}

func TestCaptureForbidsAfterTheFact(t *testing.T) {
	f := &fakeTB{}
	c := NewCapture(f)
	c.Logger().Debug("connecting", "token", "header.claims.signature-xyz")
	c.ForbidToken("header.claims.signature-xyz")
	if errs := f.end(); len(errs) == 0 {
		t.Fatal("a value forbidden after it was logged was not reported")
	}
}

func TestCaptureSignatureAlone(t *testing.T) {
	f := &fakeTB{}
	c := NewCapture(f)
	c.ForbidToken("aaaa.bbbb.the-signature-part")
	c.Logger().Debug("x", "sig", "the-signature-part")
	if errs := f.end(); len(errs) == 0 {
		t.Fatal("the signature alone was not reported")
	}
}

func TestCaptureCleanLogsPass(t *testing.T) {
	f := &fakeTB{}
	c := NewCapture(f)
	c.ForbidString("the secret", "devsecret-devsecret")
	l := c.Logger()
	l.Debug("connecting", "url", "ws://127.0.0.1:7880", "identity", "alice")
	l.Log(context.Background(), slog.LevelDebug-4, "very verbose")
	if errs := f.end(); len(errs) != 0 {
		t.Fatalf("clean logs reported: %v", errs)
	}
	if c.Records() != 2 || !strings.Contains(c.Text(), "very verbose") {
		t.Fatalf("records %d, text %q", c.Records(), c.Text())
	}
}

func TestForbidRefusesShortValues(t *testing.T) {
	f := &fakeTB{}
	c := NewCapture(f)
	c.ForbidString("short", "abc")
	if len(f.errors) == 0 {
		t.Fatal("a 3-byte forbidden value was accepted")
	}
}

func TestUnhex(t *testing.T) {
	got := Unhex(t, "0C 00|88\n11\t44")
	if hex.EncodeToString(got) != "0c00881144" {
		t.Fatalf("%x", got)
	}
	f := &fakeTB{}
	Unhex(f, "zz")
	if len(f.errors) != 1 {
		t.Fatal("bad hex accepted")
	}
}

func TestContextEndsWithTheTest(t *testing.T) {
	f := &fakeTB{}
	ctx := Context(f, 0)
	if _, ok := ctx.Deadline(); !ok {
		t.Fatal("no deadline")
	}
	f.end()
	if ctx.Err() == nil {
		t.Fatal("context still live after the test ended")
	}
}

func TestTeeKeepsTheInnerLevel(t *testing.T) {
	f := &fakeTB{}
	c := NewCapture(f)
	var inner strings.Builder
	h := c.Tee(slog.NewTextHandler(&inner, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l := slog.New(h).With("room", "r1").WithGroup("g")
	l.Debug("quiet", "k", 1)
	l.Warn("loud", "k", 2)
	if strings.Contains(inner.String(), "quiet") || !strings.Contains(inner.String(), "loud") || !strings.Contains(inner.String(), "g.k=2") {
		t.Fatalf("inner handler got %q", inner.String())
	}
	if text := c.Text(); !strings.Contains(text, "quiet") || !strings.Contains(text, "loud") || !strings.Contains(text, "room=r1") {
		t.Fatalf("capture got %q", text)
	}
	if errs := f.end(); len(errs) != 0 {
		t.Fatal(errs)
	}
}
