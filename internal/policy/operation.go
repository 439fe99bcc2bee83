package policy

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// workflow is an operation a partner may call with an operation grant.
type workflow struct {
	kind   fhirreq.Kind
	typ    string
	name   string
	class  Class    // the class of what the operation returns: the partner needs read on it
	inputs []string // the resource types the request body may be; none means no body
	pas    bool     // the body is a PAS request Bundle
	// params names the operation's own parameters with their value checks.
	// A read-only operation takes them in the query string by GET or in a
	// Parameters body by POST. A nil map means it takes none.
	params map[string]opParam
}

// opParam is one input of an operation: the value[x] element it takes in a
// Parameters body and the check its value must pass.
type opParam struct {
	valueType string
	valid     func(string) bool
}

var workflows = []workflow{
	{fhirreq.OperationType, "Claim", "submit", Claims, []string{"Bundle"}, true, nil},
	{fhirreq.OperationType, "Claim", "inquire", Claims, []string{"Bundle"}, true, nil},
	{fhirreq.OperationType, "Patient", "member-match", Member, []string{"Parameters"}, false, nil},
	// Eligibility takes the request itself or a collection Bundle that
	// starts with it.
	{fhirreq.OperationType, "CoverageEligibilityRequest", "submit", Coverage, []string{"CoverageEligibilityRequest", "Bundle"}, false, nil},
	// Subscription catch-up (R4 Subscriptions Backport): read-only, by GET
	// or by POST. $events pages through the stored events with its own
	// parameters.
	{fhirreq.OperationInstance, "Subscription", "status", Workflow, nil, false, nil},
	{fhirreq.OperationInstance, "Subscription", "events", Workflow, nil, false, eventsParams},
}

// eventsParams are the inputs of the Backport's $events operation
// (OperationDefinition backport-subscription-events, STU 1.1): the event
// numbers are strings that must contain a positive integer, and content is a
// code of the backport-content value set.
var eventsParams = map[string]opParam{
	"eventsSinceNumber": {"valueString", isEventNumber},
	"eventsUntilNumber": {"valueString", isEventNumber},
	"content": {"valueCode", func(v string) bool {
		return v == "empty" || v == "id-only" || v == "full-resource"
	}},
}

// isEventNumber accepts a positive decimal integer without sign or leading
// zero that fits in 18 digits, so every accepted value parses as an int64.
func isEventNumber(v string) bool {
	if v == "" || len(v) > 18 || v[0] == '0' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// decideOwnParams allows a read-only operation that takes its own
// parameters: each one known, plain, valid and given once, by GET in the
// query string or by POST in a Parameters body. Anything else is rejected
// with the same decision, so a rejection does not tell which part failed.
func decideOwnParams(in Input, params map[string]opParam) Decision {
	rejected := invalid("policy.param.not-allowed", in.Request.Describe()+" takes only its own parameters, each once with a valid value")
	seen := make(map[string]bool, len(params))
	if !ownQueryParams(in.Request.Query, params, seen, in.Request.Method == http.MethodGet) {
		return rejected
	}
	if len(in.Body) > 0 && !ownBodyParams(in.Body, params, seen) {
		return rejected
	}
	return allow("allow.operation")
}

// ownQueryParams accepts a query string of _pretty and, when allowOwn is
// set, the operation's own parameters. A POST carries them in its body, so
// the hub would ignore them in the query string.
func ownQueryParams(q *fhirreq.Query, params map[string]opParam, seen map[string]bool, allowOwn bool) bool {
	if len(q.Includes) > 0 || len(q.Has) > 0 || q.Count >= 0 || q.Types != nil {
		return false
	}
	for _, p := range q.Params {
		name := p.Name()
		if p.Chained() || p.Modifier() != "" {
			return false
		}
		if name == "_pretty" {
			continue
		}
		param, ok := params[name]
		if !allowOwn || !ok || seen[name] || !param.valid(p.Value) {
			return false
		}
		seen[name] = true
	}
	return true
}

// ownBodyParams accepts a Parameters resource with no element but
// parameter, whose entries each contain a known name and one value of the
// declared type. The payload stage has already rejected duplicate JSON keys.
func ownBodyParams(body []byte, params map[string]opParam, seen map[string]bool) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || string(top["resourceType"]) != `"Parameters"` {
		return false
	}
	var entries []map[string]json.RawMessage
	for k, v := range top {
		switch k {
		case "resourceType":
		case "parameter":
			if json.Unmarshal(v, &entries) != nil {
				return false
			}
		default:
			return false
		}
	}
	for _, entry := range entries {
		var name string
		if len(entry) != 2 || json.Unmarshal(entry["name"], &name) != nil {
			return false
		}
		param, ok := params[name]
		var value string
		if !ok || seen[name] || json.Unmarshal(entry[param.valueType], &value) != nil || !param.valid(value) {
			return false
		}
		seen[name] = true
	}
	return true
}

