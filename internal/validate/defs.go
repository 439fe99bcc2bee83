package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
)

// structure is a StructureDefinition compiled for validation: its snapshot
// as a tree of element definitions.
type structure struct {
	url, version, name string
	// canonical is the URL followed by "|version" when there is a version.
	// It is built once because every issue that names the definition prints it.
	canonical  string
	typ        string // the type constrained or defined (StructureDefinition.type)
	kind       string // primitive-type, complex-type, resource, logical
	abstract   bool
	derivation string // specialization or constraint
	base       string
	pkg        *fhirpkg.Package
	root       *elemDef
	byID       map[string]*elemDef
}

// label names the structure in messages: its canonical URL and version.
func (s *structure) label() string {
	return s.canonical
}

// canonicalOf returns a canonical URL with its version, if it has one.
func canonicalOf(url, version string) string {
	if version == "" {
		return url
	}
	return url + "|" + version
}

// isCore reports whether s is a base definition of the FHIR specification
// rather than a profile.
func (s *structure) isCore() bool { return s.derivation != "constraint" }

// elemDef is one ElementDefinition of a snapshot.
type elemDef struct {
	id, path    string
	name        string // last path segment, "value" for "value[x]"
	choice      bool   // the path ends in "[x]"
	systemType  bool   // typed with a FHIRPath system type: no "_" form in JSON
	sliceName   string
	min         int
	max         int // unbounded is -1
	baseMax     int // max of the base definition: whether JSON uses an array
	types       []typeRef
	contentRef  string
	fixed       *jnode
	pattern     *jnode
	binding     *binding
	constraints []*constraint
	slicing     *slicing
	maxLength   int
	isModifier  bool
	regex       string            // the regex extension on a primitive's value element
	format      func(string) bool // the Go form of regex, when nativeFormats has one
	minValue    *valueLimit
	maxValue    *valueLimit
	children    []*elemDef
	slices      []*elemDef
	owner       *structure
	plan        atomic.Pointer[elemPlan]              // see planOf
	memberIndex atomic.Pointer[map[string]childMatch] // see matchChild
	modelIndex  atomic.Pointer[modelMatches]          // see modelMatches
	required    atomic.Pointer[[]int]                 // see requiredChildren
}

// requiredSomewhere reports whether the element or one of its slices has
// a minimum cardinality, the only rule an absent element can break.
func (e *elemDef) requiredSomewhere() bool {
	if e.min > 0 {
		return true
	}
	for _, s := range e.slices {
		if s.min > 0 {
			return true
		}
	}
	return false
}

type typeRef struct {
	code           string
	profiles       []string
	targetProfiles []string
	resource       bool         // code is Resource or a concrete resource type
	profileRoot    *profileRoot // nil when profiles is empty or the entry is transient
	resolved       *typeLookups // nil when the entry is transient
}

// typeLookups caches, for a type entry of a compiled definition, the
// definitions the walk looks up by name for every value of the type. They
// depend on the entry and its definition's package only, never on the
// instance, and a lookup by URL or type name hashes the string each time.
type typeLookups struct {
	core     atomic.Pointer[structure]         // core definition of code; see run.coreStructure
	valueDef atomic.Pointer[elemDef]           // value element of a primitive code; see run.valueDefOf
	targets  atomic.Pointer[[]resolvedProfile] // targetProfiles resolved; see run.targetStructures
}

// resolvedProfile is the result of structureAt for one canonical URL.
type resolvedProfile struct {
	s   *structure
	err error
}

// newTypeRef builds a type entry with the facts the walk tests on every
// value worked out once.
func newTypeRef(code string, profiles, targetProfiles []string, cacheProfile bool) typeRef {
	t := typeRef{code: code, profiles: profiles, targetProfiles: targetProfiles, resource: code == "Resource" || resourceTypeNames[code]}
	if cacheProfile && len(profiles) > 0 {
		t.profileRoot = &profileRoot{}
	}
	if cacheProfile {
		t.resolved = &typeLookups{}
	}
	return t
}

