package pas

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
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
			parsed, err := fhirreq.ParseBundle(body)
			if err != nil {
				t.Fatal(err)
			}
			fromParsed, err := PatientOfBundle(parsed)
			if err != nil {
				t.Fatalf("PatientOfBundle: %v", err)
			}
			if fromParsed.Key() != full.Patient.Key() || fromParsed.Entry.Index != full.Patient.Entry.Index {
				t.Errorf("PatientOfBundle: key %q at entry %d, want %q at %d",
					fromParsed.Key(), fromParsed.Entry.Index, full.Patient.Key(), full.Patient.Entry.Index)
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
	cases["entry without fullUrl"] = mutate(t, homecare221, func(b map[string]any) {
		delete(b["entry"].([]any)[1].(map[string]any), "fullUrl")
	})
	cases["not a collection"] = mutate(t, homecare221, func(b map[string]any) { b["type"] = "batch" })
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			if p, err := PatientOf(body); err == nil {
				t.Errorf("accepted, patient %q", p.Key())
			}
			parsed, err := fhirreq.ParseBundle(body)
			if err != nil {
				return // what the policy engine rejects never reaches PatientOfBundle
			}
			if p, err := PatientOfBundle(parsed); err == nil {
				t.Errorf("PatientOfBundle accepted, patient %q", p.Key())
			}
		})
	}
}

// TestDecodeBundleOtherResource checks that a resource of another
// type is reported as not a Bundle, also when its elements reuse a Bundle
// element's name with another JSON type and so fail to decode.
func TestDecodeBundleOtherResource(t *testing.T) {
	cases := map[string]string{
		"plain":             `{"resourceType":"Patient","id":"p"}`,
		"conflicting entry": `{"resourceType":"Patient","entry":"text","type":7}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := decodeBundle([]byte(body))
			var be *BundleError
			if !errors.As(err, &be) {
				t.Fatalf("error = %v, want a BundleError", err)
			}
			if be.Path != "Bundle.resourceType" {
				t.Errorf("path = %q, want Bundle.resourceType", be.Path)
			}
		})
	}
}
