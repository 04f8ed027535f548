// Package testkit holds the helpers shared by lkcore's Go tests: bounded contexts, hex
// decoding, and a log capture that records everything a component logs (at the most verbose
// level) and fails the test if any of it contains a value that must never be logged (a
// token, its signature, an API secret, an E2EE key, a payload).
//
// It is imported by tests only. It does not import tests/devsfu, so devsfu's own tests can
// use it; the devsfu start helper is in the subpackage testkit/sfu.
package testkit

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// HangGuard is the default bound of Context: it only stops a hung test, it never asserts
// how long anything takes.
const HangGuard = 30 * time.Second

// Context returns a context cancelled after d (HangGuard if d <= 0) or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	if d <= 0 {
		d = HangGuard
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Unhex decodes a hex string written for readability: spaces, tabs, newlines and '|'
// separators are ignored. It fails the test on malformed input.
func Unhex(t testing.TB, s string) []byte {
	t.Helper()
	clean := strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(clean)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
