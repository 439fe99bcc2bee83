package validate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
)

// differentialOnly is a Patient profile published without a snapshot.
const differentialOnly = `{"resourceType":"StructureDefinition","url":"http://x.test/sd/p","name":"P","status":"active",
"kind":"resource","abstract":false,"type":"Patient","derivation":"constraint",
"baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient","differential":{"element":[
{"id":"Patient.identifier","path":"Patient.identifier","slicing":{"discriminator":[{"type":"value","path":"system"}],"rules":"open"}},
{"id":"Patient.identifier:mrn","path":"Patient.identifier","sliceName":"mrn","min":1,"max":"1"},
{"id":"Patient.identifier:mrn.system","path":"Patient.identifier.system","fixedUri":"http://x.test/mrn"},
{"id":"Patient.birthDate","path":"Patient.birthDate","min":1,"minValueDate":"1900-01-01"}]}}`

func differentialValidator(t *testing.T) *Validator {
	t.Helper()
	pkg := fhirpkg.NewPackage("test.differential", "1.0.0", map[string]string{"hl7.fhir.r4.core": "4.0.1"})
	if err := pkg.AddResource([]byte(differentialOnly)); err != nil {
		t.Fatal(err)
	}
	v, err := New(Options{Packages: []*fhirpkg.Package{pkg}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGeneratedSnapshot(t *testing.T) {
	v := differentialValidator(t)
	tests := []struct {
		name    string
		doc     string
		path    string // "" means the resource must be valid
		message string
	}{
		{"conforms", `{"resourceType":"Patient","identifier":[{"system":"http://x.test/mrn","value":"1"}],"birthDate":"1970-01-01"}`, "", ""},
		{"cardinality from differential", `{"resourceType":"Patient","identifier":[{"system":"http://x.test/mrn","value":"1"}]}`, "Patient.birthDate", "minimum required = 1"},
		{"slice from differential", `{"resourceType":"Patient","identifier":[{"system":"http://x.test/other","value":"1"}],"birthDate":"1970-01-01"}`, "Patient.identifier", "slice mrn"},
		{"minValue from differential", `{"resourceType":"Patient","identifier":[{"system":"http://x.test/mrn","value":"1"}],"birthDate":"1850-01-01"}`, "Patient.birthDate", "less than the minimum value 1900-01-01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(tc.doc), "http://x.test/sd/p")
			if err != nil {
				t.Fatal(err)
			}
			if tc.path == "" {
				if !res.Valid() {
					t.Errorf("conforming resource rejected: %+v", res.Issues)
				}
				return
			}
			for _, is := range res.Issues {
				if is.Severity == "error" && len(is.Expression) > 0 && is.Expression[0] == tc.path && strings.Contains(is.Diagnostics, tc.message) {
					return
				}
			}
			t.Errorf("no error at %s containing %q; issues: %+v", tc.path, tc.message, res.Issues)
		})
	}
}

func TestDifferentialConsistency(t *testing.T) {
	sd := func(elements string) string {
		return `{"resourceType":"StructureDefinition","url":"http://x.test/sd/bad","name":"Bad","status":"active","kind":"resource","abstract":false,"type":"Observation","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Observation","differential":{"element":[` + elements + `]}}`
	}
	tests := []struct {
		name     string
		elements string
		message  string // "" means no snapshot problem
	}{
		{"consistent", `{"id":"Observation.valueQuantity","path":"Observation.valueQuantity","min":1}`, ""},
		{"path does not match id", `{"id":"Observation.valueQuantity","path":"Observation.valueBla"}`, "does not match its id"},
		{"unknown element", `{"id":"Observation.colour","path":"Observation.colour"}`, "not an element of the base"},
		{"wider cardinality", `{"id":"Observation.status","path":"Observation.status","max":"*"}`, "more than the base's 1"},
		{"bad discriminator", `{"id":"Observation.component","path":"Observation.component","slicing":{"discriminator":[{"type":"value","path":"colour"}],"rules":"open"}}`, "discriminator path colour"},
	}
	v := shared(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(sd(tc.elements)))
			if err != nil {
				t.Fatal(err)
			}
			var problems []string
			for _, is := range res.Issues {
				if strings.Contains(is.Diagnostics, "snapshot generation") {
					problems = append(problems, is.Diagnostics)
				}
			}
			if tc.message == "" {
				if len(problems) > 0 {
					t.Errorf("consistent differential reported: %v", problems)
				}
				return
			}
			if len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), tc.message) {
				t.Errorf("problems %v, want one containing %q", problems, tc.message)
			}
		})
	}
}