type binding struct {
	strength string
	valueSet string
	// expanded caches Validator.bindingExpansion for the first package
	// the binding is expanded from, which is its definition's package.
	// A coded value then reads a pointer instead of a sync.Map entry.
	expanded atomic.Pointer[bindingExpanded]
}

// bindingExpanded is the expansion of a binding's value set as seen from
// one package. exp is nil when the value set is not loaded.
type bindingExpanded struct {
	from *fhirpkg.Package
	exp  *expansion
}

type constraint struct {
	key, severity, human, expr string
	id                         uint32                             // the same for copies of one constraint (constraintID)
	absent                     atomic.Pointer[absentPlan]         // see absentPlan
	compiledExpr               atomic.Pointer[compiledConstraint] // see compiled
	lastAbsent                 atomic.Pointer[absentEntry]        // see run.invariant
	memberBits                 atomic.Pointer[memberBits]         // see memberBitsFor
}

type slicing struct {
	discriminators []discriminator
	rules          string // closed, open, openAtEnd
	ordered        bool
}

type discriminator struct {
	typ, path string
	steps     []string // path split into steps (splitPath), once per definition
}

// rawStructure is the JSON form of the parts of a StructureDefinition the
// validator reads.
type rawStructure struct {
	URL            string `json:"url"`
	Version        string `json:"version"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	Kind           string `json:"kind"`
	Abstract       bool   `json:"abstract"`
	Derivation     string `json:"derivation"`
	BaseDefinition string `json:"baseDefinition"`
	Snapshot       struct {
		Element []json.RawMessage `json:"element"`
	} `json:"snapshot"`
}

type rawElement struct {
	ID        string `json:"id"`
	Path      string `json:"path"`
	SliceName string `json:"sliceName"`
	Min       int    `json:"min"`
	Max       string `json:"max"`
	Base      struct {
		Max string `json:"max"`
	} `json:"base"`
	Type []struct {
		Code          string         `json:"code"`
		Profile       []string       `json:"profile"`
		TargetProfile []string       `json:"targetProfile"`
		Extension     []rawExtension `json:"extension"`
	} `json:"type"`
	ContentReference string         `json:"contentReference"`
	MaxLength        int            `json:"maxLength"`
	IsModifier       bool           `json:"isModifier"`
	Extension        []rawExtension `json:"extension"`
	Binding          *struct {
		Strength string `json:"strength"`
		ValueSet string `json:"valueSet"`
	} `json:"binding"`
	Constraint []struct {
		Key        string `json:"key"`
		Severity   string `json:"severity"`
		Human      string `json:"human"`
		Expression string `json:"expression"`
	} `json:"constraint"`
	Slicing *struct {
		Discriminator []struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"discriminator"`
		Rules   string `json:"rules"`
		Ordered bool   `json:"ordered"`
	} `json:"slicing"`
}

type rawExtension struct {
	URL         string `json:"url"`
	ValueString string `json:"valueString"`
	ValueURL    string `json:"valueUrl"`
}

const regexExtension = "http://hl7.org/fhir/StructureDefinition/regex"

// compileStructure builds the element tree of a StructureDefinition.
func compileStructure(r *fhirpkg.Resource) (*structure, error) {
	var raw rawStructure
	if err := json.Unmarshal(r.JSON, &raw); err != nil {
		return nil, fmt.Errorf("validate: StructureDefinition %s: %w", r.URL, err)
	}
	if len(raw.Snapshot.Element) == 0 {
		return nil, fmt.Errorf("validate: StructureDefinition %s has no snapshot", r.URL)
	}
	return buildStructure(&raw, r)
}

// buildStructure builds the element tree from the snapshot elements in
// raw, which may have been generated rather than read from r.
func buildStructure(raw *rawStructure, r *fhirpkg.Resource) (*structure, error) {
	s := &structure{
		url: raw.URL, version: raw.Version, canonical: canonicalOf(raw.URL, raw.Version),
		name: raw.Name, typ: raw.Type, kind: raw.Kind,
		abstract: raw.Abstract, derivation: raw.Derivation, base: raw.BaseDefinition,
		pkg: r.Package(), byID: map[string]*elemDef{},
	}
	for i, msg := range raw.Snapshot.Element {
		e, err := compileElement(msg)
		if err != nil {
			return nil, fmt.Errorf("validate: StructureDefinition %s: element %d: %w", r.URL, i, err)
		}
		e.owner = s
		if err := s.attach(e, i == 0); err != nil {
			return nil, fmt.Errorf("validate: StructureDefinition %s: %w", r.URL, err)
		}
	}
	return s, nil
}

