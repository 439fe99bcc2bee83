package validate

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// occurrence is one value of an element in the instance. A primitive
// value is split in JSON between "name" (val) and "_name" (ext), and either
// may be nil.
type occurrence struct {
	val *jnode
	ext *jnode
	typ string // type code: the single type, or the one a choice name selects
	at  location
	fp  *fhirpath.Node
}

// path returns the value's location in the instance.
func (o *occurrence) path() string { return o.at.String() }

// group is the occurrences of one child element definition.
type group struct {
	def    *elemDef
	parent *location
	occs   []*occurrence
	child  int // index of def in the parent definition's children
}

// members validates the members of object n against the children of the
// element definition c.
func (r *run) members(n *jnode, c *elemDef, at *location, fp *fhirpath.Node, isResource bool) {
	if n.kind != kindObject {
		r.errorf(outcome.CodeStructure, at.String(), "must be a JSON object")
		return
	}
	if !isResource && !hasContent(n) {
		r.errorf(outcome.CodeInvariant, at.String(), "ele-1: an element must have a value or children other than id")
	}
	r.memberElementsAt(n, c, at, fp, isResource)
}

// memberElements groups the members of n by the children of c and
// validates the groups. path is the location of n, already rendered.
func (r *run) memberElements(n *jnode, c *elemDef, path string, fp *fhirpath.Node, isResource bool) {
	r.memberElementsAt(n, c, r.rootLocation(path), fp, isResource)
}

// memberElementsAt is memberElements at a location not yet rendered. The
// groups are pushed on the run's group stack and popped afterwards,
// because every object of the instance needs a list of them.
func (r *run) memberElementsAt(n *jnode, c *elemDef, at *location, fp *fhirpath.Node, isResource bool) {
	mark := len(r.groupStack)
	groupsMark, occsMark, refsMark := r.groups.Mark(), r.occs.Mark(), r.occRefs.Mark()
	groups := r.groupMembers(n, c, at, fp, isResource)
	r.elements(c, groups, at)
	// Nested objects may have moved the stack to a larger array, so the
	// current one is cleared, not groups.
	clear(r.groupStack[mark:])
	r.groupStack = r.groupStack[:mark]

	// Nothing uses the groups and occurrences of n's members any more.
	// Values deeper down were released when their objects were done, and
	// no issue or cache keeps a pointer to them.
	r.groups.Release(groupsMark)
	r.occs.Release(occsMark)
	r.occRefs.Release(refsMark)
}

// elements validates each child definition of c in definition order: the
// groups of the members present, and the cardinality of the absent ones
// that have a minimum. groups is sorted by child index. Children without
// a minimum anywhere can break no rule when absent, so only the children
// in c's required list are visited besides the groups.
func (r *run) elements(c *elemDef, groups []*group, at *location) {
	required := c.requiredChildren()
	next := 0
	for _, g := range groups {
		for next < len(required) && required[next] < g.child {
			r.absent(c.children[required[next]], at)
			next++
		}
		if next < len(required) && required[next] == g.child {
			next++
		}
		r.element(g)
	}
	for _, i := range required[next:] {
		r.absent(c.children[i], at)
	}
}

// newGroup and newOccurrence allocate from chunks of the run, because
// every object of the instance needs them.
func (r *run) newGroup(d *elemDef, parent *location, child int) *group {
	g := r.groups.One()
	g.def, g.parent, g.child = d, parent, child
	return g
}

func (r *run) newOccurrence(typ string, parent *location, name, ofType string, index int) *occurrence {
	o := r.occs.One()
	o.typ = typ
	o.at = location{parent: parent, name: name, ofType: ofType, index: index}
	return o
}

// absent checks a child definition that has no member in the instance and
// is required somewhere: only a minimum cardinality, of the element or of
// one of its slices, can fail. It reports what element would for an empty
// group, building the location only when there is an issue.
func (r *run) absent(d *elemDef, parent *location) {
	g := &group{def: d, parent: parent}
	r.element(g)
}

