package validate

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// TestInfernoPASFixtures checks the Inferno PAS test kit's payloads: the
// deliberately broken Bundles are rejected with an issue at the element
// that is wrong, and the valid responses pass.
//
// The kit's "conformant_pas_bundle_v110*" Bundles target PAS 1.1.0 and are
// not valid PAS 2.0.1 (item.category is now required, and they send X12
// codes under http:// rather than the https:// system), so they are not
// used as valid input. response_bundle_patient_wrong_fullurl differs from
// the valid response only in a patient identifier, which the kit compares
// with the request: a business rule, not a conformance error.
func TestInfernoPASFixtures(t *testing.T) {
	tests := []struct {
		file    string
		context string
		valid   bool
		path    string // location of an expected error
		message string // text of that error
	}{
		{"nonconformant_pas_bundle_v110.json", "2.0.1", false, "Bundle.entry", "minimum required = 1"},
		{"missing_referenced_resource_request_bundle.json", "2.0.1", false, "Bundle.entry[0].resource.careTeam[0].provider", "does not resolve"},
		{"missing_referenced_resource_response_bundle.json", "2.0.1", false, "Bundle.entry[0].resource.patient", "does not resolve"},
		{"pa_response_bundle_missing_elements.json", "2.0.1", false, "Bundle.entry[0].resource.created", "minimum required = 1"},
		{"invalid_first_entry_response_bundle.json", "2.2.1", false, "Bundle", "ClaimResponseFirst"},
		{"valid_pa_response_bundle.json", "2.0.1", true, "", ""},
		{"valid_pa_response_bundle_denial.json", "2.0.1", true, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			v, err := New(Options{Context: []string{"hl7.fhir.us.davinci-pas#" + tc.context}})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(corpustest.File(t, "inferno-fixtures/pas/"+tc.file))
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Validate(raw)
			if err != nil {
				t.Fatal(err)
			}
			checkMatchesValidate(t, tc.file, v, raw, nil, res)
			if res.Valid() != tc.valid {
				t.Fatalf("valid = %v, want %v: %s", res.Valid(), tc.valid, firstErrors(res, 5))
			}
			if tc.valid {
				return
			}
			if !hasIssue(res, "error", tc.path, tc.message) {
				t.Errorf("no error at %s containing %q; got %s", tc.path, tc.message, firstErrors(res, 10))
			}
		})
	}
}

// hasIssue reports whether res has an issue of the severity at path whose
// diagnostics contain message.
func hasIssue(res *Result, severity, path, message string) bool {
	for _, is := range res.Issues {
		if string(is.Severity) != severity || !strings.Contains(is.Diagnostics, message) {
			continue
		}
		if path == "" && len(is.Expression) == 0 {
			return true
		}
		for _, e := range is.Expression {
			if e == path {
				return true
			}
		}
	}
	return false
}
