package congruence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

func TestNamesPersonType(t *testing.T) {
	cases := map[string]bool{
		"Patient/1":                         true,
		"patient/1":                         true,
		"Patient%2F1":                       true,
		"Patient%252F1":                     true,
		`Patient\1`:                         true,
		"Patient;v=1/1":                     true,
		"https://ehr.example/fhir/Person/1": true,
		"RelatedPerson/1":                   true,
		"#p1":                               true,
		"Group/1":                           true,
		"group%2F1":                         true,
		"ClaimResponse/1":                   false,
		"Observation/patient-weight":        false,
		"urn:uuid:00000000-0000-4000-8000-000000000001": false,
	}
	for ref, want := range cases {
		if got := namesPersonType(ref); got != want {
			t.Errorf("namesPersonType(%q) = %v, want %v", ref, got, want)
		}
	}
}

func TestCriteriaNamePersonByID(t *testing.T) {
	cases := map[string]bool{
		"beneficiary=Patient/1":                     true,
		"beneficiary=1":                             true,
		"beneficiary=Group/1":                       true,
		"Beneficiary=1":                             true,
		"subject:Patient=1":                         true,
		"payor=Patient%2F1":                         true,
		"beneficiary._id=1":                         true,
		"beneficiary:Patient.family=X":              true,
		"_has:Claim:insurance:patient=1":            true,
		"beneficiary=%zz":                           true,
		"policy-holder=Organization/1":              false,
		"beneficiary:identifier=urn:example|1":      false,
		"patient.identifier=urn:example|1":          false,
		"_has:Coverage:beneficiary:subscriber-id=1": false,
		"identifier=urn:example|1&_type=Patient":    false,
		"family=O%23Brien":                          false,
		"focus=victim":                              true,
		"payor=victim":                              true,
		"target=victim":                             true,
		"PERFORMER=victim":                          true,
		"subject:Group=1":                           true,
		"beneficiary.IDENTIFIER=urn:example|1":      false,
		"focus=Observation/1":                       false,
		"status=active":                             false,
	}
	for query, want := range cases {
		if got := criteriaNamePersonByID(query); got != want {
			t.Errorf("criteriaNamePersonByID(%q) = %v, want %v", query, got, want)
		}
	}
}

// Every R4 reference search parameter that may point to a Patient,
// RelatedPerson, Person or Group, or to any type, is in
// personReferenceParameters, so that a bare id in it is read as naming a
// person.
func TestPersonReferenceParametersCoverCore(t *testing.T) {
	dir := corpustest.Unpack(t, "fhir-r4-core/hl7.fhir.r4.core-4.0.1.tgz")
	files, err := filepath.Glob(filepath.Join(dir, "package", "SearchParameter-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 1000 {
		t.Fatalf("found %d SearchParameter files, want the core package's 1400", len(files))
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var sp struct {
			Code   string   `json:"code"`
			Type   string   `json:"type"`
			Target []string `json:"target"`
		}
		if err := json.Unmarshal(raw, &sp); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if sp.Type != "reference" {
			continue
		}
		people := len(sp.Target) == 0 || slices.ContainsFunc(sp.Target, func(typ string) bool { return foldedPeopleType(typ) != "" })
		if people && !isPersonReferenceParameter(sp.Code) {
			t.Errorf("%s: reference parameter %q may point to a person, but personReferenceParameters lacks it", filepath.Base(file), sp.Code)
		}
	}
}
