package validate

import (
	"strings"
	"testing"
)

func TestCodingSystemAndCanonicalKinds(t *testing.T) {
	tests := []struct {
		name, doc, path, message string
	}{
		{"relative Coding.system", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"LN","code":"1-8"}]}}`,
			"Observation.code.coding[0].system", "absolute URI"},
		{"value set as Coding.system", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://hl7.org/fhir/ValueSet/observation-codes","code":"1-8"}]}}`,
			"Observation.code.coding[0].system", "names value set"},
		{"questionnaire canonical names a value set", `{"resourceType":"QuestionnaireResponse","status":"completed","questionnaire":"http://hl7.org/fhir/ValueSet/observation-codes"}`,
			"QuestionnaireResponse.questionnaire", "a Questionnaire is expected"},
		{"two enableWhen without enableBehavior", `{"resourceType":"Questionnaire","status":"active","item":[{"linkId":"a","type":"boolean"},{"linkId":"b","type":"boolean","enableWhen":[{"question":"a","operator":"exists","answerBoolean":true},{"question":"a","operator":"=","answerBoolean":true}]}]}`,
			"Questionnaire.item[1]", "que-12"},
	}
	v := shared(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
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

func TestVersionedReferences(t *testing.T) {
	const observations = `{"fullUrl":"http://x.test/Observation/o1","resource":{"resourceType":"Observation","id":"o1","meta":{"versionId":"1"},"status":"final","code":{"text":"x"}}},` +
		`{"fullUrl":"http://x.test/Observation/o1","resource":{"resourceType":"Observation","id":"o1","meta":{"versionId":"2"},"status":"final","code":{"text":"x"}}}`
	// doc returns a Bundle whose List refers to the Observations with the
	// given list entries.
	doc := func(bundleType, listEntries string) string {
		return `{"resourceType":"Bundle","type":"` + bundleType + `","entry":[{"fullUrl":"http://x.test/List/l1","resource":{"resourceType":"List","id":"l1","status":"current","mode":"working","entry":[` +
			listEntries + `]}},` + observations + `]}`
	}
	tests := []struct {
		name, bundleType, entries, message string // message "" means no error
	}{
		{"each version named", "collection", `{"item":{"reference":"Observation/o1/_history/1"}},{"item":{"reference":"Observation/o1/_history/2"}}`, ""},
		{"unversioned with two versions", "collection", `{"item":{"reference":"Observation/o1"}}`, "must name the version"},
		{"missing version in a transaction", "transaction", `{"item":{"reference":"Observation/o1/_history/3"}}`, "does not resolve"},
	}
	v := shared(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(doc(tc.bundleType, tc.entries)))
			if err != nil {
				t.Fatal(err)
			}
			var found []string
			for _, is := range res.Issues {
				if is.Severity == "error" && len(is.Expression) > 0 && strings.HasPrefix(is.Expression[0], "Bundle.entry[0].resource.entry") {
					found = append(found, is.Diagnostics)
				}
			}
			switch {
			case tc.message == "" && len(found) > 0:
				t.Errorf("unexpected reference errors: %v", found)
			case tc.message != "" && !strings.Contains(strings.Join(found, "\n"), tc.message):
				t.Errorf("reference errors %v, want one containing %q", found, tc.message)
			}
		})
	}
}
