package main

import (
	"encoding/json"
	"fmt"
)

// Bases of the mutations: inputs that every validator accepts without an
// error, so that any error on a mutant comes from its mutation.
const (
	basePatient     = "r4/Patient-example.json"
	baseObservation = "r4/Observation-example.json"
	baseBundle      = "pas/pas-2.0.1-MedicalServicesAuthorizationBundleExample.json"
)

// mutation is one deliberately broken input: a base resource with one
// edit that breaks one FHIR R4 rule.
type mutation struct {
	ID          string `json:"id"`
	Base        string `json:"base"`
	Description string `json:"description"`
	// Rule is the rule the mutant breaks and where it is defined: the R4
	// core specification, or the Da Vinci PAS profile for rules only the
	// profile adds.
	Rule string `json:"rule"`
	// Core is false for rules that a validator checking only the core
	// definitions cannot be expected to check.
	Core bool `json:"core"`

	edit func(doc any) error
}

// mutations lists the broken inputs. Each edit touches one element.
var mutations = []mutation{
	// Patient-example.json
	{ID: "unknown-element", Base: basePatient, Core: true,
		Description: `adds "favouriteColour": "blue" to the Patient`,
		Rule:        "elements not in the definition are not allowed (JSON format)",
		edit:        setValue("favouriteColour", "blue")},
	{ID: "unknown-nested-element", Base: basePatient, Core: true,
		Description: `adds "nickname": "Jim" to name[0]`,
		Rule:        "elements not in the definition are not allowed (JSON format)",
		edit:        setValue("name.0.nickname", "Jim")},
	{ID: "boolean-as-string", Base: basePatient, Core: true,
		Description: `active: "true" (a string)`,
		Rule:        "boolean is a JSON true or false",
		edit:        setValue("active", "true")},
	{ID: "date-as-number", Base: basePatient, Core: true,
		Description: "birthDate: 19741225 (a number)",
		Rule:        "date is a JSON string",
		edit:        setValue("birthDate", json.Number("19741225"))},
	{ID: "array-for-single", Base: basePatient, Core: true,
		Description: `gender: ["male"] (an array for a 0..1 element)`,
		Rule:        "cardinality: gender is 0..1, and only repeating elements are JSON arrays",
		edit:        setValue("gender", []any{"male"})},
	{ID: "object-for-array", Base: basePatient, Core: true,
		Description: "telecom: its first item as an object, not an array",
		Rule:        "repeating elements are JSON arrays (JSON format)",
		edit:        replaceWithFirstItem("telecom")},
	{ID: "bad-code-required-binding", Base: basePatient, Core: true,
		Description: `gender: "boy"`,
		Rule:        "required binding to AdministrativeGender",
		edit:        setValue("gender", "boy")},
	{ID: "impossible-date", Base: basePatient, Core: true,
		Description: `birthDate: "1974-02-30"`,
		Rule:        "date must be a real calendar date",
		edit:        setValue("birthDate", "1974-02-30")},
	{ID: "malformed-date", Base: basePatient, Core: true,
		Description: `birthDate: "25/12/1974"`,
		Rule:        "date format YYYY, YYYY-MM or YYYY-MM-DD (regex of the date type)",
		edit:        setValue("birthDate", "25/12/1974")},
	{ID: "two-choice-types", Base: basePatient, Core: true,
		Description: `adds deceasedDateTime beside deceasedBoolean`,
		Rule:        "cardinality: deceased[x] is 0..1, so one type only",
		edit:        setValue("deceasedDateTime", "2015-02-01")},
	{ID: "empty-string", Base: basePatient, Core: true,
		Description: `name[0].family: ""`,
		Rule:        "primitive values are not empty strings (JSON format, string regex)",
		edit:        setValue("name.0.family", "")},
	{ID: "unknown-resource-type", Base: basePatient, Core: true,
		Description: `resourceType: "Patiant"`,
		Rule:        "resourceType names a resource of the specification",
		edit:        setValue("resourceType", "Patiant")},
	{ID: "bad-reference-target-patient", Base: basePatient, Core: true,
		Description: `managingOrganization.reference: "Patient/pat2"`,
		Rule:        "managingOrganization is Reference(Organization)",
		edit:        setValue("managingOrganization.reference", "Patient/pat2")},

	// Observation-example.json
	{ID: "missing-status", Base: baseObservation, Core: true,
		Description: "removes status",
		Rule:        "cardinality: Observation.status is 1..1",
		edit:        removeValue("status")},
	{ID: "missing-code", Base: baseObservation, Core: true,
		Description: "removes code",
		Rule:        "cardinality: Observation.code is 1..1",
		edit:        removeValue("code")},
	{ID: "bad-status-code", Base: baseObservation, Core: true,
		Description: `status: "done"`,
		Rule:        "required binding to ObservationStatus",
		edit:        setValue("status", "done")},
	{ID: "malformed-datetime", Base: baseObservation, Core: true,
		Description: `effectiveDateTime: "2016-03-28T25:00:00Z"`,
		Rule:        "dateTime regex: hours 00-23",
		edit:        setValue("effectiveDateTime", "2016-03-28T25:00:00Z")},
	{ID: "quantity-code-without-system", Base: baseObservation, Core: true,
		Description: "removes valueQuantity.system, keeping its code",
		Rule:        "invariant qty-3: a unit code needs a system",
		edit:        removeValue("valueQuantity.system")},
	{ID: "bad-reference-target-observation", Base: baseObservation, Core: true,
		Description: `subject.reference: "Medication/med0310"`,
		Rule:        "subject is Reference(Patient, Group, Device or Location)",
		edit:        setValue("subject.reference", "Medication/med0310")},
	{ID: "decimal-as-string", Base: baseObservation, Core: true,
		Description: `valueQuantity.value: "185" (a string)`,
		Rule:        "decimal is a JSON number",
		edit:        setValue("valueQuantity.value", "185")},

	// PAS 2.0.1 request Bundle
	{ID: "duplicate-fullurl", Base: baseBundle, Core: true,
		Description: "appends a copy of entry[1], so its fullUrl appears twice",
		Rule:        "invariant bdl-7: fullUrl is unique unless meta.versionId differs",
		edit:        appendCopy("entry", 1)},
	{ID: "bundle-bad-type", Base: baseBundle, Core: true,
		Description: `type: "bag"`,
		Rule:        "required binding to BundleType",
		edit:        setValue("type", "bag")},
	{ID: "claim-missing-created", Base: baseBundle, Core: true,
		Description: "removes Claim.created",
		Rule:        "cardinality: Claim.created is 1..1",
		edit:        removeValue("entry.0.resource.created")},
	{ID: "claim-bad-status", Base: baseBundle, Core: true,
		Description: `Claim.status: "approved"`,
		Rule:        "required binding to FinancialResourceStatusCodes",
		edit:        setValue("entry.0.resource.status", "approved")},
	{ID: "claim-bad-reference-target", Base: baseBundle, Core: true,
		Description: `Claim.patient.reference: "Organization/UMOExample" (an entry of the Bundle)`,
		Rule:        "Claim.patient is Reference(Patient)",
		edit:        setValue("entry.0.resource.patient.reference", "Organization/UMOExample")},
	{ID: "positiveint-zero", Base: baseBundle, Core: true,
		Description: "Claim.item[0].sequence: 0",
		Rule:        "positiveInt is 1 or more",
		edit:        setValue("entry.0.resource.item.0.sequence", json.Number("0"))},
	{ID: "unresolved-reference", Base: baseBundle, Core: false,
		Description: `Claim.insurer.reference: "Organization/Missing" (in no entry)`,
		Rule:        "PAS request Bundle profile: every reference resolves inside the Bundle",
		edit:        setValue("entry.0.resource.insurer.reference", "Organization/Missing")},
}

