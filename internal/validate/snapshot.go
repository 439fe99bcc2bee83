package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
)

// Snapshot generation. A StructureDefinition published with only a
// differential is compiled from a snapshot generated here: the base
// definition's snapshot (itself generated when it has none), with each
// differential element applied in order.
//
//   - An element the base snapshot lacks is added. A slice copies the
//     sliced element and its children. A child of a complex type is added
//     by expanding the type's definition (or the contentReference) under
//     its parent. "valueQuantity" names value[x] restricted to Quantity.
//   - The differential's members replace the base's, except constraints
//     and extensions, which are added to the inherited ones, and fixed[x]
//     and pattern[x], which replace any inherited fixed or pattern value.
//
// Inconsistencies in the differential (an id that does not match its path,
// an element the base does not have, a fixed value that differs from the
// base's, cardinality wider than the base's) are collected as problems.
// A profile with problems is still used, as far as its snapshot goes, and
// a StructureDefinition validated as a resource reports them as errors.

// maxBaseDepth caps the chain of bases generated for one definition, and
// stops definitions that derive from themselves.
const maxBaseDepth = 16

// maxDifferentialElements and maxSnapshotElements cap the work one
// generation may do. Element lookups are linear, so an unbounded
// differential given as input would make generation quadratic.
// NOTE: the caps are estimates. The largest differential in the FHIR
// validator test suite has 82 elements, and no snapshot there has more
// than 3,000.
const (
	maxDifferentialElements = 1_500
	maxSnapshotElements     = 6_000
)

// snapshotElement is one element of a snapshot being generated.
type snapshotElement struct {
	id string
	m  map[string]any
	// expandedReference is set when the element's contentReference was
	// replaced by the children it names.
	expandedReference bool
}

// snapshotGen is the state of one snapshot generation.
type snapshotGen struct {
	v        *Validator
	url      string
	elems    []*snapshotElement
	original map[string]map[string]any // the base snapshot's elements by id, unchanged
	aliases  map[string]string         // renamed choice id ("X.valueQuantity") to the element's id ("X.value[x]")
	problems []string
	overflow bool // an insertion would have passed maxSnapshotElements
}

// compileWithSnapshot compiles a StructureDefinition, generating its
// snapshot when it has only a differential.
func (v *Validator) compileWithSnapshot(res *fhirpkg.Resource) (*structure, error) {
	var raw rawStructure
	if err := json.Unmarshal(res.JSON, &raw); err != nil || len(raw.Snapshot.Element) > 0 {
		return compileStructure(res)
	}
	elems, _, err := v.generateSnapshot(res.JSON, res.Package(), 0)
	if err != nil {
		return nil, fmt.Errorf("validate: StructureDefinition %s: %w", res.URL, err)
	}
	raw.Snapshot.Element = elems
	return buildStructure(&raw, res)
}

// generateSnapshot returns the snapshot elements of the StructureDefinition
// sd, generated from its differential, and the problems found in the
// differential. from is the package sd belongs to (nil for an instance).
func (v *Validator) generateSnapshot(sd []byte, from *fhirpkg.Package, depth int) ([]json.RawMessage, []string, error) {
	var head struct {
		URL            string `json:"url"`
		BaseDefinition string `json:"baseDefinition"`
		Differential   struct {
			Element []json.RawMessage `json:"element"`
		} `json:"differential"`
	}
	if err := json.Unmarshal(sd, &head); err != nil {
		return nil, nil, err
	}

	if len(head.Differential.Element) > maxDifferentialElements {
		return nil, nil, fmt.Errorf("its differential has more than %d elements", maxDifferentialElements)
	}
	if head.BaseDefinition == "" {
		return nil, nil, fmt.Errorf("it has neither a snapshot nor a baseDefinition")
	}
	base, err := v.baseSnapshot(head.BaseDefinition, head.URL, from, depth)
	if err != nil {
		return nil, nil, err
	}

	g := &snapshotGen{v: v, url: head.URL, original: map[string]map[string]any{}, aliases: map[string]string{}}
	for _, raw := range base {
		m, err := decodeElement(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("base %s: %w", head.BaseDefinition, err)
		}
		e := &snapshotElement{id: elementID(m), m: m}
		g.elems = append(g.elems, e)
		g.original[e.id] = cloneElement(m)
	}

	for i, raw := range head.Differential.Element {
		d, err := decodeElement(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("differential element %d: %w", i, err)
		}
		g.apply(d)
	}

	if g.overflow {
		return nil, nil, fmt.Errorf("its snapshot would have more than %d elements", maxSnapshotElements)
	}
	out, err := g.encode()
	return out, g.problems, err
}

