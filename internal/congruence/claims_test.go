package congruence

import (
	"slices"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

var (
	ownClaim   = Identifier{System: "urn:example:ehr:claims", Value: "claim-own"}
	otherClaim = Identifier{System: "urn:example:ehr:claims", Value: "claim-other"}
)

func claimResource(id string, ids ...Identifier) string {
	s := `{"resourceType":"Claim","id":"` + id + `","status":"active","insurer":` + npiRef(demoPayer.Value) +
		`,"provider":` + npiRef(demoOrg.Value) + `,"identifier":[`
	for i, c := range ids {
		if i > 0 {
			s += ","
		}
		s += `{"system":"` + c.System + `","value":"` + c.Value + `"}`
	}
	return s + `]}`
}

func TestCheckOutboundNamedClaims(t *testing.T) {
	c := mustChecker(t, demoPayer)
	payer := `,"insurer":` + npiRef(demoPayer.Value)
	const crURN, claimURN = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000003"
	byURN := `"request":{"reference":"urn:uuid:` + claimURN + `"}`
	tests := []struct {
		name string
		body string
		want []NamedClaim
		rule string
		path string
	}{
		{"request by identifier", bareClaimResponse(payer + `,"request":` + memberRef(ownClaim)),
			[]NamedClaim{{"ClaimResponse.request", []Identifier{ownClaim}}}, "", ""},
		{"request missing", bareClaimResponse(payer), nil, claimRule, "ClaimResponse.request"},
		{"request with display only", bareClaimResponse(payer + `,"request":{"display":"claim"}`), nil, claimRule, "ClaimResponse.request"},
		{"request identifier without system", bareClaimResponse(payer + `,"request":{"identifier":{"value":"claim-own"}}`),
			nil, claimRule, "ClaimResponse.request"},
		{"request on the partner's server", bareClaimResponse(payer + `,"request":{"reference":"Claim/123"}`),
			nil, claimRule, "ClaimResponse.request"},
		{"request on the partner's server with identifier", bareClaimResponse(payer + `,"request":{"reference":"Claim/123","identifier":` +
			`{"system":"` + ownClaim.System + `","value":"` + ownClaim.Value + `"}}`), nil, claimRule, "ClaimResponse.request"},
		{"contained Claim", bareClaimResponse(payer + `,"request":{"reference":"#c"},"contained":[` + claimResource("c", ownClaim) + `]`),
			[]NamedClaim{{"ClaimResponse.request", []Identifier{ownClaim}}}, "", ""},
		{"contained non-Claim", bareClaimResponse(payer + `,"request":{"reference":"#c"},"contained":[{"resourceType":"Organization","id":"c"}]`),
			nil, claimRule, "ClaimResponse.request"},
		{"contained Claim without identifier", bareClaimResponse(payer + `,"request":{"reference":"#c"},"contained":[` + claimResource("c") + `]`),
			nil, claimRule, "ClaimResponse.request"},
		{"Claim entry of the Bundle", notification(
			entry(crURN, bareClaimResponse(payer+`,`+byURN)),
			entry(claimURN, claimResource("c", ownClaim, otherClaim))),
			[]NamedClaim{{"Bundle.entry[1].resource.request", []Identifier{ownClaim, otherClaim}}}, "", ""},
		{"Bundle reference beside another identifier", notification(
			entry(crURN, bareClaimResponse(payer+`,"request":{"reference":"urn:uuid:`+claimURN+`","identifier":`+
				`{"system":"`+otherClaim.System+`","value":"`+otherClaim.Value+`"}}`)),
			entry(claimURN, claimResource("c", ownClaim))),
			nil, claimRule, "Bundle.entry[1].resource.request.identifier"},
		{"Bundle reference to a non-Claim", notification(
			entry(crURN, bareClaimResponse(payer+`,`+byURN)),
			entry(claimURN, patientResource("p", memberA))),
			nil, claimRule, "Bundle.entry[1].resource.request"},
		{"ClaimResponse in a Parameters", `{"resourceType":"Parameters","parameter":[{"name":"r","resource":` +
			bareClaimResponse(payer+`,"request":`+memberRef(otherClaim)) + `}]}`,
			[]NamedClaim{{"Parameters.parameter[0].resource.request", []Identifier{otherClaim}}}, "", ""},
		{"ClaimResponse in a Parameters without request", `{"resourceType":"Parameters","parameter":[{"name":"r","resource":` +
			bareClaimResponse(payer) + `}]}`, nil, claimRule, "Parameters.parameter[0].resource.request"},
		{"contained ClaimResponse without request", `{"resourceType":"Task","status":"requested","intent":"order","requester":` +
			npiRef(demoPayer.Value) + `,"contained":[` + bareClaimResponse(payer) + `]}`, nil, claimRule, "Task.contained[0].request"},
		{"Claim alone names no answer", claimResource("c", otherClaim), nil, "", ""},
		{"id-only notification", notification(`{"fullUrl":"https://gatehouse.example/fhir/ClaimResponse/cr1",` +
			`"request":{"method":"PUT","url":"ClaimResponse/cr1"},"response":{"status":"200"}}`), nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, m := c.CheckOutboundNamed(demoOrg, []byte(tt.body))
			if tt.rule != "" {
				wantMismatch(t, m, tt.rule, tt.path)
				return
			}
			if m != nil {
				t.Fatalf("mismatch %s at %s: %s", m.Rule, m.Path, m.Reason)
			}
			if !slices.EqualFunc(got.Claims, tt.want, func(a, b NamedClaim) bool {
				return a.Path == b.Path && slices.Equal(a.Identifiers, b.Identifiers)
			}) {
				t.Errorf("claims = %+v, want %+v", got.Claims, tt.want)
			}
		})
	}
}

func TestClaimIdentifiers(t *testing.T) {
	body := `{"resourceType":"Bundle","type":"collection","entry":[` +
		entry("00000000-0000-4000-8000-000000000001", claimResource("a", ownClaim, Identifier{System: "urn:s"})) + `,` +
		entry("00000000-0000-4000-8000-000000000002", claimResource("b", otherClaim, ownClaim)) + `,` +
		entry("00000000-0000-4000-8000-000000000003", patientResource("p", memberA)) + `]}`
	b, err := fhirreq.ParseBundle([]byte(body))
	if err != nil {
		t.Fatal(err)
	}

	got := ClaimIdentifiers(b)

	if want := []Identifier{ownClaim, otherClaim}; !slices.Equal(got, want) {
		t.Errorf("ClaimIdentifiers = %+v, want %+v", got, want)
	}
}
