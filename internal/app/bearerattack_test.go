package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestBearerVariantsRefused checks that bearer credentials in forms the
// gateway must not accept, and a token whose scopes do not cover
// Claim/$submit, get a status, an OperationOutcome and a rule of their own,
// and that the upstream receives nothing. A control request with the same
// token passes, so each rejection comes from the form under test.
func TestBearerVariantsRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()
	readOnly, err := h.partnerClient("system/Claim.rs").Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	control := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"bearer " + tok}}, shippedBundle(t))
	if body := readBody(t, control); control.StatusCode != http.StatusOK {
		t.Fatalf("control with lower-case scheme: status = %d, want 200: %s", control.StatusCode, body)
	}

	tests := []struct {
		name   string
		auth   []string
		query  string
		status int
		code   string
		rule   string
	}{
		{"two Authorization headers", []string{"Bearer " + tok, "Bearer " + tok}, "", 400, "login", "token.malformed"},
		{"two tokens in one header", []string{"Bearer " + tok + ", Bearer " + tok}, "", 400, "login", "token.malformed"},
		{"DPoP scheme", []string{"DPoP " + tok}, "", 400, "login", "token.malformed"},
		{"tab after scheme", []string{"Bearer\t" + tok}, "", 400, "login", "token.malformed"},
		{"padded token", []string{"Bearer " + tok + "=="}, "", 401, "login", "token.invalid"},
		{"oversized token", []string{"Bearer " + strings.Repeat("A", 5000)}, "", 401, "login", "token.invalid"},
		{"percent-encoded query name", nil, "?%61ccess_token=" + tok, 400, "login", "token.malformed"},
		{"upper-case query name", []string{"Bearer " + tok}, "?ACCESS_TOKEN=x", 400, "login", "token.malformed"},
		{"read-only token on $submit", []string{"Bearer " + readOnly.AccessToken}, "", 403, "forbidden", "policy.scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.upstream.count.Load()
			header := http.Header{"Content-Type": {"application/fhir+json"}}
			if tt.auth != nil {
				header["Authorization"] = tt.auth
			}

			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit"+tt.query, header, shippedBundle(t))
			body := readBody(t, resp)

			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if code := outcomeCode(t, body); code != tt.code {
				t.Errorf("OperationOutcome code = %q, want %q", code, tt.code)
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			entries := h.entries(resp)
			if len(entries) != 1 {
				t.Fatalf("entries = %+v, want one refusal", entries)
			}
			if entries[0].Rule != tt.rule {
				t.Errorf("rule = %q, want %q", entries[0].Rule, tt.rule)
			}
		})
	}
}
