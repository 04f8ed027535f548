// Package sfu starts tests/devsfu for a test and ties it to a testkit.Capture: every token
// minted through the returned Server, and the server's API secret, are forbidden in the
// captured client logs. (A subpackage of testkit because devsfu's own tests import testkit.)
package sfu

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit"
)

// DefaultUpdateBatchInterval is the batched-update period Start uses when opts leaves it 0
// (short, so tests see participant updates quickly).
const DefaultUpdateBatchInterval = 20 * time.Millisecond

// Server is a running devsfu plus the log capture of the test's clients.
type Server struct {
	*devsfu.Server
	// Logs is where the test's clients log (pass Logs.Logger()); it fails the test if they
	// log the API secret or a token minted by Token.
	Logs *testkit.Capture
}

// Start starts a devsfu for t (closed when t ends). A zero UpdateBatchInterval becomes
// DefaultUpdateBatchInterval. The server's own logs go to stderr with LKCORE_TEST_LOG set
// and are discarded otherwise (they are not the code under test).
func Start(t testing.TB, opts devsfu.Options) *Server {
	t.Helper()
	logs := testkit.NewCapture(t) // first, so its check runs after everything else is closed
	if opts.UpdateBatchInterval == 0 {
		opts.UpdateBatchInterval = DefaultUpdateBatchInterval
	}
	if opts.Logger == nil && os.Getenv("LKCORE_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "devsfu")
	}
	s, err := devsfu.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	logs.ForbidString("the API secret", s.APISecret())
	return &Server{Server: s, Logs: logs}
}

// Token mints a token like devsfu.Server.Token and forbids it (and its signature) in Logs.
func (s *Server) Token(room, identity string, opts ...auth.TokenOption) (string, error) {
	tok, err := s.Server.Token(room, identity, opts...)
	if err == nil {
		s.Logs.ForbidToken(tok)
	}
	return tok, err
}

// MustToken is Token that fails t on error.
func (s *Server) MustToken(t testing.TB, room, identity string, opts ...auth.TokenOption) string {
	t.Helper()
	tok, err := s.Token(room, identity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Logger returns a logger into Logs, tagged with who logs.
func (s *Server) Logger(who string) *slog.Logger { return s.Logs.Logger().With("client", who) }
