package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// outboundClaimResponse is a FHIR R4 ClaimResponse from the development
// payer (NPI 1234567893) with the given insurer and requestor NPIs,
// responding to the Claim whose identifier is outboundClaimB.
func outboundClaimResponse(insurer, requestor string) string {
	npi := func(v string) string {
		return `{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"` + v + `"}}`
	}
	return `{"resourceType":"ClaimResponse","status":"active",` +
		`"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},` +
		`"use":"preauthorization","patient":{"identifier":{"system":"urn:oid:2.16.840.1.113883.3.9999","value":"m1"}},` +
		`"created":"2026-12-01T10:00:00Z","insurer":` + npi(insurer) + `,"requestor":` + npi(requestor) +
		`,"request":{"identifier":` + identifierJSON(outboundClaimB) + `},"outcome":"complete"}`
}

// A compromised engine posts a ClaimResponse that names another insurer
// and another partner's organisation to the demo partner. The gateway must
// reject it with 403 and an OperationOutcome, record one refusal and send
// the partner nothing.
func TestOutboundClaimResponseOtherPartiesRejected(t *testing.T) {
	tests := []struct {
		name, insurer, requestor, rule string
	}{
		{"another insurer and requestor", "9999999999", "1111111111", "congruence.outbound-insurer"},
		{"another requestor", "1234567893", "1111111111", "congruence.outbound-requestor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, ehr, engine, base := startOutbound(t, nil, "ClaimResponse.create")

			body := outboundClaimResponse(tt.insurer, tt.requestor)
			resp, got := postOutbound(t, engine, base+"/ClaimResponse", body)

			requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", tt.rule})
		})
	}
}

// The same ClaimResponse naming this payer and the demo partner's
// organisation reaches the partner.
func TestOutboundClaimResponseOwnPartiesForwarded(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "ClaimResponse.create")
	linkPatients(t, h, devmode.PartnerID, congruence.Identifier{System: "urn:oid:2.16.840.1.113883.3.9999", Value: "m1"})
	linkClaims(t, h, devmode.PartnerID, outboundClaimB)

	body := outboundClaimResponse("1234567893", devmode.PartnerNPI)
	resp := requireOutboundForwarded(t, engine, ehr, base+"/ClaimResponse", body)
	requireNoCongruenceEntry(t, h, resp)
}

// outboundTaskPatch is a FHIRPath Patch that replaces the element at path
// of a Task.
func outboundTaskPatch(path string) string {
	return `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[` +
		`{"name":"type","valueCode":"replace"},{"name":"path","valueString":"` + path + `"},` +
		`{"name":"value","valueReference":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1111111111"}}}]}]}`
}

// A patch on a party element of a Task would move the Task to another
// organisation without the gateway seeing the result, so the engine must
// send such a change as an update. The gateway rejects the patch with 403,
// records one refusal and sends the partner nothing.
func TestOutboundPatchOnPartyRejected(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "Task.patch")
	resp, got := sendOutbound(t, engine, http.MethodPatch, base+"/Task/1", http.Header{"Content-Type": {"application/fhir+json"}}, outboundTaskPatch("Task.owner"))

	requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", "congruence.outbound-patch"})
}

// A patch on an element that names no party reaches the partner, so the
// rejection above comes from the party check and not from PATCH itself.
func TestOutboundPatchOnStatusForwarded(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "Task.patch")
	body := `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[` +
		`{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Task.status"},{"name":"value","valueCode":"completed"}]}]}`
	resp, got := sendOutbound(t, engine, http.MethodPatch, base+"/Task/1", http.Header{"Content-Type": {"application/fhir+json"}}, body)
	if n := ehr.calls.Load(); n != 1 {
		t.Fatalf("the partner received %d calls, want 1 (status %d: %s)", n, resp.StatusCode, got)
	}
	requireNoCongruenceEntry(t, h, resp)
}

// requireNoCongruenceEntry requires that no entry of resp's exchange was
// recorded under a congruence rule.
func requireNoCongruenceEntry(t *testing.T, h *harness, resp *http.Response) {
	t.Helper()
	for _, e := range h.entries(resp) {
		if strings.HasPrefix(e.Rule, "congruence.") {
			t.Errorf("entry recorded under %s: %s", e.Rule, e.Reason)
		}
	}
}
