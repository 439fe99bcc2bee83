package congruence

import (
	"strings"
	"testing"
)

// claimResponse is a ClaimResponse with fields added, responding to the
// Claim whose identifier is ownClaim.
func claimResponse(fields string) string {
	return bareClaimResponse(`,"request":` + memberRef(ownClaim) + fields)
}

// bareClaimResponse is a ClaimResponse with fields added and no request.
func bareClaimResponse(fields string) string {
	return `{"resourceType":"ClaimResponse","status":"active","use":"preauthorization","outcome":"complete"` + fields + `}`
}

// notification wraps resources in a history Bundle like the payer's
// Subscription notifications: a SubscriptionStatus first, then the focus
// and its context.
func notification(entries ...string) string {
	status := `{"fullUrl":"urn:uuid:00000000-0000-4000-8000-0000000000f0","resource":{"resourceType":"Parameters","parameter":[{"name":"type","valueCode":"event-notification"}]},` +
		`"request":{"method":"GET","url":"https://gatehouse.example/fhir/Subscription/s1/$status"},"response":{"status":"200"}}`
	return `{"resourceType":"Bundle","type":"history","entry":[` + strings.Join(append([]string{status}, entries...), ",") + `]}`
}

func entry(uuid, resource string) string {
	return `{"fullUrl":"urn:uuid:` + uuid + `","resource":` + resource + `}`
}

