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
// request that the upstream accepted: a 2xx status whose body
// rejectedResponse does not find rejected, which the caller checks.
// Linking only accepted requests keeps a partner from linking a member id
// it guessed: the built-in payer rejects an unknown member's eligibility
// request with 422, and a Claim/$submit for a patient who is not its
// member with a ClaimResponse whose outcome is "error". The response is
// already recorded, so a failed write is logged and the response still
// released. The patient then stays unlinked, which can only reject later
// outbound payloads about it.
//
// NOTE: a Claim/$submit for a member the payer covers links that member,
// and the built-in payer returns 200 for a denial too, so a partner that
// knows a member's identifiers and demographics can still link them.
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
//   - none has a system of opts.MemberSystems, this payer's member ids,
//     unless it is linked to the destination. Systems are compared by
//     congruence.SystemKey, so a variant in letter case, a trailing slash
//     or a Unicode compatibility form counts as the member id system.
//
// Any other identifier, such as an MRN the partner never sent, passes.
// A patient with more identifiers than the store reads is rejected,
// because the gateway cannot check the rest. The last two rules then
// apply to every identifier anywhere in body (checkPayloadIdentifiers).
func (g *Gateway) checkOutboundPatients(ex *exchange, opts OutboundOptions, patients []congruence.NamedPatient) *Refusal {
	for _, p := range patients {
		if len(p.Identifiers) > patientlinks.MaxIdentifiers {
			return denyOutboundPatient(p.Path + " names a patient with more than " + strconv.Itoa(patientlinks.MaxIdentifiers) + " identifiers, more than the gateway checks")
		}
		links, ref := g.lookupLinks(ex, opts.Patients, p.Identifiers)
		if ref != nil {
			return ref
		}
		known := false
		for k, link := range links {
			known = known || link.Partner
			if reason := foreignIdentifier(link, p.Identifiers[k], opts.MemberSystems); reason != "" {
				return denyOutboundPatient(p.Path + " carries " + reason)
			}
		}
		if !known {
			return denyOutboundPatient(p.Path + " names a patient that the destination partner has not named in a request")
		}
	}
	return g.checkPayloadIdentifiers(ex, opts)
}

// maxPayloadIdentifiers caps the distinct identifiers
// checkPayloadIdentifiers looks up in one outbound body, because each is
// one read of the link table.
//
// NOTE: 1024 is an estimate of what no real outbound payload reaches: a
// PAS response or a notification carries tens.
const maxPayloadIdentifiers = 1024

// checkPayloadIdentifiers applies the mixing and member id rules of
// checkOutboundPatients to every identifier of the body, wherever it
// sits: an extension's valueIdentifier, a Reference.identifier inside a
// reference's extension, Patient.link, Coverage.identifier, a Person or
// RelatedPerson, a contained resource or a nested Bundle. The patient walk
// reads only the patient elements of known types, and a compromised
// engine could put another member's id anywhere else.
func (g *Gateway) checkPayloadIdentifiers(ex *exchange, opts OutboundOptions) *Refusal {
	found, err := congruence.PayloadIdentifiers(ex.body)
	if err != nil {
		return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: "congruence.unreadable",
			Message: "the request body could not be read as FHIR JSON"}
	}
	if len(found) > maxPayloadIdentifiers {
		return denyOutboundPatient("the request body carries more than " + strconv.Itoa(maxPayloadIdentifiers) + " distinct identifiers, more than the gateway checks")
	}
	for chunk := range slices.Chunk(found, patientlinks.MaxIdentifiers) {
		ids := make([]congruence.Identifier, len(chunk))
		for i := range chunk {
			ids[i] = chunk[i].Identifier
		}
		links, ref := g.lookupLinks(ex, opts.Patients, ids)
		if ref != nil {
			return ref
		}
		for i, link := range links {
			if reason := foreignIdentifier(link, ids[i], opts.MemberSystems); reason != "" {
				return denyOutboundPatient("the object at " + chunk[i].Pointer + " carries " + reason)
			}
		}
	}
	return nil
}

// lookupLinks reads the links of ids for the exchange's partner. A failed
// read is a 503 refusal, because the gateway cannot check the payload.
func (g *Gateway) lookupLinks(ex *exchange, links PatientLinks, ids []congruence.Identifier) ([]patientlinks.Link, *Refusal) {
	found, err := links.Lookup(ex.r.Context(), ex.partner.ID, ids)
	if err != nil {
		g.log.Error("gateway: read patient links failed", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID, "error", err)
		return nil, &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "congruence.patient-links-unavailable",
			Message: "the gateway could not read which patients the partner named; retry later"}
	}
	return found, nil
}

// foreignIdentifier returns why id, whose links are link, may not reach
// the destination partner, or "" when it may. It may not when it is
// linked to other partners but not to the destination, or when it is a
// member id of one of memberSystems and not linked to the destination.
func foreignIdentifier(link patientlinks.Link, id congruence.Identifier, memberSystems []string) string {
	switch {
	case link.Partner:
		return ""
	case link.Others:
		return "an identifier of another partner's patient"
	case isMemberSystem(memberSystems, id.System):
		return "a member id of system " + id.System + " that the destination partner has not named in a request"
	}
	return ""
}

// isMemberSystem reports whether system is one of systems, compared by
// congruence.SystemKey.
func isMemberSystem(systems []string, system string) bool {
	key := congruence.SystemKey(system)
	for _, s := range systems {
		if congruence.SystemKey(s) == key {
			return true
		}
	}
	return false
}

func denyOutboundPatient(message string) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: "congruence.outbound-patient", Message: message}
}
