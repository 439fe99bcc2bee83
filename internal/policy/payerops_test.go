package policy

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/scope"
)

// TestPayerWorkflows covers the eligibility and Subscription catch-up
// operations the built-in payer service serves.
func TestPayerWorkflows(t *testing.T) {
	eng, err := New(Options{PayerIDs: []congruence.Identifier{{System: congruence.NPISystem, Value: "1234567893"}}})
	if err != nil {
		t.Fatal(err)
	}
	org := congruence.Identifier{System: congruence.NPISystem, Value: "8189991234"}
	partner, err := NewPartner(PartnerConfig{ID: "ehr", Organization: org, Roles: map[string]string{"coverage": "read", "workflow": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	scopes := scope.ParseGranted([]string{"system/CoverageEligibilityRequest.$submit", "system/Subscription.$status", "system/Subscription.$events"})
	id := congruence.Identity{PartnerID: "ehr", TokenClientID: "ehr", Organization: org, CertificateOrganizations: []congruence.Identifier{org}}
	tests := []struct {
		name, method, target, body string
		allow                      bool
		rule                       string
	}{
		{"eligibility request", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"CoverageEligibilityRequest"}`, true, "allow.operation"},
		{"eligibility bundle", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"CoverageEligibilityRequest"}}]}`, true, "allow.operation"},
		{"eligibility with a Patient", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"Patient"}`, false, "policy.body.type-mismatch"},
		{"eligibility bundle smuggling a bundle", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Bundle","type":"collection"}}]}`, false, "policy.bundle.nested"},
		{"subscription status by GET", "GET", "/fhir/Subscription/s1/$status", ``, true, "allow.operation"},
		{"subscription events by POST", "POST", "/fhir/Subscription/s1/$events", ``, true, "allow.operation"},
		{"subscription events with a body", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters"}`, false, "policy.body.unexpected"},
		{"eligibility by GET", "GET", "/fhir/CoverageEligibilityRequest/$submit", ``, false, "policy.operation.method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := fhirreq.Parse(httptest.NewRequest(tt.method, "https://gw"+tt.target, strings.NewReader(tt.body)), "/fhir")
			if err != nil {
				t.Fatal(err)
			}
			d := eng.Decide(Input{Partner: partner, Scopes: scopes, Request: req, Body: []byte(tt.body), Identity: id})
			if d.Allow != tt.allow || d.Rule != tt.rule {
				t.Errorf("decision = %+v, want allow %v rule %s", d, tt.allow, tt.rule)
			}
		})
	}
}
