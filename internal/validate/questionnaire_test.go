package validate

import (
	"strings"
	"testing"
)

// questionnaireDoc returns a QuestionnaireResponse whose Questionnaire is
// contained, with the given Questionnaire items and response items.
func questionnaireDoc(qItems, status, rItems string) string {
	return `{"resourceType":"QuestionnaireResponse","contained":[{"resourceType":"Questionnaire","id":"q","status":"active","item":[` +
		qItems + `]}],"questionnaire":"#q","status":"` + status + `","item":[` + rItems + `]}`
}

func TestQuestionnaireResponseRules(t *testing.T) {
	const (
		str      = `{"linkId":"s","type":"string","required":true}`
		group    = `{"linkId":"g","type":"group","item":[` + str + `]}`
		integer  = `{"linkId":"i","type":"integer","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/minValue","valueInteger":2},{"url":"http://hl7.org/fhir/StructureDefinition/maxValue","valueInteger":9}]}`
		choice   = `{"linkId":"c","type":"choice","repeats":true,"answerOption":[{"valueCoding":{"system":"http://x.test","code":"a"}},{"valueCoding":{"system":"http://x.test","code":"b"},"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive","valueBoolean":true}]}]}`
		quantity = `{"linkId":"m","type":"quantity","extension":[{"url":"http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-maxQuantity","valueQuantity":{"value":5,"system":"http://unitsofmeasure.org","code":"km"}}]}`
		enabled  = `{"linkId":"e","type":"string","required":true,"enableWhen":[{"question":"s","operator":"=","answerString":"yes"}]}`
	)
	tests := []struct {
		name     string
		q, r     string
		status   string
		severity string // "" means the response must be valid
		path     string
		message  string
	}{
		{"answers match", str, `{"linkId":"s","answer":[{"valueString":"x"}]}`, "completed", "", "", ""},
		{"unknown linkId", str, `{"linkId":"s","answer":[{"valueString":"x"}]},{"linkId":"zz"}`, "completed", "error", "QuestionnaireResponse.item[1]", `linkId "zz" is not defined`},
		{"linkId at wrong level", group, `{"linkId":"s","answer":[{"valueString":"x"}]}`, "completed", "error", "QuestionnaireResponse.item[0]", "another level"},
		{"required item missing", group, `{"linkId":"g","item":[]}`, "completed", "error", "QuestionnaireResponse.item[0]", `required item "s" has no answer`},
		{"required item missing in progress", str, ``, "in-progress", "warning", "QuestionnaireResponse", `required item "s" has no answer`},
		{"second answer to single item", str, `{"linkId":"s","answer":[{"valueString":"x"},{"valueString":"y"}]}`, "completed", "error", "QuestionnaireResponse.item[0]", "only one answer"},
		{"wrong answer type", str, `{"linkId":"s","answer":[{"valueInteger":1}]}`, "completed", "error", "QuestionnaireResponse.item[0].answer[0].value.ofType(Integer)", "must be of type String"},
		{"group with answer", group, `{"linkId":"g","answer":[{"valueString":"x"}],"item":[{"linkId":"s","answer":[{"valueString":"x"}]}]}`, "completed", "error", "QuestionnaireResponse.item[0]", "must not have answers"},
		{"integer below minimum", integer, `{"linkId":"i","answer":[{"valueInteger":1}]}`, "completed", "error", "QuestionnaireResponse.item[0].answer[0].value.ofType(Integer)", "less than the minimum 2"},
		{"integer within limits", integer, `{"linkId":"i","answer":[{"valueInteger":9}]}`, "completed", "", "", ""},
		{"code outside options", choice, `{"linkId":"c","answer":[{"valueCoding":{"system":"http://x.test","code":"z"}}]}`, "completed", "error", "QuestionnaireResponse.item[0].answer[0].value.ofType(Coding)", "not one of the answer options"},
		{"exclusive option with another", choice, `{"linkId":"c","answer":[{"valueCoding":{"system":"http://x.test","code":"a"}},{"valueCoding":{"system":"http://x.test","code":"b"}}]}`, "completed", "error", "QuestionnaireResponse.item[0].answer[1]", "exclusive option"},
		{"quantity above maximum after conversion", quantity, `{"linkId":"m","answer":[{"valueQuantity":{"value":6000,"system":"http://unitsofmeasure.org","code":"m"}}]}`, "completed", "error", "QuestionnaireResponse.item[0].answer[0].value.ofType(Quantity)", "greater than the maximum 5 km"},
		{"quantity within maximum after conversion", quantity, `{"linkId":"m","answer":[{"valueQuantity":{"value":4000,"system":"http://unitsofmeasure.org","code":"m"}}]}`, "completed", "", "", ""},
		{"disabled required item absent", str + "," + enabled, `{"linkId":"s","answer":[{"valueString":"no"}]}`, "completed", "", "", ""},
		{"enabled required item absent", str + "," + enabled, `{"linkId":"s","answer":[{"valueString":"yes"}]}`, "completed", "error", "QuestionnaireResponse", `required item "e" has no answer`},
		{"disabled item answered", str + "," + enabled, `{"linkId":"s","answer":[{"valueString":"no"}]},{"linkId":"e","answer":[{"valueString":"x"}]}`, "completed", "error", "QuestionnaireResponse.item[1]", "enableWhen"},
	}
	v := shared(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(questionnaireDoc(tc.q, tc.status, tc.r)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.severity == "" {
				if !res.Valid() {
					t.Errorf("valid response rejected: %+v", res.Issues)
				}
				return
			}
			for _, is := range res.Issues {
				if string(is.Severity) == tc.severity && len(is.Expression) > 0 && is.Expression[0] == tc.path && strings.Contains(is.Diagnostics, tc.message) {
					return
				}
			}
			t.Errorf("no %s at %s containing %q; issues: %+v", tc.severity, tc.path, tc.message, res.Issues)
		})
	}
}

func TestQuestionnaireNotLoaded(t *testing.T) {
	doc := `{"resourceType":"QuestionnaireResponse","questionnaire":"http://x.test/Questionnaire/none","status":"completed","item":[{"linkId":"a","answer":[{"valueString":"x"}]}]}`
	res, err := shared(t).Validate([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Errorf("response to an unknown Questionnaire rejected: %+v", res.Issues)
	}
	found := false
	for _, is := range res.Issues {
		found = found || (is.Severity == "warning" && strings.Contains(is.Diagnostics, "not loaded"))
	}
	if !found {
		t.Errorf("no warning that the Questionnaire is not loaded: %+v", res.Issues)
	}
}
