package testkit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// PayloadMarker is put into test payloads (data packets, RPC payloads, stream text, data
// track frames) so that a Capture can tell when a payload reaches the logs: every Capture
// forbids it.
const PayloadMarker = "lkcore-payload-marker-9d4e"

// LevelAll is the level a Capture records from: below every level the code uses, so debug
// (and anything more verbose) is captured.
const LevelAll = slog.Level(math.MinInt32)

// jwtPattern matches a JSON Web Token (header and claims are base64url JSON objects, so
// they start with "eyJ"): whoever issued it, a token never belongs in a log. This covers
// tokens the test never saw, such as those the server refreshes.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}`)

// minForbidden is the shortest value Forbid accepts: shorter ones would match unrelated text.
const minForbidden = 8

// maxRetained bounds the log text a Capture keeps for its final check and failure dump.
// Every record is checked when it is written, whatever is retained.
const maxRetained = 8 << 20

// dumpLines is how many of the last captured lines a failed test prints.
const dumpLines = 80

// Capture is a slog sink for one test. It records everything logged through its handlers at
// LevelAll and, when the test ends, fails it if any record contained a forbidden value (in
// any of the forms a log line could carry it: raw, quoted, hex, base64, a Go byte list).
// Set LKCORE_TEST_LOG=1 to also mirror the records to stderr. Safe for concurrent use.
type Capture struct {
	t      testing.TB
	mirror io.Writer

	mu         sync.Mutex
	forbidden  []forbiddenValue
	patterns   []forbiddenPattern
	text       bytes.Buffer
	truncated  bool
	records    int
	violations []string
}

type forbiddenValue struct {
	name  string
	forms []forbiddenForm
}

type forbiddenPattern struct {
	name string
	re   *regexp.Regexp
}

type forbiddenForm struct {
	how string
	b   []byte
}

// NewCapture returns a Capture for t that forbids PayloadMarker and checks its records
// when t ends (t.Cleanup: create it before whatever logs into it, so its check runs last).
func NewCapture(t testing.TB) *Capture {
	t.Helper()
	c := &Capture{t: t}
	if os.Getenv("LKCORE_TEST_LOG") != "" {
		c.mirror = os.Stderr
	}
	c.Forbid("a payload (marker)", []byte(PayloadMarker))
	c.ForbidPattern("an access token (JWT)", jwtPattern)
	t.Cleanup(c.finish)
	return c
}

// Handler returns a slog handler that records into c at LevelAll.
func (c *Capture) Handler() slog.Handler {
	return slog.NewTextHandler(captureWriter{c}, &slog.HandlerOptions{Level: LevelAll})
}

// Logger returns a logger on Handler.
func (c *Capture) Logger() *slog.Logger { return slog.New(c.Handler()) }

// Forbid adds a value that must never appear in the captured logs; name says what it is
// (it is printed instead of the value). Values shorter than 8 bytes are refused (they would
// match unrelated text).
func (c *Capture) Forbid(name string, value []byte) {
	c.t.Helper()
	if len(value) < minForbidden {
		c.t.Fatalf("testkit: forbidden value %q is shorter than %d bytes", name, minForbidden)
	}
	v := forbiddenValue{name: name}
	add := func(how string, b []byte) {
		for _, f := range v.forms {
			if bytes.Equal(f.b, b) {
				return
			}
		}
		v.forms = append(v.forms, forbiddenForm{how: how, b: b})
	}
	add("raw", bytes.Clone(value))
	q := strconv.Quote(string(value))
	add("quoted", []byte(q[1:len(q)-1]))
	add("hex", []byte(hex.EncodeToString(value)))
	add("HEX", []byte(strings.ToUpper(hex.EncodeToString(value))))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		s := enc.EncodeToString(value)
		// Only the part fixed by whole 3-byte groups: padding differs with what follows.
		add("base64", []byte(s[:len(value)/3*4]))
	}
	byteList := fmt.Sprint(value)
	add("byte list", []byte(byteList[1:len(byteList)-1]))
	c.mu.Lock()
	c.forbidden = append(c.forbidden, v)
	c.mu.Unlock()
}

