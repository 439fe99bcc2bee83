package app

import (
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// serverErrorLog returns the logger net/http writes connection-level errors
// to. Failed TLS handshakes (no certificate, an untrusted or revoked one, an
// old protocol) are the trace of credential probing, so they are logged at
// WARN with the source address, at most one line per second with a count
// of the lines suppressed; other connection errors go to DEBUG.
func serverErrorLog(l *slog.Logger, listener string) *log.Logger {
	return log.New(&handshakeLogWriter{log: l, listener: listener, interval: time.Second}, "", 0)
}

type handshakeLogWriter struct {
	log      *slog.Logger
	listener string
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (w *handshakeLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	rest, ok := strings.CutPrefix(msg, "http: TLS handshake error from ")
	if !ok {
		w.log.Debug("listener error", "listener", w.listener, "error", msg)
		return len(p), nil
	}
	source, reason, _ := strings.Cut(rest, ": ")

	w.mu.Lock()
	now := time.Now()
	if now.Sub(w.last) < w.interval {
		w.suppressed++
		w.mu.Unlock()
		return len(p), nil
	}
	suppressed := w.suppressed
	w.last, w.suppressed = now, 0
	w.mu.Unlock()

	w.log.Warn("TLS handshake refused", "listener", w.listener, "source", source, "reason", reason, "suppressed", suppressed)
	return len(p), nil
}
