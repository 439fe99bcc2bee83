package app_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/patientlinks"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

var (
	outboundMemberA = congruence.Identifier{System: "urn:oid:2.16.840.1.113883.3.9999", Value: "member-a"}
	outboundMemberB = congruence.Identifier{System: "urn:oid:2.16.840.1.113883.3.9999", Value: "member-b"}
	// outboundClaimB is a Claim identifier of the demo partner's.
	outboundClaimB = congruence.Identifier{System: "urn:example:ehr:claims", Value: "claim-b"}
)

// claimResponseFor is outboundClaimResponse from this payer to the demo
// partner's organisation, naming the patient by member.
func claimResponseFor(member congruence.Identifier) string {
	return strings.Replace(outboundClaimResponse("1234567893", devmode.PartnerNPI),
		`{"system":"urn:oid:2.16.840.1.113883.3.9999","value":"m1"}`,
		`{"system":"`+member.System+`","value":"`+member.Value+`"}`, 1)
}

// linkPatients links members to partner in the running gateway's
// database, as an allowed inbound request from partner would.
func linkPatients(t *testing.T, h *harness, partner string, members ...congruence.Identifier) *patientlinks.Store {
	t.Helper()
	links := h.rt.PatientLinks()
	if err := links.Remember(context.Background(), partner, members); err != nil {
		t.Fatal(err)
	}
	return links
}

// linkedTo reports whether links ties at least one identifier of ids to
// partner, as the outbound patient check reads it.
func linkedTo(t *testing.T, links *patientlinks.Store, partner string, ids []congruence.Identifier) bool {
	t.Helper()
	found, err := links.Lookup(context.Background(), partner, ids)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(found, func(l patientlinks.Link) bool { return l.Partner })
}

// linkClaims links Claim identifiers to partner in the running gateway's
// database, as an allowed inbound Claim/$submit from partner would.
func linkClaims(t *testing.T, h *harness, partner string, claims ...congruence.Identifier) {
	t.Helper()
	if err := h.rt.PatientLinks().RememberClaims(context.Background(), partner, claims); err != nil {
		t.Fatal(err)
	}
}

// A compromised engine sends the demo partner a ClaimResponse about member
// A, whom only another partner named, with this payer as insurer and the
// demo partner as requestor. The gateway must reject it with 403, record
// one refusal and send the partner nothing, on both database backends.
func TestOutboundOtherPartnersPatientRejected(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		url := b.NewURL(t)
		h, ehr, engine, base := startOutbound(t, func(cfg *config.File) { cfg.Database = config.Database{URL: url} }, "ClaimResponse.create")
		linkPatients(t, h, "other-ehr", outboundMemberA)
		linkPatients(t, h, devmode.PartnerID, outboundMemberB)

		resp, got := postOutbound(t, engine, base+"/ClaimResponse", claimResponseFor(outboundMemberA))

		requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", "congruence.outbound-patient"})
	})
}

// The same ClaimResponse about member B, whom the demo partner named,
// reaches the partner.
func TestOutboundOwnPatientForwarded(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		url := b.NewURL(t)
		h, ehr, engine, base := startOutbound(t, func(cfg *config.File) { cfg.Database = config.Database{URL: url} }, "ClaimResponse.create")
		linkPatients(t, h, devmode.PartnerID, outboundMemberB)
		linkClaims(t, h, devmode.PartnerID, outboundClaimB)

		requireOutboundForwarded(t, engine, ehr, base+"/ClaimResponse", claimResponseFor(outboundMemberB))
	})
}

// submitExample sends the shipped PAS request from the demo partner to
// Claim/$submit on the inbound listener and requires 200.
func submitExample(t *testing.T, h *harness) {
	t.Helper()
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, exampleSubmission(t, "1965-04-12"))
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("submit: status %d: %s", resp.StatusCode, body)
	}
}

// A PAS submission the gateway allows links the Bundle's patient to the
// partner that sent it, and to no other partner.
func TestInboundSubmissionLinksPatient(t *testing.T) {
	h, _, _, _ := startOutbound(t, nil, "ClaimResponse.create")
	submitExample(t, h)

	links := linkPatients(t, h, "other-ehr")
	patient := []congruence.Identifier{examplePatient}
	for _, tt := range []struct {
		partner string
		want    bool
	}{{devmode.PartnerID, true}, {"other-ehr", false}} {
		if known := linkedTo(t, links, tt.partner, patient); known != tt.want {
			t.Errorf("patient known to %s = %v, want %v", tt.partner, known, tt.want)
		}
	}
}

// A Patient/$member-match that finds a member links the member identifier
// it returns to the partner that sent the request.
func TestMemberMatchLinksMember(t *testing.T) {
	h, client, header := memberMatchHarness(t)
	resp := h.send(client.HTTPClient(), "POST", "/fhir/Patient/$member-match", header, memberMatchRequest(t, func(p []any) []any { return p }))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	member := congruence.MatchedMember(body)
	if len(member) != 1 || member[0].Value != "MPERSON0001" {
		t.Fatalf("matched member = %+v, want MPERSON0001", member)
	}

	links := linkPatients(t, h, "other-ehr")
	for _, tt := range []struct {
		partner string
		want    bool
	}{{devmode.PartnerID, true}, {"other-ehr", false}} {
		if known := linkedTo(t, links, tt.partner, member); known != tt.want {
			t.Errorf("member known to %s = %v, want %v", tt.partner, known, tt.want)
		}
	}
}
