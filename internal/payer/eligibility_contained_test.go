package payer

import (
	"testing"

	"github.com/go-json-experiment/json"
)

// A contained resource that the response copies may refer to another
// contained resource of the request, as a contained Patient does to its
// managing Organization. The response must copy that one too, or the
// copied reference fails ref-1. A contained resource that nothing the
// response copies refers to stays out, or the response fails dom-3.
func TestContainedReferencedFollowsReferences(t *testing.T) {
	body := []byte(`{"resourceType":"CoverageEligibilityRequest","status":"active","purpose":["validation"],"created":"2026-03-01",
	 "contained":[
	  {"resourceType":"Patient","id":"p","managingOrganization":{"reference":"#org"}},
	  {"resourceType":"Organization","id":"org","partOf":{"reference":"#parent"}},
	  {"resourceType":"Organization","id":"parent"},
	  {"resourceType":"Coverage","id":"cov","payor":[{"reference":"#unused"}]},
	  {"resourceType":"Organization","id":"unused"}],
	 "patient":{"reference":"#p"},
	 "insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}},
	 "insurance":[{"coverage":{"reference":"#cov"}}]}`)
	var req eligibilityRequestJSON
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, raw := range containedReferenced(&req) {
		var h struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			t.Fatal(err)
		}
		got[h.ID] = true
	}
	for _, id := range []string{"p", "org", "parent"} {
		if !got[id] {
			t.Errorf("contained %q is missing from the response", id)
		}
	}
	for _, id := range []string{"cov", "unused"} {
		if got[id] {
			t.Errorf("contained %q is in the response, which does not refer to it", id)
		}
	}
}
