package validate

import (
	"encoding/json"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
)

// maxExpansion caps the codes of one offline expansion. A value set
// larger than this is treated as not enumerable.
const maxExpansion = 200_000

type coding struct {
	system, code string
}

// expansion is a value set expanded offline from the packages' code
// systems. Systems the packages cannot enumerate (external terminologies,
// filters this expander does not implement, value sets not loaded) are
// open: membership of their codes is unknown.
type expansion struct {
	codes map[string]map[string]bool // system to codes
	open  map[string]bool            // systems whose codes are not enumerable
	// openAll is set when part of the value set could not be expanded at
	// all (an imported value set not loaded), so any system may be in it.
	openAll bool
	// codeSets lists the maps of codes, so that a code without a system
	// is looked up without iterating over codes. seal sets it once the
	// expansion is complete, and nil means that it is still being built.
	codeSets []map[string]bool
}

// seal records the finished code maps for contains. An expansion is
// sealed before it is cached and must not change afterwards.
func (x *expansion) seal() *expansion {
	x.codeSets = make([]map[string]bool, 0, len(x.codes))
	for _, codes := range x.codes {
		x.codeSets = append(x.codeSets, codes)
	}
	return x
}

// contains reports whether the code is in the value set, and whether
// membership is known. An empty system matches a code of any system, as for a
// bare code element.
func (x *expansion) contains(system, code string) (in, known bool) {
	if system == "" {
		if x.codeSets != nil {
			for _, codes := range x.codeSets {
				if codes[code] {
					return true, true
				}
			}
		} else {
			for _, codes := range x.codes {
				if codes[code] {
					return true, true
				}
			}
		}
		return false, !x.openAll && len(x.open) == 0
	}
	if x.codes[system][code] {
		return true, true
	}
	if x.openAll || x.open[system] {
		return false, false
	}
	return false, true
}

// systems lists the systems of the value set, enumerated or open.
func (x *expansion) systems() []string {
	var out []string
	for s := range x.codes {
		out = append(out, s)
	}
	for s := range x.open {
		if x.codes[s] == nil {
			out = append(out, s)
		}
	}
	return out
}

func (x *expansion) add(system, code string) {
	if x.codes[system] == nil {
		x.codes[system] = map[string]bool{}
	}
	x.codes[system][code] = true
}

func (x *expansion) size() int {
	n := 0
	for _, c := range x.codes {
		n += len(c)
	}
	return n
}

type rawValueSet struct {
	Compose *struct {
		Include []rawInclude `json:"include"`
		Exclude []rawInclude `json:"exclude"`
	} `json:"compose"`
	Expansion *struct {
		Total    *int          `json:"total"`
		Contains []rawContains `json:"contains"`
	} `json:"expansion"`
}

type rawInclude struct {
	System   string   `json:"system"`
	ValueSet []string `json:"valueSet"`
	Concept  []struct {
		Code string `json:"code"`
	} `json:"concept"`
	Filter []rawFilter `json:"filter"`
}

type rawFilter struct {
	Property string `json:"property"`
	Op       string `json:"op"`
	Value    string `json:"value"`
}

type rawContains struct {
	System   string        `json:"system"`
	Code     string        `json:"code"`
	Contains []rawContains `json:"contains"`
}

// expand returns the offline expansion of a value set, or nil when the
// value set is not loaded. Expansions are computed once.
func (v *Validator) expand(url string, from *fhirpkg.Package) *expansion {
	return v.expandDepth(url, from, 0)
}

// bindingExpansion returns expand(b.valueSet, from) and caches it per
// binding. Bindings and their packages come from the definitions, never
// from the instance, so the cache is bounded, and a value set that is not
// loaded can be cached too.
func (v *Validator) bindingExpansion(b *binding, from *fhirpkg.Package) *expansion {
	if c := b.expanded.Load(); c != nil && c.from == from {
		return c.exp
	}
	key := bindingKey{b, from}
	x, ok := v.bindingSets.Load(key)
	if !ok {
		x = v.expand(b.valueSet, from)
		v.bindingSets.Store(key, x)
	}
	exp := x.(*expansion)
	b.expanded.CompareAndSwap(nil, &bindingExpanded{from, exp})
	return exp
}

type bindingKey struct {
	binding *binding
	from    *fhirpkg.Package
}

