package congruence

import (
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// Claims, in both directions. A partner may receive a patient's
// ClaimResponse only when it responds to a claim that partner sent, not any
// claim about a patient the partner named once. The business identifiers
// of the Claims of an accepted Claim/$submit or Claim/$inquire
// (ClaimIdentifiers) are linked to that partner, and every ClaimResponse
// an outbound payload carries must name, in ClaimResponse.request, a
// Claim whose identifier is linked to the destination.
//
// The request names the Claim by Reference.identifier, or by a literal
// reference that resolves to a Claim in the same payload: a Bundle entry,
// or a contained resource of the ClaimResponse for "#id". When it has
// both, the identifier must be one of that Claim's. Three cases are
// mismatches, because the gateway cannot tell whose claim the response is
// for: a missing request, a literal reference that does not resolve (such
// as "Claim/123" on the partner's server, which the PAS examples use), and
// a Claim without an identifier that has both system and value.
//
// The caller decides from the links (gateway.checkOutboundClaims).
//
// NOTE: ClaimResponse.preAuthRef and ClaimResponse.identifier are not
// read. PAS 2.2.1 requires ClaimResponse.request (1..1, a PAS Claim), so
// the request is how a later response refers to the partner's claim. The
// preAuthRef is a string the payer assigns, without a system, and a PAS
// 2.0.1 response without a request is rejected.

// claimRule is the mismatch rule of an outbound ClaimResponse.request.
const claimRule = "congruence.outbound-claim"

// NamedClaim is the Claim that an outbound ClaimResponse responds to.
type NamedClaim struct {
	// Path is the FHIRPath-like location of ClaimResponse.request.
	Path string
	// Identifiers are the Claim's identifiers with both system and value.
	Identifiers []Identifier
}

// Named lists the patients and claims of an outbound payload, which the
// caller checks against the partner's links.
type Named struct {
	Patients []NamedPatient
	Claims   []NamedClaim
}

// CheckOutboundNamed applies the rules of CheckOutbound and returns the
// patients and claims body names, for the caller to check against those
// the partner named inbound. A patient or claim whose identifiers cannot
// be determined is a mismatch.
func (c *Checker) CheckOutboundNamed(partner Identifier, body []byte) (Named, *Mismatch) {
	w := &outboundWalk{partner: partner}
	if m := c.outboundBody(w, body); m != nil {
		return Named{}, m
	}
	return Named{Patients: w.patients, Claims: w.claims}, nil
}

// addClaimResponse records the Claim that the ClaimResponse r, entry i of
// ix located at at, responds to.
func (w *outboundWalk) addClaimResponse(ix *index, i int, r *outboundResourceJSON, at string, inBundle bool) *Mismatch {
	path := at + ".request"
	ref := r.Request
	if ref == nil || ref.Reference == "" && ref.Identifier == nil {
		return &Mismatch{Rule: claimRule, Path: path, Reason: path + " is missing: a ClaimResponse must name the Claim it answers"}
	}
	var ids []Identifier
	switch {
	case ref.Reference == "":
	case strings.HasPrefix(ref.Reference, "#"):
		found, ok := containedIdentifiers(r, ref.Reference[1:], "Claim")
		if !ok {
			return &Mismatch{Rule: claimRule, Path: path, Reason: path + " does not resolve to a contained Claim"}
		}
		ids = found
	case inBundle:
		target, ok := ix.resolve(i, ref)
		if !ok || ix.entries[target].ResourceType != "Claim" {
			return &Mismatch{Rule: claimRule, Path: path, Reason: path + " does not resolve to a Claim entry of the Bundle"}
		}
		var claim containedHeadJSON
		if err := json.Unmarshal(ix.entries[target].Resource, &claim); err != nil {
			return unreadable(resourcePath(target))
		}
		ids = complete(claim.Identifier)
	default:
		return &Mismatch{Rule: claimRule, Path: path,
			Reason: path + " is a literal reference the gateway cannot resolve; name the Claim by Reference.identifier or include it"}
	}
	switch {
	case ref.Identifier == nil:
	case ref.Reference == "":
		ids = complete([]identifierJSON{*ref.Identifier})
	case !contains(ids, ref.Identifier.id()):
		return &Mismatch{Rule: claimRule, Path: path + ".identifier",
			Reason: path + ".identifier is not an identifier of the Claim that " + path + ".reference names"}
	}
	if len(ids) == 0 {
		return &Mismatch{Rule: claimRule, Path: path, Reason: path + " names a Claim without an identifier that has both system and value"}
	}
	w.claims = append(w.claims, NamedClaim{Path: path, Identifiers: ids})
	return nil
}

// containedIdentifiers returns the identifiers of the contained resource
// of r whose id is id, and whether it exists and is of type typ.
func containedIdentifiers(r *outboundResourceJSON, id, typ string) ([]Identifier, bool) {
	if id == "" {
		return nil, false
	}
	for _, raw := range r.Contained {
		var h containedHeadJSON
		if json.Unmarshal(raw, &h) != nil {
			return nil, false
		}
		if h.ID == id {
			return complete(h.Identifier), h.ResourceType == typ
		}
	}
	return nil, false
}

// ClaimIdentifiers returns the business identifiers, with both system and
// value, of every Claim of a PAS Bundle that CheckClaimBundle accepted.
// It reads the entries fhirreq.ParseBundle already split. Claim.related
// is not read: a prior claim is linked by its own submission.
func ClaimIdentifiers(b *fhirreq.Bundle) []Identifier {
	var out []Identifier
	for i := range b.Entries {
		if b.Entries[i].ResourceType != "Claim" {
			continue
		}
		var claim containedHeadJSON
		if json.Unmarshal(b.Entries[i].Resource, &claim) == nil {
			out = appendNew(out, complete(claim.Identifier)...)
		}
	}
	return out
}
