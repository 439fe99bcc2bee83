package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// otherPartnersClaim is a Claim identifier that only another partner sent.
var otherPartnersClaim = congruence.Identifier{System: "urn:example:ehr:claims", Value: "claim-of-other-ehr"}

// claimResponseAnswering is a ClaimResponse from this payer to the demo
// partner about member B, whom the demo partner named, with request as
// the JSON of ClaimResponse.request ("" for none).
func claimResponseAnswering(request string) string {
	body := claimResponseFor(outboundMemberB)
	old := `,"request":{"identifier":` + identifierJSON(outboundClaimB) + `}`
	if !strings.Contains(body, old) {
		panic("claimResponseFor no longer names outboundClaimB")
	}
	if request != "" {
		request = `,"request":` + request
	}
	return strings.Replace(body, old, request, 1)
}

// startClaimOutbound starts an outbound gateway allowing interactions,
// with member B linked to the demo partner, outboundClaimB sent by the
// demo partner and otherPartnersClaim sent by another partner.
func startClaimOutbound(t *testing.T, interactions ...string) (*harness, *fakeEHR, *http.Client, string) {
	t.Helper()
	h, ehr, engine, base := startOutbound(t, nil, interactions...)
	linkPatients(t, h, devmode.PartnerID, outboundMemberB)
	linkClaims(t, h, devmode.PartnerID, outboundClaimB)
	linkClaims(t, h, "other-ehr", otherPartnersClaim)
	return h, ehr, engine, base
}

// requireOutboundClaimRejected posts body to path on the outbound
// listener. The gateway must reject it with 403 congruence.outbound-claim,
// record one refusal and send the partner nothing.
func requireOutboundClaimRejected(t *testing.T, interaction, path, body string) {
	t.Helper()
	h, ehr, engine, base := startClaimOutbound(t, interaction)

	resp, got := postOutbound(t, engine, base+path, body)

	requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", "congruence.outbound-claim"})
}

// requireOutboundForwarded posts body as FHIR JSON to url on the outbound
// listener, requires it to reach the partner, and returns the response.
func requireOutboundForwarded(t *testing.T, engine *http.Client, ehr *fakeEHR, url, body string) *http.Response {
	t.Helper()
	resp, got := postOutbound(t, engine, url, body)
	if n := ehr.calls.Load(); n != 1 {
		t.Fatalf("the partner received %d calls, want 1 (status %d: %s)", n, resp.StatusCode, got)
	}
	return resp
}

// A compromised engine sends the demo partner a ClaimResponse about the
// partner's own member B that responds to another partner's claim. The patient
// passes, so only the claim rule stops it.
func TestOutboundClaimResponseOtherPartnersClaimRejected(t *testing.T) {
	requireOutboundClaimRejected(t, "ClaimResponse.create", "/ClaimResponse",
		claimResponseAnswering(`{"identifier":`+identifierJSON(otherPartnersClaim)+`}`))
}

// A ClaimResponse to a claim that no partner sent is rejected too:
// the destination must have sent the claim, not only no one else.
func TestOutboundClaimResponseUnsentClaimRejected(t *testing.T) {
	unsent := congruence.Identifier{System: "urn:example:ehr:claims", Value: "claim-never-sent"}
	requireOutboundClaimRejected(t, "ClaimResponse.create", "/ClaimResponse",
		claimResponseAnswering(`{"identifier":`+identifierJSON(unsent)+`}`))
}

// A ClaimResponse whose request names no identifier the gateway can read
// may respond to anyone's claim, so it is rejected.
func TestOutboundClaimResponseWithoutClaimIdentifierRejected(t *testing.T) {
	tests := []struct {
		name, request string
	}{
		{"no request", ""},
		{"reference on the partner's server", `{"reference":"Claim/123"}`},
		{"display only", `{"display":"the partner's claim"}`},
		{"identifier without system", `{"identifier":{"value":"` + outboundClaimB.Value + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireOutboundClaimRejected(t, "ClaimResponse.create", "/ClaimResponse", claimResponseAnswering(tt.request))
		})
	}
}