func (v *Validator) expandDepth(url string, from *fhirpkg.Package, depth int) *expansion {
	res := v.resolve(url, from)
	if res == nil || res.ResourceType != "ValueSet" {
		if cs := v.codeSystemForValueSet(url); cs != nil {
			x, _ := cached(&v.expansion, cs, func() (*expansion, error) {
				x := newExpansion()
				cs.addAll(x, cs.url)
				return x.seal(), nil
			})
			return x
		}
		return nil
	}
	x, _ := cached(&v.expansion, res, func() (*expansion, error) {
		return v.buildExpansion(res, depth).seal(), nil
	})
	return x
}

func newExpansion() *expansion {
	return &expansion{codes: map[string]map[string]bool{}, open: map[string]bool{}}
}

func (v *Validator) buildExpansion(res *fhirpkg.Resource, depth int) *expansion {
	x := newExpansion()
	var vs rawValueSet
	if depth > 8 || json.Unmarshal(res.JSON, &vs) != nil {
		x.openAll = true
		return x
	}
	switch {
	case vs.Compose != nil:
		for _, inc := range vs.Compose.Include {
			v.include(x, inc, res.Package(), depth)
		}
		for _, exc := range vs.Compose.Exclude {
			v.exclude(x, exc, res.Package(), depth)
		}
	case vs.Expansion != nil:
		addContains(x, vs.Expansion.Contains)
		if vs.Expansion.Total != nil && *vs.Expansion.Total > x.size() {
			x.openAll = true
		}
	default:
		x.openAll = true
	}
	if x.size() > maxExpansion {
		x = newExpansion()
		x.openAll = true
	}
	return x
}

func addContains(x *expansion, list []rawContains) {
	for _, c := range list {
		if c.Code != "" {
			x.add(c.System, c.Code)
		}
		addContains(x, c.Contains)
	}
}

// include adds the codes of one compose.include.
func (v *Validator) include(x *expansion, inc rawInclude, from *fhirpkg.Package, depth int) {
	part := v.includePart(inc, from, depth)
	for sys, codes := range part.codes {
		for c := range codes {
			x.add(sys, c)
		}
	}
	for sys := range part.open {
		x.open[sys] = true
	}
	x.openAll = x.openAll || part.openAll
}

// exclude removes the codes of one compose.exclude. Codes of open systems
// stay unknown either way.
func (v *Validator) exclude(x *expansion, exc rawInclude, from *fhirpkg.Package, depth int) {
	part := v.includePart(exc, from, depth)
	for sys, codes := range part.codes {
		for c := range codes {
			delete(x.codes[sys], c)
		}
	}
}

// includePart expands one include (or exclude) on its own: the system's
// codes (all, listed or filtered) intersected with any value sets named.
func (v *Validator) includePart(inc rawInclude, from *fhirpkg.Package, depth int) *expansion {
	x := newExpansion()
	if inc.System != "" {
		v.systemPart(x, inc, from)
	}
	for i, url := range inc.ValueSet {
		sub := v.expandDepth(url, from, depth+1)
		if sub == nil {
			x.openAll = true
			continue
		}
		if i == 0 && inc.System == "" {
			*x = *copyExpansion(sub)
			continue
		}
		intersect(x, sub)
	}
	return x
}

func (v *Validator) systemPart(x *expansion, inc rawInclude, from *fhirpkg.Package) {
	if len(inc.Concept) > 0 && len(inc.Filter) == 0 {
		for _, c := range inc.Concept {
			x.add(inc.System, c.Code)
		}
		return
	}
	cs := v.codeSystem(inc.System, from)
	if cs == nil || !cs.complete {
		x.open[inc.System] = true
		return
	}
	if len(inc.Filter) == 0 {
		cs.addAll(x, inc.System)
		return
	}
	codes, ok := cs.filter(inc.Filter)
	if !ok {
		x.open[inc.System] = true
		return
	}
	for c := range codes {
		x.add(inc.System, c)
	}
}

func copyExpansion(x *expansion) *expansion {
	out := newExpansion()
	for s, codes := range x.codes {
		for c := range codes {
			out.add(s, c)
		}
	}
	for s := range x.open {
		out.open[s] = true
	}
	out.openAll = x.openAll
	return out
}

// intersect keeps in x the codes also in y.
func intersect(x, y *expansion) {
	for sys, codes := range x.codes {
		for c := range codes {
			if in, known := y.contains(sys, c); known && !in {
				delete(codes, c)
			}
		}
	}
}

// codeSystemForValueSet finds a code system whose "all codes" value set
// (CodeSystem.valueSet) is url, for value sets not published separately.
func (v *Validator) codeSystemForValueSet(url string) *codeSystem {
	base, _, _ := strings.Cut(url, "|")
	res := v.valueSetIndex()[base]
	if res == nil {
		return nil
	}
	return v.codeSystem(res.URL, res.Package())
}
