package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// A server that honours Prefer: handling=lenient ignores the search
// parameters it does not support. So a search the policy allowed because
// of a parameter (a scope restricted to category=laboratory, say) could
// return more than the scope permits. The gateway removes every handling
// preference the partner sends, keeps the others, and sends
// handling=strict with every search it forwards and with every batch,
// whose entries may be searches.
func TestPreferHandlingForwarded(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		p := &cfg.Partners[0]
		p.Interactions = append(p.Interactions, "Claim.search", "search-system", "batch-transaction")
		p.Grants = append(p.Grants, config.Grant{Feature: "system-search", Reason: "claim status dashboard"})
	}})
	auth := "Bearer " + h.accessToken()

	tests := []struct {
		name, method, path, body string
		prefer                   []string
		want                     string
	}{
		{"type search by GET", "GET", "/fhir/Claim?status=active",
			"", []string{"return=representation, handling=lenient"}, "handling=strict, return=representation"},
		{"type search by POST", "POST", "/fhir/Claim/_search",
			"status=active", []string{"HANDLING=lenient; x=1, respond-async"}, "handling=strict, respond-async"},
		{"system search by GET", "GET", "/fhir?_type=Claim&status=active",
			"", []string{"handling=lenient", "return=minimal"}, "handling=strict, return=minimal"},
		{"system search by POST", "POST", "/fhir/_search",
			"_type=Claim&status=active", []string{`return=minimal; handling=lenient`}, "handling=strict, return=minimal"},
		{"search without Prefer", "GET", "/fhir/Claim?status=active",
			"", nil, "handling=strict"},
		{"quoted value hiding lenient", "GET", "/fhir/Claim?status=active",
			"", []string{`return="minimal,handling=lenient", respond-async`}, "handling=strict, respond-async"},
		{"batch with a search entry", "POST", "/fhir",
			`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim?status=active"}}]}`,
			[]string{"handling=lenient"}, "handling=strict"},
		{"capabilities", "GET", "/fhir/metadata",
			"", []string{"handling=lenient, return=minimal"}, "return=minimal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := http.Header{"Authorization": {auth}, "Prefer": tc.prefer}
			var body []byte
			switch {
			case strings.HasPrefix(tc.body, "{"):
				header.Set("Content-Type", "application/fhir+json")
				body = []byte(tc.body)
			case tc.body != "":
				header.Set("Content-Type", "application/x-www-form-urlencoded")
				body = []byte(tc.body)
			}
			h.sendForwarded(t, tc.method, tc.path, header, body)

			h.upstream.mu.Lock()
			got := h.upstream.last.Header.Values("Prefer")
			h.upstream.mu.Unlock()
			joined := strings.Join(got, ", ")
			if strings.Contains(strings.ToLower(joined), "lenient") {
				t.Errorf("upstream Prefer %q contains lenient", got)
			}
			if joined != tc.want {
				t.Errorf("upstream Prefer = %q, want %q", got, tc.want)
			}
		})
	}
}
