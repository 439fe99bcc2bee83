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
		{"eligibility request", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"CoverageEligibilityRequest","insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}}`, true, "allow.operation"},
		{"eligibility bundle", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"CoverageEligibilityRequest","insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}}}]}`, true, "allow.operation"},
		{"eligibility with a Patient", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"Patient"}`, false, "policy.body.type-mismatch"},
		{"eligibility bundle of type batch", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"CoverageEligibilityRequest","insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}}}]}`, false, "policy.bundle.type"},
		{"eligibility bundle entry with a request", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"CoverageEligibilityRequest","insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}},"request":{"method":"DELETE","url":"Patient/1"}}]}`, false, "policy.bundle.entry-request"},
		{"eligibility bundle smuggling a bundle", "POST", "/fhir/CoverageEligibilityRequest/$submit", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Bundle","type":"collection"}}]}`, false, "policy.bundle.nested"},
		{"subscription status by GET", "GET", "/fhir/Subscription/s1/$status", ``, true, "allow.operation"},
		{"subscription events by POST", "POST", "/fhir/Subscription/s1/$events", ``, true, "allow.operation"},
		{"subscription status with a body", "POST", "/fhir/Subscription/s1/$status", `{"resourceType":"Parameters"}`, false, "policy.body.unexpected"},
		{"subscription status with a range", "GET", "/fhir/Subscription/s1/$status?eventsSinceNumber=1", ``, false, "policy.param.not-allowed"},
		{"events range by GET", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=101&eventsUntilNumber=200&content=id-only", ``, true, "allow.operation"},
		{"events since only", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=7", ``, true, "allow.operation"},
		{"events with _pretty", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=7&_pretty=true", ``, true, "allow.operation"},
		{"events number zero", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=0", ``, false, "policy.param.not-allowed"},
		{"events negative number", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=-1", ``, false, "policy.param.not-allowed"},
		{"events leading zero", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=07", ``, false, "policy.param.not-allowed"},
		{"events signed number", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=%2B7", ``, false, "policy.param.not-allowed"},
		{"events number list", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=1,2", ``, false, "policy.param.not-allowed"},
		{"events number too long", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=9999999999999999999", ``, false, "policy.param.not-allowed"},
		{"events duplicate", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber=1&eventsSinceNumber=101", ``, false, "policy.param.not-allowed"},
		{"events unknown content", "GET", "/fhir/Subscription/s1/$events?content=everything", ``, false, "policy.param.not-allowed"},
		{"events modifier", "GET", "/fhir/Subscription/s1/$events?eventsSinceNumber:exact=1", ``, false, "policy.param.not-allowed"},
		{"events unknown parameter", "GET", "/fhir/Subscription/s1/$events?patient=123", ``, false, "policy.param.not-allowed"},
		{"events _count", "GET", "/fhir/Subscription/s1/$events?_count=500", ``, false, "policy.param.not-allowed"},
		{"events _include", "GET", "/fhir/Subscription/s1/$events?_include=Subscription:topic", ``, false, "policy.param.not-allowed"},
		{"events range in a POST query", "POST", "/fhir/Subscription/s1/$events?eventsSinceNumber=1", ``, false, "policy.param.not-allowed"},
		{"events range by POST", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters","parameter":[{"name":"eventsSinceNumber","valueString":"101"},{"name":"eventsUntilNumber","valueString":"200"},{"name":"content","valueCode":"full-resource"}]}`, true, "allow.operation"},
		{"events empty Parameters", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters"}`, true, "allow.operation"},
		{"events body not Parameters", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Bundle","type":"collection"}`, false, "policy.param.not-allowed"},
		{"events body extra element", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters","id":"x","parameter":[]}`, false, "policy.param.not-allowed"},
		{"events body integer type", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters","parameter":[{"name":"eventsSinceNumber","valueInteger":101}]}`, false, "policy.param.not-allowed"},
		{"events body two values", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters","parameter":[{"name":"eventsSinceNumber","valueString":"1","valueCode":"1"}]}`, false, "policy.param.not-allowed"},
		{"events body duplicate", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters","parameter":[{"name":"content","valueCode":"empty"},{"name":"content","valueCode":"id-only"}]}`, false, "policy.param.not-allowed"},
		{"events body unknown name", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueString":"1"}]}`, false, "policy.param.not-allowed"},
		{"events body empty number", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters","parameter":[{"name":"eventsUntilNumber","valueString":""}]}`, false, "policy.param.not-allowed"},
		{"events body bad number", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters","parameter":[{"name":"eventsUntilNumber","valueString":"1e3"}]}`, false, "policy.param.not-allowed"},
		{"events body nested part", "POST", "/fhir/Subscription/s1/$events", `{"resourceType":"Parameters","parameter":[{"name":"content","part":[]}]}`, false, "policy.param.not-allowed"},
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