// pasEntryTypes are the resource types a PAS request or inquiry Bundle may
// carry: the Claim, the parties it names and the supporting information
// the PAS Claim profile allows.
var pasEntryTypes = map[string]bool{
	"Claim": true, "Patient": true, "RelatedPerson": true, "Coverage": true, "Organization": true,
	"Practitioner": true, "PractitionerRole": true, "Location": true, "Encounter": true,
	"ServiceRequest": true, "DeviceRequest": true, "MedicationRequest": true, "NutritionOrder": true,
	"DocumentReference": true, "QuestionnaireResponse": true, "AllergyIntolerance": true,
	"Condition": true, "DiagnosticReport": true, "Immunization": true, "Procedure": true,
	"Observation": true, "Binary": true,
}

func (e *Engine) decideOperation(in Input) Decision {
	req := in.Request
	switch req.Operation {
	case "everything":
		return e.decideFeatureOperation(in, Everything, "$everything",
			"$everything is not granted to this partner: it returns a whole patient record")
	case "export":
		return e.decideFeatureOperation(in, Export, "bulk $export",
			"bulk $export is not granted to this partner: it returns whole populations")
	case "graphql":
		return e.decideGraphQL(in)
	}
	for i := range workflows {
		w := &workflows[i]
		if w.kind == req.Kind && w.typ == req.Type && w.name == req.Operation {
			return e.decideWorkflow(in, w)
		}
	}
	return forbidden("policy.operation.unknown", "the operation "+req.Describe()+" is not allowed")
}

func (e *Engine) decideFeatureOperation(in Input, f Feature, what, refusal string) Decision {
	if !in.Partner.Granted(f) {
		return forbidden("policy.feature."+string(f), refusal)
	}
	if d, ok := e.everyClass(in, what); !ok {
		return d
	}
	return allow("allow." + string(f))
}

func (e *Engine) decideGraphQL(in Input) Decision {
	return e.decideFeatureOperation(in, GraphQL, "GraphQL",
		"GraphQL is not granted to this partner: one query can reach any type")
}

// decideWorkflow decides a named operation: POST, the operation grant, a
// read role on the class it returns, a body of the declared type and, for
// PAS, every entry and identity checked.
func (e *Engine) decideWorkflow(in Input, w *workflow) Decision {
	req := in.Request
	readOnly := len(w.inputs) == 0
	if req.Method != http.MethodPost && !(readOnly && req.Method == http.MethodGet) {
		return Decision{Rule: "policy.operation.method", Status: http.StatusMethodNotAllowed, Code: "not-supported",
			Reason: "use POST for " + req.Describe()}
	}
	if !in.Scopes.PermitsOperation(w.typ, w.name) {
		return scopeForbidden("do not include system/" + w.typ + ".$" + w.name)
	}
	if in.Partner.Role(w.class) < Read {
		return forbidden("policy.role", req.Describe()+" returns "+string(w.class)+" data, and the partner has no read role on it")
	}
	if w.params != nil {
		return decideOwnParams(in, w.params)
	}
	if d := e.controlsOnly(req, allow("")); !d.Allow {
		return d
	}
	if w.pas {
		return e.decidePASBundle(in)
	}
	if readOnly {
		if len(in.Body) > 0 {
			return invalid("policy.body.unexpected", req.Describe()+" takes no body")
		}
		return allow("allow.operation")
	}
	return e.decideParameters(in, w)
}

