package policy

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/scope"
)

// Defaults of Options.
const (
	DefaultMaxCount         = 100
	DefaultMaxBundleEntries = 100
)

// Options configures an Engine.
type Options struct {
	// MaxCount is the largest _count a search may ask for; a larger one is
	// refused, never lowered. Zero means DefaultMaxCount.
	MaxCount int
	// MaxBundleEntries caps the entries of a batch or transaction. Zero
	// means DefaultMaxBundleEntries, a default chosen for prior-auth
	// traffic rather than derived from any standard.
	MaxBundleEntries int
	// PayerIDs are this payer's identifiers, at least one; Claim.insurer and
	// Coverage.payor must carry one of them.
	PayerIDs []congruence.Identifier
	// SubscriptionTopics are the canonical URLs of the SubscriptionTopics
	// partners may subscribe to besides fhirreq.PASSubscriptionTopic, which
	// is always allowed. An entry without "|version" allows every version
	// of its topic; an entry with one allows that version only. Each must
	// pass CheckSubscriptionTopic.
	SubscriptionTopics []string
}

// Engine is the enforced policy: deny by default, allow only what the
// token's scopes and the partner's roles and grants both permit. It is
// immutable and safe for concurrent use.
type Engine struct {
	maxCount   int
	maxEntries int
	congruence *congruence.Checker
	// topics are the allowed SubscriptionTopic canonical URLs, the PAS
	// topic first.
	topics []string
}

// New checks opts and returns an Engine.
func New(opts Options) (*Engine, error) {
	if opts.MaxCount < 0 || opts.MaxBundleEntries < 0 {
		return nil, errors.New("policy: max_count and max_bundle_entries must not be negative")
	}
	if opts.MaxBundleEntries > fhirreq.MaxBundleEntries {
		return nil, errors.New("policy: max_bundle_entries must be at most " + strconv.Itoa(fhirreq.MaxBundleEntries))
	}
	checker, err := congruence.New(opts.PayerIDs...)
	if err != nil {
		return nil, err
	}
	topics := []string{fhirreq.PASSubscriptionTopic}
	for i, t := range opts.SubscriptionTopics {
		if err := CheckSubscriptionTopic(t); err != nil {
			return nil, fmt.Errorf("policy: subscription_topics[%d]: %w", i, err)
		}
		topics = append(topics, t)
	}
	e := &Engine{maxCount: opts.MaxCount, maxEntries: opts.MaxBundleEntries, congruence: checker, topics: topics}
	if e.maxCount == 0 {
		e.maxCount = DefaultMaxCount
	}
	if e.maxEntries == 0 {
		e.maxEntries = DefaultMaxBundleEntries
	}
	return e, nil
}

// Decide evaluates one request.
func (e *Engine) Decide(in Input) Decision {
	if in.Partner == nil || in.Request == nil {
		return forbidden("policy.no-registration", "the request has no partner registration to decide on")
	}
	if d, ok := CheckFormat(in.Request.Query); !ok {
		return d
	}
	if in.Request.Kind == fhirreq.BatchTransaction {
		return e.decideBatch(in)
	}
	return e.decideRequest(in)
}

// decideRequest decides one interaction: a whole request, or one entry of
// a batch or transaction.
func (e *Engine) decideRequest(in Input) Decision {
	req := in.Request
	switch req.Kind {
	case fhirreq.Capabilities:
		return e.controlsOnly(req, allow("allow.capabilities"))
	case fhirreq.Read, fhirreq.VRead:
		if d, ok := e.readable(in, req.Type, scope.Read); !ok {
			return d
		}
		return e.controlsOnly(req, allow("allow.read"))
	case fhirreq.SearchType:
		return e.decideSearch(in, []string{req.Type})
	case fhirreq.SearchSystem:
		return e.decideSystemSearch(in)
	case fhirreq.Create, fhirreq.Update:
		return e.decideWrite(in)
	case fhirreq.Patch:
		return forbidden("policy.patch", "PATCH is not accepted: a patch document cannot be validated as a resource; send an update")
	case fhirreq.Delete:
		return forbidden("policy.delete", "no partner may delete resources")
	case fhirreq.HistoryInstance, fhirreq.HistoryType, fhirreq.HistorySystem:
		return e.decideHistory(in)
	case fhirreq.OperationSystem, fhirreq.OperationType, fhirreq.OperationInstance:
		return e.decideOperation(in)
	case fhirreq.BatchTransaction:
		return forbidden("policy.bundle.nested", "a batch or transaction may not contain another")
	}
	return forbidden("policy.unknown-interaction", "the interaction is not allowed")
}