func TestCheckOutbound(t *testing.T) {
	c := mustChecker(t, demoPayer, pas201Payr)
	payer := `"insurer":` + npiRef(demoPayer.Value)
	partner := `"requestor":` + npiRef(demoOrg.Value)
	const orgA, orgB, roleC = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000c"
	byURN := func(field, uuid string) string { return `"` + field + `":{"reference":"urn:uuid:` + uuid + `"}` }
	role := entry(roleC, `{"resourceType":"PractitionerRole","id":"c","organization":{"reference":"urn:uuid:`+orgA+`"}}`)
	tests := []struct {
		name string
		body string
		rule string // "" when the body passes
		path string
	}{
		{"ClaimResponse by identifiers", claimResponse(`,` + payer + `,` + partner), "", ""},
		{"ClaimResponse by payer alias", claimResponse(`,"insurer":` + npiRef(pas201Payr.Value)), "", ""},
		{"ClaimResponse without requestor", claimResponse(`,` + payer), "", ""},
		{"ClaimResponse of another insurer", claimResponse(`,"insurer":` + npiRef("9999999999") + `,` + partner),
			"congruence.outbound-insurer", "ClaimResponse.insurer"},
		{"ClaimResponse for another requestor", claimResponse(`,` + payer + `,"requestor":` + npiRef("1111111111")),
			"congruence.outbound-requestor", "ClaimResponse.requestor"},
		{"ClaimResponse without insurer", claimResponse(``), "congruence.outbound-insurer", "ClaimResponse.insurer"},
		{"ClaimResponse insurer by display", claimResponse(`,"insurer":{"display":"Health Plan"}`),
			"congruence.outbound-insurer", "ClaimResponse.insurer"},
		{"ClaimResponse requestor on the partner's server", claimResponse(`,` + payer + `,"requestor":{"reference":"Organization/123"}`),
			"congruence.outbound-requestor", "ClaimResponse.requestor"},
		{"ClaimResponse literal beside the right identifier", claimResponse(`,` + payer + `,"requestor":{"reference":"Organization/123","identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}}`),
			"congruence.outbound-requestor", "ClaimResponse.requestor"},
		{"notification resolved in the Bundle", notification(
			entry("00000000-0000-4000-8000-000000000001", claimResponse(`,`+byURN("insurer", orgB)+`,`+byURN("requestor", orgA))),
			organizationEntry(orgA, demoOrg.Value), organizationEntry(orgB, demoPayer.Value)), "", ""},
		{"notification with a PractitionerRole requestor", notification(
			entry("00000000-0000-4000-8000-000000000001", claimResponse(`,`+byURN("insurer", orgB)+`,`+byURN("requestor", roleC))),
			role, organizationEntry(orgA, demoOrg.Value), organizationEntry(orgB, demoPayer.Value)), "", ""},
		{"notification naming another payer's organisation", notification(
			entry("00000000-0000-4000-8000-000000000001", claimResponse(`,`+byURN("insurer", orgB)+`,`+byURN("requestor", orgA))),
			organizationEntry(orgA, demoOrg.Value), organizationEntry(orgB, "9999999999")),
			"congruence.outbound-insurer", "Bundle.entry[1].resource.insurer"},
		{"notification for another partner's organisation", notification(
			entry("00000000-0000-4000-8000-000000000001", claimResponse(`,`+byURN("insurer", orgB)+`,`+byURN("requestor", orgA))),
			organizationEntry(orgA, "1111111111"), organizationEntry(orgB, demoPayer.Value)),
			"congruence.outbound-requestor", "Bundle.entry[1].resource.requestor"},
		{"notification with an unresolved requestor", notification(
			entry("00000000-0000-4000-8000-000000000001", claimResponse(`,`+payer+`,"requestor":{"reference":"Organization/123"}`))),
			"congruence.outbound-requestor", "Bundle.entry[1].resource.requestor"},
		{"Coverage of this payer", `{"resourceType":"Coverage","status":"active","payor":[` + npiRef(demoPayer.Value) + `]}`, "", ""},
		{"Coverage with a second payor", `{"resourceType":"Coverage","status":"active","payor":[` + npiRef(demoPayer.Value) + `,` + npiRef("9999999999") + `]}`,
			"congruence.outbound-payor", "Coverage.payor[1]"},
		{"Coverage without payor", `{"resourceType":"Coverage","status":"active"}`, "congruence.outbound-payor", "Coverage.payor"},
		{"Task from this payer to the partner", `{"resourceType":"Task","status":"requested","intent":"order","requester":` + npiRef(demoPayer.Value) + `,"owner":` + npiRef(demoOrg.Value) + `}`, "", ""},
		{"Task from another requester", `{"resourceType":"Task","status":"requested","intent":"order","requester":` + npiRef("9999999999") + `}`,
			"congruence.outbound-requester", "Task.requester"},
		{"Task without requester", `{"resourceType":"Task","status":"requested","intent":"order"}`,
			"congruence.outbound-requester", "Task.requester"},
		{"Task owned by another organisation", `{"resourceType":"Task","status":"requested","intent":"order","requester":` + npiRef(demoPayer.Value) + `,"owner":` + npiRef("1111111111") + `}`,
			"congruence.outbound-owner", "Task.owner"},
		{"Claim for the partner", `{"resourceType":"Claim","status":"active",` + payer + `,"provider":` + npiRef(demoOrg.Value) + `}`, "", ""},
		{"Claim for another provider", `{"resourceType":"Claim","status":"active",` + payer + `,"provider":` + npiRef("1111111111") + `}`,
			"congruence.outbound-provider", "Claim.provider"},
		{"eligibility response of another insurer", `{"resourceType":"CoverageEligibilityResponse","status":"active","insurer":` + npiRef("9999999999") + `}`,
			"congruence.outbound-insurer", "CoverageEligibilityResponse.insurer"},
		{"eligibility response for another requestor", `{"resourceType":"CoverageEligibilityResponse","status":"active",` + payer + `,"requestor":` + npiRef("1111111111") + `}`,
			"congruence.outbound-requestor", "CoverageEligibilityResponse.requestor"},
		{"Patient carries no parties", patientResource("p", memberA), "", ""},
		{"ClaimResponse contained in a Task", `{"resourceType":"Task","status":"requested","intent":"order","requester":` + npiRef(demoPayer.Value) +
			`,"contained":[` + claimResponse(`,"insurer":`+npiRef("9999999999")) + `]}`,
			"congruence.outbound-insurer", "Task.contained[0].insurer"},
		{"ClaimResponse in a Parameters part", `{"resourceType":"Parameters","parameter":[{"name":"a","part":[{"name":"b","resource":` +
			claimResponse(`,"insurer":`+npiRef("9999999999")) + `}]}]}`,
			"congruence.outbound-insurer", "Parameters.parameter[0].part[0].resource.insurer"},
		{"Coverage in a Bundle inside a Bundle", `{"resourceType":"Bundle","type":"collection","entry":[` +
			entry("00000000-0000-4000-8000-000000000001", `{"resourceType":"Bundle","type":"collection","entry":[`+
				entry("00000000-0000-4000-8000-000000000002", `{"resourceType":"Coverage","status":"active","payor":[`+npiRef("9999999999")+`]}`)+`]}`) + `]}`,
			"congruence.outbound-payor", "Bundle.entry[0].resource.entry[0].resource.payor[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantMismatch(t, c.CheckOutbound(demoOrg, []byte(tt.body)), tt.rule, tt.path)
		})
	}
}

