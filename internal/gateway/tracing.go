package gateway

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerName is the instrumentation scope of the gateway's spans.
const tracerName = "github.com/gatehouse-health/gatehouse/internal/gateway"

// Span attribute keys. Every value is an id or an outcome the gateway
// derived from verified state. Bodies, paths, query strings, member
// identifiers, tokens and certificate subjects never go into a span.
const (
	attrExchange = attribute.Key("gatehouse.exchange.id")
	attrPartner  = attribute.Key("gatehouse.partner.id")
	attrRule     = attribute.Key("gatehouse.rule.id")
	attrDecision = attribute.Key("gatehouse.decision")
	attrPhase    = attribute.Key("gatehouse.record.phase")
	attrStatus   = semconv.HTTPResponseStatusCodeKey
)

// Initial names of the exchange span, by listener. annotateExchange
// renames the span after the interaction once the interaction is known.
const (
	inboundSpan  = "inbound"
	outboundSpan = "outbound"
)

// traceContext writes the W3C traceparent header of the current span.
var traceContext propagation.TraceContext

// newTracer returns the gateway's tracer, or nil when tp is nil or a no-op
// provider, so that with tracing off the request path starts no spans.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	if _, ok := tp.(noop.TracerProvider); ok {
		return nil
	}
	return tp.Tracer(tracerName)
}

// stage is one named step of a pipeline.
type stage struct {
	name stageName
	run  func(*exchange) *Refusal
}

// stageName names a pipeline step and its span. It is a number rather than
// a string so that passing the name to the tracer does not make the
// compiler move every stage's closure to the heap.
type stageName uint8

// The steps of the pipelines, in pipeline order.
const (
	stageReceive stageName = iota
	stageIdentity
	stagePartner // outbound pipeline only
	stageKillSwitch
	stageToken
	stageAuthorization
	stagePayload
	stagePolicy
	stageStrict
	stagePatientLinks // inbound pipeline only
	stageRecord
	stageForward
	stageResponseCheck
)

var stageNames = [...]string{
	stageReceive:       "receive",
	stageIdentity:      "identity",
	stagePartner:       "partner",
	stageKillSwitch:    "killswitch",
	stageToken:         "token",
	stageAuthorization: "authorization",
	stagePayload:       "payload",
	stagePolicy:        "policy",
	stageStrict:        "strict",
	stagePatientLinks:  "patient-links",
	stageRecord:        "record",
	stageForward:       "forward",
	stageResponseCheck: "response-check",
}

func (n stageName) String() string { return stageNames[n] }

// serveTraced runs serve inside the exchange's server span. The span
// always starts a new trace: a traceparent header from the client is
// ignored, because the client controls it.
func (g *Gateway) serveTraced(w http.ResponseWriter, r *http.Request, name string, serve func(http.ResponseWriter, *http.Request)) {
	closeAfterChunkedBody(w, r)
	// The request body stays in memory until the exchange ends (it is
	// forwarded and recorded), so its share of the budget is returned
	// only here.
	hold := g.opts.BodyBudget.NewHold()
	defer hold.Release()
	r = r.WithContext(context.WithValue(r.Context(), bodyHoldKey{}, hold))
	if g.tracer == nil {
		serve(w, r)
		return
	}
	ctx, span := g.tracer.Start(r.Context(), name, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	serve(w, r.WithContext(ctx))
}

// startSpan starts a child span of the exchange's span. With tracing off
// it returns the request's context and a span that records nothing.
func (g *Gateway) startSpan(ex *exchange, name stageName, kind trace.SpanKind) (context.Context, trace.Span) {
	ctx := ex.r.Context()
	if g.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return g.tracer.Start(ctx, name.String(), trace.WithSpanKind(kind))
}

// runStage runs one stage inside its own span and notes a refusal on it.
func (g *Gateway) runStage(ex *exchange, s stage) *Refusal {
	if g.tracer == nil {
		return s.run(ex)
	}
	_, span := g.startSpan(ex, s.name, trace.SpanKindInternal)
	defer span.End()
	ref := s.run(ex)
	if ref != nil && span.IsRecording() {
		span.SetAttributes(attrDecision.String("deny"), attrRule.String(ref.Rule), attrStatus.Int(ref.Status))
	}
	return ref
}

// injectTraceContext sets traceparent on a forwarded request from ctx's
// span. It does nothing with tracing off, because then ctx contains no valid
// span context.
func injectTraceContext(ctx context.Context, h http.Header) {
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
}

// annotateExchange names the exchange span and sets its attributes once
// the response is decided. status is what the client receives. The span is
// named after the interaction only when it is a fixed endpoint name or a
// FHIR interaction the partner's allowlist names, because an unlisted
// interaction carries an operation name the client chose.
func (g *Gateway) annotateExchange(ex *exchange, status int) {
	if g.tracer == nil {
		return
	}
	span := trace.SpanFromContext(ex.r.Context())
	if !span.IsRecording() {
		return
	}
	if ex.entry.Interaction != "" && (ex.fhir == nil || ex.allowlisted) {
		span.SetName(ex.entry.Interaction)
	}
	attrs := []attribute.KeyValue{
		attrExchange.String(ex.entry.ExchangeID),
		attrDecision.String(string(ex.entry.Decision)),
		attrPhase.String(string(ex.entry.Phase)),
		attrStatus.Int(status),
	}
	// The verified partner, not entry.Partner, which on the engine's
	// revocation and introspection requests is the client of the token.
	if ex.partner != nil {
		attrs = append(attrs, attrPartner.String(ex.partner.ID))
	}
	if ex.entry.Rule != "" {
		attrs = append(attrs, attrRule.String(ex.entry.Rule))
	}
	span.SetAttributes(attrs...)
	if status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}
