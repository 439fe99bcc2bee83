package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// A search at the base must not reach a type whose own search the
// partner's allowlist does not name: search-system would otherwise open
// every type the roles allow. Each refusal must be recorded as
// policy.not-allowed, name the missing entry, and send nothing upstream.
func TestSystemSearchNeedsTypeSearch(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		p := &cfg.Partners[0]
		p.Interactions = append(p.Interactions, "search-system", "batch-transaction", "Claim.search")
		p.Grants = append(p.Grants, config.Grant{Feature: "system-search", Reason: "claim status dashboard"})
	}})
	auth := "Bearer " + h.accessToken()
	form := http.Header{"Authorization": {auth}, "Content-Type": {"application/x-www-form-urlencoded"}}
	fhirJSON := http.Header{"Authorization": {auth}, "Content-Type": {"application/fhir+json"}}

	tests := []struct {
		name, method, path string
		header             http.Header
		body               string
	}{
		{"GET with _type", "GET", "/fhir?_type=Subscription", http.Header{"Authorization": {auth}}, ""},
		{"GET with an allowed and a missing type", "GET", "/fhir?_type=Claim,Subscription", http.Header{"Authorization": {auth}}, ""},
		{"POST _search", "POST", "/fhir/_search", form, "_type=Subscription"},
		{"batch entry", "POST", "/fhir", fhirJSON,
			`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"?_type=Subscription"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.upstream.count.Load()
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}

			resp := h.send(h.ehr.HTTPClient(), tt.method, tt.path, tt.header, body)
			out := readBody(t, resp)

			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status = %d, want 403; body %s", resp.StatusCode, out)
			}
			if !strings.Contains(string(out), "Subscription.search") {
				t.Errorf("OperationOutcome does not name Subscription.search: %s", out)
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			entries := h.entries(resp)
			if len(entries) != 1 || entries[0].Phase != record.PhaseRefusal || entries[0].Rule != "policy.not-allowed" {
				t.Errorf("record = %+v, want one refusal with rule policy.not-allowed", entries)
			}
		})
	}
}

// The same grant and allowlist still let a system search through when
// every _type has its own search entry, so the rule above is not a
// blanket refusal.
func TestSystemSearchWithTypeSearch(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		p := &cfg.Partners[0]
		p.Interactions = append(p.Interactions, "search-system", "Claim.search")
		p.Grants = append(p.Grants, config.Grant{Feature: "system-search", Reason: "claim status dashboard"})
		p.Scopes = append(p.Scopes, "system/Claim.rs")
	}})
	before := h.upstream.count.Load()

	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir?_type=Claim", http.Header{"Authorization": {"Bearer " + h.accessToken()}}, nil)
	out := readBody(t, resp)

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, out)
	}
	if n := h.upstream.count.Load() - before; n != 1 {
		t.Errorf("upstream received %d requests, want 1", n)
	}
}
