package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// countingTransport counts the requests that go through it.
type countingTransport struct {
	count atomic.Int64
	next  http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.count.Add(1)
	return c.next.RoundTrip(r)
}

func TestSetupOffIsNoop(t *testing.T) {
	tp, shutdown, err := Setup(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Errorf("provider is %T, want noop.TracerProvider", tp)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "exchange")
	if span.IsRecording() {
		t.Error("a span of the disabled provider records")
	}
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestSetupExportsThroughCallerClient runs the OTLP/HTTP exporter against
// a receiver on loopback and checks that spans arrive through the
// caller's client.
func TestSetupExportsThroughCallerClient(t *testing.T) {
	var posts atomic.Int64
	var contentType atomic.Value
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
			contentType.Store(r.Header.Get("Content-Type"))
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(receiver.Close)
	transport := &countingTransport{next: receiver.Client().Transport}

	tp, shutdown, err := Setup(context.Background(), Options{
		Endpoint:    receiver.URL + "/v1/traces",
		SampleRatio: 1,
		ServiceName: "gatehouse-test",
		HTTPClient:  &http.Client{Transport: transport},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "exchange")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	if n := posts.Load(); n != 1 {
		t.Errorf("receiver got %d exports, want 1", n)
	}
	if n := transport.count.Load(); n != 1 {
		t.Errorf("caller's transport carried %d requests, want 1", n)
	}
	if ct, _ := contentType.Load().(string); ct != "application/x-protobuf" {
		t.Errorf("export content type %q, want application/x-protobuf", ct)
	}
}

func TestSetupResourceAndSampler(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ratio    float64
		sampled  bool
		recorded int
	}{
		{"ratio one", 1, true, 1},
		{"ratio zero", 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp, shutdown, err := Setup(context.Background(), Options{
				Endpoint:       "http://127.0.0.1:4318/v1/traces",
				SampleRatio:    tc.ratio,
				ServiceName:    "gatehouse-test",
				ServiceVersion: "v9.9.9",
				HTTPClient:     &http.Client{},
				Processor:      rec,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(context.Background())
			_, span := tp.Tracer("test").Start(context.Background(), "exchange")
			if got := span.SpanContext().IsSampled(); got != tc.sampled {
				t.Errorf("sampled = %v, want %v", got, tc.sampled)
			}
			span.End()
			ended := rec.Ended()
			if len(ended) != tc.recorded {
				t.Fatalf("recorded %d spans, want %d", len(ended), tc.recorded)
			}
			if tc.recorded == 0 {
				return
			}
			attrs := map[string]string{}
			for _, kv := range ended[0].Resource().Attributes() {
				attrs[string(kv.Key)] = kv.Value.Emit()
			}
			if attrs["service.name"] != "gatehouse-test" {
				t.Errorf("service.name = %q", attrs["service.name"])
			}
			if attrs["service.version"] != "v9.9.9" {
				t.Errorf("service.version = %q", attrs["service.version"])
			}
		})
	}
}

func TestSetupRejectsOptions(t *testing.T) {
	client := &http.Client{}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no client", Options{Endpoint: "https://c.example/v1/traces", SampleRatio: 1, ServiceName: "g"}, "HTTPClient is required"},
		{"bad scheme", Options{Endpoint: "ftp://c.example/v1/traces", SampleRatio: 1, ServiceName: "g", HTTPClient: client}, "invalid endpoint"},
		{"no host", Options{Endpoint: "https:///v1/traces", SampleRatio: 1, ServiceName: "g", HTTPClient: client}, "invalid endpoint"},
		{"user info", Options{Endpoint: "https://u:secret@c.example/v1/traces", SampleRatio: 1, ServiceName: "g", HTTPClient: client}, "user name or password"},
		{"ratio above one", Options{Endpoint: "https://c.example/v1/traces", SampleRatio: 1.5, ServiceName: "g", HTTPClient: client}, "out of range"},
		{"negative ratio", Options{Endpoint: "https://c.example/v1/traces", SampleRatio: -0.1, ServiceName: "g", HTTPClient: client}, "out of range"},
		{"no service name", Options{Endpoint: "https://c.example/v1/traces", SampleRatio: 1, HTTPClient: client}, "ServiceName is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Setup(context.Background(), tc.opts)
			if err == nil {
				t.Fatal("Setup accepted the options")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q echoes the URL's password", err)
			}
		})
	}
}
