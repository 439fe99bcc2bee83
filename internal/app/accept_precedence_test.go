package app_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// TestAcceptRefusalOverridesWildcard checks that a partner that refuses
// FHIR JSON explicitly (q=0) is not served it through a wildcard: the more
// specific range decides (RFC 9110 section 12.5.1), so the request gets
// 406 and never reaches the upstream, even where the gateway could label
// the same JSON application/json. A malformed q value gets 406 too.
func TestAcceptRefusalOverridesWildcard(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()
	for _, accept := range []string{
		"application/fhir+json;q=0, */*",
		"application/fhir+json;q=0, application/json;q=0, application/*",
		"application/json, application/fhir+json;q=0",
		"application/fhir+json;q=2",
		"application/fhir+json;q=abc",
	} {
		t.Run(accept, func(t *testing.T) {
			before := h.upstream.count.Load()
			header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}, "Accept": {accept}}
			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusNotAcceptable {
				t.Fatalf("status = %d, want 406; body %s", resp.StatusCode, body)
			}
			if got := outcomeCode(t, body); got != "not-supported" {
				t.Errorf("OperationOutcome code = %q, want not-supported", got)
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			entries := h.entries(resp)
			if len(entries) != 1 {
				t.Fatalf("recorded %d entries, want 1 refusal", len(entries))
			}
			if e := entries[0]; e.Phase != record.PhaseRefusal || e.Rule != "request.accept" {
				t.Errorf("record = phase %s rule %q, want a request.accept refusal", e.Phase, e.Rule)
			}
		})
	}
}

// TestAcceptReleasedTypeAcceptable checks that a response goes out with a
// media type the partner's Accept gives a q above 0, even when the
// upstream labels it with the other FHIR JSON type.
func TestAcceptReleasedTypeAcceptable(t *testing.T) {
	var calls atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"collection"}`))
	}))
	t.Cleanup(upstream.Close)
	h := newHarness(t, harnessOptions{upstreamURL: upstream.URL + "/fhir-engine"})

	tests := []struct {
		accept, want string
	}{
		{"application/json;q=0, application/fhir+json", "application/fhir+json; charset=utf-8"},
		{"application/json;q=0, */*", "application/fhir+json; charset=utf-8"},
		{"application/json", "application/json; charset=utf-8"},
		{"", "application/json; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			before := calls.Load()
			header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
			if tt.accept != "" {
				header.Set("Accept", tt.accept)
			}
			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			if n := calls.Load() - before; n != 1 {
				t.Errorf("upstream received %d requests, want 1", n)
			}
			if ct := resp.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != tt.want {
				t.Errorf("Content-Type = %q, want [%s]", ct, tt.want)
			}
		})
	}
}

// TestOutboundAcceptRefusalOverridesWildcard checks the same precedence
// on the engine's requests to a partner.
func TestOutboundAcceptRefusalOverridesWildcard(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "capabilities")
	for _, accept := range []string{"application/fhir+json;q=0, */*", "*/*;q=2"} {
		t.Run(accept, func(t *testing.T) {
			before := ehr.calls.Load()
			req, err := http.NewRequest("GET", base+"/metadata", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", accept)
			resp, err := engine.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusNotAcceptable {
				t.Fatalf("status = %d, want 406: %s", resp.StatusCode, body)
			}
			if got := outcomeCode(t, body); got != "not-supported" {
				t.Errorf("OperationOutcome code = %q, want not-supported", got)
			}
			if n := ehr.calls.Load() - before; n != 0 {
				t.Errorf("the partner received %d calls, want 0", n)
			}
			if e := h.entries(resp); len(e) != 1 || e[0].Rule != "request.accept" || e[0].Direction != "outbound" {
				t.Errorf("entries = %+v, want one outbound request.accept refusal", e)
			}
		})
	}
}
