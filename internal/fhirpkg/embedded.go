package fhirpkg

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

//go:generate go run ./gen -o embedded/packages.bin.gz

// The bundle format, after gzip decompression:
//
//	"gatehouse-fhirpkg-1\n"
//	uvarint n, then n bytes of JSON: the index, a list of bundleEntry
//	the resources' JSON, concatenated in index order
//
// Each resource of the index gives its offset and length in the
// concatenated data, so loading a bundle parses only the index. A resource
// is parsed when a validator first needs it.
const bundleMagic = "gatehouse-fhirpkg-1\n"

// maxBundleBytes caps the decompressed size of a bundle.
const maxBundleBytes = 256 << 20

type bundleEntry struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Dependencies map[string]string `json:"dependencies,omitempty"`
	FHIRVersions []string          `json:"fhirVersions,omitempty"`
	License      string            `json:"license,omitempty"`
	Source       string            `json:"source,omitempty"`
	Resources    []bundleResource  `json:"resources"`
}

type bundleResource struct {
	Type    string `json:"t"`
	ID      string `json:"id,omitempty"`
	URL     string `json:"url,omitempty"`
	Version string `json:"v,omitempty"`
	Length  int    `json:"n"`
}

// EncodeBundle writes pkgs in the bundle format, gzip-compressed at the
// best compression level.
func EncodeBundle(w io.Writer, pkgs []*Package) error {
	var index []bundleEntry
	var data bytes.Buffer
	for _, p := range pkgs {
		e := bundleEntry{
			Name: p.Name, Version: p.Version, Dependencies: p.Dependencies,
			FHIRVersions: p.FHIRVersions, License: p.License, Source: p.Source,
		}
		for _, r := range p.Resources {
			e.Resources = append(e.Resources, bundleResource{Type: r.ResourceType, ID: r.ID, URL: r.URL, Version: r.Version, Length: len(r.JSON)})
			data.Write(r.JSON)
		}
		index = append(index, e)
	}
	head, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("fhirpkg: encode bundle: %w", err)
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	bw.WriteString(bundleMagic)
	bw.Write(binary.AppendUvarint(nil, uint64(len(head))))
	bw.Write(head)
	bw.Write(data.Bytes())
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("fhirpkg: encode bundle: %w", err)
	}
	return zw.Close()
}

// DecodeBundle reads packages written by EncodeBundle.
func DecodeBundle(compressed []byte) ([]*Package, error) {
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("fhirpkg: bundle: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxBundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fhirpkg: bundle: %w", err)
	}
	if len(raw) > maxBundleBytes {
		return nil, fmt.Errorf("fhirpkg: bundle: %w: more than %d bytes", ErrTooLarge, maxBundleBytes)
	}
	rest, ok := bytes.CutPrefix(raw, []byte(bundleMagic))
	if !ok {
		return nil, errors.New("fhirpkg: bundle: unknown format")
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return nil, errors.New("fhirpkg: bundle: damaged index length")
	}
	var index []bundleEntry
	if err := json.Unmarshal(rest[k:k+int(n)], &index); err != nil {
		return nil, fmt.Errorf("fhirpkg: bundle index: %w", err)
	}
	return linkBundle(index, rest[k+int(n):])
}

func linkBundle(index []bundleEntry, data []byte) ([]*Package, error) {
	var pkgs []*Package
	off := 0
	for _, e := range index {
		p := &Package{
			Name: e.Name, Version: e.Version, Dependencies: e.Dependencies,
			FHIRVersions: e.FHIRVersions, License: e.License, Source: e.Source,
		}
		if p.Dependencies == nil {
			p.Dependencies = map[string]string{}
		}
		for _, r := range e.Resources {
			if r.Length < 0 || r.Length > len(data)-off {
				return nil, fmt.Errorf("fhirpkg: bundle: resource %s/%s of %s runs past the data", r.Type, r.ID, p.ID())
			}
			body := data[off : off+r.Length : off+r.Length]
			off += r.Length
			p.add(&Resource{ResourceType: r.Type, ID: r.ID, URL: r.URL, Version: r.Version, JSON: body})
		}
		pkgs = append(pkgs, p)
	}
	if off != len(data) {
		return nil, errors.New("fhirpkg: bundle: data after the last resource")
	}
	return pkgs, nil
}

//go:embed embedded/packages.bin.gz
var embeddedBundle []byte

var (
	embeddedOnce sync.Once
	embeddedPkgs []*Package
	embeddedErr  error
)

// Embedded returns the packages shipped in the binary: FHIR R4 core 4.0.1
// and the implementation guides listed in embedded/LICENSE.md, reduced by
// Strip. They are decoded once and shared, so callers must not modify them.
func Embedded() ([]*Package, error) {
	embeddedOnce.Do(func() { embeddedPkgs, embeddedErr = DecodeBundle(embeddedBundle) })
	return embeddedPkgs, embeddedErr
}
