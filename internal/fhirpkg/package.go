// Package fhirpkg reads FHIR NPM packages and resolves canonical URLs across
// a set of them.
//
// A FHIR package is a gzip-compressed tar archive laid out as
//
//	package/package.json          name, version, dependencies
//	package/<Type>-<id>.json      one conformance resource per file
//	package/example/...           examples (not loaded)
//	package/other/..., xml/...    not loaded
//
// package.json is an NPM manifest with FHIR conventions:
//
//	{"name": "hl7.fhir.us.core", "version": "3.1.1",
//	 "dependencies": {"hl7.fhir.r4.core": "4.0.1"}}
//
// ReadTGZ loads the JSON files directly under package/ that carry a
// resourceType. Entries that are not regular files or directories, or whose
// names would leave the archive (absolute, "..", backslashes), are rejected,
// as are archives beyond the Limits.
//
// The packages Gatehouse validates against by default ship inside the
// binary (see Embedded), reduced by Strip to what validation reads.
package fhirpkg

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Limits caps what ReadTGZ accepts from one archive.
type Limits struct {
	MaxEntries    int   // tar entries, of any kind
	MaxFileBytes  int64 // one uncompressed file
	MaxTotalBytes int64 // all loaded files together, uncompressed
}

// DefaultLimits fit the largest published packages: the R4 core package has
// 4,582 files and 28 MB of StructureDefinitions, ValueSets and CodeSystems.
var DefaultLimits = Limits{MaxEntries: 50_000, MaxFileBytes: 64 << 20, MaxTotalBytes: 1 << 30}

// ErrTooLarge is returned, wrapped, when an archive exceeds its Limits.
var ErrTooLarge = errors.New("package too large")

// Package is one FHIR package: its manifest and its conformance resources.
type Package struct {
	Name         string
	Version      string
	Dependencies map[string]string // package name to version
	FHIRVersions []string          // fhirVersions of package.json, such as "4.0.1"
	License      string            // SPDX identifier from package.json
	Source       string            // origin of the package (file name or provenance note)
	Resources    []*Resource
}

// ID returns "name#version", the usual way to name a package version.
func (p *Package) ID() string { return p.Name + "#" + p.Version }

// Resource is one conformance resource of a package. JSON contains the
// resource as stored, and the other fields are copies of its top-level
// members.
type Resource struct {
	ResourceType string
	ID           string
	URL          string
	Version      string
	JSON         []byte

	pkg *Package
}

// Package returns the package the resource belongs to.
func (r *Resource) Package() *Package { return r.pkg }

// manifest is the part of package.json the loader reads.
type manifest struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Dependencies map[string]string `json:"dependencies"`
	FHIRVersions []string          `json:"fhirVersions"`
	License      string            `json:"license"`
}

// header is the part of a resource the loader indexes.
type header struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	URL          string `json:"url"`
	Version      string `json:"version"`
}

// LoadFile reads the package archive at name.
func LoadFile(name string, lim Limits) (*Package, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("fhirpkg: %w", err)
	}
	defer f.Close()
	p, err := ReadTGZ(f, lim)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, name)
	}
	p.Source = name
	return p, nil
}

// ReadTGZ reads a package archive. The manifest package/package.json is
// required, and the resources are the JSON files directly under package/.
func ReadTGZ(r io.Reader, lim Limits) (*Package, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("fhirpkg: not a gzip archive: %w", err)
	}
	defer gz.Close()
	files, err := readTar(tar.NewReader(gz), lim)
	if err != nil {
		return nil, err
	}
	raw, ok := files["package.json"]
	if !ok {
		return nil, errors.New("fhirpkg: package/package.json not found")
	}
	p, err := parseManifest(raw)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(files) {
		if name == "package.json" || strings.HasPrefix(name, ".") {
			continue
		}
		res, err := parseResource(files[name])
		if err != nil {
			return nil, fmt.Errorf("fhirpkg: %s: %w", name, err)
		}
		if res != nil {
			p.add(res)
		}
	}
	return p, nil
}

