package gateway

import (
	"context"
	"net/http"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
)

// PatientLinks stores which patients each partner has named in an allowed
// inbound request; *patientlinks.Store implements it. The outbound
// pipeline sends a partner a payload only about patients linked to it.
type PatientLinks interface {
	Remember(ctx context.Context, partner string, ids []congruence.Identifier) error
	Known(ctx context.Context, partner string, ids []congruence.Identifier) (bool, error)
}

// inboundPatients returns the identifiers of the patients an allowed
// inbound request names: the Claims' patients of a PAS Bundle, which the
// policy engine already parsed, and the patient of an eligibility request.
func inboundPatients(ex *exchange) []congruence.Identifier {
	switch {
	case ex.fhir == nil || ex.fhir.Kind != fhirreq.OperationType:
		return nil
	case ex.bundle != nil && ex.fhir.Type == "Claim":
		return congruence.ClaimPatients(ex.bundle)
	case ex.fhir.Type == "CoverageEligibilityRequest" && ex.fhir.Operation == "submit":
		return congruence.EligibilityPatients(ex.body)
	}
	return nil
}

// rememberPatients links the patients of an allowed inbound request to
// its partner. It runs after every check, so a rejected request links
// nothing. A failed write rejects the request with 503, because the
// partner's later notifications about the patient would be rejected.
func (g *Gateway) rememberPatients(ex *exchange) *Refusal {
	if g.opts.Patients == nil {
		return nil
	}
	ids := inboundPatients(ex)
	if len(ids) == 0 {
		return nil
	}
	if err := g.opts.Patients.Remember(ex.r.Context(), ex.partner.ID, ids); err != nil {
		g.log.Error("gateway: link patients to partner failed", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID, "error", err)
		return &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "congruence.patient-links-unavailable",
			Message: "the gateway could not record the request's patient; retry later"}
	}
	return nil
}

// checkOutboundPatients requires every patient that patients names to be
// linked to the destination partner.
func (g *Gateway) checkOutboundPatients(ex *exchange, links PatientLinks, patients []congruence.NamedPatient) *Refusal {
	for _, p := range patients {
		known, err := links.Known(ex.r.Context(), ex.partner.ID, p.Identifiers)
		if err != nil {
			g.log.Error("gateway: read patient links failed", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID, "error", err)
			return &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "congruence.patient-links-unavailable",
				Message: "the gateway could not read which patients the partner named; retry later"}
		}
		if !known {
			return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: "congruence.outbound-patient",
				Message: p.Path + " names a patient that the destination partner has not named in a request"}
		}
	}
	return nil
}

// rememberMatchedMember links the member that a released 200 response to
// an inbound Patient/$member-match returns to the partner that asked. The response
// is already recorded and the match made, so a failed write is logged and
// the response still released. The member then stays unlinked, which can
// only reject later outbound payloads about it.
func (g *Gateway) rememberMatchedMember(ex *exchange, status int, body []byte) {
	if g.opts.Patients == nil || ex.direction == killswitch.Outbound || ex.partner == nil || ex.fhir == nil || status != http.StatusOK ||
		ex.fhir.Kind != fhirreq.OperationType || ex.fhir.Type != "Patient" || ex.fhir.Operation != "member-match" {
		return
	}
	ids := congruence.MatchedMember(body)
	if len(ids) == 0 {
		return
	}
	if err := g.opts.Patients.Remember(ex.r.Context(), ex.partner.ID, ids); err != nil {
		g.log.Error("gateway: link matched member to partner failed", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID, "error", err)
	}
}
