package gateway

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/policy"
)

// checkOutboundQuery applies the policy engine's inbound search rules to
// the engine's outbound request, because the outbound allowlist names only
// interactions. Without it, Task.search alone would let the engine pull
// any type with _include=* or _revinclude=* and probe other types with
// chains and _has. It checks the query, which contains the criteria of a
// conditional write, and If-None-Exist, because the partner runs each as
// a search.
//
// Chains, _has and :iterate are always rejected outbound. An _include or
// _revinclude must name the type it returns, and the allowlist must let
// the engine read or search that type. A _count above the partner's
// MaxCount is rejected, as inbound, so an outbound page is never larger
// than a page a partner may request of the payer.
func checkOutboundQuery(partner *Partner, req *fhirreq.Request, prefix string) *Refusal {
	for _, q := range []*fhirreq.Query{req.Query, req.IfNoneExist} {
		if q == nil {
			continue
		}
		if q.Count > partner.MaxCount {
			return &Refusal{Status: http.StatusBadRequest, Code: "too-costly", Rule: "policy.search.count",
				Message: prefix + "_count is larger than " + strconv.Itoa(partner.MaxCount) + ", the maximum this gateway allows outbound; request fewer"}
		}
		if ref := checkOutboundParams(q, prefix); ref != nil {
			return ref
		}
		if ref := checkOutboundIncludes(partner.Allowed, q, prefix); ref != nil {
			return ref
		}
	}
	return nil
}

func checkOutboundParams(q *fhirreq.Query, prefix string) *Refusal {
	if len(q.Has) > 0 {
		return outboundSearchRefusal("policy.feature.has", prefix+"_has is not allowed outbound: it reveals whether resources of another type exist")
	}
	for _, p := range q.Params {
		name := p.Name()
		if reason, rejected := policy.RejectedSearchParam(name); rejected {
			return outboundSearchRefusal("policy.search.param", prefix+reason)
		}
		if name == "_graphql" {
			return outboundSearchRefusal("policy.search.param", prefix+"_graphql is not allowed outbound: a GraphQL query reaches types the allowlist does not name")
		}
		if p.Chained() {
			return outboundSearchRefusal("policy.feature.chain", prefix+"chained search is not allowed outbound: it filters on, and so reveals, resources of other types")
		}
		if name != "_sort" {
			continue
		}
		keys, err := fhirreq.ParseSort(p.Value)
		if err != nil {
			return &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "policy.search.sort",
				Message: prefix + "_sort must be comma-separated search parameter names, each with an optional leading \"-\""}
		}
		for _, k := range keys {
			if k.Has() || k.Chained() {
				return outboundSearchRefusal("policy.feature.chain", prefix+"a _sort key may not be a chain or a _has path outbound")
			}
		}
	}
	return nil
}

func checkOutboundIncludes(allowed fhirreq.Allowlist, q *fhirreq.Query, prefix string) *Refusal {
	for _, inc := range q.Includes {
		if inc.Source == "*" || inc.Param == "*" {
			return outboundSearchRefusal("policy.search.include-wildcard", prefix+"_include=* and _revinclude=* can return any type; name each reference parameter")
		}
		if inc.Iterate {
			return outboundSearchRefusal("policy.feature.include-iterate", prefix+":iterate is not allowed outbound: it follows references transitively to any depth")
		}
		returned := inc.Source
		if !inc.Reverse {
			if inc.Target == "" {
				return outboundSearchRefusal("policy.search.include-target", prefix+"an _include must name its target type, as in Task:patient:Patient")
			}
			returned = inc.Target
		}
		_, noRead := allowed.Missing(&fhirreq.Request{Kind: fhirreq.Read, Type: returned})
		_, noSearch := allowed.Missing(&fhirreq.Request{Kind: fhirreq.SearchType, Type: returned})
		if noRead && noSearch {
			return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: "policy.not-allowed",
				Message: prefix + "an _include or _revinclude returns " + returned + " resources, but neither " + returned + ".read nor " + returned + ".search is allowed for this partner"}
		}
	}
	return nil
}

func outboundSearchRefusal(rule, msg string) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: rule, Message: msg}
}
