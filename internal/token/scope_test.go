package token

import (
	"slices"
	"strings"
	"testing"
)

// oc is the system of the FHIR R4 Observation category codes.
const oc = "http://terminology.hl7.org/CodeSystem/observation-category"

func TestGrantScopes(t *testing.T) {
	tests := []struct {
		name                  string
		requested, registered string
		want                  string
	}{
		{"exact", "system/Claim.rs", "system/Claim.rs", "system/Claim.rs"},
		{"v1 against v2 registration", "system/Claim.read", "system/Claim.rs", "system/Claim.read"},
		{"v2 against v1 registration", "system/Claim.rs", "system/Claim.read", "system/Claim.rs"},
		{"wider request narrowed", "system/Claim.*", "system/Claim.rs", "system/Claim.rs"},
		{"granular registration narrows", "system/Observation.rs", "system/Observation.rs?category=laboratory", "system/Observation.rs?category=laboratory"},
		{"granular request within plain registration", "system/Observation.rs?category=laboratory", "system/Observation.rs", "system/Observation.rs?category=laboratory"},
		{"token request within granular registration", "system/Observation.rs?category=" + oc + "|laboratory", "system/Observation.rs?category=laboratory",
			"system/Observation.rs?category=" + oc + "|laboratory"},
		{"granular registration within token request", "system/Observation.rs?category=laboratory", "system/Observation.rs?category=" + oc + "|laboratory",
			"system/Observation.rs?category=" + oc + "|laboratory"},
		{"token restrictions not nested", "system/Observation.rs?category=" + oc + "|", "system/Observation.rs?category=laboratory", ""},
		{"operation grant", "system/Claim.$submit system/Claim.rs", "system/Claim.$submit system/Claim.rs", "system/Claim.$submit system/Claim.rs"},
		{"operation not implied by cruds", "system/Claim.$submit", "system/Claim.cruds", ""},
		{"wildcard without registration", "system/*.rs", "system/Claim.rs", ""},
		{"wildcard registered", "system/*.rs", "system/*.read", "system/*.rs"},
		{"wildcard registered covers a type", "system/Claim.read", "system/*.read", "system/Claim.read"},
		{"patient context", "patient/Claim.rs", "system/Claim.rs", ""},
		{"case variant", "system/claim.rs", "system/Claim.rs", ""},
		{"unknown tokens ignored", "openid system/Claim.rs", "system/Claim.rs", "system/Claim.rs"},
		{"empty restriction", "system/Claim.rs?", "system/Claim.rs", ""},
		{"repeated requests collapse", "system/Claim.r system/Claim.rs system/Claim.read", "system/Claim.rs", "system/Claim.rs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := grantScopes(strings.Fields(tt.requested), strings.Fields(tt.registered))
			if want := strings.Fields(tt.want); !slices.Equal(got, want) {
				t.Errorf("grantScopes = %q, want %q", got, want)
			}
		})
	}
}
