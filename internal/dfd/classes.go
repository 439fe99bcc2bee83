package dfd

import (
	"slices"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// DataClass is a kind of data crossing the link, coarse enough for a
// diagram and for risk decisions.
type DataClass string

// The data classes, in the order diagrams list them.
const (
	Claims    DataClass = "claims"    // claims, prior authorizations, payments
	Coverage  DataClass = "coverage"  // coverage, eligibility, plans
	Clinical  DataClass = "clinical"  // clinical records and orders
	Member    DataClass = "member"    // patients and related persons
	Directory DataClass = "directory" // organisations, practitioners, locations
	Metadata  DataClass = "metadata"  // capability statements and definitions
)

var classOrder = []DataClass{Claims, Coverage, Clinical, Member, Directory, Metadata}

// typeClasses maps the resource types that are not clinical. Every other
// resource type is clinical, so an unknown or new type is treated as the
// most sensitive kind of data.
var typeClasses = map[string]DataClass{
	"Claim": Claims, "ClaimResponse": Claims, "ExplanationOfBenefit": Claims,
	"PaymentNotice": Claims, "PaymentReconciliation": Claims, "Invoice": Claims,
	"ChargeItem": Claims, "Account": Claims,

	"Coverage": Coverage, "CoverageEligibilityRequest": Coverage,
	"CoverageEligibilityResponse": Coverage, "InsurancePlan": Coverage,
	"Contract": Coverage, "EnrollmentRequest": Coverage, "EnrollmentResponse": Coverage,

	"Patient": Member, "RelatedPerson": Member, "Person": Member, "Group": Member,

	"Organization": Directory, "Practitioner": Directory, "PractitionerRole": Directory,
	"Location": Directory, "Endpoint": Directory, "HealthcareService": Directory,
	"OrganizationAffiliation": Directory,

	"CapabilityStatement": Metadata, "StructureDefinition": Metadata,
	"OperationDefinition": Metadata, "SearchParameter": Metadata, "ValueSet": Metadata,
	"CodeSystem": Metadata, "ConceptMap": Metadata, "ImplementationGuide": Metadata,
}

// operationClasses lists what the known operations carry. A Da Vinci PAS
// request or inquiry bundle holds the Claim, the patient, the coverage and
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

// ClassOfType returns the data class of a FHIR resource type.
func ClassOfType(resourceType string) DataClass {
	if c, ok := typeClasses[resourceType]; ok {
		return c
	}
	return Clinical
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
		return []DataClass{Metadata}
	case fhirreq.BatchTransaction, fhirreq.SearchSystem, fhirreq.HistorySystem:
		// These reach any type, so they may carry every class.
		return slices.Clone(classOrder)
	case fhirreq.OperationSystem, fhirreq.OperationType, fhirreq.OperationInstance:
		if cs, ok := operationClasses[p.Operation]; ok {
			return cs
		}
	}
	if p.Type == "" {
		return []DataClass{Clinical}
	}
	return []DataClass{ClassOfType(p.Type)}
}
