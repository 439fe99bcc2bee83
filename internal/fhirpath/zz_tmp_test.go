package fhirpath

import (
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

func BenchmarkZZ(b *testing.B) {
	inputs := &suiteInputs{dir: corpustest.File(b, "fhirpath-tests/input/fhir-test-cases-r4"), nodes: map[string]*Node{}}
	p, err := inputs.get("patient-example.xml")
	if err != nil {
		b.Fatal(err)
	}
	for _, ex := range []string{"true", "1 = 1", "Patient.name.given", "Patient.name.where(use='official').given.first() = 'Peter'", "Patient.birthDate < @2000-01-01", "4.0 'g' = 4000.0 'mg'", "(1.2 / 1.8).round(2) != 0.67"} {
		e := MustCompile(ex)
		b.Run(ex, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Evaluate(EvalContext{}, p)
			}
		})
	}
}
