package validate

import (
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
)

func TestValueSetFilterParameters(t *testing.T) {
	doc := func(variable string) string {
		return `{"resourceType":"ValueSet","url":"http://x.test/vs","status":"active","extension":[{"url":"http://hl7.org/fhir/tools/StructureDefinition/valueset-parameter","extension":[{"url":"name","valueCode":"p-inactive"}]}],
"compose":{"include":[{"system":"http://snomed.info/sct","filter":[{"property":"inactive","op":"=","_value":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/cqf-expression","valueExpression":{"language":"text/fhirpath","expression":"%` + variable + `"}}]}}]}]}}`
	}
	tests := []struct {
		name, variable string
		rejected       bool
	}{
		{"declared parameter", "p-inactive", false},
		{"undeclared parameter", "p-other", true},
		{"environment variable", "resource", false},
	}
	v := shared(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(doc(tc.variable)))
			if err != nil {
				t.Fatal(err)
			}
			rejected := false
			for _, is := range res.Issues {
				rejected = rejected || (is.Severity == "error" && strings.Contains(is.Diagnostics, "does not declare"))
			}
			if rejected != tc.rejected {
				t.Errorf("rejected = %v, want %v; issues: %+v", rejected, tc.rejected, res.Issues)
			}
			if tc.rejected && !hasIssue(res, "error", "ValueSet.compose.include[0].filter[0].value.extension[0]", "does not declare") {
				t.Errorf("no error at the filter value's extension; issues: %+v", res.Issues)
			}
		})
	}
}

func TestGlobalProfile(t *testing.T) {
	pkg := fhirpkg.NewPackage("test.global", "1.0.0", map[string]string{"hl7.fhir.r4.core": "4.0.1"})
	for _, raw := range []string{
		`{"resourceType":"ImplementationGuide","url":"http://x.test/ig","name":"IG","status":"active","packageId":"test.global","fhirVersion":["4.0.1"],"global":[{"type":"Patient","profile":"http://x.test/sd/named"}]}`,
		`{"resourceType":"StructureDefinition","url":"http://x.test/sd/named","name":"Named","status":"active","kind":"resource","abstract":false,"type":"Patient","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient","differential":{"element":[{"id":"Patient.name","path":"Patient.name","min":1}]}}`,
	} {
		if err := pkg.AddResource([]byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := New(Options{Packages: []*fhirpkg.Package{pkg}})
	if err != nil {
		t.Fatal(err)
	}
	for doc, valid := range map[string]bool{
		`{"resourceType":"Patient","name":[{"family":"F"}]}`: true,
		`{"resourceType":"Patient","active":true}`:           false,
	} {
		res, err := v.Validate([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if res.Valid() != valid {
			t.Errorf("%s: valid = %v, want %v; issues: %+v", doc, res.Valid(), valid, res.Issues)
		}
	}
}