// readable checks that the partner's role and the token's scopes permit
// perm (Read or Search) on typ. Search is checked here without the search's
// parameters, so a granular scope does not satisfy it; decideSearch checks
// those.
func (e *Engine) readable(in Input, typ string, perm scope.Perm) (Decision, bool) {
	c, ok := ClassOf(typ)
	if !ok {
		return forbidden("policy.class.none", typ+" is in no data class, so no partner may access it"), false
	}
	if in.Partner.Role(c) < Read {
		return forbidden("policy.role", "the partner has no read role on the "+string(c)+" data class, which includes "+typ), false
	}
	if !in.Scopes.Permits(perm, typ, nil) {
		return scopeForbidden("do not permit " + permName(perm) + " on " + typ), false
	}
	return Decision{}, true
}

func permName(p scope.Perm) string {
	switch p {
	case scope.Read:
		return "read"
	case scope.Search:
		return "search"
	case scope.Create:
		return "create"
	case scope.Update:
		return "update"
	}
	return p.String()
}

// everyClass checks what forms returning any type need: a read role on
// every data class and a wildcard read scope.
func (e *Engine) everyClass(in Input, what string) (Decision, bool) {
	for _, c := range Classes() {
		if in.Partner.Role(c) < Read {
			return forbidden("policy.role", what+" returns every data class, and the partner has no read role on "+string(c)), false
		}
	}
	if !in.Scopes.HasWildcard() || !in.Scopes.Permits(scope.Read, scope.Wildcard, nil) {
		return scopeForbidden("do not include system/*.read, which " + what + " needs because it returns every resource type"), false
	}
	return Decision{}, true
}

// controlsOnly allows d only if the query contains nothing but presentation
// parameters (_format, _pretty, _summary, _elements).
func (e *Engine) controlsOnly(req *fhirreq.Request, d Decision) Decision {
	q := req.Query
	if len(q.Includes) > 0 || len(q.Has) > 0 || q.Count >= 0 || q.Types != nil {
		return invalid("policy.param.not-allowed", "this interaction takes no search parameters")
	}
	for _, p := range q.Params {
		if p.Name() != "_pretty" || p.Chained() {
			return invalid("policy.param.not-allowed", "this interaction takes no search parameters")
		}
	}
	return d
}

// CheckFormat rejects a _format other than JSON, because the gateway
// validates and records FHIR JSON only. The gateway also applies it to the
// engine's outbound requests, which no Engine decides.
func CheckFormat(q *fhirreq.Query) (Decision, bool) {
	switch q.Format {
	case "", "json", "application/json", "application/fhir+json":
		return Decision{}, true
	}
	return Decision{Rule: "policy.format", Reason: "only FHIR JSON is served: use _format=json or leave it out",
		Status: http.StatusNotAcceptable, Code: "not-supported"}, false
}

func (e *Engine) decideHistory(in Input) Decision {
	if !in.Partner.Granted(History) {
		return forbidden("policy.feature.history", "history is not granted to this partner: it returns earlier versions, including data since corrected or withdrawn")
	}
	req := in.Request
	if req.Kind == fhirreq.HistorySystem {
		if d, ok := e.everyClass(in, "system history"); !ok {
			return d
		}
	} else if d, ok := e.readable(in, req.Type, scope.Read); !ok {
		return d
	}
	if d, ok := checkHistoryParams(req.Query); !ok {
		return d
	}
	if d, ok := e.checkCount(req.Query); !ok {
		return d
	}
	return allow("allow.history")
}

// historyParams are the parameters FHIR R4 defines for history besides
// _count and the presentation ones. _list is refused with the searches'
// refused parameters.
var historyParams = map[string]bool{"_since": true, "_at": true, "_pretty": true}

// checkHistoryParams refuses search features on a history interaction.
// History takes no search criteria, so an _include, _has, _type or filter
// there would reach types the history decision never checked, on any
// server that reads them.
func checkHistoryParams(q *fhirreq.Query) (Decision, bool) {
	if len(q.Includes) > 0 || len(q.Has) > 0 || q.Types != nil {
		return invalid("policy.param.not-allowed", "history takes no _include, _revinclude, _has or _type"), false
	}
	for _, p := range q.Params {
		if !historyParams[p.Name()] || p.Chained() || p.Modifier() != "" {
			return invalid("policy.param.not-allowed", "history takes only _count, _since, _at and presentation parameters"), false
		}
	}
	return Decision{}, true
}

func (e *Engine) checkCount(q *fhirreq.Query) (Decision, bool) {
	if q.Count > e.maxCount {
		return Decision{Rule: "policy.search.count", Status: http.StatusBadRequest, Code: "too-costly",
			Reason: "_count is larger than " + strconv.Itoa(e.maxCount) + ", the most this gateway allows; ask for fewer"}, false
	}
	return Decision{}, true
}