// baseSnapshot returns the snapshot elements of the base definition.
func (v *Validator) baseSnapshot(url, derived string, from *fhirpkg.Package, depth int) ([]json.RawMessage, error) {
	if depth >= maxBaseDepth {
		return nil, fmt.Errorf("its chain of base definitions is longer than %d or loops back to itself", maxBaseDepth)
	}
	res := v.resolve(url, from)
	if res == nil || res.ResourceType != "StructureDefinition" {
		return nil, fmt.Errorf("base definition %s not found", url)
	}
	if res.URL == derived {
		return nil, fmt.Errorf("it names itself as its base definition")
	}
	var raw rawStructure
	if err := json.Unmarshal(res.JSON, &raw); err != nil {
		return nil, fmt.Errorf("base %s: %w", url, err)
	}
	if len(raw.Snapshot.Element) > 0 {
		return raw.Snapshot.Element, nil
	}
	elems, _, err := v.generateSnapshot(res.JSON, res.Package(), depth+1)
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", url, err)
	}
	return elems, nil
}

// apply applies one differential element.
func (g *snapshotGen) apply(d map[string]any) {
	path, _ := d["path"].(string)
	id, _ := d["id"].(string)
	if id == "" {
		id = path
		if name, _ := d["sliceName"].(string); name != "" {
			id += ":" + name
		}
	}
	if path == "" || id == "" {
		g.problem("a differential element has no path")
		return
	}
	if want := idPath(id); !pathFitsID(want, path) && g.resolveAlias(want) != path {
		g.problem("differential element %s has the path %s, which does not match its id", id, path)
		return
	}
	i := g.locate(id)
	if i < 0 {
		g.problem("differential element %s is not an element of the base definition", id)
		return
	}
	g.merge(g.elems[i], d, id)
}

// locate returns the index of the element with an id, adding it when the
// base snapshot does not list it, or -1 when the id names no element.
func (g *snapshotGen) locate(id string) int {
	id = g.resolveAlias(id)
	if i := g.index(id); i >= 0 {
		return i
	}
	parentID, segment := splitID(id, idPath(id))
	if parentID == "" {
		return -1
	}
	name, slice, isSlice := strings.Cut(segment, ":")
	if isSlice {
		// A re-slice "a/b" slices the slice "a".
		slicedID := parentID + "." + name
		if k := strings.LastIndex(slice, "/"); k >= 0 {
			slicedID += ":" + slice[:k]
		}
		return g.addSlice(slicedID, parentID+"."+name+":"+slice, slice)
	}
	parent := g.locate(parentID)
	if parent < 0 {
		return -1
	}
	g.expandType(parent)
	if i := g.index(id); i >= 0 {
		return i
	}
	return g.renamedChoice(parentID, name)
}

func (g *snapshotGen) index(id string) int {
	for i, e := range g.elems {
		if e.id == id {
			return i
		}
	}
	return -1
}

// subtreeEnd returns the index after the last element inside the element
// at i: its children, its slices and theirs.
func (g *snapshotGen) subtreeEnd(i int) int {
	id := g.elems[i].id
	j := i + 1
	for j < len(g.elems) && (strings.HasPrefix(g.elems[j].id, id+".") || strings.HasPrefix(g.elems[j].id, id+":") || strings.HasPrefix(g.elems[j].id, id+"/")) {
		j++
	}
	return j
}

