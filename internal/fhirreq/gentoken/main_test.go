package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// TestTableIsCurrent regenerates the token parameter table from the core
// package and compares it with the file in package fhirreq, so the two
// cannot drift apart. Run go generate in internal/fhirreq after changing
// gentoken.
func TestTableIsCurrent(t *testing.T) {
	params, err := readTokenParams(corpustest.File(t, "fhir-r4-core/hl7.fhir.r4.core-4.0.1.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := render(params)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../tokenparams_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("tokenparams_gen.go is stale: run go generate ./internal/fhirreq")
	}
}
