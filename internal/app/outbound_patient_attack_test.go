package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// identifierJSON returns member as the JSON of a FHIR Identifier.
func identifierJSON(member congruence.Identifier) string {
	return `{"system":"` + member.System + `","value":"` + member.Value + `"}`
}

// requireOutboundPatientRejected posts body to path on the outbound
// listener, with member B linked to the demo partner and member A only to
// another partner. The gateway must reject it with 403
// congruence.outbound-patient and send the partner nothing.
func requireOutboundPatientRejected(t *testing.T, interaction, path, body string) {
	t.Helper()
	h, ehr, engine, base := startOutbound(t, nil, interaction)
	linkPatients(t, h, "other-ehr", outboundMemberA)
	linkPatients(t, h, devmode.PartnerID, outboundMemberB)

	resp, got := postOutbound(t, engine, base+path, body)

	requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", "congruence.outbound-patient"})
}

// A compromised engine creates another member's Patient resource on the
// demo partner's server. The Patient is the patient it names.
func TestOutboundOtherPatientResourceRejected(t *testing.T) {
	body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberA) + `],` +
		`"name":[{"family":"Other","given":["Member"]}],"birthDate":"1970-01-01"}`
	requireOutboundPatientRejected(t, "Patient.create", "/Patient", body)
}

// A compromised engine sends another member's ExplanationOfBenefit, which names
// its patient in ExplanationOfBenefit.patient.
func TestOutboundOtherPatientEOBRejected(t *testing.T) {
	body := `{"resourceType":"ExplanationOfBenefit","status":"active",` +
		`"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},` +
		`"use":"claim","patient":{"identifier":` + identifierJSON(outboundMemberA) + `},` +
		`"created":"2026-12-01T10:00:00Z","insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}},` +
		`"provider":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"` + devmode.PartnerNPI + `"}},` +
		`"outcome":"complete","insurance":[{"focal":true,"coverage":{"identifier":{"system":"urn:example:coverage","value":"c1"}}}]}`
	requireOutboundPatientRejected(t, "ExplanationOfBenefit.create", "/ExplanationOfBenefit", body)
}

// A compromised engine sends another member's Observation, named by
// subject.
func TestOutboundOtherPatientObservationRejected(t *testing.T) {
	body := `{"resourceType":"Observation","status":"final","code":{"text":"weight"},` +
		`"subject":{"identifier":` + identifierJSON(outboundMemberA) + `},"valueString":"80 kg"}`
	requireOutboundPatientRejected(t, "Observation.create", "/Observation", body)
}

// A compromised engine sends a ClaimResponse about the partner's own
// member B, and carries member A's Patient inside it as a contained
// resource that only an extension references.
func TestOutboundOtherContainedPatientRejected(t *testing.T) {
	body := claimResponseFor(outboundMemberB)
	body = strings.Replace(body, `"status":"active",`, `"status":"active","contained":[{"resourceType":"Patient","id":"p2",`+
		`"identifier":[`+identifierJSON(outboundMemberA)+`],"name":[{"family":"Other"}]}],`+
		`"extension":[{"url":"urn:example:other","valueReference":{"reference":"#p2"}}],`, 1)
	requireOutboundPatientRejected(t, "ClaimResponse.create", "/ClaimResponse", body)
}

// A Patient of the partner's own member still reaches the partner.
func TestOutboundOwnPatientResourceForwarded(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "Patient.create")
	linkPatients(t, h, devmode.PartnerID, outboundMemberB)
	body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `],"name":[{"family":"Own"}]}`
	requireOutboundForwarded(t, engine, ehr, base+"/Patient", body)
}

// payerMemberID is an identifier of the built-in payer's member id system
// that no partner has named.
var payerMemberID = congruence.Identifier{System: "urn:gatehouse:payer:member-id", Value: "M-UNSENT"}

