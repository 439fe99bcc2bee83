package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// Member ids of the built-in payer's member id system, which the test
// gateway uses as member_id_systems: otherMemberID is linked only to
// another partner, ownMemberID to the demo partner.
var (
	otherMemberID = congruence.Identifier{System: "urn:gatehouse:payer:member-id", Value: "M-OTHER"}
	ownMemberID   = congruence.Identifier{System: "urn:gatehouse:payer:member-id", Value: "M-OWN"}
)

// startMemberIDOutbound starts an outbound gateway allowing interactions,
// with member A and otherMemberID linked to another partner and member B
// and ownMemberID to the demo partner.
func startMemberIDOutbound(t *testing.T, interactions ...string) (*harness, *fakeEHR, *http.Client, string) {
	t.Helper()
	h, ehr, engine, base := startOutbound(t, nil, interactions...)
	linkPatients(t, h, "other-ehr", outboundMemberA, otherMemberID)
	linkPatients(t, h, devmode.PartnerID, outboundMemberB, ownMemberID)
	return h, ehr, engine, base
}

// requireMemberIDRejected posts body to path with the links of
// startMemberIDOutbound. The gateway must reject it with 403
// congruence.outbound-patient, record one refusal and send the partner
// nothing.
func requireMemberIDRejected(t *testing.T, interaction, path, body string) {
	t.Helper()
	h, ehr, engine, base := startMemberIDOutbound(t, interaction)

	resp, got := postOutbound(t, engine, base+path, body)

	requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", "congruence.outbound-patient"})
}

// requireMemberIDForwarded posts body to path with the links of
// startMemberIDOutbound and requires it to reach the partner.
func requireMemberIDForwarded(t *testing.T, interaction, path, body string) {
	t.Helper()
	_, ehr, engine, base := startMemberIDOutbound(t, interaction)
	requireOutboundForwarded(t, engine, ehr, base+path, body)
}

// A compromised engine writes another partner's member id without its
// system next to the partner's member B. Links are keyed by system, so
// the value is looked up under every member id system.
func TestOutboundPatientMemberIDWithoutSystemRejected(t *testing.T) {
	body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `,{"value":"` + otherMemberID.Value + `"}]}`
	requireMemberIDRejected(t, "Patient.create", "/Patient", body)
}

// A member id without system that no partner named is rejected on a
// Patient too: US Core requires a system there, so only a member id
// the destination named may omit it.
func TestOutboundPatientUnsentValueWithoutSystemRejected(t *testing.T) {
	body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `,{"value":"M-UNSENT"}]}`
	requireMemberIDRejected(t, "Patient.create", "/Patient", body)
}

// The partner's own member id without its system still passes.
func TestOutboundPatientOwnMemberIDWithoutSystemForwarded(t *testing.T) {
	body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `,{"value":"` + ownMemberID.Value + `"}]}`
	requireMemberIDForwarded(t, "Patient.create", "/Patient", body)
}

// A compromised engine sends member B's Coverage with another partner's
// member id as Coverage.subscriberId, a string with no system.
func TestOutboundCoverageSubscriberIDRejected(t *testing.T) {
	requireMemberIDRejected(t, "Coverage.create", "/Coverage", coverageFor(`,"subscriberId":"`+otherMemberID.Value+`"`))
}

// A compromised engine sends member B's Coverage with another partner's
// member id as Coverage.identifier, under a system outside
// member_id_systems and without a system.
func TestOutboundCoverageIdentifierMemberIDRejected(t *testing.T) {
	cases := map[string]string{
		"unlisted system": `{"system":"urn:example:unlisted","value":"` + otherMemberID.Value + `"}`,
		"no system":       `{"value":"` + otherMemberID.Value + `"}`,
	}
	for name, id := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDRejected(t, "Coverage.create", "/Coverage", coverageFor(`,"identifier":[`+id+`]`))
		})
	}
}

// A Coverage still reaches the partner when its identifier is the
// partner's member id under another system and its subscriberId is the
// partner's own member id or a value that no partner named. A subscriber
// id often differs from the member id that the partner sent.
func TestOutboundCoverageOwnSubscriberIDForwarded(t *testing.T) {
	cases := map[string]string{
		"own member id": `,"subscriberId":"` + ownMemberID.Value + `","identifier":[{"system":"urn:example:unlisted","value":"` + ownMemberID.Value + `"}]`,
		"unlinked":      `,"subscriberId":"888009335","identifier":[{"value":"88800933501"}]`,
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDForwarded(t, "Coverage.create", "/Coverage", coverageFor(extra))
		})
	}
}

