package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// A write can carry a search that the upstream runs. A FHIR server resolves
// a conditional reference in a transaction by searching, and the write
// fails unless exactly one resource matches. It runs the criteria of an R4
// Subscription on every change and sends the matches to the subscriber.
// The demo partner here may write clinical and workflow data but has no
// role on member data, so neither search may reach Patient for it.
func TestSearchInWriteBodyRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		p := &cfg.Partners[0]
		p.Roles["clinical"] = "write"
		p.Roles["workflow"] = "write"
		p.Scopes = append(p.Scopes, "system/Observation.cruds", "system/Subscription.cruds")
		p.Interactions = append(p.Interactions, "batch-transaction", "Observation.create", "Subscription.create")
	}})
	client := h.partnerClient(app.DevScopes + " system/Observation.cruds system/Subscription.cruds")
	tok, err := client.Token(context.Background())
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok.AccessToken}}

	tests := []struct {
		name, path, body, rule string
	}{
		{"transaction conditional reference", "/fhir",
			`{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:2f0d1a52-7c1e-4a9a-9a51-3f6b2a1c0d11",` +
				`"resource":{"resourceType":"Observation","status":"final","code":{"text":"probe"},` +
				`"subject":{"reference":"Patient?identifier=http://example.org/mrn|12345"}},` +
				`"request":{"method":"POST","url":"Observation"}}]}`,
			"policy.role"},
		{"create with conditional reference using has", "/fhir/Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"probe"},` +
				`"subject":{"reference":"Patient?_has:Claim:patient:status=active"}}`,
			"policy.conditional.reference"},
		{"subscription criteria on Patient", "/fhir/Subscription",
			`{"resourceType":"Subscription","status":"requested","reason":"probe","criteria":"Patient?identifier=http://example.org/mrn|12345",` +
				`"channel":{"type":"rest-hook","endpoint":"https://ehr.example/fhir","payload":"application/fhir+json"}}`,
			"policy.role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.upstream.count.Load()
			resp := h.send(client.HTTPClient(), "POST", tc.path, header, []byte(tc.body))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status = %d, want 403; body %s", resp.StatusCode, body)
			}
			if code := outcomeCode(t, body); code != "forbidden" {
				t.Errorf("issue code = %q, want forbidden", code)
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			entries := h.entries(resp)
			if len(entries) != 1 || entries[0].Phase != record.PhaseRefusal || entries[0].Rule != tc.rule {
				t.Errorf("record = %+v, want one refusal with rule %s", entries, tc.rule)
			}
		})
	}
}