// A partner registered without an organisation identifier cannot be
// matched, so a payload that names the partner's side is rejected.
func TestCheckOutboundPartnerWithoutOrganization(t *testing.T) {
	c := mustChecker(t, demoPayer)
	body := claimResponse(`,"insurer":` + npiRef(demoPayer.Value) + `,"requestor":` + npiRef(demoOrg.Value))
	wantMismatch(t, c.CheckOutbound(Identifier{}, []byte(body)), "congruence.outbound-requestor", "ClaimResponse.requestor")
}

func TestCheckOutboundNestingCapped(t *testing.T) {
	c := mustChecker(t, demoPayer)
	body := `{"resourceType":"Patient"}`
	for range maxOutboundNesting + 2 {
		body = `{"resourceType":"Parameters","parameter":[{"name":"p","resource":` + body + `}]}`
	}
	m := c.CheckOutbound(demoOrg, []byte(body))
	if m == nil || m.Rule != "congruence.outbound-nesting" {
		t.Fatalf("mismatch = %+v, want congruence.outbound-nesting", m)
	}
}

func TestCheckOutboundPatch(t *testing.T) {
	patch := func(path, name string) string {
		parts := `{"name":"type","valueCode":"replace"},{"name":"path","valueString":"` + path + `"}`
		if name != "" {
			parts += `,{"name":"name","valueString":"` + name + `"}`
		}
		return `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[` + parts + `]}]}`
	}
	tests := []struct {
		name, typ, body, rule string
	}{
		{"status of a ClaimResponse", "ClaimResponse", patch("ClaimResponse.status", ""), ""},
		{"insurer of a ClaimResponse", "ClaimResponse", patch("ClaimResponse.insurer", ""), "congruence.outbound-patch"},
		{"identifier inside the requestor", "ClaimResponse", patch("ClaimResponse.requestor.identifier.value", ""), "congruence.outbound-patch"},
		{"owner added to a Task", "Task", patch("Task", "owner"), "congruence.outbound-patch"},
		{"payor of a Coverage", "Coverage", patch("Coverage.payor[0]", ""), "congruence.outbound-patch"},
		{"contained of a Patient", "Patient", patch("Patient", "contained"), "congruence.outbound-patch"},
		{"name of a Patient", "Patient", patch("Patient.name[0].family", ""), "congruence.outbound-patch"},
		{"status of a Task", "Task", patch("Task.status", ""), ""},
		{"subscriber of a Coverage", "Coverage", patch("Coverage.subscriber", ""), "congruence.outbound-patch"},
		{"member added to a Group", "Group", patch("Group", "member"), "congruence.outbound-patch"},
		{"insurer-like element name", "ClaimResponse", patch("ClaimResponse.insurerNote", ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := CheckOutboundPatch(tt.typ, []byte(tt.body))
			switch {
			case tt.rule == "" && m != nil:
				t.Fatalf("mismatch %s: %s", m.Rule, m.Reason)
			case tt.rule != "" && (m == nil || m.Rule != tt.rule):
				t.Fatalf("mismatch = %+v, want %s", m, tt.rule)
			}
		})
	}
}
