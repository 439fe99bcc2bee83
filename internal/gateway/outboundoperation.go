package gateway

import (
	"slices"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// populationOperations select every patient, or every resource, of the
// partner's server when invoked on a type or the whole system. On an
// instance they are limited to that resource, as a read is, except on a
// Group, whose members the gateway cannot read.
var populationOperations = []string{"everything", "export"}

// everythingParameters are the parameters of $everything (FHIR R4
// Patient/$everything and Encounter/$everything) that reach the query's
// Params. _count, _type, _elements, _summary and _format are controls that
// fhirreq parses apart. None of them names a person.
var everythingParameters = []string{"start", "end", "_since"}

// checkOutboundOperation applies identity congruence to the URL of an
// operation that the engine sends, in the request or in a batch entry.
// prefix names the Bundle entry, or is "" for the request itself.
//
// The gateway reads an operation's parameters only from a Parameters body
// (checkOutboundParties). Parameters in the query can name a member in
// ways no rule reads, such as $member-match or $match sent by GET, so an
// operation with any query parameter is rejected, whatever the method.
// The exception is instance-level $everything with the parameters of
// everythingParameters. An operation of populationOperations on a type
// or the whole system, or on a Group instance, is rejected even without
// parameters. Any other instance operation names its resource by the
// partner's server id, as a read does, so the id passes as it does in a
// read and the allowlist decides.
func checkOutboundOperation(req *fhirreq.Request, prefix string) *Refusal {
	switch req.Kind {
	case fhirreq.OperationSystem, fhirreq.OperationType, fhirreq.OperationInstance:
	default:
		return nil
	}
	op := "$" + req.Operation
	instance := req.Kind == fhirreq.OperationInstance
	if slices.Contains(populationOperations, req.Operation) {
		if !instance {
			return denySearch(prefix + op + " on a type or the whole system selects every patient without naming one by identifier; invoke it on one resource, such as Patient/[id]/" + op)
		}
		if req.Type == "Group" {
			return denySearch(prefix + op + " on a Group covers every member of a group the gateway cannot read; invoke it on one patient, such as Patient/[id]/" + op)
		}
	}
	for _, p := range req.Query.Params {
		plain := len(p.Links) == 1 && p.Modifier() == ""
		if plain && instance && req.Operation == "everything" && slices.Contains(everythingParameters, p.Name()) {
			continue
		}
		return denySearch(prefix + "the gateway does not read the URL parameters of " + op + ", which may name a patient; send them in a Parameters body by POST")
	}
	return nil
}
