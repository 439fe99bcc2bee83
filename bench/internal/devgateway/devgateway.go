// Package devgateway builds the development-mode gateway that the
// benchmark programs serve.
package devgateway

import (
	"log/slog"
	"os"

	"github.com/gatehouse-health/gatehouse/bench/internal/loopback"
	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
)

// Config returns the configuration `gatehouse serve` builds for the
// development-mode data directory dir, with the inbound listener on
// listen, which must be a loopback address. Every partner's rate limit is
// raised to rate requests per second, with a burst of twice that, so
// that the limiter runs on every request but does not cap the measured
// throughput.
func Config(dir, listen string, rate float64) (*config.File, error) {
	if err := loopback.Check(listen); err != nil {
		return nil, err
	}
	cfg, _, _, err := app.DevConfig(dir, listen, "")
	if err != nil {
		return nil, err
	}
	for i := range cfg.Partners {
		cfg.Partners[i].RateLimit = config.RateLimit{RequestsPerSecond: rate, Burst: int(2 * rate)}
	}
	return cfg, nil
}

// WarnLogger returns a logger that writes the gateway's warnings and
// errors to stderr.
func WarnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
