package devsfu

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLoggerFactory routes pion's logs into slog (pion's default factory
// prints errors to stderr, which pollutes test output for expected events
// such as writes racing a close).
type pionLoggerFactory struct{ log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

// The methods below implement logging.LeveledLogger; pion's errors are
// mostly expected races (writes during close), so everything is debug.
func (l pionLogger) Trace(msg string)                  {}
func (l pionLogger) Tracef(format string, args ...any) {}
func (l pionLogger) Debug(msg string)                  { l.logf(slog.LevelDebug-4, "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug-4, format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