// attach places e in the tree: under its parent element, or as a slice of
// the element it slices.
func (s *structure) attach(e *elemDef, first bool) error {
	if first {
		s.root = e
		s.byID[e.id] = e
		return nil
	}
	parentID, segment := splitID(e.id, e.path)
	parent := s.byID[parentID]
	if parent == nil {
		return fmt.Errorf("element %q comes before its parent", e.id)
	}
	s.byID[e.id] = e
	base, slice, isSlice := strings.Cut(segment, ":")
	if !isSlice {
		parent.children = append(parent.children, e)
		return nil
	}
	sliced := parent.child(base)
	if i := strings.LastIndex(slice, "/"); i >= 0 {
		// A re-slice "a/b" slices the slice "a".
		sliced = s.byID[parentID+"."+base+":"+slice[:i]]
	}
	if sliced == nil {
		return fmt.Errorf("slice %q has no sliced element", e.id)
	}
	sliced.slices = append(sliced.slices, e)
	return nil
}

// splitID returns the id of the parent element and the last segment of an
// element id ("extension:race" in "Patient.extension:race"). The last
// segment starts where the last path segment's name does. Ids of renamed
// choice elements ("Observation.value[x]:valueQuantity" with the path
// "Observation.valueQuantity") split at the last dot before the slice name.
func splitID(id, path string) (parent, segment string) {
	last := path[strings.LastIndex(path, ".")+1:]
	for i := len(id) - len(last) - 1; i >= 0; i-- {
		if id[i] != '.' || !strings.HasPrefix(id[i+1:], last) {
			continue
		}
		rest := id[i+1+len(last):]
		if rest == "" || rest[0] == ':' {
			return id[:i], id[i+1:]
		}
	}
	end := len(id)
	if c := strings.LastIndex(id, ":"); c >= 0 {
		end = c
	}
	dot := strings.LastIndex(id[:end], ".")
	if dot < 0 {
		return "", id
	}
	return id[:dot], id[dot+1:]
}

// child returns the direct child element (not a slice) whose name is the
// given path segment, such as "value[x]" or "extension".
func (e *elemDef) child(segment string) *elemDef {
	for _, c := range e.children {
		if c.path[strings.LastIndex(c.path, ".")+1:] == segment {
			return c
		}
	}
	return nil
}

func compileElement(msg json.RawMessage) (*elemDef, error) {
	var raw rawElement
	if err := json.Unmarshal(msg, &raw); err != nil {
		return nil, err
	}
	e := &elemDef{
		id: raw.ID, path: raw.Path, sliceName: raw.SliceName, min: raw.Min,
		max: parseMax(raw.Max), baseMax: parseMax(raw.Base.Max),
		contentRef: raw.ContentReference, maxLength: raw.MaxLength, isModifier: raw.IsModifier,
	}
	if e.id == "" {
		e.id = e.path
	}
	if raw.Base.Max == "" {
		e.baseMax = e.max
	}
	e.name = e.path[strings.LastIndex(e.path, ".")+1:]
	if n, ok := strings.CutSuffix(e.name, "[x]"); ok {
		e.name, e.choice = n, true
	}
	for _, t := range raw.Type {
		e.systemType = e.systemType || strings.HasPrefix(t.Code, "http://hl7.org/fhirpath/System.")
		e.types = append(e.types, newTypeRef(fhirTypeCode(t.Code, t.Extension), t.Profile, t.TargetProfile, true))
		for _, x := range t.Extension {
			if x.URL == regexExtension {
				e.regex = x.ValueString
			}
		}
	}
	for _, x := range raw.Extension {
		if x.URL == regexExtension {
			e.regex = x.ValueString
		}
	}
	e.format = nativeFormats[e.regex]
	if raw.Binding != nil && raw.Binding.ValueSet != "" {
		e.binding = &binding{strength: raw.Binding.Strength, valueSet: raw.Binding.ValueSet}
	}
	for _, c := range raw.Constraint {
		// Every element carries ele-1, which the walk checks in Go. Keeping
		// only the constraints FHIRPath evaluates spares the walk a load of
		// each skipped one on every value.
		if nativeConstraints[c.Key] || c.Expression == "" {
			continue
		}
		e.constraints = append(e.constraints, &constraint{
			key: c.Key, severity: c.Severity, human: c.Human, expr: c.Expression,
			id: constraintID(c.Key, c.Expression),
		})
	}
	if raw.Slicing != nil {
		e.slicing = &slicing{rules: raw.Slicing.Rules, ordered: raw.Slicing.Ordered}
		for _, d := range raw.Slicing.Discriminator {
			e.slicing.discriminators = append(e.slicing.discriminators, discriminator{typ: d.Type, path: d.Path, steps: splitPath(d.Path)})
		}
	}
	values, err := readValueMembers(msg)
	if err != nil {
		return nil, err
	}
	e.fixed, e.pattern, e.minValue, e.maxValue = values.fixed, values.pattern, values.minValue, values.maxValue
	return e, nil
}

