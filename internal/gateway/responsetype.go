package gateway

import (
	"net/http"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// checkResponseType rejects a successful response body whose resource type,
// or for a read whose id, does not fit the interaction: a read of Claim/1
// must return Claim/1, a search a Bundle. The validator checks a body
// against the interaction's profiles, but an interaction without a profile
// is checked against the core definition of whatever type the body names,
// so a conforming Patient in response to a Claim read would be released.
// body must already have passed strict mode.
//
// NOTE: operations other than the profiled PAS and HRex ones may return
// any resource, and a Bundle's type and entries are not compared with the
// interaction.
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
	return nil
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