// TestSliceWithoutDiscriminatorValue checks that a slice which sets no
// value for one of two pattern discriminators matches on the other.
func TestSliceWithoutDiscriminatorValue(t *testing.T) {
	sd := `{"resourceType":"StructureDefinition","url":"http://x.test/sd/rr","name":"RR","status":"active","kind":"resource","abstract":false,"type":"Observation","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Observation","differential":{"element":[
{"id":"Observation.referenceRange","path":"Observation.referenceRange","slicing":{"discriminator":[{"type":"pattern","path":"type"},{"type":"pattern","path":"appliesTo"}],"rules":"closed"}},
{"id":"Observation.referenceRange:normal","path":"Observation.referenceRange","sliceName":"normal","min":1,"max":"1"},
{"id":"Observation.referenceRange:normal.type","path":"Observation.referenceRange.type","patternCodeableConcept":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/referencerange-meaning","code":"normal"}]}}]}}`
	pkg := fhirpkg.NewPackage("test.slices", "1.0.0", map[string]string{"hl7.fhir.r4.core": "4.0.1"})
	if err := pkg.AddResource([]byte(sd)); err != nil {
		t.Fatal(err)
	}
	v, err := New(Options{Packages: []*fhirpkg.Package{pkg}})
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"resourceType":"Observation","status":"final","code":{"text":"x"},"referenceRange":[{"low":{"value":1},"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/referencerange-meaning","code":"normal"}]}}]}`
	res, err := v.Validate([]byte(doc), "http://x.test/sd/rr")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Errorf("range matching the slice on its only constrained discriminator rejected: %+v", res.Issues)
	}
}

func TestSnapshotGenerationBounded(t *testing.T) {
	var elements []string
	for i := range maxSnapshotElements / 5 { // 9 elements a slice: past the cap
		elements = append(elements, fmt.Sprintf(`{"id":"Observation.component:s%d","path":"Observation.component","sliceName":"s%d"}`, i, i))
	}
	sd := `{"resourceType":"StructureDefinition","url":"http://x.test/sd/big","name":"Big","status":"active","kind":"resource","abstract":false,"type":"Observation","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Observation","differential":{"element":[{"id":"Observation.component","path":"Observation.component","slicing":{"discriminator":[{"type":"value","path":"code"}],"rules":"open"}},` + strings.Join(elements, ",") + `]}}`
	res, err := shared(t).Validate([]byte(sd))
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range res.Issues {
		if strings.Contains(is.Diagnostics, fmt.Sprintf("more than %d elements", maxSnapshotElements)) {
			return
		}
	}
	t.Errorf("no issue about the snapshot size; issues: %+v", res.Issues)
}

// TestSnapshotProblemsInStableOrder generates the snapshot of a
// differential element with three problems many times: the problems must
// come out in the same order each time, whatever the order in which the
// element's keys are read.
func TestSnapshotProblemsInStableOrder(t *testing.T) {
	sd := `{"resourceType":"StructureDefinition","url":"http://x.test/sd/order","name":"Order","status":"active","kind":"resource","abstract":false,"type":"Observation","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Observation","differential":{"element":[
{"id":"Observation.status","path":"Observation.status","min":0,"max":"*","slicing":{"discriminator":[{"type":"value","path":"colour"}],"rules":"open"}}]}}`
	v := shared(t)
	var first []string
	for i := range 50 {
		_, problems, err := v.generateSnapshot([]byte(sd), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if len(problems) != 3 {
				t.Fatalf("problems %q, want three (min, max, discriminator)", problems)
			}
			first = problems
			continue
		}
		if strings.Join(problems, "\n") != strings.Join(first, "\n") {
			t.Fatalf("run %d gave problems %q, the first gave %q", i, problems, first)
		}
	}
}
