// Package tracing sets up OpenTelemetry tracing. Tracing is off unless an
// OTLP/HTTP endpoint is configured, and off, Setup returns a no-op
// provider whose spans record nothing.
//
// On, spans are batched and sent to the endpoint with the HTTP client the
// caller supplies, never http.DefaultClient, so the caller decides which
// hosts the exporter may reach (Gatehouse passes its egress-guarded
// client). This package decides where spans go, not what they hold: the
// instrumented packages keep bodies, paths, queries and credentials out of
// span names and attributes.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options configures Setup.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP traces URL, used as given (the
	// exporter appends no /v1/traces), such as
	// https://collector.example:4318/v1/traces. Empty turns tracing off.
	Endpoint string
	// SampleRatio is the fraction of new traces sampled, from 0 to 1. A
	// span with a parent follows its parent's sampling decision.
	SampleRatio float64
	// ServiceName is the service.name resource attribute; required when
	// Endpoint is set.
	ServiceName string
	// ServiceVersion is the service.version resource attribute. Empty
	// means the main module's version from the build information.
	ServiceVersion string
	// HTTPClient sends spans to Endpoint; required when Endpoint is set.
	// Its transport, timeout and redirect policy apply to every export.
	HTTPClient *http.Client
	// Processor, when set, receives the spans in place of the OTLP exporter
	// and its batch processor, and HTTPClient is not used. Tests set it to
	// record spans in memory. It takes effect only when Endpoint is set.
	Processor sdktrace.SpanProcessor
}

// Setup returns the tracer provider opts describe and the function that
// flushes and stops it. Shutdown sends the spans still queued, within the
// context's deadline. With tracing off the provider is a no-op and
// shutdown does nothing.
func Setup(ctx context.Context, opts Options) (trace.TracerProvider, func(context.Context) error, error) {
	if opts.Endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	if err := opts.check(); err != nil {
		return nil, nil, err
	}

	processor := opts.Processor
	if processor == nil {
		exporter, err := otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(opts.Endpoint),
			otlptracehttp.WithHTTPClient(opts.HTTPClient),
		)
		if err != nil {
			return nil, nil, fmt.Errorf("tracing: creating the OTLP exporter failed: %w", err)
		}
		processor = sdktrace.NewBatchSpanProcessor(exporter)
	}

	version := opts.ServiceVersion
	if version == "" {
		version = mainVersion()
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))),
		sdktrace.WithResource(resource.NewWithAttributes(semconv.SchemaURL,
			semconv.ServiceName(opts.ServiceName),
			semconv.ServiceVersion(version),
		)),
		sdktrace.WithSpanProcessor(processor),
	)
	return tp, tp.Shutdown, nil
}

// check validates the options of an enabled setup. Configuration files
// are validated earlier, with key paths; this guards callers in code.
func (o Options) check() error {
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("tracing: invalid endpoint: use an http or https URL such as https://collector.example:4318/v1/traces")
	}
	if u.User != nil {
		// The URL is not echoed, because it carries a credential.
		return errors.New("tracing: the endpoint URL carries a user name or password: remove them")
	}
	if o.HTTPClient == nil {
		return errors.New("tracing: Options.HTTPClient is required when an endpoint is set")
	}
	if math.IsNaN(o.SampleRatio) || o.SampleRatio < 0 || o.SampleRatio > 1 {
		return fmt.Errorf("tracing: sample ratio %v is out of range: use a number from 0 to 1", o.SampleRatio)
	}
	if o.ServiceName == "" {
		return errors.New("tracing: Options.ServiceName is required when an endpoint is set")
	}
	return nil
}

// mainVersion returns the main module's version, "(devel)" for a build
// from a working tree, or "unknown" without build information.
func mainVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "unknown"
}
