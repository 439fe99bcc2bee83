package app_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
)

// TestForwardedHeaderInsideTLSIgnored checks that a partner behind a
// trusted TCP load balancer cannot choose its own source address. The
// gateway terminates TLS, so a Forwarded or X-Forwarded-For header arrives
// inside the partner's own TLS stream, where no load balancer could have
// written it.
func TestForwardedHeaderInsideTLSIgnored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"x-forwarded-for", http.Header{"X-Forwarded-For": {"127.0.0.3"}}},
		{"forwarded", http.Header{"Forwarded": {"for=127.0.0.3"}}},
		{"both", http.Header{"Forwarded": {"for=127.0.0.3"}, "X-Forwarded-For": {"127.0.0.3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, layout, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "")
			if err != nil {
				t.Fatal(err)
			}
			// 127.0.0.1 plays the TCP load balancer, and the partner may
			// connect only from 127.0.0.3.
			cfg.Network.AllowSources = []string{"127.0.0.0/8"}
			cfg.Network.TrustedProxies = []string{"127.0.0.1/32"}
			cfg.Partners[0].Sources = []string{"127.0.0.3/32"}
			h := &harness{t: t, layout: layout, upstream: newCountingUpstream(t)}
			cfg.Upstream.URL = h.upstream.srv.URL
			h.start(cfg)

			resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", tc.header, nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", resp.StatusCode, body)
			}
			if code := outcomeCode(t, body); code != "security" {
				t.Errorf("issue code %q, want security", code)
			}
			e := h.entries(resp)
			if len(e) != 1 {
				t.Fatalf("%d entries, want 1", len(e))
			}
			if e[0].Rule != "source.partner" {
				t.Errorf("rule %q, want source.partner", e[0].Rule)
			}
			if e[0].Source != "127.0.0.1" {
				t.Errorf("recorded source %q, want the connection's 127.0.0.1", e[0].Source)
			}
			if n := h.upstream.count.Load(); n != 0 {
				t.Errorf("the upstream received %d requests", n)
			}
		})
	}
}
