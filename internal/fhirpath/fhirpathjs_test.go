package fhirpath

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// The fhirpath.js project's own cases add coverage beyond the official
// suite. Many rely on that engine's extensions (Long literals, %factory,
// FHIRPath 3.0 functions, STU3 and R5 models), so the test reports the
// pass rate and fails only below jsCasesMinPassRate. Set
// FHIRPATH_JS_FAILURES=1 to write the failing cases to
// testdata/fhirpathjs-failures.txt for review.
const jsCasesMinPassRate = 0.70

type jsCase struct {
	Desc       string         `yaml:"desc"`
	Expression any            `yaml:"expression"`
	Result     []any          `yaml:"result"`
	Error      bool           `yaml:"error"`
	InputFile  string         `yaml:"inputfile"`
	Model      string         `yaml:"model"`
	Disable    bool           `yaml:"disable"`
	Variables  map[string]any `yaml:"variables"`
	Context    string         `yaml:"context"`
}

// jsItems flattens the nested groups of a case file.
func jsItems(v any, out *[]jsCase) {
	switch x := v.(type) {
	case []any:
		for _, item := range x {
			jsItems(item, out)
		}
	case map[string]any:
		if _, ok := x["expression"]; ok {
			raw, _ := yaml.Marshal(x)
			var c jsCase
			if yaml.Unmarshal(raw, &c) == nil {
				*out = append(*out, c)
			}
			return
		}
		for _, v := range x {
			jsItems(v, out)
		}
	}
}

func TestFHIRPathJSCases(t *testing.T) {
	dir := corpustest.File(t, "fhirpath-tests/fhirpath-js-cases")
	inputDir := corpustest.File(t, "fhirpath-tests/input/fhirpath-js-r4")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	total, passed := 0, 0
	var failures []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Tests   []any `yaml:"tests"`
			Subject any   `yaml:"subject"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Logf("%s: %v", filepath.Base(f), err)
			continue
		}
		var cases []jsCase
		jsItems(doc.Tests, &cases)
		subject := subjectNode(doc.Subject)
		for _, c := range cases {
			expr, ok := c.Expression.(string)
			if !ok || c.Disable || (c.Model != "" && c.Model != "r4") || c.Context != "" {
				continue
			}
			total++
			err := runJSCase(c, expr, subject, inputDir)
			if err == nil {
				passed++
				continue
			}
			failures = append(failures, fmt.Sprintf("%s: %s: %q: %v", filepath.Base(f), c.Desc, expr, err))
		}
	}
	sort.Strings(failures)
	rate := float64(passed) / float64(total)
	t.Logf("fhirpath.js cases: %d of %d passed (%.1f%%)", passed, total, 100*rate)
	if os.Getenv("FHIRPATH_JS_FAILURES") != "" {
		_ = os.WriteFile("testdata/fhirpathjs-failures.txt", []byte(strings.Join(failures, "\n")+"\n"), 0o644)
	}
	if rate < jsCasesMinPassRate {
		t.Errorf("pass rate %.3f below %.2f", rate, jsCasesMinPassRate)
	}
}

func subjectNode(subject any) *Node {
	if subject == nil {
		return nil
	}
	raw, err := json.Marshal(jsonable(subject))
	if err != nil {
		return nil
	}
	b := &jsonBuilder{model: fhirmodel.R4(), lenient: true}
	dec := newJSONDecoder(raw)
	n, err := b.resourceValue(dec, "", "")
	if err != nil {
		return nil
	}
	return n
}

func runJSCase(c jsCase, expr string, subject *Node, inputDir string) error {
	input := subject
	if c.InputFile != "" {
		raw, err := os.ReadFile(filepath.Join(inputDir, c.InputFile))
		if err != nil {
			return err
		}
		if input, err = ParseJSON(raw); err != nil {
			return err
		}
	}
	e, err := Compile(expr)
	if err == nil {
		var vars map[string]Collection
		if len(c.Variables) > 0 {
			vars = map[string]Collection{}
			for k, v := range c.Variables {
				vars[k] = plainToCollection(v)
			}
		}
		var got Collection
		var in []Value
		if input != nil {
			in = []Value{input}
		}
		got, err = e.Evaluate(EvalContext{Variables: vars}, in...)
		if err == nil {
			if c.Error {
				return fmt.Errorf("expected an error, got %s", FormatJSON(got))
			}
			return compareJS(got, c.Result)
		}
	}
	if c.Error {
		return nil
	}
	return err
}

func plainToCollection(v any) Collection {
	switch x := v.(type) {
	case []any:
		var out Collection
		for _, item := range x {
			out = append(out, plainToCollection(item)...)
		}
		return out
	case string:
		return Collection{String(x)}
	case bool:
		return Collection{Boolean(x)}
	case int:
		return Collection{Integer(x)}
	case float64:
		d, _ := decimalFromFloat(x)
		return Collection{d}
	}
	raw, _ := json.Marshal(jsonable(v))
	n, err := ParseJSON(raw)
	if err != nil {
		return nil
	}
	return Collection{n}
}

// compareJS compares results in the loose form fhirpath.js prints them:
// JSON values, with dates and quantities as strings.
func compareJS(got Collection, want []any) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %s, want %v", FormatJSON(got), want)
	}
	for i := range got {
		g := plainOf(got[i])
		w := normalizeYAML(want[i])
		if !reflect.DeepEqual(g, w) {
			return fmt.Errorf("item %d: got %#v, want %#v", i, g, w)
		}
	}
	return nil
}

func plainOf(v Value) any {
	switch x := systemValue(v).(type) {
	case Boolean:
		return bool(x)
	case Integer:
		return float64(x)
	case Decimal:
		return x.Float64()
	case Quantity:
		return x.String()
	case nil:
		return nil
	}
	if n, ok := v.(*Node); ok && n.value == nil {
		var out any
		_ = json.Unmarshal(FormatJSON(Collection{n}), &out)
		return normalizeYAML(out.([]any)[0].(map[string]any)["value"])
	}
	s, _ := toString(v)
	return s
}

// jsonable converts the map[any]any values of YAML into map[string]any.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := map[string]any{}
		for k, val := range x {
			m[fmt.Sprint(k)] = jsonable(val)
		}
		return m
	case map[string]any:
		m := map[string]any{}
		for k, val := range x {
			m[k] = jsonable(val)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = jsonable(val)
		}
		return out
	}
	return v
}

func normalizeYAML(v any) any {
	raw, _ := json.Marshal(jsonable(v))
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}
