package fhirpath

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// Benchmarks: go test -run XXX -bench . -benchmem ./internal/fhirpath

func BenchmarkCompileSuite(b *testing.B) {
	exprs := suiteExpressions(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range exprs {
			_, _ = Compile(e)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(exprs)), "ns/expr")
}

// BenchmarkEvaluateSuite evaluates every valid case of the official suite
// on its input.
func BenchmarkEvaluateSuite(b *testing.B) {
	suite := loadSuite(b)
	inputs := &suiteInputs{dir: corpustest.File(b, "fhirpath-tests/input/fhir-test-cases-r4"), nodes: map[string]*Node{}}
	type job struct {
		e  *Expression
		in []Value
	}
	var jobs []job
	for _, g := range suite.Groups {
		for _, tc := range g.Tests {
			e, err := Compile(tc.Expression.Text)
			if err != nil || tc.Expression.Invalid != "" {
				continue
			}
			var in []Value
			if tc.InputFile != "" {
				n, err := inputs.get(tc.InputFile)
				if err != nil {
					b.Fatal(err)
				}
				in = []Value{n}
			}
			jobs = append(jobs, job{e, in})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, j := range jobs {
			_, _ = j.e.Evaluate(EvalContext{}, j.in...)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(jobs)), "ns/expr")
}

// BenchmarkEle1Bundle runs the ele-1 invariant on every element of a
// generated Bundle of 500 patients (about 8,000 elements), as a validator
// does.
func BenchmarkEle1Bundle(b *testing.B) {
	root, err := ParseJSON(bigBundle(500))
	if err != nil {
		b.Fatal(err)
	}
	var nodes []*Node
	walkNodes(root, func(n *Node) { nodes = append(nodes, n) })
	ele1 := MustCompile("hasValue() or (children().count() > id.count())")
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range nodes {
			if _, _, err := ele1.EvaluateBool(EvalContext{}, n); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(nodes)), "elements")
}

// BenchmarkDom3 runs the contained-resource invariant dom-3, which walks
// the whole resource with descendants(), on the suite's Patient with a
// contained resource.
func BenchmarkDom3(b *testing.B) {
	inputs := &suiteInputs{dir: corpustest.File(b, "fhirpath-tests/input/fhir-test-cases-r4"), nodes: map[string]*Node{}}
	root, err := inputs.get("patient-container-example.json")
	if err != nil {
		b.Fatal(err)
	}
	dom3 := MustCompile("contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := dom3.EvaluateBool(EvalContext{}, root); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSONBundle(b *testing.B) {
	doc := bigBundle(500)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseJSON(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSONExample(b *testing.B) {
	doc, err := os.ReadFile(filepath.Join(corpustest.File(b, "fhirpath-tests/input/fhir-test-cases-r4"), "explanationofbenefit-example.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseJSON(doc); err != nil {
			b.Fatal(err)
		}
	}
}