// A compromised engine names member A by a conditional reference in a
// Parameters valueReference, which is no literal reference to
// "Patient/id" and so was not read as a patient.
func TestOutboundParametersConditionalReferenceRejected(t *testing.T) {
	cases := map[string]string{
		"other member":   "Patient?identifier=" + outboundMemberA.System + "|" + outboundMemberA.Value,
		"percent-coded":  "https://ehr.example/fhir/Patient?identifier=" + outboundMemberA.System + "%7C" + outboundMemberA.Value,
		"unsent member":  "Patient?identifier=" + outboundMemberB.System + "|member-unsent",
		"by demographic": "Patient?family=Other&birthdate=1970-01-01",
		"mixed":          "Patient?identifier=" + outboundMemberB.System + "|" + outboundMemberB.Value + "&identifier=" + otherMemberID.Value,
	}
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			body := `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"` + ref + `"}}]}`
			requireMemberIDRejected(t, "Patient/$member-match", "/Patient/$member-match", body)
		})
	}
}

// observationWithReference is an Observation of member B whose focus is
// ref, outside every patient element.
func observationWithReference(ref string) string {
	return `{"resourceType":"Observation","status":"final","code":{"text":"weight"},` +
		`"focus":[{"reference":"` + ref + `"}],` +
		`"subject":{"identifier":` + identifierJSON(outboundMemberB) + `},"valueString":"80 kg"}`
}

// A compromised engine sends an Observation of member B that carries
// another partner's member id in a conditional reference in
// Observation.focus.
func TestOutboundConditionalReferenceInExtensionRejected(t *testing.T) {
	cases := map[string]string{
		"with system":    "Patient?identifier=" + otherMemberID.System + "|" + otherMemberID.Value,
		"without system": "Patient?identifier=" + otherMemberID.Value,
		"unreadable":     "Patient?identifier=%zz",
	}
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDRejected(t, "Observation.create", "/Observation", observationWithReference(ref))
		})
	}
}

// A conditional reference to the partner's own member still passes. The
// same value without its system is rejected, as in a patient element,
// because it matches that value in every identifier system
// (TestOutboundFocusConditionalPatientRejected).
func TestOutboundConditionalReferenceOwnMemberForwarded(t *testing.T) {
	cases := map[string]string{
		"with system": "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value,
	}
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDForwarded(t, "Observation.create", "/Observation", observationWithReference(ref))
		})
	}
}

// claimResponsePatientReference is a ClaimResponse from this payer to the
// demo partner whose patient element is the conditional reference ref.
func claimResponsePatientReference(ref string) string {
	body := claimResponseFor(outboundMemberB)
	old := `"patient":{"identifier":` + identifierJSON(outboundMemberB) + `}`
	if !strings.Contains(body, old) {
		panic("claimResponseFor no longer names the patient by identifier")
	}
	return strings.Replace(body, old, `"patient":{"reference":"`+ref+`"}`, 1)
}

// startConditionalOutbound starts the gateway of startMemberIDOutbound
// allowing ClaimResponse.create, with outboundClaimB sent by the demo
// partner, so that only the patient rule decides.
func startConditionalOutbound(t *testing.T) (*harness, *fakeEHR, *http.Client, string) {
	t.Helper()
	h, ehr, engine, base := startMemberIDOutbound(t, "ClaimResponse.create")
	linkClaims(t, h, devmode.PartnerID, outboundClaimB)
	return h, ehr, engine, base
}

// A ClaimResponse whose patient is a conditional reference to the demo
// partner's own member passes strict mode and reaches the partner
// unchanged. The fake partner answers with a CapabilityStatement, which
// strict mode then rejects, so the status is not checked.
func TestOutboundConditionalPatientOwnMemberForwarded(t *testing.T) {
	cases := map[string]string{
		"member id":           "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value,
		"two own identifiers": "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value + "," + outboundMemberB.System + "|" + outboundMemberB.Value,
		"base URL":            "https://ehr.example/fhir/Patient?identifier=" + outboundMemberB.System + "%7C" + outboundMemberB.Value,
	}
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			_, ehr, engine, base := startConditionalOutbound(t)
			body := claimResponsePatientReference(ref)

			requireOutboundForwarded(t, engine, ehr, base+"/ClaimResponse", body)

			if got := ehr.lastBody(); !strings.Contains(got, ref) {
				t.Errorf("the partner received %s, want the conditional reference %q", got, ref)
			}
		})
	}
}

// requirePatientElementRejected posts, for each case, a ClaimResponse whose
// patient element is the reference and requires the 403 of the
// congruence.outbound-patient rule, with nothing sent to the partner.
func requirePatientElementRejected(t *testing.T, cases map[string]string) {
	t.Helper()
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			h, ehr, engine, base := startConditionalOutbound(t)

			resp, got := postOutbound(t, engine, base+"/ClaimResponse", claimResponsePatientReference(ref))

			requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", "congruence.outbound-patient"})
		})
	}
}