// insert places elements at index i.
func (g *snapshotGen) insert(i int, add []*snapshotElement) {
	if len(g.elems)+len(add) > maxSnapshotElements {
		g.overflow = true
		return
	}
	g.elems = append(g.elems[:i], append(add, g.elems[i:]...)...)
}

// addSlice adds the slice newID of the element slicedID: a copy of the
// sliced element as the base defines it, with its children, and a minimum
// of 0.
func (g *snapshotGen) addSlice(slicedID, newID, slice string) int {
	si := g.locate(slicedID)
	if si < 0 {
		return -1
	}
	var add []*snapshotElement
	end := g.subtreeEnd(si)
	for j := si; j < end; j++ {
		e := g.elems[j]
		if j > si && !strings.HasPrefix(e.id, slicedID+".") {
			continue // another slice, or a child of one
		}
		src := e.m
		if orig, ok := g.original[e.id]; ok {
			src = orig
		}
		m := cloneElement(src)
		m["id"] = newID + strings.TrimPrefix(e.id, slicedID)
		if j == si {
			// A slice is optional unless the differential gives a minimum,
			// whatever the sliced element's minimum.
			m["sliceName"] = slice
			m["min"] = json.Number("0")
			delete(m, "slicing")
		}
		add = append(add, &snapshotElement{id: m["id"].(string), m: m})
	}
	g.insert(end, add)
	if g.overflow {
		return -1
	}
	return end
}

// renamedChoice maps a child named like "valueQuantity" to the choice
// element "value[x]" restricted to that type, and returns its index.
func (g *snapshotGen) renamedChoice(parentID, name string) int {
	for i, e := range g.elems {
		choiceID, isChoice := strings.CutSuffix(e.id, "[x]")
		if !isChoice || !strings.HasPrefix(choiceID, parentID+".") {
			continue
		}
		stem := choiceID[len(parentID)+1:]
		if strings.Contains(stem, ".") || !strings.HasPrefix(name, stem) || len(name) == len(stem) {
			continue
		}
		want := name[len(stem):]
		for _, t := range typeList(e.m) {
			if code, _ := t["code"].(string); upperFirst(code) == want {
				g.aliases[parentID+"."+name] = e.id
				e.m["type"] = []any{t}
				return i
			}
		}
	}
	return -1
}

// expandType adds the children of the element at i from the definition of
// its single type, or from the element its contentReference names.
func (g *snapshotGen) expandType(i int) {
	e := g.elems[i]
	if end := g.subtreeEnd(i); end > i+1 && !strings.Contains(g.elems[i+1].id[len(e.id):], ":") {
		return // the element already has its children
	}
	var src []map[string]any
	var srcRoot string
	if ref, _ := e.m["contentReference"].(string); strings.HasPrefix(ref, "#") {
		srcRoot = ref[1:]
		// The children are the referenced element's, as the base defines
		// them. The element then describes its members itself and, like
		// any element defined by a contentReference, has no type.
		for _, other := range g.elems {
			if orig, ok := g.original[other.id]; ok && strings.HasPrefix(other.id, srcRoot+".") {
				src = append(src, orig)
			}
		}
		delete(e.m, "contentReference")
		e.expandedReference = true
	} else if types := typeList(e.m); len(types) == 1 {
		code, _ := types[0]["code"].(string)
		src, srcRoot = g.typeElements(code)
	}
	var add []*snapshotElement
	for _, m := range src {
		id := elementID(m)
		if !strings.HasPrefix(id, srcRoot+".") {
			continue
		}
		c := cloneElement(m)
		c["id"] = e.id + id[len(srcRoot):]
		path, _ := c["path"].(string)
		ownPath, _ := e.m["path"].(string)
		c["path"] = ownPath + strings.TrimPrefix(path, srcRoot)
		add = append(add, &snapshotElement{id: c["id"].(string), m: c})
	}
	g.insert(i+1, add)
}

