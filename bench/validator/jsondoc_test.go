package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

func TestEncodeDocumentKeepsForm(t *testing.T) {
	in := `{"resourceType":"Patient","text":{"div":"<div>a & b</div>"},"b":1.0,"a":[true,null,"x"]}`
	doc, err := parseDocument([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := encodeDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("encodeDocument changed the document:\n got %s\nwant %s", out, in)
	}
}

func TestParseDocumentTrailingData(t *testing.T) {
	if _, err := parseDocument([]byte(`{"a":1} {}`)); err == nil {
		t.Error("parseDocument accepted trailing data")
	}
}

// TestMutantsDifferFromBase writes the inputs from the corpus and checks
// that every mutation applies and changes its base.
func TestMutantsDifferFromBase(t *testing.T) {
	examples := filepath.Join(corpustest.Unpack(t, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package")
	out := t.TempDir()
	if err := writeInputs(examples, filepath.Join("..", "..", "internal", "demo", "bundles"), out); err != nil {
		t.Fatal(err)
	}
	var list inputFile
	if err := readJSON(filepath.Join(out, "inputs.json"), &list); err != nil {
		t.Fatal(err)
	}

	paths := map[string]string{}
	mutants := 0
	for _, in := range list.Inputs {
		paths[in.Name] = in.Path
		if in.Mutation != nil {
			mutants++
		}
	}
	if mutants != len(mutations) {
		t.Fatalf("inputs.json has %d mutants, want %d", mutants, len(mutations))
	}
	for _, in := range list.Inputs {
		if in.Mutation == nil {
			continue
		}
		t.Run(in.Mutation.ID, func(t *testing.T) {
			base := encodedFile(t, paths[in.Mutation.Base])
			mutant := encodedFile(t, in.Path)
			if string(base) == string(mutant) {
				t.Error("mutant equals its base")
			}
		})
	}
}

func encodedFile(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseDocument(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out, err := encodeDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
