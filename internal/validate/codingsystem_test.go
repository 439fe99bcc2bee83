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
