package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// caseFile is the list of cases both steps of the benchmark read.
type caseFile struct {
	Corpus string      `json:"corpus"`
	Cases  []benchCase `json:"cases"`

	// Skipped counts the suite's cases left out, by reason.
	Skipped map[string]int `json:"skipped"`
	// DroppedByGatehouse and DroppedByJS list the cases each engine
	// failed on, with its error.
	DroppedByGatehouse []droppedCase `json:"droppedByGatehouse,omitempty"`
	DroppedByJS        []droppedCase `json:"droppedByJS,omitempty"`
}

type benchCase struct {
	Name       string         `json:"name"` // "group/test"
	Expression string         `json:"expression"`
	Input      string         `json:"input"` // relative to the corpus, "" for none
	Predicate  bool           `json:"predicate,omitempty"`
	Expected   []expectedItem `json:"expected"`
}

// expectedItem is one <output> of the suite: its type attribute and text.
type expectedItem struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type droppedCase struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Error      string `json:"error"`
}

// suiteXML mirrors tests-fhir-r4.xml: groups of tests, each with an
// expression, an optional input file and the expected outputs.
type suiteXML struct {
	Groups []struct {
		Name  string `xml:"name,attr"`
		Tests []struct {
			Name       string `xml:"name,attr"`
			InputFile  string `xml:"inputfile,attr"`
			Predicate  string `xml:"predicate,attr"`
			Expression struct {
				Text    string `xml:",chardata"`
				Invalid string `xml:"invalid,attr"`
			} `xml:"expression"`
			Outputs []struct {
				Type string `xml:"type,attr"`
				Text string `xml:",chardata"`
			} `xml:"output"`
		} `xml:"test"`
	} `xml:"group"`
}

const (
	suitePath     = "fhirpath-tests/tests-fhir-r4.xml"
	suiteInputDir = "fhirpath-tests/input/fhir-test-cases-r4"
	jsInputDir    = "fhirpath-tests/input/fhirpath-js-r4"
)

// jsonInput returns the corpus-relative path of a JSON form of the
// suite's input file. fhirpath.js reads JSON only, so an XML input is
// replaced by the JSON copy of the same resource, from the suite's own
// folder or from fhirpath.js's converted inputs.
func jsonInput(corpus, inputFile string) (string, bool) {
	base := strings.TrimSuffix(inputFile, ".xml")
	base = strings.TrimSuffix(base, ".json")
	for _, dir := range []string{suiteInputDir, jsInputDir} {
		rel := dir + "/" + base + ".json"
		if _, err := os.Stat(filepath.Join(corpus, filepath.FromSlash(rel))); err == nil {
			return rel, true
		}
	}
	return "", false
}

// extract writes the suite's cases that Gatehouse compiles and evaluates
// without error. Cases the suite marks invalid are left out: they time
// the error path, which fhirpath.js reports by throwing.
func extract(corpus, out string) error {
	raw, err := os.ReadFile(filepath.Join(corpus, filepath.FromSlash(suitePath)))
	if err != nil {
		return err
	}
	var suite suiteXML
	if err := xml.Unmarshal(raw, &suite); err != nil {
		return fmt.Errorf("%s: %w", suitePath, err)
	}

	inputs := map[string]*fhirpath.Node{}
	file := caseFile{Corpus: corpus, Skipped: map[string]int{}}
	seen := map[string]bool{}
	for _, g := range suite.Groups {
		for _, tc := range g.Tests {
			name := g.Name + "/" + tc.Name
			for seen[name] {
				name += "'"
			}
			seen[name] = true

			if tc.Expression.Invalid != "" {
				file.Skipped["marked invalid by the suite"]++
				continue
			}
			c := benchCase{Name: name, Expression: tc.Expression.Text, Predicate: tc.Predicate == "true"}
			for _, o := range tc.Outputs {
				c.Expected = append(c.Expected, expectedItem{Type: o.Type, Text: o.Text})
			}
			if tc.InputFile != "" {
				rel, ok := jsonInput(corpus, tc.InputFile)
				if !ok {
					file.Skipped["input has no JSON form"]++
					continue
				}
				c.Input = rel
			}
			if err := evaluateOnce(corpus, c, inputs); err != nil {
				file.DroppedByGatehouse = append(file.DroppedByGatehouse, droppedCase{Name: name, Expression: c.Expression, Error: err.Error()})
				file.Skipped["Gatehouse error"]++
				continue
			}
			file.Cases = append(file.Cases, c)
		}
	}
	return writeJSON(out, file)
}

// evaluateOnce compiles and evaluates c with Gatehouse, parsing its input
// on first use.
func evaluateOnce(corpus string, c benchCase, inputs map[string]*fhirpath.Node) error {
	expr, err := fhirpath.Compile(c.Expression)
	if err != nil {
		return err
	}
	in, err := loadInput(corpus, c.Input, inputs)
	if err != nil {
		return err
	}
	_, err = expr.Evaluate(fhirpath.EvalContext{}, in...)
	return err
}

// loadInput parses a case's input file once and returns it as the
// evaluation input: one node, or nothing for a case without input.
func loadInput(corpus, rel string, inputs map[string]*fhirpath.Node) ([]fhirpath.Value, error) {
	if rel == "" {
		return nil, nil
	}
	if n, ok := inputs[rel]; ok {
		return []fhirpath.Value{n}, nil
	}
	raw, err := os.ReadFile(filepath.Join(corpus, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	n, err := fhirpath.ParseJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", rel, err)
	}
	inputs[rel] = n
	return []fhirpath.Value{n}, nil
}

// jsCheck is the output of fhirpathjs.js in check mode: one entry per
// candidate, in order.
type jsCheck struct {
	Results []struct {
		Name  string `json:"name"`
		Error string `json:"error"`
	} `json:"results"`
}

// selectCases keeps the candidates that fhirpath.js evaluated without
// error and records the others.
func selectCases(candidatesPath, jsPath, out string) error {
	var file caseFile
	if err := readJSON(candidatesPath, &file); err != nil {
		return err
	}
	var check jsCheck
	if err := readJSON(jsPath, &check); err != nil {
		return err
	}
	if len(check.Results) != len(file.Cases) {
		return fmt.Errorf("%s has %d results for %d cases", jsPath, len(check.Results), len(file.Cases))
	}

	var selected []benchCase
	for i, c := range file.Cases {
		r := check.Results[i]
		if r.Name != c.Name {
			return fmt.Errorf("%s: result %d is for %q, expected %q", jsPath, i, r.Name, c.Name)
		}
		if r.Error != "" {
			file.DroppedByJS = append(file.DroppedByJS, droppedCase{Name: c.Name, Expression: c.Expression, Error: r.Error})
			file.Skipped["fhirpath.js error"]++
			continue
		}
		selected = append(selected, c)
	}
	file.Cases = selected
	return writeJSON(out, file)
}

func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// sortedKeys returns the keys of m in order, for stable output.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
