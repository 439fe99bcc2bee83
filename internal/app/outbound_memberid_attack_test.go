package app_test

import (
	"net/http"
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

// A conditional reference to the partner's own member, with or without
// the member id system, still passes.
func TestOutboundConditionalReferenceOwnMemberForwarded(t *testing.T) {
	cases := map[string]string{
		"with system":    "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value,
		"without system": "Patient?identifier=" + ownMemberID.Value,
	}
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDForwarded(t, "Observation.create", "/Observation", observationWithReference(ref))
		})
	}
}