// A compromised engine sends the demo partner a Group that lists member A
// by identifier.
func TestOutboundGroupMemberRejected(t *testing.T) {
	body := `{"resourceType":"Group","type":"person","actual":true,"member":[` +
		`{"entity":{"identifier":` + identifierJSON(outboundMemberB) + `}},{"entity":{"identifier":` + identifierJSON(outboundMemberA) + `}}]}`
	requireOutboundPatientRejected(t, "Group.create", "/Group", body)
}

// coverageFor is a Coverage of this payer for member B, with extra
// elements added.
func coverageFor(extra string) string {
	return `{"resourceType":"Coverage","status":"active","beneficiary":{"identifier":` + identifierJSON(outboundMemberB) + `},` +
		`"payor":[{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}]` + extra + `}`
}

// A compromised engine sends member B's Coverage naming member A as the
// subscriber.
func TestOutboundCoverageSubscriberRejected(t *testing.T) {
	requireOutboundPatientRejected(t, "Coverage.create", "/Coverage",
		coverageFor(`,"subscriber":{"identifier":`+identifierJSON(outboundMemberA)+`}`))
}

// A policyHolder that is a literal reference the gateway cannot resolve
// may name any member, so it is rejected.
func TestOutboundCoveragePolicyHolderUnresolvedRejected(t *testing.T) {
	requireOutboundPatientRejected(t, "Coverage.create", "/Coverage",
		coverageFor(`,"policyHolder":{"reference":"Patient/other"}`))
}

// A compromised engine sends member A's id as a Parameters valueIdentifier.
func TestOutboundParametersMemberIdentifierRejected(t *testing.T) {
	body := `{"resourceType":"Parameters","parameter":[{"name":"MemberIdentifier","valueIdentifier":` + identifierJSON(outboundMemberA) + `}]}`
	requireOutboundPatientRejected(t, "Patient/$member-match", "/Patient/$member-match", body)
}

// A Patient that pairs the partner's member B with member A, whom only
// another partner named, is rejected although one identifier is linked.
func TestOutboundPatientMixingMembersRejected(t *testing.T) {
	body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `,` + identifierJSON(outboundMemberA) + `]}`
	requireOutboundPatientRejected(t, "Patient.create", "/Patient", body)
}

// A Patient that carries a member id of this payer's member system that
// the partner never named is rejected, even beside a linked identifier.
func TestOutboundPatientUnsentMemberIDRejected(t *testing.T) {
	body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `,` + identifierJSON(payerMemberID) + `]}`
	requireOutboundPatientRejected(t, "Patient.create", "/Patient", body)
}

// A subscriber that resolves to a Patient entry pairing the partner's
// member B with member A is rejected as well.
func TestOutboundCoverageSubscriberMixedRejected(t *testing.T) {
	body := `{"resourceType":"Bundle","type":"transaction","entry":[` +
		`{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001","resource":` + coverageFor(`,"subscriber":{"reference":"urn:uuid:00000000-0000-4000-8000-000000000002"}`) +
		`,"request":{"method":"POST","url":"Coverage"}},` +
		`{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000002","resource":{"resourceType":"Patient","identifier":[` +
		identifierJSON(outboundMemberB) + `,` + identifierJSON(outboundMemberA) + `]},"request":{"method":"POST","url":"Patient"}}]}`
	h, ehr, engine, base := startOutbound(t, nil, "batch-transaction", "Coverage.create", "Patient.create")
	linkPatients(t, h, "other-ehr", outboundMemberA)
	linkPatients(t, h, devmode.PartnerID, outboundMemberB)

	resp, got := postOutbound(t, engine, base, body)

	requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", "congruence.outbound-patient"})
}

// A Patient of the partner's own member that also carries an MRN the
// partner never sent, of no member id system, still reaches the partner.
func TestOutboundOwnPatientWithMRNForwarded(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "Patient.create")
	linkPatients(t, h, devmode.PartnerID, outboundMemberB)
	mrn := congruence.Identifier{System: "urn:example:payer-mrn", Value: "MRN-1"}
	body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `,` + identifierJSON(mrn) + `],"name":[{"family":"Own"}]}`
	requireOutboundForwarded(t, engine, ehr, base+"/Patient", body)
}
