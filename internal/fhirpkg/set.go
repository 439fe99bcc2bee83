package fhirpkg

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Set is a group of packages whose canonical URLs resolve against each
// other. It is immutable once built and safe for concurrent use.
type Set struct {
	pkgs []*Package
	byID map[string]*Package
	// byURL gives, for each canonical URL, the range of resources in
	// resources that have it, in load order. A range instead of a slice
	// per URL keeps the map's values free of pointers and saves one
	// small allocation per URL.
	byURL     map[string]urlRange
	resources []*Resource
	deps      map[*Package][]Dependency
	scope     map[*Package][]*Package
}

// Dependency is one entry of a package's dependencies and the package of
// the set that satisfies it. Package is nil when the set has none. A
// package whose version differs only in the patch number satisfies a
// dependency, as FHIR's "x.y.x" version wildcard allows.
type Dependency struct {
	Name    string
	Version string
	Package *Package
}

// NewSet builds a set. Two packages with the same name and version are an
// error. Dependencies the set cannot satisfy are not (see Unresolved),
// because most published packages depend on terminology packages that a
// validator can do without.
func NewSet(pkgs ...*Package) (*Set, error) {
	s := &Set{
		byID:  map[string]*Package{},
		deps:  map[*Package][]Dependency{},
		scope: map[*Package][]*Package{},
	}
	for _, p := range pkgs {
		if _, dup := s.byID[p.ID()]; dup {
			return nil, fmt.Errorf("fhirpkg: package %s loaded twice", p.ID())
		}
		s.byID[p.ID()] = p
		s.pkgs = append(s.pkgs, p)
	}
	s.indexURLs()
	for _, p := range s.pkgs {
		s.deps[p] = s.resolveDependencies(p)
	}
	for _, p := range s.pkgs {
		s.scope[p] = s.closure(p)
	}
	return s, nil
}

// Packages returns the packages in the order given to NewSet.
func (s *Set) Packages() []*Package { return slices.Clone(s.pkgs) }

// Package returns the package with the given name and version, or nil.
func (s *Set) Package(name, version string) *Package { return s.byID[name+"#"+version] }

// Dependencies returns p's dependencies as resolved in the set.
func (s *Set) Dependencies(p *Package) []Dependency { return slices.Clone(s.deps[p]) }

// Unresolved lists, as "name#version (needed by name#version)", every
// dependency no package of the set satisfies.
func (s *Set) Unresolved() []string {
	var out []string
	for _, p := range s.pkgs {
		for _, d := range s.deps[p] {
			if d.Package == nil {
				out = append(out, fmt.Sprintf("%s#%s (needed by %s)", d.Name, d.Version, p.ID()))
			}
		}
	}
	return out
}

// aliasName matches NPM alias names such as "hl7.fhir.us.core.v311", which
// name a version of "hl7.fhir.us.core".
var aliasName = regexp.MustCompile(`^(.+)\.v[0-9]+$`)

func (s *Set) resolveDependencies(p *Package) []Dependency {
	var out []Dependency
	for _, name := range sortedKeys(p.Dependencies) {
		version := p.Dependencies[name]
		d := Dependency{Name: name, Version: version, Package: s.findDependency(name, version)}
		if d.Package == nil {
			if m := aliasName.FindStringSubmatch(name); m != nil {
				d.Package = s.findDependency(m[1], version)
			}
		}
		out = append(out, d)
	}
	return out
}

// findDependency returns the package name#version, or the newest package
// of that name whose version differs only in the patch number.
func (s *Set) findDependency(name, version string) *Package {
	if p := s.byID[name+"#"+version]; p != nil {
		return p
	}
	var best *Package
	for _, p := range s.pkgs {
		if p.Name == name && majorMinor(p.Version) == majorMinor(version) {
			if best == nil || compareVersions(p.Version, best.Version) > 0 {
				best = p
			}
		}
	}
	return best
}

// closure lists p and then every package reachable through dependencies,
// breadth first, each once.
func (s *Set) closure(p *Package) []*Package {
	seen := map[*Package]bool{p: true}
	out := []*Package{p}
	for i := 0; i < len(out); i++ {
		for _, d := range s.deps[out[i]] {
			if d.Package != nil && !seen[d.Package] {
				seen[d.Package] = true
				out = append(out, d.Package)
			}
		}
	}
	return out
}

// Resolve finds the resource with a canonical URL, optionally suffixed by
// "|version". Resources of the packages in from, and of their
// dependencies, win in that order, nearest first, so that a profile resolves
// to the versions it was published against. Nil entries are skipped. Failing
// that, the highest version wins. It returns nil when no resource matches.
func (s *Set) Resolve(canonical string, from ...*Package) *Resource {
	url, version, _ := strings.Cut(canonical, "|")
	cands := s.withURL(url)
	if version != "" {
		cands = filterVersion(cands, version)
	}
	if len(cands) == 0 {
		return nil
	}
	for _, f := range from {
		if r := s.inScope(cands, f); r != nil {
			return r
		}
	}
	best := cands[0]
	for _, r := range cands[1:] {
		if compareVersions(r.Version, best.Version) >= 0 {
			best = r
		}
	}
	return best
}

// urlRange is a range of Set.resources: start inclusive, end exclusive.
type urlRange struct{ start, end int32 }

// indexURLs fills resources and byURL from the packages, keeping the load
// order of the resources that share a URL.
func (s *Set) indexURLs() {
	for _, p := range s.pkgs {
		for _, r := range p.Resources {
			if r.URL != "" {
				s.resources = append(s.resources, r)
			}
		}
	}
	slices.SortStableFunc(s.resources, func(a, b *Resource) int { return strings.Compare(a.URL, b.URL) })
	s.byURL = make(map[string]urlRange)
	for i, r := range s.resources {
		span, ok := s.byURL[r.URL]
		if !ok {
			span.start = int32(i)
		}
		span.end = int32(i + 1)
		s.byURL[r.URL] = span
	}
}

// withURL returns the resources with a canonical URL, in load order. The
// caller must not modify the slice.
func (s *Set) withURL(url string) []*Resource {
	span, ok := s.byURL[url]
	if !ok {
		return nil
	}
	return s.resources[span.start:span.end:span.end]
}

// inScope returns the first candidate from f or its dependencies, nearest
// first, or nil.
func (s *Set) inScope(cands []*Resource, f *Package) *Resource {
	if f == nil {
		return nil
	}
	for _, p := range s.scope[f] {
		for _, r := range cands {
			if r.pkg == p {
				return r
			}
		}
	}
	return nil
}

// All returns every resource of the given type in the set, in package
// order.
func (s *Set) All(resourceType string) []*Resource {
	var out []*Resource
	for _, p := range s.pkgs {
		for _, r := range p.Resources {
			if r.ResourceType == resourceType {
				out = append(out, r)
			}
		}
	}
	return out
}

// filterVersion keeps the resources whose version is v or, when v has only
// major and minor numbers, starts with it.
func filterVersion(rs []*Resource, v string) []*Resource {
	var out []*Resource
	for _, r := range rs {
		if r.Version == v || strings.Count(v, ".") == 1 && majorMinor(r.Version) == v {
			out = append(out, r)
		}
	}
	return out
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// compareVersions orders dotted versions numerically, part by part. Parts
// that are not numbers compare as text.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, errA := strconv.Atoi(pa[i])
		nb, errB := strconv.Atoi(pb[i])
		if errA == nil && errB == nil {
			if na != nb {
				return na - nb
			}
			continue
		}
		if c := strings.Compare(pa[i], pb[i]); c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
