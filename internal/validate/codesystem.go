package validate

import (
	"encoding/json"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
)

// codeSystem is a CodeSystem compiled for membership tests.
type codeSystem struct {
	url      string
	complete bool // content "complete": every code is listed
	concepts map[string]*csConcept
}

type csConcept struct {
	children []string
	props    map[string][]string // property code to values, as text
}

type rawCodeSystem struct {
	URL     string       `json:"url"`
	Content string       `json:"content"`
	Concept []rawConcept `json:"concept"`
}

type rawConcept struct {
	Code     string       `json:"code"`
	Concept  []rawConcept `json:"concept"`
	Property []struct {
		Code         string `json:"code"`
		ValueCode    string `json:"valueCode"`
		ValueString  string `json:"valueString"`
		ValueBoolean *bool  `json:"valueBoolean"`
	} `json:"property"`
}

// codeSystem returns the compiled CodeSystem with a canonical URL, or nil.
func (v *Validator) codeSystem(url string, from *fhirpkg.Package) *codeSystem {
	res := v.resolve(url, from)
	if res == nil || res.ResourceType != "CodeSystem" {
		return nil
	}
	return v.compiledCodeSystem(res)
}

// compiledCodeSystem compiles a CodeSystem resource once.
func (v *Validator) compiledCodeSystem(res *fhirpkg.Resource) *codeSystem {
	cs, _ := cached(&v.codeSystems, res, func() (*codeSystem, error) { return compileCodeSystem(res), nil })
	return cs
}

func compileCodeSystem(res *fhirpkg.Resource) *codeSystem {
	var raw rawCodeSystem
	if err := json.Unmarshal(res.JSON, &raw); err != nil {
		return &codeSystem{url: res.URL}
	}
	cs := &codeSystem{url: raw.URL, complete: raw.Content == "complete", concepts: map[string]*csConcept{}}
	cs.addConcepts(raw.Concept, "")
	// Flat code systems give the hierarchy as a "parent" property.
	for code, c := range cs.concepts {
		for _, p := range c.props["parent"] {
			if parent := cs.concepts[p]; parent != nil {
				parent.children = append(parent.children, code)
			}
		}
	}
	return cs
}

func (cs *codeSystem) addConcepts(list []rawConcept, parent string) {
	for _, rc := range list {
		c := cs.concepts[rc.Code]
		if c == nil {
			c = &csConcept{props: map[string][]string{}}
			cs.concepts[rc.Code] = c
		}
		for _, p := range rc.Property {
			val := p.ValueCode + p.ValueString
			if p.ValueBoolean != nil {
				val = map[bool]string{true: "true", false: "false"}[*p.ValueBoolean]
			}
			c.props[p.Code] = append(c.props[p.Code], val)
		}
		if parent != "" {
			cs.concepts[parent].children = append(cs.concepts[parent].children, rc.Code)
		}
		cs.addConcepts(rc.Concept, rc.Code)
	}
}

func (cs *codeSystem) has(code string) bool { return cs.concepts[code] != nil }

func (cs *codeSystem) addAll(x *expansion, system string) {
	for code := range cs.concepts {
		x.add(system, code)
	}
}

// descendants returns code's descendants, and code itself when self is set.
func (cs *codeSystem) descendants(code string, self bool) map[string]bool {
	out := map[string]bool{}
	if cs.concepts[code] == nil {
		return out
	}
	stack := append([]string(nil), cs.concepts[code].children...)
	if self {
		out[code] = true
	}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if out[c] {
			continue
		}
		out[c] = true
		if cc := cs.concepts[c]; cc != nil {
			stack = append(stack, cc.children...)
		}
	}
	return out
}

// filter applies compose.include.filter entries, all of which must hold.
// ok is false when a filter uses an operator this expander does not
// implement.
func (cs *codeSystem) filter(filters []rawFilter) (map[string]bool, bool) {
	var result map[string]bool
	for _, f := range filters {
		part, ok := cs.filterOne(f)
		if !ok {
			return nil, false
		}
		if result == nil {
			result = part
			continue
		}
		for c := range result {
			if !part[c] {
				delete(result, c)
			}
		}
	}
	return result, true
}

func (cs *codeSystem) filterOne(f rawFilter) (map[string]bool, bool) {
	if f.Property == "concept" || f.Property == "code" {
		switch f.Op {
		case "is-a":
			return cs.descendants(f.Value, true), true
		case "descendent-of":
			return cs.descendants(f.Value, false), true
		case "is-not-a":
			not := cs.descendants(f.Value, true)
			out := map[string]bool{}
			for c := range cs.concepts {
				if !not[c] {
					out[c] = true
				}
			}
			return out, true
		case "in", "=":
			out := map[string]bool{}
			for _, c := range strings.Split(f.Value, ",") {
				if cs.has(c) {
					out[c] = true
				}
			}
			return out, true
		}
		return nil, false
	}
	if f.Op != "=" {
		return nil, false
	}
	out := map[string]bool{}
	for code, c := range cs.concepts {
		for _, val := range c.props[f.Property] {
			if val == f.Value {
				out[code] = true
			}
		}
	}
	return out, true
}

// valueSetIndex maps CodeSystem.valueSet ("all codes" value sets) to their
// code systems, built once per validator.
func (v *Validator) valueSetIndex() map[string]*fhirpkg.Resource {
	v.vsIndexOnce.Do(func() {
		v.vsIndex = map[string]*fhirpkg.Resource{}
		for _, res := range v.set.All("CodeSystem") {
			var head struct {
				ValueSet string `json:"valueSet"`
			}
			if json.Unmarshal(res.JSON, &head) == nil && head.ValueSet != "" {
				v.vsIndex[head.ValueSet] = res
			}
		}
	})
	return v.vsIndex
}