// ForbidPattern forbids every match of re; name says what it matches.
func (c *Capture) ForbidPattern(name string, re *regexp.Regexp) {
	c.mu.Lock()
	c.patterns = append(c.patterns, forbiddenPattern{name: name, re: re})
	c.mu.Unlock()
}

// ForbidString is Forbid for a string value.
func (c *Capture) ForbidString(name, value string) {
	c.t.Helper()
	c.Forbid(name, []byte(value))
}

// ForbidToken forbids an access token and, separately, its signature (a log line may carry
// a truncated or re-encoded token, never legitimately its signature).
func (c *Capture) ForbidToken(token string) {
	c.t.Helper()
	c.ForbidString("the access token", token)
	if i := strings.LastIndexByte(token, '.'); i >= 0 && len(token)-i-1 >= minForbidden {
		c.ForbidString("the access token's signature", token[i+1:])
	}
}

// Text returns the retained log text (for tests that assert on what was logged).
func (c *Capture) Text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.text.String()
}

// Records returns how many records were captured.
func (c *Capture) Records() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records
}

// Violations returns the violations found so far (each names the value and the form in which
// it appeared); the test fails with them when it ends.
func (c *Capture) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.violations...)
}

type captureWriter struct{ c *Capture }

// Write receives one formatted record (slog handlers write a record in one call).
func (w captureWriter) Write(p []byte) (int, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records++
	c.scanLocked(p)
	if c.text.Len()+len(p) <= maxRetained {
		c.text.Write(p)
	} else {
		c.truncated = true
	}
	if c.mirror != nil {
		_, _ = c.mirror.Write(p)
	}
	return len(p), nil
}

func (c *Capture) scanLocked(p []byte) {
	for _, v := range c.forbidden {
		for _, f := range v.forms {
			if bytes.Contains(p, f.b) {
				c.addViolationLocked(fmt.Sprintf("%s logged (%s): %s", v.name, f.how, redact(p, f.b)))
			}
		}
	}
	for _, f := range c.patterns {
		if m := f.re.Find(p); m != nil {
			c.addViolationLocked(fmt.Sprintf("%s logged: %s", f.name, redact(p, m)))
		}
	}
}

func (c *Capture) addViolationLocked(s string) {
	for _, v := range c.violations {
		if v == s {
			return
		}
	}
	c.violations = append(c.violations, s)
}

// redact shortens a log line for the failure message and masks the forbidden value in it.
func redact(line, value []byte) string {
	s := strings.TrimSpace(string(bytes.ReplaceAll(line, value, []byte("<FORBIDDEN>"))))
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

func (c *Capture) finish() {
	c.t.Helper()
	c.mu.Lock()
	// Values forbidden after a record was written are checked here.
	for _, line := range bytes.SplitAfter(c.text.Bytes(), []byte("\n")) {
		c.scanLocked(line)
	}
	violations := append([]string(nil), c.violations...)
	text := c.text.String()
	c.mu.Unlock()
	for _, v := range violations {
		c.t.Errorf("testkit: a value that must never be logged was logged: %s", v)
	}
	if c.t.Failed() && c.mirror == nil && text != "" {
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		if len(lines) > dumpLines {
			lines = lines[len(lines)-dumpLines:]
		}
		c.t.Logf("testkit: last %d captured log lines (LKCORE_TEST_LOG=1 for all):\n%s", len(lines), strings.Join(lines, "\n"))
	}
}

// Tee returns a handler that sends every record to h (when h is enabled for it) and to c (at
// LevelAll): the code under test keeps its own log path, and c sees everything.
func (c *Capture) Tee(h slog.Handler) slog.Handler {
	return teeHandler{h: h, c: c.Handler()}
}

type teeHandler struct{ h, c slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return t.c.Enabled(ctx, l) || t.h.Enabled(ctx, l)
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	err := t.c.Handle(ctx, r.Clone())
	if t.h.Enabled(ctx, r.Level) {
		if herr := t.h.Handle(ctx, r); herr != nil {
			return herr
		}
	}
	return err
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h: t.h.WithAttrs(as), c: t.c.WithAttrs(as)}
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h: t.h.WithGroup(name), c: t.c.WithGroup(name)}
}