// typeElements returns the snapshot elements of a core type's definition,
// and the id of its root element.
func (g *snapshotGen) typeElements(code string) ([]map[string]any, string) {
	res := g.v.resolve(coreURL+code, g.v.core)
	if res == nil {
		return nil, ""
	}
	var raw rawStructure
	if json.Unmarshal(res.JSON, &raw) != nil {
		return nil, ""
	}
	var out []map[string]any
	for _, r := range raw.Snapshot.Element {
		if m, err := decodeElement(r); err == nil {
			out = append(out, m)
		}
	}
	return out, code
}

// merge applies differential element d to snapshot element e. Keys are
// applied in sorted order, because in map order the problems would come
// out in a different order on each run. The slicing's discriminators are
// checked last, against the element's final type.
func (g *snapshotGen) merge(e *snapshotElement, d map[string]any, id string) {
	for _, key := range slices.Sorted(maps.Keys(d)) {
		val := d[key]
		switch {
		case key == "id" || key == "path":
		case key == "type" && g.restatesBackbone(e, val):
			// A differential may restate the type of an element defined by
			// a contentReference, and the element keeps having none.
		case key == "constraint" || key == "extension":
			list, _ := e.m[key].([]any)
			add, _ := val.([]any)
			e.m[key] = append(append([]any(nil), list...), add...)
		case key == "min":
			g.checkMin(e, val, id)
			e.m[key] = val
		case key == "max":
			g.checkMax(e, val, id)
			e.m[key] = val
		case strings.HasPrefix(key, "fixed"):
			g.checkFixed(e, key, val, id)
			deletePrefixed(e.m, "fixed", "pattern")
			e.m[key] = val
		case key == "slicing":
			e.m[key] = val
		case strings.HasPrefix(key, "pattern"):
			deletePrefixed(e.m, "pattern")
			e.m[key] = val
		default:
			e.m[key] = val
		}
	}
	if slicing, ok := d["slicing"]; ok {
		g.checkDiscriminators(e, slicing, id)
	}
}

// restatesBackbone reports whether val, a differential's type list, only
// names BackboneElement for an element that has no type because a
// contentReference defines it.
func (g *snapshotGen) restatesBackbone(e *snapshotElement, val any) bool {
	if _, ref := e.m["contentReference"]; !ref && !e.expandedReference {
		return false
	}
	list, _ := val.([]any)
	for _, t := range list {
		if tm, _ := t.(map[string]any); tm["code"] != "BackboneElement" && tm["code"] != "Element" {
			return false
		}
	}
	return true
}

// checkDiscriminators reports a discriminator path whose first step is
// not an element of the sliced element. Paths that start with $this or a
// function are not checked.
func (g *snapshotGen) checkDiscriminators(e *snapshotElement, slicing any, id string) {
	sm, _ := slicing.(map[string]any)
	list, _ := sm["discriminator"].([]any)
	children := g.childNames(e)
	if len(children) == 0 {
		return
	}
	for _, d := range list {
		dm, _ := d.(map[string]any)
		path, _ := dm["path"].(string)
		first, _, _ := strings.Cut(path, ".")
		if first == "" || strings.HasPrefix(first, "$") || strings.Contains(first, "(") {
			continue
		}
		if !children[first] && !children[first+"[x]"] {
			g.problem("the discriminator path %s of element %s does not name one of its elements", path, id)
		}
	}
}

// childNames returns the names of an element's children: those in the
// snapshot, or else those of its single type's definition.
func (g *snapshotGen) childNames(e *snapshotElement) map[string]bool {
	names := map[string]bool{}
	path, _ := e.m["path"].(string)
	for _, other := range g.elems {
		otherPath, _ := other.m["path"].(string)
		if strings.HasPrefix(other.id, e.id+".") && strings.HasPrefix(otherPath, path+".") && !strings.Contains(otherPath[len(path)+1:], ".") {
			names[otherPath[len(path)+1:]] = true
		}
	}
	if len(names) > 0 {
		return names
	}
	types := typeList(e.m)
	if len(types) != 1 {
		return names
	}
	code, _ := types[0]["code"].(string)
	elems, root := g.typeElements(code)
	for _, m := range elems {
		if p, _ := m["path"].(string); strings.HasPrefix(p, root+".") && !strings.Contains(p[len(root)+1:], ".") {
			names[p[len(root)+1:]] = true
		}
	}
	return names
}

