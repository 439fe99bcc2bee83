package policy

import (
	"strings"
	"testing"
)

// The scopes a policy.scope refusal checks are the token's, limited to
// the partner's current registration, so its reason must name both: a
// partner whose token has the scope may be missing it from a registration
// the payer narrowed.
const (
	reasonToken        = "the access token's scopes"
	reasonRegistration = "the partner's registration"
)

// checkScopeReason checks that d is a policy.scope refusal whose reason
// names the token's scopes, the registration and shortfall.
func checkScopeReason(t *testing.T, d Decision, shortfall string) {
	t.Helper()
	if d.Allow || d.Rule != "policy.scope" || d.Status != 403 || d.Code != "forbidden" {
		t.Fatalf("decision %+v, want a policy.scope refusal with 403 forbidden", d)
	}
	if !strings.Contains(d.Reason, reasonToken) {
		t.Errorf("reason %q does not name %s", d.Reason, reasonToken)
	}
	if !strings.Contains(d.Reason, reasonRegistration) {
		t.Errorf("reason %q does not name %s", d.Reason, reasonRegistration)
	}
	if !strings.Contains(d.Reason, shortfall) {
		t.Errorf("reason %q does not contain %q", d.Reason, shortfall)
	}
}

// TestScopeReasonNamesBothSources runs one request into each branch that
// refuses with policy.scope and checks the reason of each.
func TestScopeReasonNamesBothSources(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	tests := []struct {
		name      string
		c         attackCase
		shortfall string
	}{
		{"read by id", attackCase{Partner: "demo", Scopes: "system/ClaimResponse.rs", Method: "GET", Target: "/fhir/Claim/abc"},
			"do not permit read on Claim"},
		{"granular search", attackCase{Partner: "granular", Scopes: "system/Observation.rs", Method: "GET", Target: "/fhir/Observation?category=vital-signs"},
			"do not permit search on Observation with these parameters"},
		{"operation", attackCase{Partner: "demo", Scopes: "system/Claim.rs", Method: "POST", Target: "/fhir/Claim/$submit"},
			"do not include system/Claim.$submit"},
		{"write", attackCase{Partner: "writer", Scopes: "system/Observation.rs", Method: "POST", Target: "/fhir/Observation",
			Body: []byte(`{"resourceType":"Observation"}`)},
			"do not permit create on Observation"},
		{"system history", attackCase{Partner: "bulk", Scopes: "system/Claim.rs", Method: "GET", Target: "/fhir/_history"},
			"do not include system/*.read, which system history needs"},
		{"bulk export", attackCase{Partner: "bulk", Scopes: "system/Claim.rs", Method: "GET", Target: "/fhir/$export"},
			"do not include system/*.read, which bulk $export needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, parsed := f.input(t, &tt.c)
			if parsed != nil {
				t.Fatalf("request rejected before the policy: %+v", parsed)
			}
			checkScopeReason(t, e.Decide(in), tt.shortfall)
		})
	}
}

// TestScopeReasonInAttackSuite checks the reason of every policy.scope
// case of the attack suite.
func TestScopeReasonInAttackSuite(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	for i := range f.Cases {
		c := &f.Cases[i]
		if c.Rule != "policy.scope" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			in, parsed := f.input(t, c)
			if parsed != nil {
				t.Fatalf("request rejected before the policy: %+v", parsed)
			}
			checkScopeReason(t, e.Decide(in), "")
		})
	}
}