// hasContent reports whether an object has a member besides id, the test
// of invariant ele-1.
func hasContent(n *jnode) bool {
	for _, p := range n.props {
		if p.name != "id" {
			return true
		}
	}
	return false
}

// groupMembers matches the members of n to the children of c, reporting
// unknown members and JSON shapes that do not fit the definition. It
// returns the groups of the children that have members, sorted by child
// index, so the work grows with the members present and not with the
// children of c. The list is pushed on the run's group stack, from which
// memberElementsAt pops it.
func (r *run) groupMembers(n *jnode, c *elemDef, at *location, fp *fhirpath.Node, isResource bool) []*group {
	mark := len(r.groupStack)
	kids := fpChildren{}
	if fp != nil {
		kids.nodes = fp.Children()
	}
	recorded := c.modelMatches(n.modelType)
	var seen uint64 // bit i: child i < 64 has a group
	for _, p := range n.props {
		name, isExt := strings.CutPrefix(p.name, "_")
		if isResource && p.name == "resourceType" {
			continue
		}
		i, typ := recorded.match(c, p, name)
		if i < 0 {
			r.errorf(outcome.CodeStructure, at.child(p.name), "unknown element %q", p.name)
			continue
		}
		var g *group
		if i >= 64 || seen&(1<<i) != 0 {
			g = findGroup(r.groupStack[mark:], i)
		}
		if g == nil {
			g = r.newGroup(c.children[i], at, i)
			r.groupStack = append(r.groupStack, g)
			if i < 64 {
				seen |= 1 << i
			}
		}
		// Resource.id, Element.id and Extension.url are FHIRPath system
		// strings, not FHIR primitives, so JSON gives them no "_" object.
		if isExt && (!isPrimitiveType(typ) || c.children[i].systemType) {
			r.errorf(outcome.CodeStructure, at.child(p.name), "%q is not a primitive element, so it has no %q form", name, p.name)
			continue
		}
		r.addOccurrences(g, p, name, typ, isExt, at, &kids)
	}
	groups := r.groupStack[mark:]
	sortGroups(groups)
	return groups
}

// findGroup returns the group of child index i, or nil. Both halves of a
// primitive member usually follow each other, so the search starts at the
// group added last.
func findGroup(groups []*group, i int) *group {
	for j := len(groups) - 1; j >= 0; j-- {
		if groups[j].child == i {
			return groups[j]
		}
	}
	return nil
}

// sortGroups sorts groups by child index with an insertion sort, because
// JSON members mostly come in definition order and the list is short.
func sortGroups(groups []*group) {
	for i := 1; i < len(groups); i++ {
		g := groups[i]
		j := i
		for j > 0 && groups[j-1].child > g.child {
			groups[j] = groups[j-1]
			j--
		}
		groups[j] = g
	}
}

// requiredChildren returns the indexes, ascending, of c's children that
// have a minimum cardinality themselves or in a slice: the only absent
// children that can fail. It is built on first use, because definitions
// do not change once compiled.
func (c *elemDef) requiredChildren() []int {
	if p := c.required.Load(); p != nil {
		return *p
	}
	var required []int
	for i, d := range c.children {
		if d.requiredSomewhere() {
			required = append(required, i)
		}
	}
	c.required.Store(&required)
	return required
}

// matchChild finds the child of c that a JSON member name belongs to and
// the type it has: "valueQuantity" selects Quantity of "value[x]".
// Definitions with many children, such as resources, look the name up in
// an index built once per definition, instead of comparing it with each
// child's name.
func matchChild(c *elemDef, name string) (int, string) {
	if len(c.children) > linearChildScan {
		m, ok := c.memberNames()[name]
		if !ok {
			return -1, ""
		}
		return m.index, m.typ
	}
	return scanChildren(c, name)
}

// linearChildScan is the number of children up to which matchChild
// compares names in turn, which is faster than hashing for a few. It is
// an estimate, not measured per definition.
const linearChildScan = 8

// childMatch is the result of matchChild for one member name.
type childMatch struct {
	index int
	typ   string
}

