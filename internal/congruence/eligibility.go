package congruence

import (
	"github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// Eligibility (CoverageEligibilityRequest/$submit), for the request itself
// or for every CoverageEligibilityRequest of a Bundle:
//
//   - its provider, when it has one, is the partner's organisation;
//   - its insurer is present and is this payer.
//
// A Bundle must start with a CoverageEligibilityRequest, because the
// built-in payer reads its first entry as the request.
//
// A party is named either by Reference.identifier alone, or by a literal
// reference that resolves to an entry of the Bundle, as in a PAS Bundle
// (with Reference.identifier, if present, naming the same party). In a
// request sent alone, a literal reference (a contained one too) is a
// mismatch: the gateway does not follow it.

type eligibilityJSON struct {
	Provider *referenceJSON `json:"provider"`
	Insurer  *referenceJSON `json:"insurer"`
}

// CheckEligibility applies the identity rules and then the eligibility
// rules to a CoverageEligibilityRequest/$submit body.
func (c *Checker) CheckEligibility(id Identity, body []byte) *Mismatch {
	if m := c.CheckIdentity(id); m != nil {
		return m
	}
	typ, _, err := fhirreq.ResourceHead(body)
	if err != nil {
		return unreadable("CoverageEligibilityRequest")
	}
	if typ != "Bundle" {
		b := &fhirreq.Bundle{Entries: []fhirreq.Entry{{ResourceType: typ, Resource: body}}}
		return c.checkEligibilityEntries(id.Organization, b, false)
	}
	b, err := fhirreq.ParseBundle(body)
	if err != nil {
		return unreadable("Bundle")
	}
	if len(b.Entries) == 0 || b.Entries[0].ResourceType != "CoverageEligibilityRequest" {
		return &Mismatch{Rule: "congruence.eligibility.request", Path: "Bundle.entry[0].resource",
			Reason: "Bundle.entry[0].resource must be the CoverageEligibilityRequest"}
	}
	return c.checkEligibilityEntries(id.Organization, b, true)
}

func (c *Checker) checkEligibilityEntries(org Identifier, b *fhirreq.Bundle, inBundle bool) *Mismatch {
	ix := newIndex(b)
	for i := range b.Entries {
		if b.Entries[i].ResourceType != "CoverageEligibilityRequest" {
			continue
		}
		at := "CoverageEligibilityRequest"
		if inBundle {
			at = resourcePath(i)
		}
		var req eligibilityJSON
		if err := json.Unmarshal(b.Entries[i].Resource, &req); err != nil {
			return unreadable(at)
		}
		var m *Mismatch
		switch {
		case req.Provider == nil:
		case req.Provider.Reference == "" || !inBundle:
			m = namedBy(req.Provider, []Identifier{org}, "congruence.provider", at+".provider", "the partner's registered organisation")
		default:
			m = checkProvider(org, ix, i, req.Provider, at+".provider", "congruence.provider")
		}
		if m != nil {
			return m
		}
		switch {
		case req.Insurer == nil:
			m = &Mismatch{Rule: "congruence.insurer", Path: at + ".insurer", Reason: at + ".insurer is missing: it must name this payer"}
		case req.Insurer.Reference == "" || !inBundle:
			m = namedBy(req.Insurer, c.payerIDs, "congruence.insurer", at+".insurer", "this payer")
		default:
			m = c.checkPayer(ix, i, req.Insurer, at+".insurer", "congruence.insurer")
		}
		if m != nil {
			return m
		}
	}
	return nil
}
