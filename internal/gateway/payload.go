package gateway

import (
	"errors"
	"net/http"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"

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
// batch and for the PAS operations. head and err are the body's as
// fhirjson.ReadHead returns them.
func (g *Gateway) checkResourceType(ex *exchange, head fhirjson.Head, err error) *Refusal {
	if errors.Is(err, fhirjson.ErrCaseVariant) {
		return &Refusal{Status: http.StatusBadRequest, Code: "structure", Rule: "payload.case-variant",
			Message: "the request body has a member whose name differs from resourceType or id only in letter case"}
	}
	if err != nil || head.ResourceType == "" {
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
	if ex.fhir.Kind == fhirreq.Update && head.ID != ex.fhir.ID {
		return &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "payload.id-mismatch",
			Message: "the resource id in the body must equal the id in the URL"}
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
