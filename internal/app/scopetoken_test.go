package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// observationCategory is the system of the FHIR R4 Observation category
// codes.
const observationCategory = "http://terminology.hl7.org/CodeSystem/observation-category"

// TestTokenRestrictionGrantedAsToken checks the token endpoint against a
// registration restricted to category=laboratory. A request for the same
// category in its code system is within the registration, so it is
// granted as written, and the token permits that search. The token does
// not permit the registration's wider bare-code search. A requested
// restriction that is neither within the registered one nor contains it
// grants nothing. Both searches get 403 with an OperationOutcome, and the
// upstream receives nothing.
func TestTokenRestrictionGrantedAsToken(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		p := &cfg.Partners[0]
		p.Roles["clinical"] = "read"
		p.Scopes = append(p.Scopes, "system/Observation.rs?category=laboratory")
		p.Interactions = append(p.Interactions, "Observation.search")
	}})
	lab := observationCategory + "|laboratory"

	tests := []struct {
		name, requested, search string
		wantGranted             string // "" when the requested scope must not be granted
		wantStatus              int
	}{
		{"system and code within bare code", "system/Observation.rs?category=" + lab, lab,
			"system/Observation.rs?category=" + lab, http.StatusOK},
		{"granted narrower than registered", "system/Observation.rs?category=" + lab, "laboratory",
			"system/Observation.rs?category=" + lab, http.StatusForbidden},
		{"wider request narrowed to registration", "system/Observation.rs", "laboratory",
			"system/Observation.rs?category=laboratory", http.StatusOK},
		{"restrictions not nested", "system/Observation.rs?category=" + observationCategory + "|", lab,
			"", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := h.partnerClient(app.DevScopes + " " + tc.requested)
			tok, err := client.Token(context.Background())
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			granted := strings.Fields(tok.Scope)
			var observation []string
			for _, s := range granted {
				if strings.HasPrefix(s, "system/Observation.") {
					observation = append(observation, s)
				}
			}
			switch {
			case tc.wantGranted == "" && len(observation) != 0:
				t.Errorf("granted Observation scopes %q, want none", observation)
			case tc.wantGranted != "" && (len(observation) != 1 || observation[0] != tc.wantGranted):
				t.Errorf("granted Observation scopes %q, want %q", observation, tc.wantGranted)
			}

			before := h.upstream.count.Load()
			path := "/fhir/Observation?" + url.Values{"category": {tc.search}}.Encode()
			resp := h.send(client.HTTPClient(), "GET", path, http.Header{"Authorization": {"Bearer " + tok.AccessToken}}, nil)
			body := readBody(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			wantForwarded := int64(0)
			if tc.wantStatus == http.StatusOK {
				wantForwarded = 1
			} else if code := outcomeCode(t, body); code != "forbidden" {
				t.Errorf("OperationOutcome code = %q, want forbidden", code)
			}
			if n := h.upstream.count.Load() - before; n != wantForwarded {
				t.Errorf("upstream received %d requests, want %d", n, wantForwarded)
			}
		})
	}
}
