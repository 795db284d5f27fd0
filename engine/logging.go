package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/session"
)

// closeLog logs why sessions were closed and connections refused, one kind
// at a time and rate-limited: at most logBurst lines of a kind per
// logInterval, then one summary line that says how many were left out.
type closeLog struct {
	l  *slog.Logger
	mu sync.Mutex
	by map[string]*logWindow // guarded by mu: by kind
}

type logWindow struct {
	start      time.Time
	n          int // lines logged in this window
	suppressed int // lines left out in this window
}

const (
	logBurst    = 10
	logInterval = 10 * time.Second
)

func newCloseLog(l *slog.Logger) *closeLog {
	return &closeLog{l: l, by: make(map[string]*logWindow)}
}

// closed logs a session's close if its reason is one an operator wants to
// see: a limit, a timeout, bad input. Ordinary ends (the peer or the
// application closed it, the server stopped) are logged at debug level.
func (cl *closeLog) closed(s *session.Session, reason error) {
	kind, level := closeKind(reason)
	cl.log(kind, level, "netsys: session closed", "kind", kind, "session", s.ID(), "remote", s.RemoteAddr(), "reason", reason)
}

// closeKind names the reason for a log line and picks its level.
func closeKind(reason error) (string, slog.Level) {
	switch {
	case errors.Is(reason, ErrIdleTimeout):
		return "idle_timeout", slog.LevelInfo
	case errors.Is(reason, ErrFrameTimeout):
		return "frame_timeout", slog.LevelWarn
	case errors.Is(reason, ErrSlowConsumer):
		return "slow_consumer", slog.LevelWarn
	case errors.Is(reason, ErrMemoryLimit):
		return "memory_limit", slog.LevelWarn
	case errors.Is(reason, codec.ErrFrameTooLarge):
		return "frame_too_large", slog.LevelWarn
	case errors.Is(reason, codec.ErrBadLength):
		return "bad_length", slog.LevelWarn
	case errors.Is(reason, ErrQueueOverflow):
		return "queue_overflow", slog.LevelWarn
	case errors.Is(reason, ErrTLS):
		return "tls", slog.LevelWarn
	case errors.Is(reason, ErrTLSHandshake):
		return "tls_handshake", slog.LevelInfo
	case errors.Is(reason, ErrHandlerPanic):
		return "handler_panic", slog.LevelWarn
	case errors.Is(reason, ErrPeerClosed):
		return "peer_closed", slog.LevelDebug
	case errors.Is(reason, ErrServerStopping), errors.Is(reason, ErrClosedByApp), errors.Is(reason, ErrClientClosed):
		return "closed", slog.LevelDebug
	}
	return "other", slog.LevelInfo
}

// log writes one line of kind at level, unless the kind has had its
// logBurst lines in the current window; when a window with left-out lines
// ends, it first writes how many were left out.
func (cl *closeLog) log(kind string, level slog.Level, msg string, args ...any) {
	if !cl.l.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	cl.mu.Lock()
	w := cl.by[kind]
	if w == nil {
		w = &logWindow{start: now}
		cl.by[kind] = w
	}
	var suppressed int
	if now.Sub(w.start) >= logInterval {
		suppressed = w.suppressed
		*w = logWindow{start: now}
	}
	ok := w.n < logBurst
	if ok {
		w.n++
	} else {
		w.suppressed++
	}
	cl.mu.Unlock()
	if suppressed > 0 {
		cl.l.Log(context.Background(), level, "netsys: log lines left out", "kind", kind, "count", suppressed, "interval", logInterval)
	}
	if ok {
		cl.l.Log(context.Background(), level, msg, args...)
	}
}
