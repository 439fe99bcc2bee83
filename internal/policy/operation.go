package policy

import (
	"errors"
	"net/http"
	"slices"
	"strings"

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
}

var workflows = []workflow{
	{fhirreq.OperationType, "Claim", "submit", Claims, []string{"Bundle"}, true},
	{fhirreq.OperationType, "Claim", "inquire", Claims, []string{"Bundle"}, true},
	{fhirreq.OperationType, "Patient", "member-match", Member, []string{"Parameters"}, false},
	// Eligibility takes the request itself or a collection Bundle that
	// starts with it.
	{fhirreq.OperationType, "CoverageEligibilityRequest", "submit", Coverage, []string{"CoverageEligibilityRequest", "Bundle"}, false},
	// Subscription catch-up (R4 Subscriptions Backport): read-only, by GET
	// or by POST without a body.
	{fhirreq.OperationInstance, "Subscription", "status", Workflow, nil, false},
	{fhirreq.OperationInstance, "Subscription", "events", Workflow, nil, false},
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
		return forbidden("policy.scope", "the access token's scopes do not include system/"+w.typ+".$"+w.name)
	}
	if in.Partner.Role(w.class) < Read {
		return forbidden("policy.role", req.Describe()+" returns "+string(w.class)+" data, and the partner has no read role on it")
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
	nested, err := fhirreq.ContainsBundle(in.Body)
	if typ == "Bundle" {
		// The body itself is the Bundle; what it may not hold is another.
		nested, err = bundleHoldsBundle(in.Body)
	}
	if err != nil || nested {
		return forbidden("policy.bundle.nested", "the body may not contain a Bundle")
	}
	// NOTE: the payload of $member-match (the Coverage to match and its
	// payor) is not yet checked for congruence; only the identities are.
	if m := e.congruence.CheckIdentity(in.Identity); m != nil {
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
	if b.Type != "collection" {
		return invalid("policy.bundle.type", "a PAS request Bundle must have type collection")
	}
	for i := range b.Entries {
		entry := &b.Entries[i]
		switch {
		case entry.Request != nil || entry.HasResponse || entry.HasSearch:
			return atEntry(entry, forbidden("policy.bundle.entry-request", "an entry of an operation Bundle carries no request, response or search"))
		case entry.NestedBundle:
			return atEntry(entry, forbidden("policy.bundle.nested", "an operation Bundle may not contain another Bundle"))
		case !pasEntryTypes[entry.ResourceType]:
			return atEntry(entry, forbidden("policy.bundle.entry-type", "a PAS request Bundle may not carry this resource type"))
		}
	}
	if m := e.congruence.CheckClaimBundle(in.Identity, b); m != nil {
		return mismatch(m)
	}
	return allow("allow.operation")
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

// bundleHoldsBundle reports whether an entry of the Bundle body is itself a
// Bundle or contains one.
func bundleHoldsBundle(body []byte) (bool, error) {
	b, err := fhirreq.ParseBundle(body)
	if err != nil {
		return false, err
	}
	for _, e := range b.Entries {
		if e.NestedBundle {
			return true, nil
		}
	}
	return false, nil
}
