package fhirpath

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckPrimitivesRejectsInvalid(t *testing.T) {
	tests := []struct {
		name, json, path, typ string
	}{
		{"month 13", `{"resourceType":"Patient","birthDate":"2020-13-45"}`, "Patient.birthDate", "date"},
		{"February 30", `{"resourceType":"Patient","deceasedDateTime":"2020-02-30T10:00:00Z"}`, "Patient.deceased", "dateTime"},
		{"boolean as string", `{"resourceType":"Patient","active":"yes"}`, "Patient.active", "boolean"},
		{"number for a string", `{"resourceType":"Patient","name":[{"family":"Roe"},{"family":7}]}`, "Patient.name[1].family", "string"},
		{"repeated element", `{"resourceType":"Patient","name":[{"given":["Ann","Bea","2020-13"]}],"birthDate":"2020-1"}`, "Patient.birthDate", "date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, err := ParseJSON([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			var inv *InvalidPrimitiveError
			if err := CheckPrimitives(node); !errors.As(err, &inv) {
				t.Fatalf("CheckPrimitives = %v, want an InvalidPrimitiveError", err)
			}
			if inv.Path != tt.path {
				t.Errorf("path = %q, want %q", inv.Path, tt.path)
			}
			if inv.Type != tt.typ {
				t.Errorf("type = %q, want %q", inv.Type, tt.typ)
			}
		})
	}
}

// TestCheckPrimitivesAcceptsShippedBundles runs the check on real PAS
// bundles, which must all pass.
func TestCheckPrimitivesAcceptsShippedBundles(t *testing.T) {
	files, err := filepath.Glob("../demo/bundles/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bundles: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		node, err := ParseJSON(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := CheckPrimitives(node); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