// claimNotification is a history Bundle shaped like the built-in payer's
// full-resource notifications: the SubscriptionStatus, a ClaimResponse
// about member B responding to the Claim whose identifier is claim, and member
// B's Patient entry that the ClaimResponse references.
func claimNotification(claim congruence.Identifier) string {
	const patientURN = "urn:uuid:00000000-0000-4000-8000-000000000002"
	npi := func(v string) string {
		return `{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"` + v + `"}}`
	}
	status := `{"fullUrl":"urn:uuid:00000000-0000-4000-8000-0000000000f0","resource":{"resourceType":"Parameters","parameter":[` +
		`{"name":"type","valueCode":"event-notification"},{"name":"notification-event","part":[` +
		`{"name":"event-number","valueString":"1"},{"name":"focus","valueReference":{"reference":"urn:uuid:00000000-0000-4000-8000-000000000001"}}]}]},` +
		`"request":{"method":"GET","url":"https://gatehouse.example/fhir/Subscription/s1/$status"},"response":{"status":"200"}}`
	claimResponse := `{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001","resource":{"resourceType":"ClaimResponse","id":"cr1","status":"active",` +
		`"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},` +
		`"use":"preauthorization","patient":{"reference":"` + patientURN + `"},"created":"2026-12-01T10:00:00Z",` +
		`"insurer":` + npi("1234567893") + `,"requestor":` + npi(devmode.PartnerNPI) + `,` +
		`"request":{"identifier":` + identifierJSON(claim) + `},"outcome":"complete"},` +
		`"request":{"method":"PUT","url":"ClaimResponse/cr1"},"response":{"status":"200"}}`
	patient := `{"fullUrl":"` + patientURN + `","resource":{"resourceType":"Patient","id":"p1","identifier":[` + identifierJSON(outboundMemberB) + `]},` +
		`"request":{"method":"PUT","url":"Patient/p1"},"response":{"status":"200"}}`
	return `{"resourceType":"Bundle","type":"history","entry":[` + status + `,` + claimResponse + `,` + patient + `]}`
}

// A compromised engine delivers, as a Subscription notification to the
// demo partner's rest-hook, a decision on another partner's claim about
// member B.
func TestOutboundNotificationOtherPartnersClaimRejected(t *testing.T) {
	requireOutboundClaimRejected(t, "$subscription-hook", "/$subscription-hook", claimNotification(otherPartnersClaim))
}

// The same notification about the demo partner's own claim reaches the
// partner, so the rejection above comes from the claim rule.
func TestOutboundNotificationOwnClaimForwarded(t *testing.T) {
	_, ehr, engine, base := startClaimOutbound(t, "$subscription-hook")
	requireOutboundForwarded(t, engine, ehr, base+"/$subscription-hook", claimNotification(outboundClaimB))
}

// The demo partner submits a PAS request through the inbound listener,
// which links its Claim identifier to that partner alone. A ClaimResponse
// responding to that claim then reaches the partner.
func TestOutboundAnswerToSubmittedClaimForwarded(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "ClaimResponse.create")
	submitExample(t, h)
	submitted := exampleClaim
	for _, tt := range []struct {
		partner string
		want    bool
	}{{devmode.PartnerID, true}, {"other-ehr", false}} {
		links, err := h.rt.PatientLinks().LookupClaims(context.Background(), tt.partner, []congruence.Identifier{submitted})
		if err != nil {
			t.Fatal(err)
		}
		if links[0].Partner != tt.want {
			t.Errorf("claim linked to %s = %v, want %v", tt.partner, links[0].Partner, tt.want)
		}
	}

	body := strings.Replace(claimResponseFor(examplePatient), identifierJSON(outboundClaimB), identifierJSON(submitted), 1)
	requireOutboundForwarded(t, engine, ehr, base+"/ClaimResponse", body)
}

// Another partner submits a Claim under the identifier the demo partner
// already sent, so the identifier is linked to both. A response to it may
// respond to either partner's claim, so the gateway sends it to neither. The
// demo partner's own link must not let it through.
func TestOutboundClaimResponseSharedClaimRejected(t *testing.T) {
	tests := []struct {
		name, interaction, path, body string
	}{
		{"ClaimResponse", "ClaimResponse.create", "/ClaimResponse",
			claimResponseAnswering(`{"identifier":` + identifierJSON(outboundClaimB) + `}`)},
		{"notification", "$subscription-hook", "/$subscription-hook", claimNotification(outboundClaimB)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, ehr, engine, base := startClaimOutbound(t, tt.interaction)
			linkClaims(t, h, "other-ehr", outboundClaimB)

			resp, got := postOutbound(t, engine, base+tt.path, tt.body)

			requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", "congruence.outbound-claim"})
			if entries := h.entries(resp); len(entries) == 1 && !strings.Contains(entries[0].Reason, "both sent") {
				t.Errorf("recorded reason = %q, want the shared-identifier reason", entries[0].Reason)
			}
		})
	}
}
