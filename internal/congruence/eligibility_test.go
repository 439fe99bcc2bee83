package congruence

import (
	"strings"
	"testing"
)

func eligibilityRequest(fields string) string {
	return `{"resourceType":"CoverageEligibilityRequest","status":"active","purpose":["validation"],"created":"2026-03-01"` + fields + `}`
}

func eligibilityBundle(request string, entries ...string) string {
	all := append([]string{`{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001","resource":` + request + `}`}, entries...)
	return `{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(all, ",") + `]}`
}

func organizationEntry(uuid, npi string) string {
	return `{"fullUrl":"urn:uuid:` + uuid + `","resource":{"resourceType":"Organization","id":"o` + uuid[len(uuid)-1:] +
		`","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"` + npi + `"}]}}`
}

func TestCheckEligibility(t *testing.T) {
	c := mustChecker(t, demoPayer)
	payer := `,"insurer":` + npiRef(demoPayer.Value)
	const orgA, orgB = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
	tests := []struct {
		name string
		body string
		rule string // "" when the body passes
		path string
	}{
		{"insurer by identifier", eligibilityRequest(payer), "", ""},
		{"own provider by identifier", eligibilityRequest(payer + `,"provider":` + npiRef(demoOrg.Value)), "", ""},
		{"another provider", eligibilityRequest(payer + `,"provider":` + npiRef("9999999991")),
			"congruence.provider", "CoverageEligibilityRequest.provider"},
		{"another insurer", eligibilityRequest(`,"insurer":` + npiRef("9876543210")),
			"congruence.insurer", "CoverageEligibilityRequest.insurer"},
		{"insurer by display only", eligibilityRequest(`,"insurer":{"display":"Health Plan"}`),
			"congruence.insurer", "CoverageEligibilityRequest.insurer"},
		{"contained provider without a Bundle", eligibilityRequest(payer + `,"contained":[{"resourceType":"Organization","id":"o","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}]}],"provider":{"reference":"#o"}`),
			"congruence.provider", "CoverageEligibilityRequest.provider"},
		{"Bundle, parties resolved", eligibilityBundle(eligibilityRequest(`,"insurer":{"reference":"urn:uuid:`+orgB+`"},"provider":{"reference":"urn:uuid:`+orgA+`"}`),
			organizationEntry(orgA, demoOrg.Value), organizationEntry(orgB, demoPayer.Value)), "", ""},
		{"Bundle, provider resolves to another organisation", eligibilityBundle(eligibilityRequest(payer+`,"provider":{"reference":"urn:uuid:`+orgA+`"}`),
			organizationEntry(orgA, "9999999991")), "congruence.provider", "Bundle.entry[0].resource.provider"},
		{"Bundle, insurer resolves to another payer", eligibilityBundle(eligibilityRequest(`,"insurer":{"reference":"urn:uuid:`+orgB+`"}`),
			organizationEntry(orgB, "9876543210")), "congruence.insurer", "Bundle.entry[0].resource.insurer"},
		{"Bundle, provider does not resolve", eligibilityBundle(eligibilityRequest(payer + `,"provider":{"reference":"Organization/elsewhere"}`)),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"Bundle, second request for another provider", eligibilityBundle(eligibilityRequest(payer),
			`{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000002","resource":`+eligibilityRequest(payer+`,"provider":`+npiRef("9999999991"))+`}`),
			"congruence.provider", "Bundle.entry[1].resource.provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantMismatch(t, c.CheckEligibility(demoIdentity(), []byte(tt.body)), tt.rule, tt.path)
		})
	}
}

// CoverageEligibilityRequest.insurer is required (1..1 in R4). Without it,
// or with a JSON null, nothing states that the request is for this payer, and
// the built-in payer takes a null as an insurer.
func TestCheckEligibilityInsurerMissing(t *testing.T) {
	c := mustChecker(t, demoPayer)
	provider := `,"provider":` + npiRef(demoOrg.Value)
	for name, body := range map[string]string{
		"alone":          eligibilityRequest(provider),
		"null":           eligibilityRequest(provider + `,"insurer":null`),
		"in a Bundle":    eligibilityBundle(eligibilityRequest(provider)),
		"null in Bundle": eligibilityBundle(eligibilityRequest(provider + `,"insurer":null`)),
	} {
		t.Run(name, func(t *testing.T) {
			m := c.CheckEligibility(demoIdentity(), []byte(body))
			if m == nil || m.Rule != "congruence.insurer" {
				t.Fatalf("got %+v, want congruence.insurer", m)
			}
		})
	}
}

// The built-in payer reads the first entry of a Bundle as the request, so
// a Bundle that does not start with a CoverageEligibilityRequest has no
// request the gateway checked.
func TestCheckEligibilityBundleFirstEntry(t *testing.T) {
	c := mustChecker(t, demoPayer)
	patient := `{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000009","resource":{"resourceType":"Patient","id":"p"}}`
	request := eligibilityRequest(`,"insurer":` + npiRef(demoPayer.Value))
	tests := map[string]string{
		"request second": `{"resourceType":"Bundle","type":"collection","entry":[` + patient +
			`,{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001","resource":` + request + `}]}`,
		"no request": `{"resourceType":"Bundle","type":"collection","entry":[` + patient + `]}`,
		"no entries": `{"resourceType":"Bundle","type":"collection"}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			m := c.CheckEligibility(demoIdentity(), []byte(body))
			if m == nil || m.Rule != "congruence.eligibility.request" {
				t.Fatalf("got %+v, want congruence.eligibility.request", m)
			}
		})
	}
}