// memberNames returns the index of c's member names: every child's name,
// and for a choice child its name with each type ("valueQuantity"). A
// name that several children could take goes to the first, as
// scanChildren finds it.
func (c *elemDef) memberNames() map[string]childMatch {
	if m := c.memberIndex.Load(); m != nil {
		return *m
	}
	m := make(map[string]childMatch, len(c.children))
	add := func(name string, i int, typ string) {
		if _, taken := m[name]; !taken {
			m[name] = childMatch{index: i, typ: typ}
		}
	}
	for i, d := range c.children {
		if !d.choice {
			add(d.name, i, singleType(d))
			continue
		}
		for _, t := range d.types {
			if t.code != "" {
				add(d.name+choiceSuffix(t.code), i, t.code)
			}
		}
	}
	c.memberIndex.Store(&m)
	return m
}

// choiceSuffix returns code with its first byte in upper case when it is
// an ASCII letter, the spelling isUpperFirstOf accepts.
func choiceSuffix(code string) string {
	c := code[0]
	if c >= 'a' && c <= 'z' {
		c -= 'a' - 'A'
	}
	return string([]byte{c}) + code[1:]
}

// scanChildren is matchChild by comparing name with each child in turn.
func scanChildren(c *elemDef, name string) (int, string) {
	for i, d := range c.children {
		if !d.choice {
			if d.name == name {
				return i, singleType(d)
			}
			continue
		}
		suffix, ok := strings.CutPrefix(name, d.name)
		if !ok || suffix == "" {
			continue
		}
		for _, t := range d.types {
			if isUpperFirstOf(suffix, t.code) {
				return i, t.code
			}
		}
	}
	return -1, ""
}

// isUpperFirstOf reports whether s is code with its first letter in upper
// case, as a choice member names its type ("Quantity", "DateTime"),
// without building that string.
func isUpperFirstOf(s, code string) bool {
	if len(s) != len(code) || s == "" {
		return false
	}
	c := code[0]
	if c >= 'a' && c <= 'z' {
		c -= 'a' - 'A'
	}
	return s[0] == c && s[1:] == code[1:]
}

func singleType(d *elemDef) string {
	if len(d.types) > 0 {
		return d.types[0].code
	}
	return ""
}

// addOccurrences adds the values of one JSON member to its group. Arrays
// are required exactly where the base definition repeats, and "name" and
// "_name" arrays are aligned by index.
func (r *run) addOccurrences(g *group, p jprop, name, typ string, isExt bool, at *location, kids *fpChildren) {
	repeats := g.def.baseMax != 1 && g.def.baseMax != 0
	jsonName := name
	// The location is the element's path, with the type of a choice
	// (".ofType(Quantity)", which the member name ends with) and the index
	// of a repeating element.
	ofType := ""
	if g.def.choice {
		ofType = name[len(g.def.name):]
	}
	items := []*jnode{p.val}
	switch {
	case repeats && p.val.kind != kindArray:
		r.errorf(outcome.CodeStructure, at.child(p.name), "%q repeats, so its JSON value must be an array", p.name)
		return
	case !repeats && p.val.kind == kindArray:
		r.errorf(outcome.CodeStructure, at.child(p.name), "%q does not repeat, so its JSON value must not be an array", p.name)
		return
	case repeats:
		items = p.val.items
		if len(items) == 0 {
			r.errorf(outcome.CodeStructure, at.child(p.name), "arrays must not be empty")
			return
		}
	}
	// A "_" array uses null items only to align ids and extensions with
	// the values. An array of nulls therefore carries nothing, and FHIR
	// JSON does not allow such an empty property.
	if isExt && repeats && allNull(items) {
		r.errorf(outcome.CodeStructure, at.child(p.name), "every item of %q is null; an array of primitive extensions needs at least one item with id or extension, or must be left out", p.name)
	}
	// Primitive halves of the same member share occurrences.
	existing := r.occurrencesOf(g, typ)
	if len(existing) > 0 && len(existing) != len(items) && isPrimitiveType(typ) {
		r.errorf(outcome.CodeStructure, at.child(p.name), "%q and %q must have the same number of items", name, "_"+name)
		return
	}
	start := -1
	if len(existing) < len(items) {
		start = kids.start(jsonName)
	}
	if len(existing) == 0 {
		g.occs = r.occRoom(g.occs, len(items))
	}
	for i, item := range items {
		var o *occurrence
		if i < len(existing) {
			o = existing[i]
		} else {
			index := -1
			if repeats {
				index = i
			}
			o = r.newOccurrence(typ, at, g.def.name, ofType, index)
			o.fp = fpAt(kids.nodes, start, i, jsonName)
			g.occs = append(g.occs, o)
		}
		if item.kind == kindNull {
			if !isPrimitiveType(typ) || !repeats {
				r.errorf(outcome.CodeStructure, o.path(), "null is not allowed here")
			}
			continue
		}
		if isExt {
			o.ext = item
		} else {
			o.val = item
		}
	}
}

