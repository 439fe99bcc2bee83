package fhirpath

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// invariant is one constraint of a core StructureDefinition, keyed by the
// type it applies to (a resource, data type or backbone path).
type invariant struct {
	key, typ, expr string
	compiled       *Expression
}

// knownBadInvariants are R4 core invariants that are wrong as published.
var knownBadInvariants = map[string]string{
	// Timing.repeat.when repeats, so "when in (...)" on several values is
	// an error under FHIRPath (HL7 Jira FHIR-35990).
	"tim-9": "compares a repeating element with 'in'",
	// ChargeItemDefinition has no name element in R4; the invariant was
	// copied from the other canonical resources. Check reports it.
	"cid-0": "refers to a missing element",
}

func loadCoreInvariants(t *testing.T) []*invariant {
	dir := corpustest.Unpack(t, "fhir-r4-core/hl7.fhir.r4.core-4.0.1.tgz")
	files, err := filepath.Glob(filepath.Join(dir, "package", "StructureDefinition-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	model := fhirmodel.R4()
	seen := map[string]bool{}
	var out []*invariant
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var sd struct {
			Derivation string `json:"derivation"`
			Kind       string `json:"kind"`
			Snapshot   struct {
				Element []struct {
					Path       string `json:"path"`
					Constraint []struct {
						Key        string `json:"key"`
						Expression string `json:"expression"`
					} `json:"constraint"`
				} `json:"element"`
			} `json:"snapshot"`
		}
		if err := json.Unmarshal(raw, &sd); err != nil {
			t.Fatal(err)
		}
		if sd.Derivation == "constraint" || sd.Kind == "logical" {
			continue
		}
		for _, e := range sd.Snapshot.Element {
			if model.Type(e.Path) == nil {
				continue // constraints on single elements are not run here
			}
			for _, c := range e.Constraint {
				id := e.Path + "|" + c.Key
				if c.Expression == "" || seen[id] {
					continue
				}
				seen[id] = true
				out = append(out, &invariant{key: c.Key, typ: e.Path, expr: c.Expression})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].typ+out[i].key < out[j].typ+out[j].key })
	return out
}

// TestCoreInvariantsCompile compiles and type-checks every invariant on
// the types of the R4 core definitions.
func TestCoreInvariantsCompile(t *testing.T) {
	invs := loadCoreInvariants(t)
	for _, inv := range invs {
		e, err := Compile(inv.expr)
		if err != nil {
			t.Errorf("%s %s: %v", inv.typ, inv.key, err)
			continue
		}
		if err := e.Check(nil, inv.typ); err != nil && knownBadInvariants[inv.key] == "" {
			t.Errorf("%s %s: check: %v", inv.typ, inv.key, err)
		}
	}
	t.Logf("%d core invariants compiled", len(invs))
}

// TestCoreInvariantsOnExamples evaluates the invariants on every node of
// every example of the R4 examples package. The examples are published as
// valid, so an evaluation error is a bug in this engine or a known bad
// invariant. Invariants that yield false are counted in the log.
func TestCoreInvariantsOnExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluates all R4 examples")
	}
	byType := map[string][]*invariant{}
	for _, inv := range loadCoreInvariants(t) {
		e, err := Compile(inv.expr)
		if err != nil {
			t.Fatalf("%s %s: %v", inv.typ, inv.key, err)
		}
		inv.compiled = e
		byType[inv.typ] = append(byType[inv.typ], inv)
	}
	dir := corpustest.Unpack(t, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz")
	files, _ := filepath.Glob(filepath.Join(dir, "package", "*.json"))
	evaluated, falses := 0, map[string]int{}
	for _, f := range files {
		if strings.HasSuffix(f, "package.json") || strings.Contains(f, ".index.") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		root, err := ParseJSON(raw)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		walkNodes(root, func(n *Node) {
			done := map[string]bool{}
			for typ := n.typ; typ != nil; typ = typ.BaseType() {
				for _, inv := range byType[typ.Name] {
					if done[inv.key] {
						continue
					}
					done[inv.key] = true
					evaluated++
					ok, known, err := inv.compiled.EvaluateBool(EvalContext{}, n)
					switch {
					case err != nil && knownBadInvariants[inv.key] == "":
						t.Errorf("%s: %s %s: %v", filepath.Base(f), inv.typ, inv.key, err)
					case err == nil && known && !ok:
						falses[inv.key]++
					}
				}
			}
		})
	}
	t.Logf("%d invariant evaluations over %d files; false results by key: %v", evaluated, len(files), falses)
}

func walkNodes(n *Node, fn func(*Node)) {
	fn(n)
	for _, c := range n.children {
		walkNodes(c, fn)
	}
}
