package fhirpath

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// The official FHIRPath suite, R4 flavour, runs against this engine. Cases
// that fail are listed with their reason in testdata/known-failures.txt;
// the test fails when an unlisted case fails, when a listed case passes
// (so the list stays true), or when the pass rate drops below
// suiteMinPassRate.
const suiteMinPassRate = 0.98

type suiteFile struct {
	Groups []suiteGroup `xml:"group"`
}

type suiteGroup struct {
	Name  string      `xml:"name,attr"`
	Tests []suiteCase `xml:"test"`
}

type suiteCase struct {
	Name       string `xml:"name,attr"`
	InputFile  string `xml:"inputfile,attr"`
	Predicate  string `xml:"predicate,attr"`
	Mode       string `xml:"mode,attr"`
	Expression struct {
		Text    string `xml:",chardata"`
		Invalid string `xml:"invalid,attr"`
	} `xml:"expression"`
	Outputs []struct {
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	} `xml:"output"`
}

func loadSuite(t testing.TB) *suiteFile {
	raw, err := os.ReadFile(corpustest.File(t, "fhirpath-tests/tests-fhir-r4.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var s suiteFile
	if err := xml.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// suiteInputs loads the inputs of the suite once: the JSON files with
// ParseJSON, the XML files with the test-only XML reader, because the
// suite's XML inputs differ from the R4 examples package (for example
// observation-example.xml carries an extra Age extension).
type suiteInputs struct {
	dir   string
	nodes map[string]*Node
}

func (in *suiteInputs) get(name string) (*Node, error) {
	if n, ok := in.nodes[name]; ok {
		return n, nil
	}
	path := filepath.Join(in.dir, name)
	var n *Node
	var err error
	if strings.HasSuffix(name, ".xml") {
		n, err = parseFHIRXML(path)
	} else {
		var raw []byte
		if raw, err = os.ReadFile(path); err == nil {
			n, err = ParseJSON(raw)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", name, err)
	}
	in.nodes[name] = n
	return n, nil
}

// coreConformance evaluates conformsTo() for the core resource profiles by
// type, as a stand-in for the validator.
type coreConformance struct{}

func (coreConformance) ConformsTo(_ context.Context, n *Node, url string) (bool, error) {
	name, ok := strings.CutPrefix(url, "http://hl7.org/fhir/StructureDefinition/")
	if !ok {
		return false, errors.New("unknown profile " + url)
	}
	return n.typ != nil && n.typ.IsA(name), nil
}

func readKnownFailures(t *testing.T) map[string]string {
	f, err := os.Open("testdata/known-failures.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(reason) == "" {
			t.Fatalf("known-failures.txt: line %q has no reason", line)
		}
		known[strings.TrimSpace(name)] = strings.TrimSpace(reason)
	}
	return known
}

func TestOfficialSuite(t *testing.T) {
	suite := loadSuite(t)
	inputs := &suiteInputs{dir: corpustest.File(t, "fhirpath-tests/input/fhir-test-cases-r4"), nodes: map[string]*Node{}}
	known := readKnownFailures(t)

	total, passed := 0, 0
	seen := map[string]bool{}
	var unexpected, nowPassing []string
	for _, g := range suite.Groups {
		for _, tc := range g.Tests {
			total++
			key := g.Name + "/" + tc.Name
			for seen[key] {
				key += "'"
			}
			seen[key] = true
			err := runSuiteCase(inputs, tc)
			_, listed := known[key]
			switch {
			case err == nil && listed:
				nowPassing = append(nowPassing, key)
			case err == nil:
				passed++
			case !listed:
				unexpected = append(unexpected, fmt.Sprintf("%s: %q: %v", key, tc.Expression.Text, err))
			}
		}
	}
	for name := range known {
		if !seen[name] {
			t.Errorf("known-failures.txt lists %q, which is not in the suite", name)
		}
	}
	rate := float64(passed) / float64(total)
	t.Logf("official FHIRPath suite: %d of %d passed (%.1f%%), %d listed as known failures", passed, total, 100*rate, len(known))
	for _, u := range unexpected {
		t.Errorf("unexpected failure: %s", u)
	}
	for _, p := range nowPassing {
		t.Errorf("%s passes now: remove it from known-failures.txt", p)
	}
	if rate < suiteMinPassRate {
		t.Errorf("pass rate %.3f below %.2f", rate, suiteMinPassRate)
	}
}

func runSuiteCase(inputs *suiteInputs, tc suiteCase) error {
	var input []Value
	if tc.InputFile != "" {
		n, err := inputs.get(tc.InputFile)
		if err != nil {
			return err
		}
		input = []Value{n}
	}
	// Cases marked invalid must fail to compile, to check or to evaluate,
	// except in lenient mode, where the outputs apply. Check runs on
	// every case, so it must not reject valid expressions either.
	wantError := tc.Expression.Invalid != "" && !strings.HasPrefix(tc.Mode, "lenient")
	expr, err := Compile(tc.Expression.Text)
	if err != nil {
		if wantError {
			return nil
		}
		return err
	}
	if len(input) == 1 && !strings.HasPrefix(tc.Mode, "lenient") {
		if err := expr.Check(nil, input[0].(*Node).typ.Name); err != nil {
			if wantError {
				return nil
			}
			return fmt.Errorf("check: %w", err)
		}
	}
	got, err := expr.Evaluate(EvalContext{Conformance: coreConformance{}}, input...)
	if wantError {
		if err == nil {
			return fmt.Errorf("expected an error, got %s", describeCollection(got))
		}
		return nil
	}
	if err != nil {
		return err
	}
	if tc.Predicate == "true" {
		got = Collection{Boolean(len(got) > 0)}
	}
	return compareOutputs(tc, got)
}

func compareOutputs(tc suiteCase, got Collection) error {
	if len(got) != len(tc.Outputs) {
		return fmt.Errorf("got %d items %s, want %d", len(got), describeCollection(got), len(tc.Outputs))
	}
	for i, want := range tc.Outputs {
		typ, text := suiteForm(got[i])
		if text != want.Text {
			return fmt.Errorf("item %d: got %q, want %q", i, text, want.Text)
		}
		if want.Type != "" && typ != want.Type {
			return fmt.Errorf("item %d: got type %s, want %s", i, typ, want.Type)
		}
	}
	return nil
}

// suiteForm renders an item as the suite writes outputs: the FHIR type
// name or the lower-case System type name, and the literal text.
func suiteForm(v Value) (string, string) {
	typ := ""
	if n, ok := v.(*Node); ok && n.typ != nil {
		typ = n.typ.Name
	} else {
		_, name := v.TypeName()
		typ = map[string]string{"Boolean": "boolean", "Integer": "integer", "Decimal": "decimal",
			"String": "string", "Date": "date", "DateTime": "dateTime", "Time": "time", "Quantity": "Quantity"}[name]
	}
	switch x := systemValue(v).(type) {
	case Date, DateTime:
		return typ, "@" + fmt.Sprint(x)
	case Time:
		return typ, "@T" + x.String()
	case nil:
		return typ, ""
	}
	s, _ := toString(v)
	return typ, s
}

func describeCollection(c Collection) string {
	parts := make([]string, len(c))
	for i, v := range c {
		typ, text := suiteForm(v)
		parts[i] = typ + " " + text
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// TestKnownFailuresSorted keeps the list readable.
func TestKnownFailuresSorted(t *testing.T) {
	raw, err := os.ReadFile("testdata/known-failures.txt")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		names = append(names, name)
	}
	if !slices.IsSorted(names) {
		t.Error("known-failures.txt is not sorted by test name")
	}
}
