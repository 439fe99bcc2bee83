// Package fhirmodel is the FHIR R4 (4.0.1) type model: every primitive type,
// data type and resource of the core specification with its base type and
// elements (name, types, cardinality, choice). Backbone elements are types of
// their own, named by their element path ("Patient.contact").
//
// The model is generated from the StructureDefinitions of the core package
// hl7.fhir.r4.core 4.0.1 by the program in gen and embedded as r4.json.gz,
// so nothing is read from disk at run time. Profiles (constrained
// StructureDefinitions) and logical models are not part of it.
package fhirmodel

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

//go:generate go run ./gen -o r4.json.gz

// Kind classifies a type.
type Kind uint8

// The kinds of type in the model.
const (
	KindPrimitive Kind = iota + 1 // boolean, string, date, ...
	KindComplex                   // data types: HumanName, Quantity, Element, ...
	KindResource                  // Resource, DomainResource, Patient, ...
	KindBackbone                  // anonymous element types inside a definition, named by path
)

func (k Kind) String() string {
	switch k {
	case KindPrimitive:
		return "primitive"
	case KindComplex:
		return "complex"
	case KindResource:
		return "resource"
	case KindBackbone:
		return "backbone"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Unbounded is the Max of an element whose cardinality upper bound is "*".
const Unbounded = -1

// Element is one element (property) of a type.
type Element struct {
	Name   string   `json:"n"` // JSON property name, without "[x]" for choice elements
	Types  []string `json:"t"` // type names; a backbone or content reference names a backbone type
	Min    int      `json:"min,omitempty"`
	Max    int      `json:"max"`         // Unbounded for "*"
	Choice bool     `json:"c,omitempty"` // the definition path ends in "[x]"
}

// Repeats reports whether the element may occur more than once, which in
// JSON means it is an array.
func (e *Element) Repeats() bool { return e.Max == Unbounded || e.Max > 1 }

// Type is one type of the model.
type Type struct {
	Name     string     `json:"name"`
	Base     string     `json:"base,omitempty"` // "" only for Element and Resource
	Kind     Kind       `json:"kind"`
	Abstract bool       `json:"abstract,omitempty"`
	System   string     `json:"system,omitempty"` // primitives: the FHIRPath System type of the value
	Elements []*Element `json:"elements,omitempty"`

	base        *Type
	byName      map[string]*Element
	choice      map[string]choiceVariant
	members     map[string]member // see Member
	memberNames []string          // JSON names by member index, sorted
}

// member is the element and value type a JSON property name resolves to.
type member struct {
	name  string // the element's name
	typ   *Type  // nil when the model has no such type
	index int    // position of the JSON name in memberNames
}

type choiceVariant struct {
	elem *Element
	typ  string
}

// BaseType returns the type this one derives from, or nil at the root.
func (t *Type) BaseType() *Type { return t.base }

// Element returns the element with the given JSON name ("value[x]" is found
// as "value"), or nil.
func (t *Type) Element(name string) *Element { return t.byName[name] }

// ChoiceElement resolves a JSON property name such as "valueQuantity" to the
// choice element it belongs to and the type name it selects ("Quantity").
func (t *Type) ChoiceElement(jsonName string) (*Element, string, bool) {
	v, ok := t.choice[jsonName]
	return v.elem, v.typ, ok
}

// Member resolves a JSON property name in one lookup to the name of the
// element it belongs to and the type of its value: "gender" to "gender"
// and code, "valueQuantity" to "value" and Quantity. typ is nil when the
// model lacks the type, and ok is false for a name that is neither an
// element (other than a choice element's own name) nor a choice variant.
func (t *Type) Member(jsonName string) (name string, typ *Type, ok bool) {
	m, ok := t.members[jsonName]
	return m.name, m.typ, ok
}

// MemberIndex is Member that also returns the member's index, from 0 to
// MemberCount()-1, or -1 when ok would be false. The index numbers the
// JSON names of t, so that a caller can keep what it derives from a name
// in a slice instead of looking the name up again.
func (t *Type) MemberIndex(jsonName string) (name string, typ *Type, index int) {
	m, ok := t.members[jsonName]
	if !ok {
		return "", nil, -1
	}
	return m.name, m.typ, m.index
}

// MemberCount returns the number of JSON names that Member resolves for t.
func (t *Type) MemberCount() int { return len(t.memberNames) }

// MemberName returns the JSON name of member index i of t.
func (t *Type) MemberName(i int) string { return t.memberNames[i] }

// IsA reports whether t is the type named name or derives from it.
func (t *Type) IsA(name string) bool {
	for x := t; x != nil; x = x.base {
		if x.Name == name {
			return true
		}
	}
	return false
}

// Model is a set of types with their lookups.
type Model struct {
	types map[string]*Type
	names []string
}

// Type returns the named type, or nil. Backbone types are named by path.
func (m *Model) Type(name string) *Type { return m.types[name] }

// Names returns every type name in the model, sorted.
func (m *Model) Names() []string { return append([]string(nil), m.names...) }

//go:embed r4.json.gz
var r4Data []byte

var (
	r4Once  sync.Once
	r4Model *Model
	r4Err   error
)

// R4 returns the FHIR R4 model. It is decoded on first use and shared.
// It panics if the embedded data is damaged, which a test prevents.
func R4() *Model {
	r4Once.Do(func() { r4Model, r4Err = Decode(r4Data) })
	if r4Err != nil {
		panic(r4Err)
	}
	return r4Model
}

// File is the serialized form of a model, as written by gen.
type File struct {
	FHIRVersion string  `json:"fhirVersion"`
	Types       []*Type `json:"types"`
}

// Decode reads a gzip-compressed File and links its types.
func Decode(data []byte) (*Model, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("fhirmodel: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("fhirmodel: %w", err)
	}
	var f File
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("fhirmodel: %w", err)
	}
	return Link(f.Types)
}

// Link builds a model from types, resolving base types and element indexes.
func Link(types []*Type) (*Model, error) {
	m := &Model{types: make(map[string]*Type, len(types))}
	for _, t := range types {
		if _, dup := m.types[t.Name]; dup {
			return nil, fmt.Errorf("fhirmodel: duplicate type %q", t.Name)
		}
		m.types[t.Name] = t
		m.names = append(m.names, t.Name)
	}
	for _, t := range types {
		if t.Base != "" {
			t.base = m.types[t.Base]
			if t.base == nil {
				return nil, fmt.Errorf("fhirmodel: type %q has unknown base %q", t.Name, t.Base)
			}
		}
		t.byName = make(map[string]*Element, len(t.Elements))
		for _, e := range t.Elements {
			t.byName[e.Name] = e
			if !e.Choice {
				continue
			}
			if t.choice == nil {
				t.choice = make(map[string]choiceVariant)
			}
			for _, typ := range e.Types {
				t.choice[e.Name+upperFirst(typ)] = choiceVariant{elem: e, typ: typ}
			}
		}
		t.members, t.memberNames = m.memberIndex(t)
	}
	slices.Sort(m.names)
	return m, nil
}

// memberIndex returns the index Member reads and the JSON names it
// numbers, sorted. An element's own name takes precedence over a choice
// variant of the same spelling.
func (m *Model) memberIndex(t *Type) (map[string]member, []string) {
	out := make(map[string]member, len(t.Elements)+len(t.choice))
	for jsonName, v := range t.choice {
		out[jsonName] = member{name: v.elem.Name, typ: m.types[v.typ]}
	}
	for _, e := range t.Elements {
		if !e.Choice && len(e.Types) > 0 {
			out[e.Name] = member{name: e.Name, typ: m.types[e.Types[0]]}
		}
	}
	names := slices.Sorted(maps.Keys(out))
	for i, name := range names {
		mem := out[name]
		mem.index = i
		out[name] = mem
	}
	return out, names
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
