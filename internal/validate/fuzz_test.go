package validate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// FuzzValidate checks that no input makes the validator panic, hang or
// fail as a whole: every input yields a Result, and one without errors
// never carries a fatal issue. Seeds are the Inferno PAS payloads and a
// few of the rule-test documents.
func FuzzValidate(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpustest.Root(f), "inferno-fixtures", "pas", "*.json"))
	for _, name := range files {
		if raw, err := os.ReadFile(name); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","contained":[{"resourceType":"Patient"}]}}]}`))
	v := shared(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := v.Validate(doc)
		if err != nil {
			t.Fatalf("Validate returned an error: %v", err)
		}
		if res == nil {
			t.Fatal("nil result")
		}
	})
}