func (g *snapshotGen) checkMin(e *snapshotElement, val any, id string) {
	have, ok1 := e.m["min"].(json.Number)
	want, ok2 := val.(json.Number)
	if ok1 && ok2 && compareNumbers(string(want), string(have)) < 0 && e.m["sliceName"] == nil {
		g.problem("element %s has min %s, less than the base's %s", id, want, have)
	}
}

func (g *snapshotGen) checkMax(e *snapshotElement, val any, id string) {
	have, _ := e.m["max"].(string)
	want, _ := val.(string)
	if have == "" || want == "" || have == "*" {
		return
	}
	if want == "*" || compareNumbers(want, have) > 0 {
		g.problem("element %s has max %s, more than the base's %s", id, want, have)
	}
}

// checkFixed reports a fixed value that differs from the base's fixed
// value, which a profile cannot change.
func (g *snapshotGen) checkFixed(e *snapshotElement, key string, val any, id string) {
	if have, ok := e.m[key]; ok && !reflect.DeepEqual(have, val) {
		g.problem("element %s fixes a value that differs from the value the base definition fixes", id)
	}
}

func (g *snapshotGen) problem(format string, args ...any) {
	g.problems = append(g.problems, fmt.Sprintf(format, args...))
}

// resolveAlias rewrites an id that goes through a renamed choice element.
func (g *snapshotGen) resolveAlias(id string) string {
	for from, to := range g.aliases {
		if id == from || strings.HasPrefix(id, from+".") || strings.HasPrefix(id, from+":") {
			return to + id[len(from):]
		}
	}
	return id
}

// encode returns the elements as JSON.
func (g *snapshotGen) encode() ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(g.elems))
	for _, e := range g.elems {
		raw, err := json.Marshal(e.m)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// idPath returns the path an element id names: the id without its
// slice names.
func idPath(id string) string {
	parts := strings.Split(id, ".")
	for i, p := range parts {
		parts[i], _, _ = strings.Cut(p, ":")
	}
	return strings.Join(parts, ".")
}

// pathFitsID reports whether a differential element's path fits the path
// its id gives, segment by segment: equal, or a choice element "value[x]"
// that the id names by one of its types, "valueIdentifier".
func pathFitsID(idPath, path string) bool {
	ids, paths := strings.Split(idPath, "."), strings.Split(path, ".")
	if len(ids) != len(paths) {
		return false
	}
	for i, p := range paths {
		if ids[i] == p {
			continue
		}
		stem, isChoice := strings.CutSuffix(p, "[x]")
		rest, named := strings.CutPrefix(ids[i], stem)
		if !isChoice || !named || rest == "" || rest[0] < 'A' || rest[0] > 'Z' {
			return false
		}
	}
	return true
}

func elementID(m map[string]any) string {
	if id, _ := m["id"].(string); id != "" {
		return id
	}
	path, _ := m["path"].(string)
	return path
}

func typeList(m map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := m["type"].([]any)
	for _, t := range list {
		if tm, ok := t.(map[string]any); ok {
			out = append(out, tm)
		}
	}
	return out
}

func deletePrefixed(m map[string]any, prefixes ...string) {
	for k := range m {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) && len(k) > len(p) && k[len(p)] >= 'A' && k[len(p)] <= 'Z' {
				delete(m, k)
			}
		}
	}
}

// decodeElement decodes an ElementDefinition, keeping numbers as written.
func decodeElement(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// cloneElement copies an element deeply enough that merging into the copy
// leaves the original unchanged: members are replaced, never changed in
// place, except the lists merge appends to, which it copies.
func cloneElement(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
