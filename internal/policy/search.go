package policy

import (
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/scope"
)

// refusedParams are search parameters no partner may use, with the reason.
var refusedParams = map[string]string{
	"_filter":        "_filter is a query language of its own, able to express chains the policy cannot see",
	"_query":         "_query runs a named query whose behaviour the policy cannot see",
	"_list":          "_list selects by membership of a List resource the policy cannot see",
	"_contained":     "_contained returns contained resources of any type",
	"_containedType": "_containedType returns contained resources of any type",
	"_typeFilter":    "_typeFilter applies only to bulk export",
	"_outputFormat":  "_outputFormat applies only to bulk export",
}

// RejectedSearchParam returns the reason no client may use the search
// parameter name, and reports whether it is rejected. The gateway applies
// the same list to the integration engine's outbound searches, where no
// policy engine runs.
func RejectedSearchParam(name string) (reason string, rejected bool) {
	reason, rejected = refusedParams[name]
	return reason, rejected
}

// decideSearch decides a search on types: the searched type (or each _type
// of a system search) and every type the search can return or reveal.
func (e *Engine) decideSearch(in Input, types []string) Decision {
	q := in.Request.Query
	if d, ok := e.checkCount(q); !ok {
		return d
	}
	if q.Types != nil {
		return forbidden("policy.search.param", "_type applies only to a search at the FHIR base")
	}
	for _, p := range q.Params {
		if why, refused := refusedParams[p.Name()]; refused {
			return forbidden("policy.search.param", why)
		}
		if p.Name() == "_graphql" {
			return e.decideGraphQL(in)
		}
	}
	var buf [8]scope.Param
	plain := appendPlainParams(buf[:0], q)
	for _, typ := range types {
		if d, ok := e.searchable(in, typ, plain); !ok {
			return d
		}
	}
	if d, ok := e.checkChains(in, q); !ok {
		return d
	}
	if d, ok := e.checkSort(in, q); !ok {
		return d
	}
	if d, ok := e.checkHas(in, q); !ok {
		return d
	}
	if d, ok := e.checkIncludes(in, q, types); !ok {
		return d
	}
	return allow("allow.search")
}

// decideSystemSearch decides a search at the FHIR base. It needs the
// system-search grant, and then it is decided as a search of each type
// listed in _type. Without _type it can return every type, so it needs what
// every other form returning any type needs (see everyClass), with search
// in place of read.
func (e *Engine) decideSystemSearch(in Input) Decision {
	if !in.Partner.Granted(SystemSearch) {
		return forbidden("policy.feature.system-search", "search at the FHIR base is not granted to this partner: it returns several types in one call")
	}
	types := in.Request.Query.Types
	if len(types) == 0 {
		if _, ok := e.everyClassSearch(in); !ok {
			return forbidden("policy.search.untyped", "a search at the FHIR base without _type can return any type: list the types in _type")
		}
		types = allClassTypes
	}
	q := *in.Request.Query
	q.Types = nil
	req := *in.Request
	req.Query = &q
	in.Request = &req
	return e.decideSearch(in, types)
}

// everyClassSearch is everyClass for a search: a read role on every data
// class and a wildcard scope that permits search.
func (e *Engine) everyClassSearch(in Input) (Decision, bool) {
	if d, ok := e.everyClass(in, "a search at the FHIR base without _type"); !ok {
		return d, false
	}
	if !in.Scopes.Permits(scope.Search, scope.Wildcard, nil) {
		return forbidden("policy.scope", "a search at the FHIR base without _type returns every resource type, which needs a wildcard search scope: "+
			"list the types in _type, or request a token with system/*.rs"), false
	}
	return Decision{}, true
}

// searchable checks role and scopes for a search of typ. A granular scope
// counts when the search carries its restriction in plain form.
func (e *Engine) searchable(in Input, typ string, plain []scope.Param) (Decision, bool) {
	c, ok := ClassOf(typ)
	if !ok {
		return forbidden("policy.class.none", typ+" is in no data class, so no partner may access it"), false
	}
	if in.Partner.Role(c) < Read {
		return forbidden("policy.role", "the partner has no read role on the "+string(c)+" data class, which includes "+typ), false
	}
	if !in.Scopes.Permits(scope.Search, typ, plain) {
		return scopeForbidden("do not permit search on " + typ + " with these parameters"), false
	}
	return Decision{}, true
}