// readTar returns the JSON files directly under package/, by base name.
func readTar(tr *tar.Reader, lim Limits) (map[string][]byte, error) {
	files := map[string][]byte{}
	var entries int
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("fhirpkg: invalid tar archive: %w", err)
		}
		entries++
		if lim.MaxEntries > 0 && entries > lim.MaxEntries {
			return nil, fmt.Errorf("fhirpkg: %w: more than %d entries", ErrTooLarge, lim.MaxEntries)
		}
		name, err := entryName(hdr)
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg || !isResourceFile(name) {
			continue
		}
		if lim.MaxFileBytes > 0 && hdr.Size > lim.MaxFileBytes {
			return nil, fmt.Errorf("fhirpkg: %w: %q has %d bytes, limit %d", ErrTooLarge, hdr.Name, hdr.Size, lim.MaxFileBytes)
		}
		total += hdr.Size
		if lim.MaxTotalBytes > 0 && total > lim.MaxTotalBytes {
			return nil, fmt.Errorf("fhirpkg: %w: more than %d bytes of resources", ErrTooLarge, lim.MaxTotalBytes)
		}
		data, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
		if err != nil {
			return nil, fmt.Errorf("fhirpkg: reading %q: %w", hdr.Name, err)
		}
		files[path.Base(name)] = data
	}
}

// entryName checks that a tar entry stays inside the archive and is of a
// kind a package may contain, and returns its cleaned name.
func entryName(hdr *tar.Header) (string, error) {
	name := hdr.Name
	clean := path.Clean(name)
	switch {
	case strings.Contains(name, "\\"), strings.HasPrefix(name, "/"),
		clean == "..", strings.HasPrefix(clean, "../"):
		return "", fmt.Errorf("fhirpkg: entry %q escapes the package", name)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeXGlobalHeader:
		return clean, nil
	}
	return "", fmt.Errorf("fhirpkg: entry %q is not a regular file or directory", name)
}

// isResourceFile reports whether a cleaned entry name is a JSON file
// directly under package/.
func isResourceFile(name string) bool {
	rest, ok := strings.CutPrefix(name, "package/")
	return ok && !strings.Contains(rest, "/") && strings.HasSuffix(rest, ".json")
}

func parseManifest(raw []byte) (*Package, error) {
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("fhirpkg: package.json: %w", err)
	}
	if m.Name == "" || m.Version == "" {
		return nil, errors.New("fhirpkg: package.json: name and version are required")
	}
	if m.Dependencies == nil {
		m.Dependencies = map[string]string{}
	}
	return &Package{
		Name: m.Name, Version: m.Version, Dependencies: m.Dependencies,
		FHIRVersions: m.FHIRVersions, License: m.License,
	}, nil
}

// parseResource indexes one file. Files that are valid JSON objects but not
// resources (no resourceType) return nil.
func parseResource(raw []byte) (*Resource, error) {
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if h.ResourceType == "" {
		return nil, nil
	}
	return &Resource{ResourceType: h.ResourceType, ID: h.ID, URL: h.URL, Version: h.Version, JSON: raw}, nil
}

// add appends res to the package's resources.
func (p *Package) add(res *Resource) {
	res.pkg = p
	p.Resources = append(p.Resources, res)
}

// NewPackage returns an empty package, to which AddResource adds
// resources read from loose files rather than an archive.
func NewPackage(name, version string, dependencies map[string]string) *Package {
	if dependencies == nil {
		dependencies = map[string]string{}
	}
	return &Package{Name: name, Version: version, Dependencies: dependencies}
}

// AddResource adds one resource, given as JSON, to the package.
func (p *Package) AddResource(raw []byte) error {
	res, err := parseResource(raw)
	if err != nil {
		return fmt.Errorf("fhirpkg: %w", err)
	}
	if res == nil {
		return errors.New("fhirpkg: JSON object without resourceType")
	}
	p.add(res)
	return nil
}