// A compromised engine names, in a ClaimResponse's patient element, a
// patient the gateway cannot show to be the demo partner's by a
// conditional reference.
func TestOutboundConditionalPatientRejected(t *testing.T) {
	cases := map[string]string{
		"other partner's member":           "Patient?identifier=" + otherMemberID.System + "|" + otherMemberID.Value,
		"unsent member id":                 "Patient?identifier=" + ownMemberID.System + "|M-UNSENT",
		"unlinked next to own":             "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value + ",urn:example:mrn|12345",
		"own value without system":         "Patient?identifier=" + ownMemberID.Value,
		"value without system next to own": "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value + ",M-UNSENT",
		"by demographics":                  "Patient?family=Other&birthdate=1970-01-01",
		"by subscriber id only":            "Patient?_has:Coverage:beneficiary:subscriber-id=" + ownMemberID.Value,
		"unreadable":                       "Patient?identifier:of-type=s|MB|v",
	}
	requirePatientElementRejected(t, cases)
}

// A compromised engine sends an Observation of member B whose focus names
// another partner's member by a member identifier search parameter other
// than Patient's identifier.
func TestOutboundConditionalMemberParametersRejected(t *testing.T) {
	cases := map[string]string{
		"HRex subscriber-id":  "Coverage?subscriber-id=" + otherMemberID.Value,
		"Coverage identifier": "Coverage?identifier=urn:example:unlisted|" + otherMemberID.Value,
		"identifier modifier": "Coverage?beneficiary:identifier=" + outboundMemberA.System + "|" + outboundMemberA.Value,
		"chain":               "ExplanationOfBenefit?patient.identifier=" + outboundMemberA.System + "|" + outboundMemberA.Value,
		"reverse chain":       "Patient?_has:Coverage:beneficiary:subscriber-id=" + otherMemberID.Value,
		"filter":              "Patient?_filter=identifier%20eq%20" + otherMemberID.Value,
		"subscriber-id:not":   "Coverage?subscriber-id:not=" + ownMemberID.Value,
	}
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDRejected(t, "Observation.create", "/Observation", observationWithReference(ref))
		})
	}
}

// The same parameters naming the demo partner's own member still pass.
func TestOutboundConditionalMemberParametersOwnForwarded(t *testing.T) {
	cases := map[string]string{
		"HRex subscriber-id":  "Coverage?subscriber-id=" + ownMemberID.Value,
		"identifier modifier": "Coverage?beneficiary:identifier=" + outboundMemberB.System + "|" + outboundMemberB.Value,
		"reverse chain":       "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value + "&_has:Coverage:beneficiary:subscriber-id=" + ownMemberID.Value,
	}
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDForwarded(t, "Observation.create", "/Observation", observationWithReference(ref))
		})
	}
}

// patientNotification is a history Bundle shaped like a Subscription
// notification whose SubscriptionStatus names its focus by the
// conditional reference ref, a valueReference of a Parameters.
func patientNotification(ref string) string {
	return `{"resourceType":"Bundle","type":"history","entry":[{"fullUrl":"urn:uuid:00000000-0000-4000-8000-0000000000f0",` +
		`"resource":{"resourceType":"Parameters","parameter":[{"name":"type","valueCode":"event-notification"},` +
		`{"name":"notification-event","part":[{"name":"event-number","valueString":"1"},` +
		`{"name":"focus","valueReference":{"reference":"` + ref + `"}}]}]},` +
		`"request":{"method":"GET","url":"https://gatehouse.example/fhir/Subscription/s1/$status"},"response":{"status":"200"}}]}`
}

// A notification whose Parameters names the demo partner's own member by
// a conditional reference passes strict mode and reaches the partner.
func TestOutboundParametersConditionalReferenceOwnMemberForwarded(t *testing.T) {
	own := "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value
	_, ehr, engine, base := startMemberIDOutbound(t, "$subscription-hook")

	requireOutboundForwarded(t, engine, ehr, base+"/$subscription-hook", patientNotification(own))

	if got := ehr.lastBody(); !strings.Contains(got, own) {
		t.Errorf("the partner received %s, want the conditional reference %q", got, own)
	}
}

// The same notification naming another partner's member is rejected.
func TestOutboundParametersConditionalReferenceNotificationRejected(t *testing.T) {
	other := "Patient?identifier=" + otherMemberID.System + "|" + otherMemberID.Value
	requireMemberIDRejected(t, "$subscription-hook", "/$subscription-hook", patientNotification(other))
}
