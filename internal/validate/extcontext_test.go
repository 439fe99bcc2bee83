package validate

import (
	"strings"
	"testing"
)

func TestExtensionContext(t *testing.T) {
	const mothersFamily = `{"url":"http://hl7.org/fhir/StructureDefinition/humanname-mothers-family","valueString":"x"}`
	tests := []struct {
		name, doc string
		allowed   bool
	}{
		{"on its context element", `{"resourceType":"Patient","name":[{"family":"F","_family":{"extension":[` + mothersFamily + `]}}]}`, true},
		{"on the parent of its context", `{"resourceType":"Patient","name":[{"family":"F","extension":[` + mothersFamily + `]}]}`, false},
		{"on the resource", `{"resourceType":"Patient","extension":[` + mothersFamily + `]}`, false},
		{"resource context", `{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"X"}}]}`, true},
		{"resource context elsewhere", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"X"}}]}`, false},
	}
	v := shared(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			rejected := false
			for _, is := range res.Issues {
				rejected = rejected || (is.Severity == "error" && strings.Contains(is.Diagnostics, "is not allowed here; its context allows"))
			}
			if rejected == tc.allowed {
				t.Errorf("context error = %v, want %v; issues: %+v", rejected, !tc.allowed, res.Issues)
			}
		})
	}
}

func TestExtensionAllowedAnywhere(t *testing.T) {
	tests := []struct {
		contexts []extensionContext
		want     bool
	}{
		{[]extensionContext{{Type: "element", Expression: "Patient"}}, false},
		{[]extensionContext{{Type: "element", Expression: "Patient"}, {Type: "element", Expression: "Element"}}, true},
		{[]extensionContext{{Type: "element", Expression: "Base"}}, true},
		{[]extensionContext{{Type: "extension", Expression: "http://x.test/ext"}}, true},
		{[]extensionContext{{Type: "fhirpath", Expression: "Patient.name"}}, true},
		{[]extensionContext{{Type: "element", Expression: "Observation.component:systolic"}}, true},
	}
	for _, tc := range tests {
		if got := allowedAnywhere(tc.contexts); got != tc.want {
			t.Errorf("allowedAnywhere(%+v) = %v, want %v", tc.contexts, got, tc.want)
		}
	}
}
