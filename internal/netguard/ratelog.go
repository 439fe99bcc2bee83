package netguard

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// rateLog writes at most one refusal line per interval and counts the lines
// it suppressed in between, so that a scan of the listener cannot flood the
// log.
type rateLog struct {
	logger   *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed uint64
}

func newRateLogs(logger *slog.Logger, interval time.Duration, now func() time.Time, rules ...string) map[string]*rateLog {
	if interval <= 0 {
		interval = time.Second
	}
	logs := make(map[string]*rateLog, len(rules))
	for _, rule := range rules {
		logs[rule] = &rateLog{logger: logger, interval: interval, now: now}
	}
	return logs
}

func (r *rateLog) log(err *DeniedError) {
	if r.logger == nil {
		return
	}
	r.mu.Lock()
	now := r.now()
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()

	attrs := []slog.Attr{slog.String("rule", err.Rule)}
	if err.Source.IsValid() {
		attrs = append(attrs, slog.String("source", err.Source.String()))
	}
	if err.Peer.IsValid() {
		attrs = append(attrs, slog.String("peer", err.Peer.String()))
	}
	if err.Partner != "" {
		attrs = append(attrs, slog.String("partner", err.Partner))
	}
	if err.Reason != "" {
		attrs = append(attrs, slog.String("reason", err.Reason))
	}
	attrs = append(attrs, slog.Uint64("suppressed", suppressed))
	r.logger.LogAttrs(context.Background(), slog.LevelWarn, "source refused", attrs...)
}
