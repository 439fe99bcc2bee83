package pas

import (
	"path/filepath"
	"testing"
)

// TestPatientOfMatchesParse checks that PatientOf finds the same patient
// as the full parsers on every demo Bundle they accept.
func TestPatientOfMatchesParse(t *testing.T) {
	files, err := filepath.Glob("../demo/bundles/pas-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no demo Bundles: %v", err)
	}
	checked := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body := readFile(t, f)
			full, err := ParseRequest(body)
			if err != nil {
				if full, err = ParseInquiry(body); err != nil {
					t.Skip("not a request Bundle")
				}
			}
			got, err := PatientOf(body)
			if err != nil {
				t.Fatalf("PatientOf: %v", err)
			}
			if got.Key() != full.Patient.Key() {
				t.Errorf("key = %q, want %q", got.Key(), full.Patient.Key())
			}
			if got.Entry.Index != full.Patient.Entry.Index {
				t.Errorf("entry = %d, want %d", got.Entry.Index, full.Patient.Entry.Index)
			}
			checked++
		})
	}
	if checked == 0 {
		t.Error("no demo Bundle parsed as a request")
	}
}

func TestPatientOfRejects(t *testing.T) {
	cases := map[string][]byte{
		"not a bundle": []byte(`{"resourceType":"Patient"}`),
		"not JSON":     []byte(`{`),
		"patient missing": mutate(t, homecare221, func(b map[string]any) {
			delete(claim(b), "patient")
		}),
		"patient unresolved": mutate(t, homecare221, func(b map[string]any) {
			claim(b)["patient"] = map[string]any{"reference": "Patient/nowhere"}
		}),
		"patient of the wrong type": mutate(t, homecare221, func(b map[string]any) {
			claim(b)["patient"] = claim(b)["insurer"]
		}),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			if p, err := PatientOf(body); err == nil {
				t.Errorf("accepted, patient %q", p.Key())
			}
		})
	}
}
