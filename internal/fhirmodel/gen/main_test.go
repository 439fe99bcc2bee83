package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// TestEmbeddedModelIsCurrent regenerates the model from the core package and
// compares it with the file embedded in package fhirmodel, so the two cannot
// drift apart. Run go generate in internal/fhirmodel after changing gen.
func TestEmbeddedModelIsCurrent(t *testing.T) {
	defs, err := readDefinitions(corpustest.File(t, "fhir-r4-core/hl7.fhir.r4.core-4.0.1.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	types, err := build(defs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := encode(types)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../r4.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("r4.json.gz is stale: run go generate ./internal/fhirmodel")
	}
}
