package gateway

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// checkResponseType rejects a successful response body whose resource type,
// or for a read whose id, does not fit the interaction: a read of Claim/1
// must return Claim/1, a search a Bundle. The validator checks a body
// against the interaction's profiles, but an interaction without a profile
// is checked against the core definition of whatever type the body names,
// so a conforming Patient in response to a Claim read would be released.
// A Bundle's type must fit too: a search returns a searchset, a history a
// history, a batch a batch-response and a transaction a
// transaction-response. body must already have passed strict mode.
//
// NOTE: operations other than the profiled PAS and HRex ones may return
// any resource and any Bundle type, because their output is not declared
// per operation here ($everything returns a searchset, a custom operation
// anything).
func checkResponseType(ex *exchange, body []byte) *Refusal {
	req := ex.fhir
	head, err := fhirjson.ReadHead(body)
	if err != nil {
		return responseTypeRefusal("the upstream response body is not a FHIR resource")
	}
	if !responseTypeAllowed(req, head.ResourceType) {
		return responseTypeRefusal("the upstream responded to " + req.Describe() + " with a " + head.ResourceType + " resource, which that interaction does not return")
	}
	if (req.Kind == fhirreq.Read || req.Kind == fhirreq.VRead) && head.ID != req.ID {
		return responseTypeRefusal("the upstream responded to " + req.Describe() + " with a resource whose id differs from the id read")
	}
	if want := responseBundleTypes(ex); head.ResourceType == "Bundle" && len(want) > 0 && !slices.Contains(want, head.Type) {
		return responseTypeRefusal("the upstream responded to " + req.Describe() + " with a Bundle of type " + quoteType(head.Type) +
			", not " + strings.Join(want, " or "))
	}
	return nil
}

// responseBundleTypes returns the Bundle types a successful response to
// the exchange's request may have, or nil when any type may come back. The
// response to a POST to the base follows the request Bundle's type. Policy
// rejects a request Bundle of any other type, so both response types are
// allowed only for a request body that cannot be read.
func responseBundleTypes(ex *exchange) []string {
	switch ex.fhir.Kind {
	case fhirreq.SearchType, fhirreq.SearchSystem:
		return []string{"searchset"}
	case fhirreq.HistoryInstance, fhirreq.HistoryType, fhirreq.HistorySystem:
		return []string{"history"}
	case fhirreq.BatchTransaction:
		head, err := fhirjson.ReadHead(ex.body)
		if err == nil && (head.Type == "batch" || head.Type == "transaction") {
			return []string{head.Type + "-response"}
		}
		return []string{"batch-response", "transaction-response"}
	}
	return nil
}

// quoteType quotes typ, a Bundle.type code that strict mode has already
// checked, for a message, and returns "(missing)" for an empty typ.
func quoteType(typ string) string {
	if typ == "" {
		return "(missing)"
	}
	return `"` + typ + `"`
}

// responseTypeAllowed reports whether a successful response to req may have
// resourceType. Create, update and patch return the resource or, with
// Prefer: return=OperationOutcome, an OperationOutcome. Any other
// interaction, such as an operation, may return any type.
func responseTypeAllowed(req *fhirreq.Request, resourceType string) bool {
	switch req.Kind {
	case fhirreq.Capabilities:
		return resourceType == "CapabilityStatement"
	case fhirreq.Read, fhirreq.VRead:
		return resourceType == req.Type
	case fhirreq.Create, fhirreq.Update, fhirreq.Patch:
		return resourceType == req.Type || resourceType == "OperationOutcome"
	case fhirreq.Delete:
		return resourceType == "OperationOutcome"
	case fhirreq.SearchType, fhirreq.SearchSystem, fhirreq.HistoryInstance, fhirreq.HistoryType,
		fhirreq.HistorySystem, fhirreq.BatchTransaction:
		return resourceType == "Bundle"
	}
	return true
}

func responseTypeRefusal(msg string) *Refusal {
	return &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "strict.response-type",
		Message: msg + ", so nothing was released"}
}
