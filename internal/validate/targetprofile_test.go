package validate

import (
	"os"
	"strings"
	"testing"
)

// A reference whose target profiles are not in the loaded packages is
// reported as not checked, never passed in silence. PAS 2.2.1 points
// PractitionerRole.location and DocumentReference.subject at US Core
// 7.0.0 profiles, which Gatehouse does not ship. The Claim's targets
// resolve to loaded profiles, so they get no such report.
func TestUnloadedTargetProfileReported(t *testing.T) {
	body, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	res, err := shared(t).Validate(body)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Fatalf("the example is invalid: %s", firstErrors(res, 5))
	}
	want := map[string]string{
		"Bundle.entry[6].resource.location[0]": "target profile http://hl7.org/fhir/us/core/StructureDefinition/us-core-location|7.0.0 is not loaded or could not be compiled; the referenced Location was not checked against it",
		"Bundle.entry[9].resource.subject":     "target profile http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|7.0.0 is not loaded or could not be compiled; the referenced Patient was not checked against it",
	}
	for path, message := range want {
		if !hasIssue(res, "information", path, message) {
			t.Errorf("no information at %s containing %q", path, message)
		}
	}
	for _, is := range res.Issues {
		if strings.Contains(is.Diagnostics, "could not be compiled; the referenced") && want[strings.Join(is.Expression, ",")] == "" {
			t.Errorf("unexpected report of an unloaded target profile: %v %s", is.Expression, is.Diagnostics)
		}
	}
}

// A target's resourceType comes from the instance, so one that names no
// FHIR resource type is not quoted in the issue.
func TestUnloadedTargetProfileQuotesNoInstanceType(t *testing.T) {
	body, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "JaneDoe-1970-01-01"
	doc := strings.Replace(string(body), `"resourceType":"Location"`, `"resourceType":"`+secret+`"`, 1)
	if doc == string(body) {
		t.Fatal("the example has no Location to rename")
	}
	res, err := shared(t).Validate([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !hasIssue(res, "information", "Bundle.entry[6].resource.location[0]", "the referenced resource of an unknown type was not checked") {
		t.Errorf("no information naming a resource of an unknown type; issues: %+v", res.Issues)
	}
	for _, is := range res.Issues {
		if strings.Contains(is.Diagnostics, secret) {
			t.Errorf("issue quotes the instance's resourceType: %s", is.Diagnostics)
		}
	}
}

// TestTargetProfileIssueNamesEntry gives the demo bundle's patient an
// extension that no loaded package defines, so the patient fails the PAS
// beneficiary profile. The issue at each reference to the patient must
// name the failing entry, so that the sender can find the resource.
func TestTargetProfileIssueNamesEntry(t *testing.T) {
	body := string(readPASDemoBundle(t))
	edited := strings.Replace(body, `"given":["JOE"]`,
		`"given":["JOE"],"_given":[{"extension":[{"url":"http://acme.example.org/fhir/StructureDefinition/nickname","valueString":"Joey"}]}]`, 1)
	if edited == body {
		t.Fatal("the demo bundle no longer contains the given name the test extends")
	}
	v, _ := pasValidators(t, "2.2.1")
	res, err := v.Validate([]byte(edited), pasRequestBundle)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, is := range res.Issues {
		if strings.Contains(is.Diagnostics, "the referenced Patient") && strings.Contains(is.Diagnostics, "does not conform") {
			found = true
			if !strings.Contains(is.Diagnostics, "Patient, Bundle.entry[") {
				t.Errorf("issue at %v does not name the entry: %s", is.Expression, is.Diagnostics)
			}
			if !strings.Contains(is.Diagnostics, "].resource, does not conform to") {
				t.Errorf("issue at %v does not name the entry's resource: %s", is.Expression, is.Diagnostics)
			}
		}
	}
	if !found {
		t.Fatalf("no issue about the referenced Patient; issues: %+v", res.Issues)
	}
}
