// Command gen writes the embedded FHIR R4 type model of package fhirmodel
// from the StructureDefinitions in the core package tarball
// (hl7.fhir.r4.core-4.0.1.tgz, CC0-1.0).
//
// Usage:
//
//	go run ./gen [-core path/to/hl7.fhir.r4.core-4.0.1.tgz] -o r4.json.gz
//
// The default -core path is the shared corpus beside the repository.
package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

func main() {
	core := flag.String("core", "../../../shared/corpus/fhir-r4-core/hl7.fhir.r4.core-4.0.1.tgz", "core package tarball")
	out := flag.String("o", "r4.json.gz", "output file")
	flag.Parse()
	if err := run(*core, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen: error:", err)
		os.Exit(1)
	}
}

func run(core, out string) error {
	defs, err := readDefinitions(core)
	if err != nil {
		return err
	}
	types, err := build(defs)
	if err != nil {
		return err
	}
	data, err := encode(types)
	if err != nil {
		return err
	}
	return os.WriteFile(out, data, 0o644)
}

// structureDefinition holds the fields of a StructureDefinition the model
// needs.
type structureDefinition struct {
	ResourceType   string `json:"resourceType"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	Kind           string `json:"kind"`
	Abstract       bool   `json:"abstract"`
	Derivation     string `json:"derivation"`
	BaseDefinition string `json:"baseDefinition"`
	Snapshot       struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	Path             string `json:"path"`
	Min              int    `json:"min"`
	Max              string `json:"max"`
	ContentReference string `json:"contentReference"`
	Type             []struct {
		Code      string          `json:"code"`
		Extension []typeExtension `json:"extension"`
	} `json:"type"`
}

type typeExtension struct {
	URL      string `json:"url"`
	ValueURL string `json:"valueUrl"`
}

const fhirTypeExtension = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"

func readDefinitions(tgz string) ([]*structureDefinition, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	var defs []*structureDefinition
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		base := path.Base(hdr.Name)
		if !strings.HasPrefix(base, "StructureDefinition-") || !strings.HasSuffix(base, ".json") {
			continue
		}
		var sd structureDefinition
		if err := json.NewDecoder(io.LimitReader(tr, 64<<20)).Decode(&sd); err != nil {
			return nil, fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if sd.ResourceType == "StructureDefinition" {
			defs = append(defs, &sd)
		}
	}
	return defs, nil
}

// build turns the base definitions (derivation specialization, or none for
// Element and Resource) of primitive types, data types and resources into
// model types, sorted by name. Profiles and logical models are skipped.
func build(defs []*structureDefinition) ([]*fhirmodel.Type, error) {
	var types []*fhirmodel.Type
	for _, sd := range defs {
		if sd.Derivation == "constraint" || sd.Kind == "logical" {
			continue
		}
		ts, err := buildDefinition(sd)
		if err != nil {
			return nil, fmt.Errorf("StructureDefinition %s: %w", sd.Name, err)
		}
		types = append(types, ts...)
	}
	setSystemTypes(types)
	sort.Slice(types, func(i, j int) bool { return types[i].Name < types[j].Name })
	return types, nil
}

func buildDefinition(sd *structureDefinition) ([]*fhirmodel.Type, error) {
	root := &fhirmodel.Type{
		Name:     sd.Type,
		Base:     strings.TrimPrefix(sd.BaseDefinition, "http://hl7.org/fhir/StructureDefinition/"),
		Abstract: sd.Abstract,
	}
	switch sd.Kind {
	case "primitive-type":
		root.Kind = fhirmodel.KindPrimitive
	case "complex-type":
		root.Kind = fhirmodel.KindComplex
	case "resource":
		root.Kind = fhirmodel.KindResource
	default:
		return nil, fmt.Errorf("unexpected kind %q", sd.Kind)
	}

	// Each element with children (the root and every backbone element)
	// becomes a type; the others become elements of their parent's type.
	byPath := map[string]*fhirmodel.Type{sd.Type: root}
	types := []*fhirmodel.Type{root}
	for _, ed := range sd.Snapshot.Element[1:] {
		parentPath, name := splitPath(ed.Path)
		parent := byPath[parentPath]
		if parent == nil {
			return nil, fmt.Errorf("element %s: parent %s not found", ed.Path, parentPath)
		}
		if root.Kind == fhirmodel.KindPrimitive && parent == root && name == "value" {
			continue // the primitive's own value, not a child element
		}
		resourceID := root.Kind == fhirmodel.KindResource && ed.Path == sd.Type+".id"
		elem, err := buildElement(ed, name, resourceID)
		if err != nil {
			return nil, err
		}
		parent.Elements = append(parent.Elements, elem)
		if isBackbone(ed) {
			bb := &fhirmodel.Type{Name: ed.Path, Base: ed.Type[0].Code, Kind: fhirmodel.KindBackbone}
			elem.Types = []string{ed.Path}
			byPath[ed.Path] = bb
			types = append(types, bb)
		}
	}
	return types, nil
}

func isBackbone(ed elementDefinition) bool {
	return len(ed.Type) == 1 && (ed.Type[0].Code == "BackboneElement" || ed.Type[0].Code == "Element") &&
		strings.Count(ed.Path, ".") >= 1 && ed.ContentReference == ""
}

func splitPath(p string) (parent, name string) {
	i := strings.LastIndexByte(p, '.')
	return p[:i], p[i+1:]
}

func buildElement(ed elementDefinition, name string, resourceID bool) (*fhirmodel.Element, error) {
	elem := &fhirmodel.Element{Name: strings.TrimSuffix(name, "[x]"), Min: ed.Min, Choice: strings.HasSuffix(name, "[x]")}
	switch ed.Max {
	case "*":
		elem.Max = fhirmodel.Unbounded
	default:
		n, err := strconv.Atoi(ed.Max)
		if err != nil {
			return nil, fmt.Errorf("element %s: invalid max %q", ed.Path, ed.Max)
		}
		elem.Max = n
	}
	if ed.ContentReference != "" {
		elem.Types = []string{strings.TrimPrefix(ed.ContentReference, "#")}
		return elem, nil
	}
	for _, t := range ed.Type {
		elem.Types = append(elem.Types, elementTypeName(t.Code, t.Extension, resourceID))
	}
	if len(elem.Types) == 0 {
		return nil, fmt.Errorf("element %s has no type", ed.Path)
	}
	return elem, nil
}

// elementTypeName maps the FHIRPath System type codes that R4 uses for
// id, url and similar elements to the FHIR type named by their
// structuredefinition-fhir-type extension.
func elementTypeName(code string, exts []typeExtension, resourceID bool) string {
	if !strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
		return code
	}
	// NOTE: R4 4.0.1 marks Resource.id as fhir-type "string", but the R4
	// element tables give it type id, and the FHIRPath suite expects id.
	if resourceID {
		return "id"
	}
	for _, x := range exts {
		if x.URL == fhirTypeExtension && x.ValueURL != "" {
			return x.ValueURL
		}
	}
	return "string"
}

// setSystemTypes records for every primitive the FHIRPath System type of its
// value, found by following the base chain to one of the root primitives.
func setSystemTypes(types []*fhirmodel.Type) {
	byName := map[string]*fhirmodel.Type{}
	for _, t := range types {
		byName[t.Name] = t
	}
	roots := map[string]string{
		"boolean": "Boolean", "integer": "Integer", "decimal": "Decimal",
		"date": "Date", "dateTime": "DateTime", "instant": "DateTime", "time": "Time",
	}
	for _, t := range types {
		if t.Kind != fhirmodel.KindPrimitive {
			continue
		}
		t.System = "String"
		for x := t; x != nil; x = byName[x.Base] {
			if sys, ok := roots[x.Name]; ok {
				t.System = sys
				break
			}
		}
	}
}

// encode serializes types as a gzip-compressed fhirmodel.File.
func encode(types []*fhirmodel.Type) ([]byte, error) {
	raw, err := json.Marshal(fhirmodel.File{FHIRVersion: "4.0.1", Types: types})
	if err != nil {
		return nil, err
	}
	var buf strings.Builder
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return []byte(buf.String()), nil
}
