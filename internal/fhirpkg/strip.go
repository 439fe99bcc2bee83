package fhirpkg

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// KeptTypes lists the resource types Strip keeps, those a validator reads.
var KeptTypes = map[string]bool{"StructureDefinition": true, "ValueSet": true, "CodeSystem": true}

// droppedEverywhere are members of conformance resources that only document
// them: narrative, publisher details, mappings to other standards.
var droppedEverywhere = []string{
	"text", "contact", "publisher", "description", "purpose", "copyright",
	"mapping", "date", "jurisdiction", "useContext", "identifier", "meta",
	"keyword", "extension", "modifierExtension", "experimental", "title",
}

// droppedFromElements are ElementDefinition members no validation rule
// reads.
var droppedFromElements = []string{
	"short", "definition", "comment", "requirements", "alias", "mapping",
	"example", "isModifierReason", "meaningWhenMissing", "orderMeaning",
	"isSummary", "representation", "label", "code",
}

// keptElementExtensions are the ElementDefinition extensions that carry
// validation rules.
var keptElementExtensions = []string{
	"http://hl7.org/fhir/StructureDefinition/regex",
	"http://hl7.org/fhir/StructureDefinition/elementdefinition-maxValueSet",
}

// Strip returns a smaller copy of a conformance resource that keeps what
// validation reads: StructureDefinition snapshots (paths, cardinality,
// types, bindings, constraints, slicing, fixed and pattern values),
// ValueSet compose and expansion, CodeSystem codes and their hierarchy and
// properties. A StructureDefinition published with only a differential
// keeps it, stripped the same way, since the validator generates its
// snapshot. It returns nil for other resource types and for
// StructureDefinitions with neither.
func Strip(raw []byte) ([]byte, error) {
	var res map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("fhirpkg: strip: %w", err)
	}
	rt, _ := res["resourceType"].(string)
	if !KeptTypes[rt] {
		return nil, nil
	}
	deleteKeys(res, droppedEverywhere)
	switch rt {
	case "StructureDefinition":
		elements := "snapshot"
		if _, ok := res["snapshot"]; ok {
			delete(res, "differential")
		} else if _, ok := res["differential"]; ok {
			elements = "differential"
		} else {
			return nil, nil
		}
		stripElements(res[elements])
	case "CodeSystem":
		stripConcepts(res["concept"])
	case "ValueSet":
		stripValueSet(res)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return nil, fmt.Errorf("fhirpkg: strip: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// stripElements strips the elements of a snapshot or differential.
func stripElements(list any) {
	m, _ := list.(map[string]any)
	elems, _ := m["element"].([]any)
	for _, e := range elems {
		el, ok := e.(map[string]any)
		if !ok {
			continue
		}
		deleteKeys(el, droppedFromElements)
		el["extension"] = keepExtensions(el["extension"])
		if el["extension"] == nil {
			delete(el, "extension")
		}
		if b, ok := el["binding"].(map[string]any); ok {
			deleteKeys(b, []string{"description", "extension"})
		}
		for _, c := range asList(el["constraint"]) {
			if cm, ok := c.(map[string]any); ok {
				deleteKeys(cm, []string{"xpath", "requirements", "extension"})
			}
		}
	}
}

// keepExtensions returns the extensions of list named in
// keptElementExtensions, or nil.
func keepExtensions(list any) any {
	var kept []any
	for _, x := range asList(list) {
		m, _ := x.(map[string]any)
		url, _ := m["url"].(string)
		for _, k := range keptElementExtensions {
			if url == k {
				kept = append(kept, x)
			}
		}
	}
	if kept == nil {
		return nil
	}
	return kept
}

// stripConcepts keeps code, nested concepts and properties of each
// concept, recursively.
func stripConcepts(list any) {
	for _, c := range asList(list) {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		for k := range cm {
			if k != "code" && k != "concept" && k != "property" {
				delete(cm, k)
			}
		}
		stripConcepts(cm["concept"])
	}
}

func stripValueSet(vs map[string]any) {
	if c, ok := vs["compose"].(map[string]any); ok {
		for _, part := range []string{"include", "exclude"} {
			for _, inc := range asList(c[part]) {
				if im, ok := inc.(map[string]any); ok {
					stripConcepts(im["concept"])
				}
			}
		}
	}
	if x, ok := vs["expansion"].(map[string]any); ok {
		deleteKeys(x, []string{"parameter", "extension", "identifier", "timestamp"})
		stripContains(x["contains"])
	}
}

func stripContains(list any) {
	for _, c := range asList(list) {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		for k := range cm {
			switch k {
			case "system", "code", "version", "contains", "abstract", "inactive":
			default:
				delete(cm, k)
			}
		}
		stripContains(cm["contains"])
	}
}

func deleteKeys(m map[string]any, keys []string) {
	for _, k := range keys {
		delete(m, k)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
