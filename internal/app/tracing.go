package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/egress"
	"github.com/gatehouse-health/gatehouse/internal/tracing"
)

// tracingServiceName is the service.name of every span Gatehouse sends.
const tracingServiceName = "gatehouse"

// tracingExportTimeout bounds one export to the collector.
const tracingExportTimeout = 10 * time.Second

// tracingFlushTimeout bounds the final flush in Close, because the
// exporter retries an unreachable collector for up to a minute.
const tracingFlushTimeout = 5 * time.Second

// startTracing sets up the tracer provider of tracing.endpoint; without
// an endpoint it is a no-op provider. The exporter connects through the
// egress guard, so the collector must be on egress.allow. Close flushes
// the spans still queued, waiting at most tracingFlushTimeout.
func (rt *Running) startTracing(ctx context.Context, cfg *config.File, opts Options, log *slog.Logger) error {
	topts := tracing.Options{Endpoint: cfg.Tracing.Endpoint}
	if cfg.Tracing.On() {
		topts.SampleRatio = cfg.Tracing.Ratio()
		topts.ServiceName = tracingServiceName
		topts.HTTPClient = rt.egress.HTTPClient(egress.ClientOptions{Timeout: tracingExportTimeout})
		topts.Processor = opts.SpanProcessor
	}
	tp, shutdown, err := tracing.Setup(ctx, topts)
	if err != nil {
		return err
	}
	rt.tracerProvider = tp
	rt.shutdownTracing = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, tracingFlushTimeout)
		defer cancel()
		return shutdown(ctx)
	}
	// NOTE: failed exports go to OpenTelemetry's global error handler,
	// which writes them to standard error, not to log.
	if cfg.Tracing.On() {
		log.Info("tracing on", "sample_ratio", cfg.Tracing.Ratio())
	}
	return nil
}
