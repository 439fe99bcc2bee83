package dfd

import (
	"slices"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/policy"
)

// DataClass is a data class of the policy (policy.Class): the resource
// types one role covers. The diagram and posture use the policy's table, so
// they describe data exactly as the policy decides on it.
type DataClass string

// The data classes, in the order diagrams list them.
const (
	Claims      = DataClass(policy.Claims)      // claims, prior authorizations
	Coverage    = DataClass(policy.Coverage)    // coverage and eligibility
	Clinical    = DataClass(policy.Clinical)    // clinical records and orders
	Member      = DataClass(policy.Member)      // patients and related persons
	Directory   = DataClass(policy.Directory)   // organisations, practitioners, locations
	Workflow    = DataClass(policy.Workflow)    // tasks, communications, subscriptions
	Audit       = DataClass(policy.Audit)       // provenance and audit events
	Conformance = DataClass(policy.Conformance) // capability statements and definitions
)

var classOrder = []DataClass{Claims, Coverage, Clinical, Member, Directory, Workflow, Audit, Conformance}

// operationClasses lists what the known operations carry. A Da Vinci PAS
// request or inquiry bundle contains the Claim, the patient, the coverage and
// the requested service (a ServiceRequest, DeviceRequest or
// MedicationRequest), so it carries clinical and member data too.
var operationClasses = map[string][]DataClass{
	"submit":       {Claims, Coverage, Clinical, Member},
	"inquire":      {Claims, Coverage, Clinical, Member},
	"member-match": {Member, Coverage},
	"everything":   {Claims, Coverage, Clinical, Member, Directory},
	"export":       {Claims, Coverage, Clinical, Member, Directory},
	"graphql":      {Claims, Coverage, Clinical, Member, Directory},
}

// ClassOfType returns the policy's data class of a FHIR resource type. It
// reports false for a type in no class, which the policy refuses to every
// partner.
func ClassOfType(resourceType string) (DataClass, bool) {
	c, ok := policy.ClassOf(resourceType)
	return DataClass(c), ok
}

// ClassesOf returns the data classes that the interactions in allowlist
// syntax (see fhirreq.ParsePattern) may carry, in diagram order. Entries
// that do not parse are skipped.
func ClassesOf(interactions []string) []DataClass {
	seen := map[DataClass]bool{}
	for _, s := range interactions {
		patterns, err := fhirreq.ParsePattern(s)
		if err != nil {
			continue
		}
		for _, p := range patterns {
			for _, c := range patternClasses(p) {
				seen[c] = true
			}
		}
	}
	var out []DataClass
	for _, c := range classOrder {
		if seen[c] {
			out = append(out, c)
		}
	}
	return out
}

func patternClasses(p fhirreq.Pattern) []DataClass {
	switch p.Kind {
	case fhirreq.Capabilities:
		return []DataClass{Conformance}
	case fhirreq.BatchTransaction, fhirreq.SearchSystem, fhirreq.HistorySystem:
		// These reach any type, so they may carry every class.
		return slices.Clone(classOrder)
	case fhirreq.OperationSystem, fhirreq.OperationType, fhirreq.OperationInstance:
		if cs, ok := operationClasses[p.Operation]; ok {
			return cs
		}
	}
	if p.Type == "" {
		// An operation of unknown content is drawn as the most sensitive
		// data.
		return []DataClass{Clinical}
	}
	if c, ok := ClassOfType(p.Type); ok {
		return []DataClass{c}
	}
	// The policy refuses a type in no class, so no data of it crosses.
	return nil
}
