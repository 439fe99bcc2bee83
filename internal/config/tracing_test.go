package config

import (
	"strings"
	"testing"
)

// withTracing appends a tracing section and an egress entry for the
// collector to validYAML.
func withTracing(section, egressEntry string) string {
	s := validYAML
	if egressEntry != "" {
		s = strings.Replace(s, "allow: [engine.payer.internal:443]", "allow: [engine.payer.internal:443, "+egressEntry+"]", 1)
	}
	return s + "tracing:\n" + section
}

func TestTracingOffByDefault(t *testing.T) {
	f, err := Parse([]byte(validYAML), "/etc/gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	if f.Tracing.On() {
		t.Error("tracing is on without tracing.endpoint")
	}
	if f.Tracing.SampleRatio != nil {
		t.Errorf("sample_ratio defaulted to %v with tracing off", *f.Tracing.SampleRatio)
	}
}

func TestTracingParse(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		wantRatio float64
	}{
		{"https default ratio", withTracing("  endpoint: https://otel.payer.internal:4318/v1/traces\n", "otel.payer.internal:4318"), 1},
		{"explicit ratio", withTracing("  endpoint: https://otel.payer.internal:4318/v1/traces\n  sample_ratio: 0.25\n", "otel.payer.internal:4318"), 0.25},
		{"zero ratio", withTracing("  endpoint: https://otel.payer.internal:4318/v1/traces\n  sample_ratio: 0\n", "otel.payer.internal:4318"), 0},
		{"loopback http", withTracing("  endpoint: http://127.0.0.1:4318/v1/traces\n", "127.0.0.1:4318"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml), "/etc/gatehouse")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !f.Tracing.On() {
				t.Error("tracing is off")
			}
			if got := f.Tracing.Ratio(); got != tt.wantRatio {
				t.Errorf("sample ratio = %v, want %v", got, tt.wantRatio)
			}
		})
	}
}

func TestTracingErrorsNameKeyPath(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{"ratio above one", withTracing("  endpoint: https://otel.payer.internal/v1/traces\n  sample_ratio: 1.5\n", "otel.payer.internal:443"),
			[]string{"tracing.sample_ratio", "1.5 is out of range"}},
		{"negative ratio", withTracing("  endpoint: https://otel.payer.internal/v1/traces\n  sample_ratio: -0.5\n", "otel.payer.internal:443"),
			[]string{"tracing.sample_ratio", "out of range"}},
		{"ratio not a number", withTracing("  endpoint: https://otel.payer.internal/v1/traces\n  sample_ratio: .nan\n", "otel.payer.internal:443"),
			[]string{"tracing.sample_ratio", "NaN is out of range"}},
		{"ratio without endpoint", withTracing("  sample_ratio: 0.5\n", ""),
			[]string{"tracing.sample_ratio", "without tracing.endpoint"}},
		{"unknown key", withTracing("  endpoint: https://otel.payer.internal/v1/traces\n  sampling: 0.5\n", "otel.payer.internal:443"),
			[]string{"tracing", "sampling"}},
		{"grpc scheme", withTracing("  endpoint: grpc://otel.payer.internal:4317\n", "otel.payer.internal:4317"),
			[]string{"tracing.endpoint", "invalid value"}},
		{"query", withTracing("  endpoint: https://otel.payer.internal/v1/traces?tenant=a\n", "otel.payer.internal:443"),
			[]string{"tracing.endpoint", "without query"}},
		{"no path", withTracing("  endpoint: https://otel.payer.internal:4318\n", "otel.payer.internal:4318"),
			[]string{"tracing.endpoint", "/v1/traces"}},
		{"user information", withTracing("  endpoint: https://user:secret@otel.payer.internal/v1/traces\n", "otel.payer.internal:443"),
			[]string{"tracing.endpoint", "user name or password"}},
		{"plain http off loopback", withTracing("  endpoint: http://otel.payer.internal:4318/v1/traces\n", "otel.payer.internal:4318"),
			[]string{"tracing.endpoint", "use https"}},
		{"host not on egress.allow", withTracing("  endpoint: https://otel.payer.internal:4318/v1/traces\n", ""),
			[]string{"tracing.endpoint", "otel.payer.internal:4318", "egress.allow"}},
		{"loopback not on egress.allow", withTracing("  endpoint: http://127.0.0.1:4318/v1/traces\n", ""),
			[]string{"tracing.endpoint", "127.0.0.1:4318", "egress.allow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "/etc/gatehouse")
			if err == nil {
				t.Fatal("Parse accepted the configuration")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q echoes the URL's password", err)
			}
		})
	}
}
