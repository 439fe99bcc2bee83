package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// inputFile lists what every validator runs on, in one order.
type inputFile struct {
	Inputs []input `json:"inputs"`
}

type input struct {
	Name string `json:"name"` // "r4/<file>", "pas/<file>" or "mutation/<id>"
	Path string `json:"path"`
	Set  string `json:"set"` // "r4", "pas" or "mutation"
	// Context is the package, as "name#version", whose profiles apply,
	// or "" for the core definitions only.
	Context string `json:"context,omitempty"`
	// Timed inputs are validated N times, the others once.
	Timed    bool      `json:"timed"`
	Mutation *mutation `json:"mutation,omitempty"`
}

// conformancePrefixes name the definitional resources of the examples
// package, which repeat the core package and are not instance examples.
var conformancePrefixes = []string{
	"StructureDefinition-", "ValueSet-", "CodeSystem-", "SearchParameter-", "ConceptMap-",
	"OperationDefinition-", "CapabilityStatement-", "CompartmentDefinition-", "NamingSystem-",
	"StructureMap-", "ImplementationGuide-hl7", "package.json",
}

var pasVersion = regexp.MustCompile(`^pas-(\d+\.\d+\.\d+)-`)

// writeInputs lists the instance examples of the unpacked R4 examples
// package and the PAS Bundles, writes the mutants beside the list, and
// writes the list to outDir/inputs.json.
func writeInputs(examplesDir, bundlesDir, outDir string) error {
	var list inputFile
	examples, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range examples {
		if isConformanceFile(filepath.Base(f)) {
			continue
		}
		list.Inputs = append(list.Inputs, input{Name: "r4/" + filepath.Base(f), Path: f, Set: "r4", Timed: true})
	}
	if len(list.Inputs) == 0 {
		return fmt.Errorf("no instance examples in %s", examplesDir)
	}

	bundles, err := filepath.Glob(filepath.Join(bundlesDir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range bundles {
		m := pasVersion.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			return fmt.Errorf("%s: name does not start with pas-<version>-", f)
		}
		list.Inputs = append(list.Inputs, input{Name: "pas/" + filepath.Base(f), Path: f, Set: "pas",
			Context: "hl7.fhir.us.davinci-pas#" + m[1], Timed: true})
	}
	sort.SliceStable(list.Inputs, func(i, j int) bool { return list.Inputs[i].Name < list.Inputs[j].Name })

	mutants, err := writeMutants(list.Inputs, filepath.Join(outDir, "mutations"))
	if err != nil {
		return err
	}
	list.Inputs = append(list.Inputs, mutants...)
	return writeJSON(filepath.Join(outDir, "inputs.json"), list)
}

func isConformanceFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	for _, p := range conformancePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// writeMutants applies each mutation to a fresh copy of its base and
// writes the result to dir/<id>.json.
func writeMutants(bases []input, dir string) ([]input, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	byName := map[string]input{}
	for _, in := range bases {
		byName[in.Name] = in
	}
	var out []input
	for _, m := range mutations {
		base, ok := byName[m.Base]
		if !ok {
			return nil, fmt.Errorf("mutation %s: base %s is not among the inputs", m.ID, m.Base)
		}
		raw, err := os.ReadFile(base.Path)
		if err != nil {
			return nil, err
		}
		doc, err := parseDocument(raw)
		if err != nil {
			return nil, fmt.Errorf("mutation %s: base %s: %w", m.ID, m.Base, err)
		}
		if err := m.edit(doc); err != nil {
			return nil, fmt.Errorf("mutation %s: %w", m.ID, err)
		}
		encoded, err := encodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("mutation %s: %w", m.ID, err)
		}
		path := filepath.Join(dir, m.ID+".json")
		if err := os.WriteFile(path, encoded, 0o644); err != nil {
			return nil, err
		}
		out = append(out, input{Name: "mutation/" + m.ID, Path: path, Set: "mutation", Context: base.Context, Mutation: &m})
	}
	return out, nil
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