func allNull(items []*jnode) bool {
	for _, item := range items {
		if item.kind != kindNull {
			return false
		}
	}
	return true
}

// occurrencesOf returns the occurrences of g whose type is typ. They are
// g's own list when all have that type, which is true except for choice
// elements given under several names.
func (r *run) occurrencesOf(g *group, typ string) []*occurrence {
	n := 0
	for _, o := range g.occs {
		if o.typ == typ {
			n++
		}
	}
	if n == len(g.occs) {
		return g.occs
	}
	out := make([]*occurrence, 0, n)
	for _, o := range g.occs {
		if o.typ == typ {
			out = append(out, o)
		}
	}
	return out
}

// occRoom returns occs with room for n more, carved from a chunk of the
// run when occs is empty.
func (r *run) occRoom(occs []*occurrence, n int) []*occurrence {
	if len(occs) > 0 {
		return slices.Grow(occs, n)
	}
	return r.occRefs.Take(n)[:0]
}

// fpChildren are the FHIRPath child nodes of an object, which the builder
// adds in document order with the nodes of one member, and of both halves
// of a primitive member, next to each other.
type fpChildren struct {
	nodes  []*fhirpath.Node
	cursor int // index of the first node of the member found last
}

// start returns the index of the first node built from the JSON member
// jsonName, or -1. Members are read in document order, so the search
// starts where the last member's nodes do and wraps around. It finds the
// first node of the member's run, because the start of another member's
// run is never inside it.
func (k *fpChildren) start(jsonName string) int {
	n := len(k.nodes)
	for j := range n {
		i := k.cursor + j
		if i >= n {
			i -= n
		}
		if k.nodes[i].JSONName() == jsonName {
			k.cursor = i
			return i
		}
	}
	return -1
}

// fpAt returns the node of item i of a member. The nodes of one member are
// consecutive, so a node of another name at that position means the trees
// disagree, and nil is returned so that invariants are skipped there.
func fpAt(kids []*fhirpath.Node, start, i int, jsonName string) *fhirpath.Node {
	if start < 0 || start+i >= len(kids) || kids[start+i].JSONName() != jsonName {
		return nil
	}
	return kids[start+i]
}

func indexed(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// isPrimitiveType reports whether a type code names a FHIR primitive
// type. Primitive type codes, and only those, start with a lower-case letter.
func isPrimitiveType(code string) bool {
	return code != "" && code[0] >= 'a' && code[0] <= 'z'
}

// element validates the occurrences of one element definition:
// cardinality, slicing, then each value.
func (r *run) element(g *group) {
	d := g.def
	if n := len(g.occs); n < d.min || d.max >= 0 && n > d.max {
		r.cardinality(d, n, g.path())
	}
	if d.choice && len(g.occs) > 1 {
		r.oneChoice(g)
	}
	mark := r.sliceDefs.Mark()
	defs := r.slices(g)
	for i, o := range g.occs {
		if defs == nil {
			r.occurrence(o, d)
		} else {
			r.occurrence(o, defs[i])
		}
	}
	r.sliceDefs.Release(mark)
}

// path returns the location used for cardinality issues: the element's
// path in the parent, without an index.
func (g *group) path() string { return g.parent.child(g.def.name) }