// fhirTypeCode maps the FHIRPath system type codes of primitive value
// elements and of Resource.id to the FHIR type the
// structuredefinition-fhir-type extension names.
func fhirTypeCode(code string, exts []rawExtension) string {
	if !strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
		return code
	}
	for _, x := range exts {
		if x.URL == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type" && x.ValueURL != "" {
			return x.ValueURL
		}
	}
	return code
}

func parseMax(s string) int {
	if s == "*" {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// valueMembers are the members of an element definition that give a value
// of the element's type, each named by a prefix and the type ("fixedUri",
// "patternCodeableConcept", "minValueDate").
type valueMembers struct {
	fixed, pattern     *jnode
	minValue, maxValue *valueLimit
}

// definitionValueSlab is the number of nodes allocated at first for each
// fixed[x], pattern[x], minValue[x] or maxValue[x] value of a definition.
// A larger value takes further nodes 128 at a time.
const definitionValueSlab = 8

// readValueMembers finds the fixed[x], pattern[x], minValue[x] and
// maxValue[x] members of an element definition in one pass.
func readValueMembers(msg json.RawMessage) (valueMembers, error) {
	var out valueMembers
	dec := jsontext.NewDecoder(bytes.NewReader(msg))
	if _, err := dec.ReadToken(); err != nil {
		return out, err
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return out, err
		}
		key := name.String()
		isFixed := strings.HasPrefix(key, "fixed") && len(key) > len("fixed")
		isPattern := strings.HasPrefix(key, "pattern") && len(key) > len("pattern")
		isMin := strings.HasPrefix(key, "minValue") && len(key) > len("minValue")
		isMax := strings.HasPrefix(key, "maxValue") && len(key) > len("maxValue")
		if !isFixed && !isPattern && !isMin && !isMax {
			if err := dec.SkipValue(); err != nil {
				return out, err
			}
			continue
		}

		// A limit is a scalar or a Quantity, so it gets a smaller node budget.
		maxNodes := 1 << 20
		if isMin || isMax {
			maxNodes = 1 << 10
		}
		// The value lives as long as the definition, so its nodes come
		// from a small slab. Most values are a code, a URI or a
		// CodeableConcept of a few nodes, and the parser's default slab of
		// 128 nodes would keep 10 KB per value in the scanned heap.
		p := &treeParser{dec: dec, lim: Limits{MaxNodes: maxNodes, MaxArrayItems: maxNodes}, slab: make([]jnode, definitionValueSlab)}
		v, err := p.value()
		switch {
		case err != nil && (isMin || isMax):
			return out, fmt.Errorf("%s: %w", key, err)
		case err != nil:
			return out, err
		case isFixed:
			out.fixed = v
		case isPattern:
			out.pattern = v
		case isMin:
			out.minValue = &valueLimit{typ: key[len("minValue"):], val: v}
		default:
			out.maxValue = &valueLimit{typ: key[len("maxValue"):], val: v}
		}
	}
	return out, nil
}
