package congruence

import "testing"

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
	}
	for query, want := range cases {
		if got := criteriaNamePersonByID(query); got != want {
			t.Errorf("criteriaNamePersonByID(%q) = %v, want %v", query, got, want)
		}
	}
}
