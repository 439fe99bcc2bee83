package gateway

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/patientlinks"
)

// PatientLinks stores which patients each partner has named in inbound
// requests the upstream accepted; *patientlinks.Store implements it. The outbound
// pipeline sends a partner a payload only about patients linked to it.
type PatientLinks interface {
	Remember(ctx context.Context, partner string, ids []congruence.Identifier) error
	// Lookup returns, for each identifier of ids, whether it is linked to
	// partner and whether to another partner. It rejects more than
	// patientlinks.MaxIdentifiers identifiers.
	Lookup(ctx context.Context, partner string, ids []congruence.Identifier) ([]patientlinks.Link, error)
}

// inboundPatients returns the identifiers of the patients an accepted
// inbound request names. These are the Claims' patients of a PAS Bundle,
// which the policy engine already parsed, the patient of an eligibility
// request, and the member a 200 response to Patient/$member-match returns.
func inboundPatients(ex *exchange, status int, body []byte) []congruence.Identifier {
	switch {
	case ex.fhir == nil || ex.fhir.Kind != fhirreq.OperationType:
		return nil
	case ex.bundle != nil && ex.fhir.Type == "Claim":
		return congruence.ClaimPatients(ex.bundle)
	case ex.fhir.Type == "CoverageEligibilityRequest" && ex.fhir.Operation == "submit":
		return congruence.EligibilityPatients(ex.body)
	case ex.fhir.Type == "Patient" && ex.fhir.Operation == "member-match" && status == http.StatusOK:
		return congruence.MatchedMember(body)
	}
	return nil
}

// rememberPatients links to the partner the patients of an inbound
// request that the upstream accepted (2xx). Linking only accepted requests
// keeps a partner from linking a member id it guessed: the built-in payer
// rejects an unknown member's eligibility request with 422. The response
// is already recorded, so a failed write is logged and the response still
// released. The patient then stays unlinked, which can only reject later
// outbound payloads about it.
func (g *Gateway) rememberPatients(ex *exchange, status int, body []byte) {
	if g.opts.Patients == nil || ex.direction == killswitch.Outbound || ex.partner == nil || status < 200 || status > 299 {
		return
	}
	ids := inboundPatients(ex, status, body)
	if len(ids) == 0 {
		return
	}
	if err := g.opts.Patients.Remember(ex.r.Context(), ex.partner.ID, ids); err != nil {
		g.log.Error("gateway: link patients to partner failed", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID, "error", err)
	}
}

// checkOutboundPatients requires every patient that patients names to be
// the destination partner's, under three rules:
//
//   - at least one of its identifiers is linked to the destination;
//   - none is linked only to other partners, so that a Patient cannot
//     pair the destination's member with another partner's;
//   - none has a system of memberSystems, this payer's member ids, unless
//     it is linked to the destination.
//
// Any other identifier, such as an MRN the partner never sent, passes.
// A patient with more identifiers than the store reads is rejected,
// because the gateway cannot check the rest.
func (g *Gateway) checkOutboundPatients(ex *exchange, opts OutboundOptions, patients []congruence.NamedPatient) *Refusal {
	deny := func(message string) *Refusal {
		return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: "congruence.outbound-patient", Message: message}
	}
	for _, p := range patients {
		if len(p.Identifiers) > patientlinks.MaxIdentifiers {
			return deny(p.Path + " names a patient with more than " + strconv.Itoa(patientlinks.MaxIdentifiers) + " identifiers, more than the gateway checks")
		}
		links, err := opts.Patients.Lookup(ex.r.Context(), ex.partner.ID, p.Identifiers)
		if err != nil {
			g.log.Error("gateway: read patient links failed", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID, "error", err)
			return &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "congruence.patient-links-unavailable",
				Message: "the gateway could not read which patients the partner named; retry later"}
		}
		known := false
		for k, link := range links {
			switch {
			case link.Partner:
				known = true
			case link.Others:
				return deny(p.Path + " carries an identifier of another partner's patient")
			case slices.Contains(opts.MemberSystems, p.Identifiers[k].System):
				return deny(p.Path + " carries a member id of system " + p.Identifiers[k].System + " that the destination partner has not named in a request")
			}
		}
		if !known {
			return deny(p.Path + " names a patient that the destination partner has not named in a request")
		}
	}
	return nil
}
