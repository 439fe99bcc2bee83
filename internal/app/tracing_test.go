package app_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// tracingEndpoint turns tracing on in these tests. The span recorder takes
// the exporter's place, so nothing connects to it.
const tracingEndpoint = "http://127.0.0.1:4318/v1/traces"

// clientTraceparent is a traceparent a partner sends. The gateway must
// start its own trace instead of joining this one.
const (
	clientTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientTraceparent = "00-" + clientTraceID + "-00f067aa0ba902b7-01"
)

// TestTracingExchangeSpans sends one allowed $submit through a
// development gateway and checks the exchange span, its stage children in
// pipeline order, its attributes and the traceparent sent upstream.
func TestTracingExchangeSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	h := newHarness(t, harnessOptions{spans: rec, tracingEndpoint: tracingEndpoint})
	bundle := shippedBundle(t)
	header := http.Header{
		"Content-Type":  {"application/fhir+json"},
		"Authorization": {"Bearer " + h.accessToken()},
		"Traceparent":   {clientTraceparent},
	}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, bundle)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	exchangeID := resp.Header.Get("X-Request-Id")

	server := exchangeSpan(t, rec, exchangeID)
	if server.Name() != "Claim/$submit" {
		t.Errorf("exchange span name %q, want Claim/$submit", server.Name())
	}
	if server.SpanKind() != trace.SpanKindServer {
		t.Errorf("exchange span kind %v, want server", server.SpanKind())
	}
	if server.Parent().IsValid() {
		t.Error("exchange span has a parent: the client's traceparent was joined")
	}
	if got := server.SpanContext().TraceID().String(); got == clientTraceID {
		t.Error("exchange span continues the client's trace")
	}

	want := []string{"receive", "identity", "killswitch", "token", "authorization", "killswitch",
		"payload", "policy", "strict", "record", "forward", "record", "response-check", "patient-links"}
	if got := childNames(rec, server); !slices.Equal(got, want) {
		t.Errorf("stage spans\n got %v\nwant %v", got, want)
	}

	attrs := spanAttributes(server)
	for key, want := range map[string]string{
		"gatehouse.exchange.id":     exchangeID,
		"gatehouse.partner.id":      "demo-ehr",
		"gatehouse.decision":        "allow",
		"gatehouse.record.phase":    "response",
		"gatehouse.rule.id":         attrs["gatehouse.rule.id"],
		"http.response.status_code": "200",
	} {
		if attrs[key] != want {
			t.Errorf("attribute %s = %q, want %q", key, attrs[key], want)
		}
	}
	if attrs["gatehouse.rule.id"] == "" {
		t.Error("exchange span has no rule id")
	}

	// The upstream joins the gateway's trace, as a child of the forward span.
	h.upstream.mu.Lock()
	sent := h.upstream.last.Header.Get("Traceparent")
	h.upstream.mu.Unlock()
	forward := childNamed(rec, server, "forward")
	if forward == nil {
		t.Fatal("no forward span")
	}
	wantParent := "00-" + forward.SpanContext().TraceID().String() + "-" + forward.SpanContext().SpanID().String() + "-01"
	if sent != wantParent {
		t.Errorf("upstream traceparent %q, want %q", sent, wantParent)
	}
}

// TestTracingSpansCarryNoRequestContent sends an allowed $submit, a search
// with a member in its query and an operation the partner may not call.
// No span name, status or attribute may contain the path, the query, the
// bundle's content, the access token or the certificate subject.
func TestTracingSpansCarryNoRequestContent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	h := newHarness(t, harnessOptions{spans: rec, tracingEndpoint: tracingEndpoint})
	bundle := shippedBundle(t)
	tok := h.accessToken()
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}

	requests := []struct {
		method, target string
		body           []byte
		status         int
	}{
		{"POST", "/fhir/Claim/$submit", bundle, http.StatusOK},
		{"GET", "/fhir/Claim?patient=Patient/MEMBER-SECRET-4417&_count=5", nil, http.StatusForbidden},
		{"POST", "/fhir/Claim/$exfiltrate", bundle, http.StatusForbidden},
	}
	for _, r := range requests {
		resp := h.send(h.ehr.HTTPClient(), r.method, r.target, header, r.body)
		if body := readBody(t, resp); resp.StatusCode != r.status {
			t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.target, resp.StatusCode, r.status, body)
		}
	}

	cert, err := h.layout.PartnerClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{
		tok,
		"/fhir", "Claim?", "patient=", "MEMBER-SECRET-4417", "_count", "exfiltrate",
		cert.Leaf.Subject.String(),
	}
	forbidden = append(forbidden, bundleStrings(t, bundle)...)

	spans := rec.Ended()
	if len(spans) == 0 {
		t.Fatal("no spans recorded")
	}
	for _, s := range spans {
		texts := []string{s.Name(), s.Status().Description}
		for _, kv := range s.Attributes() {
			texts = append(texts, string(kv.Key), kv.Value.Emit())
		}
		for _, text := range texts {
			for _, bad := range forbidden {
				if strings.Contains(text, bad) {
					t.Errorf("span %q carries %q in %q", s.Name(), bad, text)
				}
			}
		}
	}
}

// TestTracingOff checks that without tracing.endpoint no span is started
// and the upstream gets no traceparent, even from the client.
func TestTracingOff(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	h := newHarness(t, harnessOptions{spans: rec})
	bundle := shippedBundle(t)
	header := http.Header{
		"Content-Type":  {"application/fhir+json"},
		"Authorization": {"Bearer " + h.accessToken()},
		"Traceparent":   {clientTraceparent},
	}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, bundle)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if n := len(rec.Started()); n != 0 {
		t.Errorf("%d spans started with tracing off", n)
	}
	h.upstream.mu.Lock()
	sent := h.upstream.last.Header.Get("Traceparent")
	h.upstream.mu.Unlock()
	if sent != "" {
		t.Errorf("upstream got traceparent %q with tracing off", sent)
	}
}

// exchangeSpan returns the ended server span of the exchange with id.
func exchangeSpan(t *testing.T, rec *tracetest.SpanRecorder, id string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindServer && spanAttributes(s)["gatehouse.exchange.id"] == id {
			return s
		}
	}
	t.Fatalf("no server span for exchange %s", id)
	return nil
}

// childNames returns the names of parent's direct children by start time.
func childNames(rec *tracetest.SpanRecorder, parent sdktrace.ReadOnlySpan) []string {
	var children []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			children = append(children, s)
		}
	}
	slices.SortStableFunc(children, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	names := make([]string, len(children))
	for i, s := range children {
		names[i] = s.Name()
	}
	return names
}

func childNamed(rec *tracetest.SpanRecorder, parent sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() && s.Name() == name {
			return s
		}
	}
	return nil
}

func spanAttributes(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// bundleStrings returns the distinctive string values of a FHIR bundle:
// those of at least 8 characters, which no span may carry.
func bundleStrings(t *testing.T, bundle []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(bundle, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case string:
			if len(v) >= 8 {
				out = append(out, v)
			}
		}
	}
	walk(doc)
	if len(out) == 0 {
		t.Fatal("the bundle has no string values to look for")
	}
	return out
}