func (e *Engine) decideParameters(in Input, w *workflow) Decision {
	typ, _, err := fhirreq.ResourceHead(in.Body)
	if err != nil {
		return invalid("policy.body.unreadable", "the body is not a FHIR JSON resource")
	}
	if !slices.Contains(w.inputs, typ) {
		return Decision{Rule: "policy.body.type-mismatch", Status: http.StatusUnprocessableEntity, Code: "processing",
			Reason: in.Request.Describe() + " takes a " + strings.Join(w.inputs, " or ") + " body"}
	}
	if typ == "Bundle" {
		// The body itself is the Bundle: a collection of plain entries,
		// none of them another Bundle.
		b, d, ok := e.parseBundle(in.Body)
		if !ok {
			return d
		}
		if d, ok := checkCollection(b, "an operation Bundle"); !ok {
			return d
		}
	} else if nested, err := fhirreq.ContainsBundle(in.Body); err != nil || nested {
		return forbidden("policy.bundle.nested", "the body may not contain a Bundle")
	}
	var m *congruence.Mismatch
	switch {
	case w.typ == "Patient" && w.name == "member-match":
		m = e.congruence.CheckMemberMatch(in.Identity, in.Body)
	case w.typ == "CoverageEligibilityRequest":
		m = e.congruence.CheckEligibility(in.Identity, in.Body)
	default:
		m = e.congruence.CheckIdentity(in.Identity)
	}
	if m != nil {
		return mismatch(m)
	}
	return allow("allow.operation")
}

// decidePASBundle checks a Claim/$submit or Claim/$inquire Bundle: a
// collection of PAS entry types with no entry requests and no nested
// Bundles, then congruence.
func (e *Engine) decidePASBundle(in Input) Decision {
	b, d, ok := e.parseBundle(in.Body)
	if !ok {
		return d
	}
	if d, ok := checkCollection(b, "a PAS request Bundle"); !ok {
		return d
	}
	for i := range b.Entries {
		if entry := &b.Entries[i]; !pasEntryTypes[entry.ResourceType] {
			return atEntry(entry, forbidden("policy.bundle.entry-type", "a PAS request Bundle may not carry this resource type"))
		}
	}
	if m := e.congruence.CheckClaimBundle(in.Identity, b); m != nil {
		return mismatch(m)
	}
	allowed := allow("allow.operation")
	allowed.Bundle = b
	return allowed
}

// parseBundle parses a Bundle body under the entry cap.
func (e *Engine) parseBundle(body []byte) (*fhirreq.Bundle, Decision, bool) {
	b, err := fhirreq.ParseBundle(body)
	if err != nil {
		reason := "the body is not a valid Bundle"
		var fe *fhirreq.Error
		if errors.As(err, &fe) {
			reason = fe.Reason
		}
		return nil, invalid("policy.body.unreadable", reason), false
	}
	if len(b.Entries) > e.maxEntries {
		return nil, Decision{Rule: "policy.bundle.too-many", Status: http.StatusBadRequest, Code: "too-costly",
			Reason: "the Bundle has more entries than this gateway accepts"}, false
	}
	return b, Decision{}, true
}

// checkCollection rejects an operation's Bundle unless it is a collection
// whose entries carry no request, response or search part and no other
// Bundle. label names the Bundle in the rejection.
func checkCollection(b *fhirreq.Bundle, label string) (Decision, bool) {
	if b.Type != "collection" {
		return invalid("policy.bundle.type", label+" must have type collection"), false
	}
	for i := range b.Entries {
		entry := &b.Entries[i]
		switch {
		case entry.Request != nil || entry.HasResponse || entry.HasSearch:
			return atEntry(entry, forbidden("policy.bundle.entry-request", "an entry of an operation Bundle carries no request, response or search")), false
		case entry.NestedBundle:
			return atEntry(entry, forbidden("policy.bundle.nested", "an operation Bundle may not contain another Bundle")), false
		}
	}
	return Decision{}, true
}
