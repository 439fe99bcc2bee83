package gateway

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/patientlinks"
)

// outboundCriteria is one set of search criteria that the partner runs:
// the query of a search, of a conditional update, patch or delete, or an
// If-None-Exist, of the request or of a batch entry.
type outboundCriteria struct {
	typ   string
	query *fhirreq.Query
	// at locates the criteria in a refusal without quoting them.
	at string
}

// criteriaOf returns the criteria that req makes the partner run. prefix
// names the Bundle entry, or is "" for the request itself.
func criteriaOf(req *fhirreq.Request, prefix string) []outboundCriteria {
	var out []outboundCriteria
	switch {
	case req.Kind == fhirreq.SearchType || req.Kind == fhirreq.SearchSystem:
		out = append(out, outboundCriteria{req.Type, req.Query, prefix + "the search"})
	case req.Conditional:
		out = append(out, outboundCriteria{req.Type, req.Query, prefix + "the conditional criteria"})
	}
	if req.IfNoneExist != nil {
		out = append(out, outboundCriteria{req.Type, req.IfNoneExist, prefix + "If-None-Exist"})
	}
	return out
}

// checkOutboundSearch applies identity congruence to every search the
// engine's request makes the partner run (criteriaOf), in the request
// itself and in each entry of a batch or transaction, and to the URL of
// every operation (checkOutboundOperation). The partner
// receives the criteria as fhirreq.Query.Encode writes them (a batch
// entry's url as sent, which fhirreq.ParseBundle read with the same
// strict parser), so that form is what congruence reads. Each person the
// criteria name must be linked to the destination
// (congruence.Checker.CheckOutboundSearch), and every other identifier
// must pass the rules of a body's identifiers. A page request is checked
// again with the criteria of the search its token was sealed for.
func (g *Gateway) checkOutboundSearch(ex *exchange, opts OutboundOptions) *Refusal {
	if ex.fhir == nil {
		return nil
	}
	if ref := checkOutboundOperation(ex.fhir, ""); ref != nil {
		return ref
	}
	criteria := criteriaOf(ex.fhir, "")
	if ex.fhir.Kind == fhirreq.BatchTransaction {
		// checkOutboundEntries rejected a Bundle that does not parse.
		b, err := ex.parsedBatch()
		if err != nil {
			return bundleUnreadable()
		}
		for i := range b.Entries {
			req := b.Entries[i].Request
			if req == nil {
				continue
			}
			if ref := checkOutboundOperation(req, b.Entries[i].Path()+": "); ref != nil {
				return ref
			}
			criteria = append(criteria, criteriaOf(req, b.Entries[i].Path()+": ")...)
		}
	}
	partner := opts.Partners[ex.partner.ID].Organization
	for _, c := range criteria {
		names, m := opts.Congruence.CheckOutboundSearch(partner, c.typ, c.query.Encode(), c.at)
		if m != nil {
			return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: m.Rule, Message: m.Reason}
		}
		if opts.Patients == nil {
			continue
		}
		if ref := g.checkSearchNames(ex, opts, names); ref != nil {
			return ref
		}
	}
	return nil
}

// checkSearchNames checks what one search names against the links. Every
// identifier with a system of a named person must be linked to the
// destination, and every value without a system must pass
// checkAnySystemPatient. The other identifiers may not be linked only to
// other partners, nor be member ids that the destination has not named,
// under the rules of a body's identifiers (checkPayloadLookups).
func (g *Gateway) checkSearchNames(ex *exchange, opts OutboundOptions, names congruence.SearchNames) *Refusal {
	var others []payloadLookup
	for i := range names.Others {
		others = appendPayloadLookups(others, &names.Others[i], opts.MemberSystems)
	}
	lookups := len(others)
	for _, p := range names.Patients {
		lookups += len(p.Identifiers) + len(p.AnySystem)*len(opts.MemberSystems)
	}
	if ex.linkReads+lookups > maxPayloadLookups {
		return denySearch(tooManyLinkReads("the request's searches name"))
	}
	for _, p := range names.Patients {
		if len(p.Identifiers) > patientlinks.MaxIdentifiers {
			return denySearch(p.Path + " names more than " + strconv.Itoa(patientlinks.MaxIdentifiers) + " identifiers, more than the gateway checks")
		}
		var links []patientlinks.Link
		if len(p.Identifiers) > 0 {
			var ref *Refusal
			links, ref = g.lookupLinks(ex, opts.Patients, p.Identifiers, denySearch)
			if ref != nil {
				return ref
			}
		}
		for _, link := range links {
			if !link.Partner {
				return denySearch(p.Path + " names a patient or another person by an identifier that the destination partner has not named in a request")
			}
		}
		if ref := g.checkAnySystemPatient(ex, opts, p, denySearch); ref != nil {
			return ref
		}
	}
	return g.checkPayloadLookups(ex, opts, others, "", denySearch)
}

func denySearch(message string) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: congruence.SearchRule, Message: message}
}
