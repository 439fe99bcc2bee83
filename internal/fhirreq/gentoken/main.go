// Command gentoken writes tokenparams_gen.go of package fhirreq: the search
// parameters of type token in the FHIR R4 core package tarball
// (hl7.fhir.r4.core-4.0.1.tgz, CC0-1.0), by the resource type they are
// defined on.
//
// Usage:
//
//	go run ./gentoken [-core path/to/hl7.fhir.r4.core-4.0.1.tgz] -o tokenparams_gen.go
//
// The default -core path is the shared corpus beside the repository.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

func main() {
	core := flag.String("core", "../../../shared/corpus/fhir-r4-core/hl7.fhir.r4.core-4.0.1.tgz", "core package tarball")
	out := flag.String("o", "tokenparams_gen.go", "output file")
	flag.Parse()
	if err := run(*core, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gentoken: error:", err)
		os.Exit(1)
	}
}

func run(core, out string) error {
	params, err := readTokenParams(core)
	if err != nil {
		return err
	}
	src, err := render(params)
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

// searchParameter is the part of a SearchParameter resource that the table
// needs.
type searchParameter struct {
	ResourceType string   `json:"resourceType"`
	Code         string   `json:"code"`
	Base         []string `json:"base"`
	Type         string   `json:"type"`
}

// readTokenParams returns the sorted "Type code" pairs of every token search
// parameter in the tarball.
func readTokenParams(tgz string) ([][2]string, error) {
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
	seen := map[[2]string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		base := path.Base(hdr.Name)
		if !strings.HasPrefix(base, "SearchParameter-") || !strings.HasSuffix(base, ".json") {
			continue
		}
		var sp searchParameter
		if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(&sp); err != nil {
			return nil, fmt.Errorf("%s: %w", hdr.Name, err)
		}
		// A few files are Bundles of extension search parameters, which
		// no core resource defines.
		if sp.ResourceType != "SearchParameter" || sp.Type != "token" {
			continue
		}
		for _, b := range sp.Base {
			seen[[2]string{b, sp.Code}] = true
		}
	}

	out := make([][2]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	if len(out) == 0 {
		return nil, errors.New(tgz + ": no token search parameter found")
	}
	return out, nil
}

func render(params [][2]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated from the FHIR R4 (4.0.1) core package by gentoken; DO NOT EDIT.\n\n")
	b.WriteString("package fhirreq\n\n")
	b.WriteString("// tokenParams lists the search parameters of type token, by the resource\n")
	b.WriteString("// type that defines them. \"Resource\" and \"DomainResource\" apply to every type.\n")
	b.WriteString("var tokenParams = map[[2]string]bool{\n")
	for _, p := range params {
		fmt.Fprintf(&b, "\t{%q, %q}: true,\n", p[0], p[1])
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
