package validate

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// FuzzValidate checks that no input makes the validator panic, hang or
// fail as a whole: every input yields a Result whose issues each carry a
// severity and a code, and validating the same input again (through the
// caches, pools and shortcuts the first run filled) yields the same
// issues. Seeds are the Inferno PAS payloads, a
// few of the rule-test documents, a QuestionnaireResponse with its
// Questionnaire and a differential-only StructureDefinition.
func FuzzValidate(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpustest.Root(f), "inferno-fixtures", "pas", "*.json"))
	for _, name := range files {
		if raw, err := os.ReadFile(name); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","contained":[{"resourceType":"Patient"}]}}]}`))
	f.Add([]byte(questionnaireDoc(`{"linkId":"a","type":"quantity","required":true,"enableWhen":[{"question":"b","operator":">","answerInteger":1}],"extension":[{"url":"http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-maxQuantity","valueQuantity":{"value":5,"system":"http://unitsofmeasure.org","code":"km"}}]},{"linkId":"b","type":"integer"}`,
		"completed", `{"linkId":"b","answer":[{"valueInteger":2}]},{"linkId":"a","answer":[{"valueQuantity":{"value":6000,"system":"http://unitsofmeasure.org","code":"m"}}]}`)))
	f.Add([]byte(differentialOnly))
	v := shared(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := v.Validate(doc)
		if err != nil {
			t.Fatalf("Validate returned an error: %v", err)
		}
		if res == nil {
			t.Fatal("nil result")
		}
		for _, is := range res.Issues {
			if is.Severity == "" || is.Code == "" {
				t.Fatalf("issue without severity or code: %+v", is)
			}
		}
		checkMatchesValidate(t, "input", v, doc, nil, res)
		again, err := v.Validate(doc)
		if err != nil {
			t.Fatalf("second Validate returned an error: %v", err)
		}
		if !reflect.DeepEqual(res.Issues, again.Issues) {
			t.Fatalf("validating twice gave different issues:\n%+v\n%+v", res.Issues, again.Issues)
		}
	})
}
