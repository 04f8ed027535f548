package ffi

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"

	"github.com/lkcore/lkcore/capi/ffipb"
)

const logOff = math.MaxInt64

// logLevelToSlog maps the schema's LogLevel onto slog levels (OFF = nothing is enabled).
func logLevelToSlog(l ffipb.LogLevel) (int64, bool) {
	switch l {
	case ffipb.LogLevel_LOG_LEVEL_DEBUG:
		return int64(slog.LevelDebug), true
	case ffipb.LogLevel_LOG_LEVEL_INFO:
		return int64(slog.LevelInfo), true
	case ffipb.LogLevel_LOG_LEVEL_WARN:
		return int64(slog.LevelWarn), true
	case ffipb.LogLevel_LOG_LEVEL_ERROR:
		return int64(slog.LevelError), true
	case ffipb.LogLevel_LOG_LEVEL_OFF:
		return logOff, true
	}
	return 0, false
}

func slogToLogLevel(l slog.Level) ffipb.LogLevel {
	switch {
	case l >= slog.LevelError:
		return ffipb.LogLevel_LOG_LEVEL_ERROR
	case l >= slog.LevelWarn:
		return ffipb.LogLevel_LOG_LEVEL_WARN
	case l >= slog.LevelInfo:
		return ffipb.LogLevel_LOG_LEVEL_INFO
	}
	return ffipb.LogLevel_LOG_LEVEL_DEBUG
}

// SetLogLevel sets the minimum level of forwarded records.
func (c *Client) SetLogLevel(l ffipb.LogLevel) error {
	v, ok := logLevelToSlog(l)
	if !ok {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "unknown log level %d", l)
	}
	c.logLevel.Store(v)
	return nil
}

// logHandler is a slog.Handler that forwards records as lossy LogRecord events. Records that
// do not fit in the event queue are counted and reported in the next delivered record.
type logHandler struct {
	c      *Client
	attrs  []slog.Attr // pre-rendered attributes, keys already prefixed with groups
	prefix string      // current group prefix ("a.b.")
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool {
	return int64(l) >= h.c.logLevel.Load()
}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := make(map[string]string, len(h.attrs)+r.NumAttrs())
	for _, a := range h.attrs {
		addAttr(attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(attrs, h.prefix, a)
		return true
	})
	rec := &ffipb.LogRecord{
		Level:         slogToLogLevel(r.Level),
		Message:       r.Message,
		Attributes:    attrs,
		TimeUnixMs:    r.Time.UnixMilli(),
		DroppedBefore: h.c.logDropped.Swap(0),
	}
	if !h.c.TryPost(&ffipb.Event{Message: &ffipb.Event_Log{Log: rec}}) {
		h.c.logDropped.Add(1 + rec.DroppedBefore)
	}
	return nil
}

func addAttr(m map[string]string, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			addAttr(m, p, g)
		}
		return
	}
	m[prefix+a.Key] = a.Value.String()
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &logHandler{c: h.c, prefix: h.prefix, attrs: append([]slog.Attr(nil), h.attrs...)}
	for _, a := range as {
		if h.prefix != "" {
			a.Key = h.prefix + a.Key
		}
		n.attrs = append(n.attrs, a)
	}
	return n
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &logHandler{c: h.c, attrs: h.attrs, prefix: h.prefix + strings.TrimSuffix(name, ".") + "."}
}

func (c *Client) recoverGoroutineValue(where string, r any) {
	c.logger.Error("panic recovered in "+where, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}
