// Command gen writes embedded/packages.bin.gz, the FHIR packages package
// fhirpkg ships in the binary, from the package archives of the shared
// corpus beside the repository, and from implementation guide source in
// XML where no published package is at hand. Each resource is reduced by
// fhirpkg.Strip to what validation reads, and examples and other resource
// types are left out.
//
// Usage:
//
//	go run ./gen [-corpus DIR] -o embedded/packages.bin.gz
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
	"github.com/gatehouse-health/gatehouse/internal/fhirxml"
)

// source is one shipped package: its archive in the corpus and where the
// corpus copy came from. embedded/LICENSE.md repeats these notes.
type source struct {
	file   string
	origin string
}

// Sources lists the shipped packages. Every one is HL7 content under
// CC0-1.0.
var sources = []source{
	{"fhir-r4-core/hl7.fhir.r4.core-4.0.1.tgz", "HL7 FHIR R4 core package 4.0.1, as published; copy from github.com/google/fhir spec/hl7.fhir.core/4.0.1"},
	{"us-core/hl7.fhir.us.core-3.1.1.tgz", "HL7 US Core 3.1.1, as published; copy from github.com/inferno-framework/us-core-test-kit"},
	{"us-core/hl7.fhir.us.core-6.1.0.tgz", "HL7 US Core 6.1.0, as published; copy from github.com/inferno-framework/us-core-test-kit"},
	{"davinci-pas/hl7.fhir.us.davinci-pas-2.0.1.tgz", "HL7 Da Vinci PAS 2.0.1, as published; copy from github.com/inferno-framework/davinci-pas-test-kit"},
	{"davinci-pas/hl7.fhir.us.davinci-pas-2.2.1.tgz", "HL7 Da Vinci PAS 2.2.1, as published; copy from github.com/inferno-framework/davinci-pas-test-kit"},
	{"davinci-crd/hl7.fhir.us.davinci-crd-2.0.1.tgz", "HL7 Da Vinci CRD 2.0.1, as published; copy from github.com/inferno-framework/davinci-crd-test-kit"},
	{"davinci-pdex/hl7.fhir.us.davinci-pdex-2.0.0.tgz", "HL7 Da Vinci PDex 2.0.0, as published; copy from github.com/inferno-framework/davinci-pdex-test-kit"},
	{"carin-bb/hl7.fhir.us.carin-bb-2.0.0.tgz", "HL7 CARIN Blue Button 2.0.0, as published; copy from github.com/inferno-framework/carin-for-blue-button-test-kit"},
}

// xmlSource is a package built from the XML resources of an
// implementation guide's source.
type xmlSource struct {
	dir          string // the resources' directory in the corpus
	name         string
	version      string
	dependencies map[string]string // as the guide declares them
	origin       string
}

// xmlSources lists the packages built from XML. The guide's source has
// StructureDefinitions with differentials only; the validator generates
// their snapshots.
var xmlSources = []xmlSource{{
	dir:     "davinci-hrex/resources",
	name:    "hl7.fhir.us.davinci-hrex",
	version: "1.0.0",
	dependencies: map[string]string{
		"hl7.fhir.r4.core": "4.0.1", "hl7.fhir.us.core": "3.1.1", "hl7.fhir.us.udap-security": "0.1.0",
	},
	origin: "HL7 Da Vinci HRex 1.0.0, converted from the XML resources of the guide's source; copy from github.com/HL7/davinci-ehrx at commit 1da23ea1",
}}

func main() {
	defaultCorpus := "../../../shared/corpus"
	if dir := os.Getenv("GATEHOUSE_CORPUS"); dir != "" {
		defaultCorpus = dir
	}
	corpus := flag.String("corpus", defaultCorpus, "corpus directory (default: $GATEHOUSE_CORPUS, else the shared corpus beside the repository)")
	out := flag.String("o", "embedded/packages.bin.gz", "output file")
	flag.Parse()
	data, err := Build(*corpus)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen: error:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen: error:", err)
		os.Exit(1)
	}
}

// Build reads and strips the shipped packages and returns the encoded
// bundle.
func Build(corpus string) ([]byte, error) {
	var pkgs []*fhirpkg.Package
	for _, s := range sources {
		p, err := fhirpkg.LoadFile(filepath.Join(corpus, filepath.FromSlash(s.file)), fhirpkg.DefaultLimits)
		if err != nil {
			return nil, err
		}
		if err := strip(p); err != nil {
			return nil, fmt.Errorf("%s: %w", p.ID(), err)
		}
		p.Source = s.origin
		pkgs = append(pkgs, p)
	}
	for _, s := range xmlSources {
		p, err := loadXML(filepath.Join(corpus, filepath.FromSlash(s.dir)), s)
		if err != nil {
			return nil, err
		}
		if err := strip(p); err != nil {
			return nil, fmt.Errorf("%s: %w", p.ID(), err)
		}
		pkgs = append(pkgs, p)
	}
	var buf bytes.Buffer
	if err := fhirpkg.EncodeBundle(&buf, pkgs); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// loadXML builds the package s from the XML resources in dir, in the
// order of their file names.
func loadXML(dir string, s xmlSource) (*fhirpkg.Package, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no XML resources in %s", dir)
	}
	sort.Strings(files)
	p := fhirpkg.NewPackage(s.name, s.version, s.dependencies)
	p.Source = s.origin
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		res, err := fhirxml.Convert(doc, fhirmodel.R4())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if res, err = stampVersion(res, s.version); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if err := p.AddResource(res); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return p, nil
}

// stampVersion gives a canonical resource without a version the package's
// version, as the HL7 publishing tool does, so that "url|version"
// references resolve.
func stampVersion(res []byte, version string) ([]byte, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(res))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, canonical := m["url"]; !canonical || m["version"] != nil {
		return res, nil
	}
	m["version"] = version
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// strip replaces p's resources by their stripped forms, dropping those
// Strip does not keep.
func strip(p *fhirpkg.Package) error {
	kept := p.Resources[:0]
	for _, r := range p.Resources {
		small, err := fhirpkg.Strip(r.JSON)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", r.ResourceType, r.ID, err)
		}
		if small != nil {
			r.JSON = small
			kept = append(kept, r)
		}
	}
	p.Resources = kept
	return nil
}