func setValue(path string, v any) func(any) error {
	return func(doc any) error {
		obj, key, err := at(doc, path)
		if err != nil {
			return err
		}
		obj.set(key, v)
		return nil
	}
}

func removeValue(path string) func(any) error {
	return func(doc any) error {
		obj, key, err := at(doc, path)
		if err != nil {
			return err
		}
		if _, ok := obj.get(key); !ok {
			return fmt.Errorf("path %q: member %q not found", path, key)
		}
		obj.remove(key)
		return nil
	}
}

// replaceWithFirstItem turns the array at path into its first item.
func replaceWithFirstItem(path string) func(any) error {
	return func(doc any) error {
		v, err := lookup(doc, path)
		if err != nil {
			return err
		}
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return fmt.Errorf("path %q is not a non-empty array", path)
		}
		return setValue(path, list[0])(doc)
	}
}

// appendCopy appends a deep copy of item i of the array at path.
func appendCopy(path string, i int) func(any) error {
	return func(doc any) error {
		v, err := lookup(doc, path)
		if err != nil {
			return err
		}
		list, ok := v.([]any)
		if !ok || i >= len(list) {
			return fmt.Errorf("path %q has no item %d", path, i)
		}
		return setValue(path, append(list, clone(list[i])))(doc)
	}
}
