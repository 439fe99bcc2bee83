package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// operationInputs gives the resource type an operation's body must be.
// Operations not listed take a Parameters resource or the type's resource.
var operationInputs = map[string]string{
	"Claim/$submit":  "Bundle",
	"Claim/$inquire": "Bundle",
}

// checkResourceType checks that the body is a resource of a known type that
// fits the interaction: the URL's type for create and update, a Bundle for
// batch and for the PAS operations.
func (g *Gateway) checkResourceType(ex *exchange) *Refusal {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	// The body has passed strict intake, so this decode cannot meet
	// duplicate names or invalid UTF-8.
	if err := json.Unmarshal(ex.body, &head); err != nil || head.ResourceType == "" {
		return &Refusal{Status: http.StatusBadRequest, Code: "structure", Rule: "payload.resource-type",
			Message: "the request body is not a FHIR resource: resourceType is missing"}
	}
	if !fhirreq.IsResourceType(head.ResourceType) {
		return &Refusal{Status: http.StatusBadRequest, Code: "structure", Rule: "payload.resource-type",
			Message: "the request body has an unknown resourceType"}
	}
	want := expectedType(ex.fhir)
	if want != "" && head.ResourceType != want {
		return &Refusal{Status: http.StatusUnprocessableEntity, Code: "processing", Rule: "payload.wrong-type",
			Message: "the request body must be a " + want + " resource for " + ex.fhir.Describe()}
	}
	return nil
}

func expectedType(req *fhirreq.Request) string {
	switch req.Kind {
	case fhirreq.Create, fhirreq.Update:
		return req.Type
	case fhirreq.BatchTransaction:
		return "Bundle"
	case fhirreq.OperationType, fhirreq.OperationInstance, fhirreq.OperationSystem:
		return operationInputs[req.Describe()]
	}
	return ""
}
