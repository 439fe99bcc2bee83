package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// A compromised engine writes an unsent member id of this payer next to
// the partner's member B, in a system that differs from the member id
// system only in a way a lenient reader ignores. Links match systems byte
// for byte, so without folding the member id rule never saw these.
func TestOutboundMemberSystemVariantRejected(t *testing.T) {
	variants := map[string]string{
		"letter case":    "URN:gatehouse:payer:member-id",
		"trailing slash": "urn:gatehouse:payer:member-id/",
		"fullwidth form": "urn:gatehouse:payer:member\uff0did",
		"white space":    " urn:gatehouse:payer:member-id",
	}
	for name, system := range variants {
		t.Run(name, func(t *testing.T) {
			other := congruence.Identifier{System: system, Value: payerMemberID.Value}
			body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `,` + identifierJSON(other) + `]}`
			requireOutboundPatientRejected(t, "Patient.create", "/Patient", body)
		})
	}
}

// member_id_systems names an OID system; the same OID without its
// "urn:oid:" prefix is that system too.
func TestOutboundMemberOIDWithoutPrefixRejected(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, func(cfg *config.File) {
		cfg.MemberIDSystems = []string{outboundMemberA.System}
	}, "Patient.create")
	linkPatients(t, h, devmode.PartnerID, outboundMemberB)
	bare := congruence.Identifier{System: strings.TrimPrefix(outboundMemberA.System, "urn:oid:"), Value: "member-unsent"}
	body := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `,` + identifierJSON(bare) + `]}`

	resp, got := postOutbound(t, engine, base+"/Patient", body)

	requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", "congruence.outbound-patient"})
}

// A compromised engine carries member A's identifier in elements the
// patient walk does not read as a patient. Member A is linked only to
// another partner, so each is rejected wherever it sits.
func TestOutboundOtherMemberIdentifierOutsidePatientRejected(t *testing.T) {
	a, b := identifierJSON(outboundMemberA), identifierJSON(outboundMemberB)
	cases := []struct{ name, interaction, path, body string }{
		{"Person resource", "Person.create", "/Person",
			`{"resourceType":"Person","identifier":[` + a + `],"name":[{"family":"Other"}]}`},
		{"Patient.link.other", "Patient.create", "/Patient",
			`{"resourceType":"Patient","identifier":[` + b + `],"link":[{"type":"seealso","other":{"identifier":` + a + `}}]}`},
		{"RelatedPerson identifier", "RelatedPerson.create", "/RelatedPerson",
			`{"resourceType":"RelatedPerson","patient":{"identifier":` + b + `},"identifier":[` + a + `]}`},
		{"Coverage.identifier", "Coverage.create", "/Coverage",
			coverageFor(`,"identifier":[` + a + `]`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireOutboundPatientRejected(t, tc.interaction, tc.path, tc.body)
		})
	}
}

// A Coverage of member B that carries an unsent member id of this payer
// as Coverage.identifier is rejected, as the same id on a Patient is.
func TestOutboundCoverageUnsentMemberIDRejected(t *testing.T) {
	requireOutboundPatientRejected(t, "Coverage.create", "/Coverage",
		coverageFor(`,"identifier":[`+identifierJSON(payerMemberID)+`]`))
}

// Member B's Coverage with B's own member id as Coverage.identifier, and
// B's Patient with a phone number, still reach the partner.
func TestOutboundOwnIdentifiersOutsidePatientForwarded(t *testing.T) {
	own := congruence.Identifier{System: payerMemberID.System, Value: "M-OWN"}
	cases := []struct{ name, interaction, path, body string }{
		{"Coverage.identifier", "Coverage.create", "/Coverage",
			coverageFor(`,"identifier":[` + identifierJSON(own) + `]`)},
		{"Patient.telecom", "Patient.create", "/Patient",
			`{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `,` + identifierJSON(own) + `],"telecom":[{"system":"phone","value":"555-0100"}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, ehr, engine, base := startOutbound(t, nil, tc.interaction)
			linkPatients(t, h, devmode.PartnerID, outboundMemberB, own)
			requireOutboundForwarded(t, engine, ehr, base+tc.path, tc.body)
		})
	}
}
