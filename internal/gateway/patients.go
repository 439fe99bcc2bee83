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

// PatientLinks contains which patients each partner has named in inbound
// requests the upstream accepted; *patientlinks.Store implements it. The
// outbound pipeline sends a partner a payload only about patients linked
// to it.
type PatientLinks interface {
	// Lookup returns, for each identifier of ids, whether it is linked to
	// partner and whether to another partner. It rejects more than
	// patientlinks.MaxIdentifiers identifiers.
	Lookup(ctx context.Context, partner string, ids []congruence.Identifier) ([]patientlinks.Link, error)
}

// LinkRecorder links the patients and claims named by inbound requests
// the upstream accepted to the partner that sent them, for PatientLinks
// and ClaimLinks. *patientlinks.Store implements it.
type LinkRecorder interface {
	// RememberExchange links the patient identifiers patients and the
	// Claim identifiers claims of one exchange to partner, all of them or,
	// on error, none. They are durable when it returns without error.
	RememberExchange(ctx context.Context, partner string, patients, claims []congruence.Identifier) error
}

// CommittedLinkRecorder is the optional interface of a LinkRecorder that
// can also link without waiting for the disk. *patientlinks.Store
// implements it.
type CommittedLinkRecorder interface {
	// RememberExchangeCommitted is RememberExchange, except that the links
	// are committed but not yet durable when it returns. The caller syncs
	// the file before it releases the response.
	RememberExchangeCommitted(ctx context.Context, partner string, patients, claims []congruence.Identifier) error
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

// rememberLinks links to the partner the patients (inboundPatients) and
// the claims (inboundClaims) of an inbound request that the upstream
// accepted. Accepted means a 2xx status and a body that rejectedResponse
// does not report as a rejection, which the caller checks. Linking only
// accepted requests keeps a partner from linking a member id it guessed.
// The built-in payer rejects an unknown member's eligibility request with
// 422. It responds to a Claim/$submit for a patient who is not its member
// with a ClaimResponse whose outcome is "error". The response is already
// recorded, so a
// failed write is logged and the response still released. The patients
// and claims then stay unlinked, which can only reject later outbound
// payloads about them.
//
// Both kinds go in one call, so that an exchange takes the database's
// write lock once, and a failure links neither.
//
// NOTE: a Claim/$submit for a member the payer covers links that member,
// and the built-in payer returns 200 for a denial too, so a partner that
// knows a member's identifiers and demographics can still link them.
func (g *Gateway) rememberLinks(ex *exchange, status int, body []byte) {
	if g.opts.Links == nil || ex.direction == killswitch.Outbound || ex.partner == nil || status < 200 || status > 299 {
		return
	}
	patients := inboundPatients(ex, status, body)
	claims := inboundClaims(ex)
	if len(patients) == 0 && len(claims) == 0 {
		return
	}
	remember := g.opts.Links.RememberExchange
	if c, ok := g.opts.Links.(CommittedLinkRecorder); ok && g.opts.LinksShareRecordFile && !ex.recordSynced {
		// The record's sync before the release covers the links too.
		remember = c.RememberExchangeCommitted
	}
	if err := remember(ex.r.Context(), ex.partner.ID, patients, claims); err != nil {
		g.log.Error("gateway: link patients and claims to partner failed", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID, "error", err)
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
// Every identifier of a patient named by a conditional reference must be
// linked to the destination, because the server resolves it by a search
// in which each comma-separated value matches on its own.
// An identifier of the patient with a value but no system must be linked
// to the destination under at least one member id system, and under none
// only to other partners (checkAnySystemPatient). Any other identifier,
// such as an MRN the partner never sent, passes. A patient with more
// identifiers than the store reads is rejected, because the gateway
// cannot check the rest. The last two rules then apply to every
// identifier anywhere in body (checkPayloadIdentifiers).
func (g *Gateway) checkOutboundPatients(ex *exchange, opts OutboundOptions, patients []congruence.NamedPatient) *Refusal {
	for _, p := range patients {
		if len(p.Identifiers) > patientlinks.MaxIdentifiers {
			return denyOutboundPatient(p.Path + " names a patient with more than " + strconv.Itoa(patientlinks.MaxIdentifiers) + " identifiers, more than the gateway checks")
		}
		links, ref := g.lookupLinks(ex, opts.Patients, p.Identifiers, denyOutboundPatient)
		if ref != nil {
			return ref
		}
		known := false
		for k, link := range links {
			known = known || link.Partner
			if reason := foreignIdentifier(link, p.Identifiers[k], opts.MemberSystems); reason != "" {
				return denyOutboundPatient(p.Path + " carries " + reason)
			}
			if p.Conditional && !link.Partner {
				return denyOutboundPatient(p.Path + " is a conditional reference with an identifier that the destination partner has not named in a request")
			}
		}
		if !known {
			return denyOutboundPatient(p.Path + " names a patient that the destination partner has not named in a request")
		}
		if ref := g.checkAnySystemPatient(ex, opts, p, denyOutboundPatient); ref != nil {
			return ref
		}
	}
	return g.checkPayloadIdentifiers(ex, opts)
}

// checkAnySystemPatient checks the identifiers of patient p that have a
// value but no system. Each may be a member id written without its
// system, so it passes only when its value is linked to the destination
// under at least one member id system and under none is linked only to
// other partners. US Core, which the PAS, PDex and CRD Patient profiles
// build on, requires Identifier.system on a Patient, so a conformant
// payload never carries such an identifier. Without member id systems the
// value cannot be checked, and it is rejected. deny builds the refusal.
func (g *Gateway) checkAnySystemPatient(ex *exchange, opts OutboundOptions, p congruence.NamedPatient, deny func(message string) *Refusal) *Refusal {
	for _, value := range p.AnySystem {
		ids := underMemberSystems(value, opts.MemberSystems)
		links, ref := g.lookupChunked(ex, opts.Patients, ids, deny)
		if ref != nil {
			return ref
		}
		linked := false
		for k, link := range links {
			if link.Others && !link.Partner {
				return deny(p.Path + " carries an identifier without system whose value is a member id of another partner's patient (system " + ids[k].System + ")")
			}
			linked = linked || link.Partner
		}
		if !linked {
			return deny(p.Path + " carries an identifier without system that is not a member id the destination partner has named; state its system")
		}
	}
	return nil
}

// underMemberSystems returns value as an identifier of each member id
// system.
func underMemberSystems(value string, memberSystems []string) []congruence.Identifier {
	ids := make([]congruence.Identifier, 0, len(memberSystems))
	for _, system := range memberSystems {
		ids = append(ids, congruence.Identifier{System: system, Value: value})
	}
	return ids
}

// maxPayloadLookups caps the link reads of one outbound request, its body
// and all the searches it makes the partner run together. The body costs
// one read per distinct identifier, and each search one per identifier it
// names. A value that may be a member id of an unstated system costs one
// more per member id system. lookupLinks enforces the cap, and the checks
// that count their total up front reject before their own first read.
//
// NOTE: 1024 is an estimate of what no real outbound payload reaches: a
// PAS response or a notification carries tens.
const maxPayloadLookups = 1024

// payloadLookup is one identifier checkPayloadIdentifiers looks up: found
// as it is, or (anySystem) the value of found under a member id system.
type payloadLookup struct {
	found     *congruence.FoundIdentifier
	id        congruence.Identifier
	anySystem bool
}

// checkPayloadIdentifiers applies the mixing and member id rules of
// checkOutboundPatients to every identifier of the body, wherever it
// sits: an extension's valueIdentifier, a Reference.identifier inside a
// reference's extension, Patient.link, Coverage.identifier, a Person or
// RelatedPerson, a contained resource, a nested Bundle or a conditional
// reference's identifier parameter. The patient walk reads only the
// patient elements of known types, and a compromised engine could put
// another member's id anywhere else.
//
// A value that may be a member id of an unstated system
// (FoundIdentifier.AnySystem: an identifier without system,
// Coverage.subscriberId, Coverage.identifier) is also looked up under each
// member id system, and rejected when it is linked there only to other
// partners. It is not required to be linked to the destination, because
// such a value need not be a member id: a subscriber id often differs
// from the member id the partner sent.
func (g *Gateway) checkPayloadIdentifiers(ex *exchange, opts OutboundOptions) *Refusal {
	found, err := congruence.PayloadIdentifiers(ex.body)
	if err != nil {
		return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: "congruence.unreadable",
			Message: "the request body could not be read as FHIR JSON"}
	}
	var lookups []payloadLookup
	for i := range found {
		f := &found[i]
		if f.Unreadable {
			return denyOutboundPatient("the object at " + f.Pointer + " has a conditional reference whose search criteria cannot be read")
		}
		lookups = appendPayloadLookups(lookups, f, opts.MemberSystems)
		if ex.linkReads+len(lookups) > maxPayloadLookups {
			return denyOutboundPatient(tooManyLinkReads("the request body carries"))
		}
	}
	return g.checkPayloadLookups(ex, opts, lookups, "the object at ", denyOutboundPatient)
}

// appendPayloadLookups appends to lookups the link reads of f: f itself
// when it has a system, and its value under each member id system when
// it may be a member id of an unstated system.
func appendPayloadLookups(lookups []payloadLookup, f *congruence.FoundIdentifier, memberSystems []string) []payloadLookup {
	if f.System != "" {
		lookups = append(lookups, payloadLookup{found: f, id: f.Identifier})
	}
	if f.AnySystem {
		for _, id := range underMemberSystems(f.Value, memberSystems) {
			if id != f.Identifier {
				lookups = append(lookups, payloadLookup{found: f, id: id, anySystem: true})
			}
		}
	}
	return lookups
}

// checkPayloadLookups reads the links of lookups, at most
// patientlinks.MaxIdentifiers at a time, and applies the mixing and member
// id rules to them. A refusal names the identifier by prefix and its
// FoundIdentifier.Pointer, and deny builds it.
func (g *Gateway) checkPayloadLookups(ex *exchange, opts OutboundOptions, lookups []payloadLookup, prefix string, deny func(message string) *Refusal) *Refusal {
	for chunk := range slices.Chunk(lookups, patientlinks.MaxIdentifiers) {
		ids := make([]congruence.Identifier, len(chunk))
		for i := range chunk {
			ids[i] = chunk[i].id
		}
		links, ref := g.lookupLinks(ex, opts.Patients, ids, deny)
		if ref != nil {
			return ref
		}
		for i, link := range links {
			at := prefix + chunk[i].found.Pointer
			if !chunk[i].anySystem {
				if reason := foreignIdentifier(link, ids[i], opts.MemberSystems); reason != "" {
					return deny(at + " carries " + reason)
				}
				continue
			}
			if link.Others && !link.Partner {
				return deny(at + " carries a value that is a member id of another partner's patient (system " + ids[i].System + ")")
			}
		}
	}
	return nil
}

// lookupChunked reads the links of ids, at most
// patientlinks.MaxIdentifiers at a time.
func (g *Gateway) lookupChunked(ex *exchange, links PatientLinks, ids []congruence.Identifier, deny func(message string) *Refusal) ([]patientlinks.Link, *Refusal) {
	var out []patientlinks.Link
	for chunk := range slices.Chunk(ids, patientlinks.MaxIdentifiers) {
		found, ref := g.lookupLinks(ex, links, chunk, deny)
		if ref != nil {
			return nil, ref
		}
		out = append(out, found...)
	}
	return out, nil
}

// lookupLinks reads the links of ids for the exchange's partner. A failed
// read is a 503 refusal, because the gateway cannot check the payload.
// Once the exchange would exceed maxPayloadLookups, it reads nothing and
// returns deny's refusal.
func (g *Gateway) lookupLinks(ex *exchange, links PatientLinks, ids []congruence.Identifier, deny func(message string) *Refusal) ([]patientlinks.Link, *Refusal) {
	if ex.linkReads+len(ids) > maxPayloadLookups {
		return nil, deny(tooManyLinkReads("the request names"))
	}
	ex.linkReads += len(ids)
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

// tooManyLinkReads returns the message of a request that needs more than
// maxPayloadLookups link reads. The message starts with subject.
func tooManyLinkReads(subject string) string {
	return subject + " more identifiers than the gateway checks in one request (" + strconv.Itoa(maxPayloadLookups) + " link reads)"
}

func denyOutboundPatient(message string) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: "congruence.outbound-patient", Message: message}
}