// appendPlainParams appends to dst the parameters that can satisfy a
// granular scope: those without a modifier or a chain. A comma-separated
// list is passed on, because scope.Set.Permits decides each alternative of
// a token parameter and rejects a list on any other parameter.
func appendPlainParams(dst []scope.Param, q *fhirreq.Query) []scope.Param {
	for _, p := range q.Params {
		if !p.Chained() && p.Modifier() == "" {
			dst = append(dst, scope.Param{Name: p.Name(), Value: p.Value})
		}
	}
	return dst
}

// checkChains refuses chained parameters unless granted. With the grant,
// every link but the last must name its target type (subject:Patient.name),
// and the partner must be able to search that type.
func (e *Engine) checkChains(in Input, q *fhirreq.Query) (Decision, bool) {
	for _, p := range q.Params {
		if !p.Chained() {
			continue
		}
		if d, ok := e.checkChain(in, p.Links); !ok {
			return d, false
		}
	}
	return Decision{}, true
}

// checkChain decides one chained parameter name, in a criterion or in a
// _sort key.
func (e *Engine) checkChain(in Input, links []fhirreq.Link) (Decision, bool) {
	if !in.Partner.Granted(ChainedSearch) {
		return forbidden("policy.feature.chain", "chained search is not granted to this partner: it filters on, and so reveals, resources of other types"), false
	}
	for _, l := range links[:len(links)-1] {
		if !fhirreq.IsResourceType(l.Modifier) {
			return forbidden("policy.search.untyped-chain", "each link of a chained parameter must name its target type, as in subject:Patient.name"), false
		}
		if d, ok := e.searchable(in, l.Modifier, nil); !ok {
			return d, false
		}
	}
	return Decision{}, true
}

// checkSort decides the keys of _sort as search parameter names: ordering
// by a chained value (patient.birthdate) reveals that value as a chained
// criterion would. A _has key is refused to every partner, and without the
// has grant with the same rule as a _has parameter.
func (e *Engine) checkSort(in Input, q *fhirreq.Query) (Decision, bool) {
	for _, p := range q.Params {
		if p.Name() != "_sort" {
			continue
		}
		keys, err := fhirreq.ParseSort(p.Value)
		if err != nil {
			return invalid("policy.search.sort", "_sort must be comma-separated search parameter names, each with an optional leading \"-\""), false
		}
		for _, k := range keys {
			switch {
			case k.Has() && !in.Partner.Granted(HasSearch):
				return forbidden("policy.feature.has", "_has is not granted to this partner: it reveals whether resources of another type exist"), false
			case k.Has():
				return invalid("policy.search.sort", "a _sort key cannot be a _has path"), false
			case k.Chained():
				if d, ok := e.checkChain(in, k.Links); !ok {
					return d, false
				}
			}
		}
	}
	return Decision{}, true
}

// checkHas refuses _has unless granted; when granted, the partner must be
// able to search every type of the chain.
func (e *Engine) checkHas(in Input, q *fhirreq.Query) (Decision, bool) {
	for i := range q.Has {
		if !in.Partner.Granted(HasSearch) {
			return forbidden("policy.feature.has", "_has is not granted to this partner: it reveals whether resources of another type exist"), false
		}
		for _, typ := range q.Has[i].Types() {
			if d, ok := e.searchable(in, typ, nil); !ok {
				return d, false
			}
		}
	}
	return Decision{}, true
}

// checkIncludes requires, for each _include, a named target type the
// partner may read, and for each _revinclude a source type it may read.
// Wildcards are refused; :iterate needs a grant.
func (e *Engine) checkIncludes(in Input, q *fhirreq.Query, searched []string) (Decision, bool) {
	for _, inc := range q.Includes {
		if inc.Source == "*" || inc.Param == "*" {
			return forbidden("policy.search.include-wildcard", "_include=* and _revinclude=* can return any type; name each reference parameter"), false
		}
		if inc.Iterate && !in.Partner.Granted(IncludeIterate) {
			return forbidden("policy.feature.include-iterate", ":iterate is not granted to this partner: it follows references transitively to any depth"), false
		}
		returned := inc.Source
		if !inc.Reverse {
			if inc.Target == "" {
				return forbidden("policy.search.include-target", "an _include must name its target type, as in Claim:patient:Patient"), false
			}
			if !inc.Iterate && !contains(searched, inc.Source) {
				return forbidden("policy.search.include-source", "an _include must start from the searched type"), false
			}
			returned = inc.Target
		}
		if d, ok := e.readable(in, returned, scope.Read); !ok {
			return d, false
		}
	}
	return Decision{}, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
