package policy

import (
	"net/http"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/scope"
)

// decideWrite decides a create or an update, conditional or not. Writes are
// allowed only on writable classes, with the write role and the c or u
// scope. The body must be a resource of the URL's type (and id, for an
// update), conditional criteria must be a plain search the partner may run,
// a Subscription must name an allowed topic with filters the partner may
// run as searches and notify an endpoint under the partner's registered
// FHIR base, and the identities must agree.
func (e *Engine) decideWrite(in Input) Decision {
	req := in.Request
	perm, verb := scope.Create, "create"
	if req.Kind == fhirreq.Update {
		perm, verb = scope.Update, "update"
	}

	c, ok := ClassOf(req.Type)
	if !ok {
		return forbidden("policy.class.none", req.Type+" is in no data class, so no partner may access it")
	}
	if !writableClasses[c] {
		return forbidden("policy.write.workflow-only", req.Type+" is "+string(c)+" data, which changes only through the operations built for it (Claim/$submit creates a Claim)")
	}
	if in.Partner.Role(c) < Write {
		return forbidden("policy.role", "the partner has no write role on the "+string(c)+" data class, which includes "+req.Type)
	}
	if !in.Scopes.Permits(perm, req.Type, nil) {
		return scopeForbidden("do not permit " + verb + " on " + req.Type)
	}

	if d, ok := checkBody(in); !ok {
		return d
	}
	if d, ok := e.checkCriteria(in); !ok {
		return d
	}
	if d, ok := e.checkSearchURIs(in); !ok {
		return d
	}
	if d, ok := e.checkSubscriptionTopics(in); !ok {
		return d
	}
	if d, ok := checkSubscriptionChannel(in); !ok {
		return d
	}
	if !req.Conditional {
		if d := e.controlsOnly(req, allow("")); !d.Allow {
			return d
		}
	}
	if m := e.congruence.CheckIdentity(in.Identity); m != nil {
		return mismatch(m)
	}
	if perm == scope.Update {
		return allow("allow.update")
	}
	return allow("allow.create")
}

// checkBody requires the body to be a resource of the URL's type and, for
// an update by id, to carry that id.
func checkBody(in Input) (Decision, bool) {
	req := in.Request
	if len(in.Body) == 0 {
		return Decision{Rule: "policy.body.missing", Reason: "this interaction requires a resource body",
			Status: http.StatusBadRequest, Code: "required"}, false
	}
	typ, id, err := resourceHead(in)
	if err != nil {
		return invalid("policy.body.unreadable", "the body is not a FHIR JSON resource"), false
	}
	if typ != req.Type {
		return Decision{Rule: "policy.body.type-mismatch", Status: http.StatusUnprocessableEntity, Code: "processing",
			Reason: "the resource type of the body differs from the one in the URL"}, false
	}
	if req.Kind == fhirreq.Update && !req.Conditional && id != req.ID {
		return invalid("policy.body.id-mismatch", "the id in the body differs from the one in the URL"), false
	}
	return Decision{}, true
}

// checkCriteria checks the match criteria of a conditional create or
// update: the server searches with them, so they are a search the partner
// must be allowed to run, and only plain parameters on the written type
// (no chain, _has, _include or result parameter) are accepted.
func (e *Engine) checkCriteria(in Input) (Decision, bool) {
	req := in.Request
	criteria := req.IfNoneExist
	if req.Conditional {
		criteria = req.Query
	}
	if criteria == nil {
		return Decision{}, true
	}
	return e.plainSearch(in, req.Type, criteria, "policy.conditional.criteria",
		"conditional criteria may hold only plain search parameters of the written type")
}

// checkSearchURIs decides the searches a server runs for the written
// resource: its conditional references ("reference": "Patient?identifier=
// ...") and, for a Subscription, criteria other than a SubscriptionTopic's
// URL. The partner learns what they match from whether the write succeeds
// or from what the server later sends to the subscriber, so each must be a
// search the partner may run, under the rules for conditional criteria.
func (e *Engine) checkSearchURIs(in Input) (Decision, bool) {
	uris, err := fhirreq.SearchURIs(resourceBody(in), in.Request.Type == "Subscription")
	if err != nil {
		return invalid("policy.body.unreadable", "the body is not a FHIR JSON resource"), false
	}
	for _, u := range uris {
		rule, field := "policy.conditional.reference", "a conditional reference"
		if u.Criteria {
			rule, field = "policy.subscription.criteria", "Subscription.criteria"
		}
		typ, q, err := fhirreq.ParseSearchURI(u.Value)
		if err != nil {
			return invalid(rule, field+" must be a search written as [type]?[parameters] in canonical form"), false
		}
		if d, ok := e.plainSearch(in, typ, q, rule, field+" may hold only plain search parameters of its type"); !ok {
			return d, false
		}
	}
	return Decision{}, true
}

// plainSearch allows a search the server runs on the partner's behalf
// during a write: at least one plain parameter of typ (no chain, _has,
// _include or result parameter), and a search of typ the partner may run.
// Other forms are refused with rule and reason.
func (e *Engine) plainSearch(in Input, typ string, criteria *fhirreq.Query, rule, reason string) (Decision, bool) {
	if len(criteria.Includes) > 0 || len(criteria.Has) > 0 || criteria.Count >= 0 || criteria.Types != nil ||
		criteria.Summary != "" || criteria.Elements != nil || len(criteria.Params) == 0 {
		return forbidden(rule, reason), false
	}
	for _, p := range criteria.Params {
		if p.Chained() || p.Name()[0] == '_' && p.Name() != "_id" {
			return forbidden(rule, reason), false
		}
	}
	if d, ok := e.searchable(in, typ, appendPlainParams(nil, criteria)); !ok {
		return d, false
	}
	return Decision{}, true
}

// resourceBody returns the written resource: the Bundle entry's resource
// when the body is one, otherwise the body.
func resourceBody(in Input) []byte {
	if in.entry != nil {
		return in.entry.Resource
	}
	return in.Body
}

// resourceHead returns the body's resourceType and id, taken from the
// Bundle entry when the body is one.
func resourceHead(in Input) (string, string, error) {
	if in.entry != nil {
		return in.entry.ResourceType, in.entry.ResourceID, nil
	}
	return fhirreq.ResourceHead(in.Body)
}
