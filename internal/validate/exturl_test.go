package validate

import (
	"strings"
	"testing"
)

// TestRelativeExtensionURL checks that an extension whose url is relative
// is rejected unless it is a part of a complex extension that its
// definition names. A relative url matches no definition, so without the
// check the extension's content would pass unverified, also in
// modifierExtension, where it changes the meaning of the resource.
func TestRelativeExtensionURL(t *testing.T) {
	const nationality = "http://hl7.org/fhir/StructureDefinition/patient-nationality"
	tests := []struct {
		name, doc string
		want      string // part of the expected error, or "" when valid
	}{
		{"on a resource", `{"resourceType":"Patient","extension":[{"url":"x","valueString":"a"}]}`,
			`Extension.url must be an absolute URL, not "x"`},
		{"fragment", `{"resourceType":"Patient","extension":[{"url":"#x","valueString":"a"}]}`,
			`Extension.url must be an absolute URL, not "#x"`},
		{"modifier", `{"resourceType":"Patient","modifierExtension":[{"url":"approved","valueBoolean":true}]}`,
			`Extension.url must be an absolute URL, not "approved"`},
		{"on a primitive", `{"resourceType":"Patient","active":true,"_active":{"extension":[{"url":"x","valueBoolean":false}]}}`,
			`Extension.url must be an absolute URL, not "x"`},
		{"on a data type", `{"resourceType":"Patient","name":[{"family":"F","extension":[{"url":"x","valueString":"a"}]}]}`,
			`Extension.url must be an absolute URL, not "x"`},
		{"undefined part", `{"resourceType":"Patient","extension":[{"url":"` + nationality + `","extension":[{"url":"zzz","valueString":"a"}]}]}`,
			`sub-extension url "zzz" is not defined by the extension ` + nationality},
		{"defined part", `{"resourceType":"Patient","extension":[{"url":"` + nationality + `","extension":[{"url":"code","valueCodeableConcept":{"text":"x"}}]}]}`,
			""},
	}
	v := shared(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if !res.Valid() {
					t.Errorf("rejected: %+v", res.Issues)
				}
				return
			}
			if res.Valid() {
				t.Fatalf("accepted, want error %q", tc.want)
			}
			found := false
			for _, is := range res.Issues {
				found = found || (is.Severity == "error" && strings.Contains(is.Diagnostics, tc.want))
			}
			if !found {
				t.Errorf("no error %q in %+v", tc.want, res.Issues)
			}
		})
	}
}
