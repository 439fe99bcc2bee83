package fhirxml

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// converter writes the JSON form of a parsed document. In strict mode the
// first problem ends the conversion as its error. Otherwise problems are
// collected and the faulty element, or the faulty part of it, is left out.
type converter struct {
	model    *fhirmodel.Model
	strict   bool
	problems []Problem
	reported []*node // the element of each problem, in the same order
}

// location is the FHIRPath location of an element, rendered only when a
// problem is reported there.
type location struct {
	parent *location
	name   string // element name; the resource type at the root
	ofType string // type of a choice element, as its XML name ends ("Quantity")
	index  int    // position among the element's occurrences when it repeats, or -1
}

// elementPath returns the location without the index and choice type of
// its last step.
func (l *location) elementPath() string {
	if l.parent == nil {
		return l.name
	}
	return l.parent.String() + "." + l.name
}

func (l *location) String() string {
	if l.parent == nil {
		return l.name
	}
	s := l.parent.String() + "." + l.name
	if l.ofType != "" {
		s += ".ofType(" + l.ofType + ")"
	}
	if l.index >= 0 {
		s += "[" + strconv.Itoa(l.index) + "]"
	}
	return s
}

// child returns the location of an element of n's that is not indexed:
// an unknown or foreign one, or an attribute given as an element.
func (l *location) child(name string) *location {
	return &location{parent: l, name: name, index: -1}
}

// report records a problem of the element n at the location at. It
// returns an error that ends the conversion in strict mode, or when the
// document has more than MaxProblems problems.
func (c *converter) report(n *node, at *location, code outcome.Code, format string, args ...any) error {
	p := Problem{Line: n.line, Expression: at.String(), Element: at.elementPath(), Code: code, Message: fmt.Sprintf(format, args...)}
	if c.strict {
		return p
	}
	if len(c.problems) == MaxProblems {
		return fmt.Errorf("fhirxml: the document has more than %d problems, the reporting limit; correct the problems listed first", MaxProblems)
	}
	c.problems = append(c.problems, p)
	c.reported = append(c.reported, n)
	return nil
}

// finishProblems sets LeftOut in each problem, which is known only once
// the conversion is done, and sorts the problems by line.
func (c *converter) finishProblems() {
	for i, n := range c.reported {
		c.problems[i].LeftOut = n.leftOut
	}
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
}

// reportEach reports the same problem for every element of g, at its own
// line, and leaves them out. The elements share the unindexed location at.
func (c *converter) reportEach(g []*node, at *location, format string, args ...any) error {
	for _, n := range g {
		n.leftOut = true
		if err := c.report(n, at, outcome.CodeStructure, format, args...); err != nil {
			return err
		}
	}
	return nil
}

// nodeFaults reports what the parser found wrong in n itself: text
// content and unknown attributes.
func (c *converter) nodeFaults(n *node, at *location) error {
	if n.hasText {
		if err := c.report(n, at, outcome.CodeStructure, "text inside element %s; FHIR puts values in value attributes", n.name); err != nil {
			return err
		}
	}
	for _, name := range n.unknownAttrs {
		if err := c.report(n, at, outcome.CodeStructure, "element %s has an unknown attribute %s", n.name, name); err != nil {
			return err
		}
	}
	return nil
}

// foreignFault reports the foreign element n, which is left out.
func (c *converter) foreignFault(n *node, at *location) error {
	n.leftOut = true
	if n.foreign == foreignXHTML {
		return c.report(n, at, outcome.CodeStructure, "%s is an XHTML element, but XHTML must be a div that declares the XHTML namespace itself", n.name)
	}
	return c.report(n, at, outcome.CodeStructure, "element %s is in neither the FHIR nor the XHTML namespace", n.name)
}

// object is a JSON object being written.
type object struct {
	buf  []byte
	more bool // the object has a member
}

// key starts the member name.
func (o *object) key(name string) {
	if o.more {
		o.buf = append(o.buf, ',')
	}
	o.more = true
	o.buf, _ = jsontext.AppendQuote(o.buf, name)
	o.buf = append(o.buf, ':')
}

// group appends the member name with one value per element of g, as an
// array when the element repeats. value appends the value of g[i] and
// reports whether it kept one. The member is left out when no element
// keeps a value.
//
// NOTE: an item left out of an array moves the items after it down one
// place, so the validator's locations of those items have lower indices
// than the document and the converter's problems have.
func (o *object) group(name string, g []*node, repeats bool, value func(dst []byte, i int) ([]byte, bool, error)) error {
	mark, more := len(o.buf), o.more
	o.key(name)
	if repeats {
		o.buf = append(o.buf, '[')
	}
	kept := 0
	for i := range g {
		itemMark := len(o.buf)
		if kept > 0 {
			o.buf = append(o.buf, ',')
		}
		var ok bool
		var err error
		if o.buf, ok, err = value(o.buf, i); err != nil {
			return err
		}
		if !ok {
			g[i].leftOut = true
			o.buf = o.buf[:itemMark]
			continue
		}
		kept++
	}
	if kept == 0 {
		o.buf, o.more = o.buf[:mark], more
		return nil
	}
	if repeats {
		o.buf = append(o.buf, ']')
	}
	return nil
}

// root returns the JSON object of the root resource n. Only a problem of
// the root element itself is an error in every mode.
func (c *converter) root(n *node) ([]byte, error) {
	if t := c.model.Type(n.name); t == nil || t.Kind != fhirmodel.KindResource || t.Abstract {
		return nil, fmt.Errorf("fhirxml: line %d: %s is not a concrete R4 resource type", n.line, n.name)
	}
	out, _, err := c.resource(nil, n, &location{name: n.name, index: -1})
	return out, err
}

// resource appends the JSON object of the resource n, located at at. It
// keeps nothing when n is not a resource, which it reports.
func (c *converter) resource(dst []byte, n *node, at *location) ([]byte, bool, error) {
	if n.foreign != notForeign {
		return dst, false, c.foreignFault(n, at)
	}
	t := c.model.Type(n.name)
	if t == nil || t.Kind != fhirmodel.KindResource || t.Abstract {
		n.leftOut = true
		return dst, false, c.report(n, at, outcome.CodeStructure, "%s is not a concrete R4 resource type", n.name)
	}
	if err := c.nodeFaults(n, at); err != nil {
		return nil, false, err
	}
	bare := *n
	if n.value != nil || n.id != nil || n.url != nil {
		if err := c.report(n, at, outcome.CodeStructure, "resource %s has attributes", n.name); err != nil {
			return nil, false, err
		}
		// A resource's id is an element, which would repeat the member.
		bare.value, bare.id, bare.url = nil, nil, nil
	}
	o := &object{buf: append(dst, '{')}
	o.key("resourceType")
	o.buf, _ = jsontext.AppendQuote(o.buf, n.name)
	out, err := c.members(o, &bare, t, at)
	return out, err == nil, err
}

// complex appends the JSON object of the complex element n of type t. It
// keeps nothing when every part of n was reported and left out. An
// element empty in the document is kept as {}, for the validator to
// report.
func (c *converter) complex(dst []byte, n *node, t *fhirmodel.Type, at *location) ([]byte, bool, error) {
	if n.value != nil {
		if err := c.report(n, at, outcome.CodeStructure, "%s of type %s has a value attribute", n.name, t.Name); err != nil {
			return nil, false, err
		}
	}
	o := &object{buf: append(dst, '{')}
	out, err := c.members(o, n, t, at)
	if err != nil {
		return nil, false, err
	}
	if !o.more && !n.empty() {
		return dst, false, nil
	}
	return out, true, nil
}

// members appends the attributes and child elements of n, of type t, to
// o and closes it. Outside resources, id is an attribute, and so is an
// extension's url. A child element of either name is a problem and left
// out, so no member is written twice.
func (c *converter) members(o *object, n *node, t *fhirmodel.Type, at *location) ([]byte, error) {
	isExtension := t.IsA("Extension")
	url := n.url
	if url != nil && !isExtension {
		if err := c.report(n, at, outcome.CodeStructure, "only an extension has a url attribute, not %s", n.name); err != nil {
			return nil, err
		}
		url = nil
	}
	for _, a := range []struct {
		name string
		v    *string
	}{{"id", n.id}, {"url", url}} {
		if a.v == nil {
			continue
		}
		if _, _, ok := t.Member(a.name); !ok {
			if err := c.report(n, at, outcome.CodeStructure, "%s of type %s has no %s", n.name, t.Name, a.name); err != nil {
				return nil, err
			}
			continue
		}
		o.key(a.name)
		o.buf, _ = jsontext.AppendQuote(o.buf, *a.v)
	}
	elements := make([]*node, 0, len(n.children))
	for _, child := range n.children {
		if child.foreign != notForeign {
			if err := c.foreignFault(child, at.child(child.name)); err != nil {
				return nil, err
			}
			continue
		}
		elements = append(elements, child)
	}
	choices := map[string]string{} // element name to the XML name that gave it first
	for _, g := range groupByName(elements) {
		name := g[0].name
		if (name == "id" && t.Kind != fhirmodel.KindResource) || (name == "url" && isExtension) {
			if err := c.reportEach(g, at.child(name), "%s is an attribute of %s in XML, not an element", name, n.name); err != nil {
				return nil, err
			}
			continue
		}
		if element, _, ok := t.Member(name); ok {
			if first, dup := choices[element]; dup {
				loc := &location{parent: at, name: element, ofType: name[len(element):], index: -1}
				if err := c.reportEach(g, loc, "%s and %s are both %s of %s, which takes one", first, name, element, t.Name); err != nil {
					return nil, err
				}
				continue
			}
			choices[element] = name
		}
		if err := c.member(o, g, t, at); err != nil {
			return nil, err
		}
	}
	return append(o.buf, '}'), nil
}

// member appends the elements g, which share a name, as members of o.
// parent is the location of the element that holds them.
func (c *converter) member(o *object, g []*node, t *fhirmodel.Type, parent *location) error {
	first := g[0]
	name, typ, ok := t.Member(first.name)
	if !ok || typ == nil {
		return c.reportEach(g, parent.child(first.name), "%s has no element %s", t.Name, first.name)
	}
	ofType := first.name[len(name):] // the type of a choice element
	repeats := t.Element(name).Repeats()
	if !repeats {
		at := &location{parent: parent, name: name, ofType: ofType, index: -1}
		for _, n := range g[1:] {
			n.leftOut = true
			if err := c.report(n, at, outcome.CodeStructure, "%s.%s repeats, which its definition does not allow", t.Name, first.name); err != nil {
				return err
			}
		}
		g = g[:1]
	}
	locs := make([]location, len(g))
	for i, n := range g {
		locs[i] = location{parent: parent, name: name, ofType: ofType, index: -1}
		if repeats {
			locs[i].index = i
		}
		if n.apart {
			if err := c.report(n, &locs[i], outcome.CodeStructure, "the %s elements are not together", n.name); err != nil {
				return err
			}
		}
		if err := c.nodeFaults(n, &locs[i]); err != nil {
			return err
		}
	}
	switch typ.Kind {
	case fhirmodel.KindPrimitive:
		return c.primitive(o, g, typ, repeats, locs)
	case fhirmodel.KindResource:
		return o.group(first.name, g, repeats, func(dst []byte, i int) ([]byte, bool, error) {
			return c.container(dst, g[i], typ, &locs[i])
		})
	}
	return o.group(first.name, g, repeats, func(dst []byte, i int) ([]byte, bool, error) {
		if g[i].xhtml != nil {
			return dst, false, c.report(g[i], &locs[i], outcome.CodeStructure, "XHTML inside %s of type %s", g[i].name, typ.Name)
		}
		return c.complex(dst, g[i], typ, &locs[i])
	})
}

// container appends the resource that the element n, of type t (such as
// contained or Bundle.entry.resource), holds. It keeps the first resource
// when n holds more than one.
func (c *converter) container(dst []byte, n *node, t *fhirmodel.Type, at *location) ([]byte, bool, error) {
	if n.xhtml != nil {
		return dst, false, c.report(n, at, outcome.CodeStructure, "XHTML inside %s of type %s", n.name, t.Name)
	}
	if n.value != nil || n.id != nil || n.url != nil {
		if err := c.report(n, at, outcome.CodeStructure, "%s holds a resource, so it has no attributes", n.name); err != nil {
			return nil, false, err
		}
	}
	if len(n.children) != 1 {
		if err := c.report(n, at, outcome.CodeStructure, "%s must hold exactly one resource, not %d", n.name, len(n.children)); err != nil {
			return nil, false, err
		}
		if len(n.children) == 0 {
			return dst, false, nil
		}
	}
	return c.resource(dst, n.children[0], at)
}

// primitive appends the primitive elements g as the member "name" with
// their values and the member "_name" with their ids and extensions. When
// the element repeats, each is an array with null where an occurrence
// lacks that part, or where the occurrence was left out.
func (c *converter) primitive(o *object, g []*node, t *fhirmodel.Type, repeats bool, locs []location) error {
	parts := make([]primitivePart, len(g))
	hasValue, hasExtra := false, false
	for i, n := range g {
		at := &locs[i]
		if n.url != nil {
			if err := c.report(n, at, outcome.CodeStructure, "primitive %s has a url attribute", n.name); err != nil {
				return err
			}
		}
		p := &parts[i]
		var err error
		if p.value, err = c.checkValue(n, t, at); err != nil {
			return err
		}
		if n.id != nil || len(n.children) > 0 {
			// The id and extensions of a primitive have the form of a
			// complex element, without the value.
			part := node{name: n.name, id: n.id, children: n.children, line: n.line}
			out, kept, err := c.complex(nil, &part, t, at)
			if err != nil {
				return err
			}
			if kept {
				p.extra = out
			}
		}
		if !p.value && p.extra == nil {
			n.leftOut = true
		}
		if !p.value && p.extra == nil && n.empty() {
			if err := c.report(n, at, outcome.CodeStructure, "%s has neither a value nor an extension", n.name); err != nil {
				return err
			}
		}
		hasValue = hasValue || p.value
		hasExtra = hasExtra || p.extra != nil
	}
	name := g[0].name
	if hasValue {
		o.key(name)
		o.buf = appendParts(o.buf, len(g), repeats, func(dst []byte, i int) []byte {
			if !parts[i].value {
				return nil
			}
			return appendValue(dst, g[i], t)
		})
	}
	if hasExtra {
		o.key("_" + name)
		o.buf = appendParts(o.buf, len(g), repeats, func(dst []byte, i int) []byte {
			if parts[i].extra == nil {
				return nil
			}
			return append(dst, parts[i].extra...)
		})
	}
	return nil
}

// primitivePart is the part of one occurrence of a primitive element that
// the conversion keeps.
type primitivePart struct {
	value bool   // the value, which checkValue accepted
	extra []byte // the JSON object of the id and extensions, or nil
}

// appendParts appends one JSON value for each of the count occurrences of
// an element, as an array when the element repeats. appendPart appends
// the value of occurrence i, or returns nil for a missing one, which
// becomes null. An element that does not repeat has one occurrence.
func appendParts(dst []byte, count int, repeats bool, appendPart func(dst []byte, i int) []byte) []byte {
	if !repeats {
		return appendPart(dst, 0)
	}
	dst = append(dst, '[')
	for i := range count {
		if i > 0 {
			dst = append(dst, ',')
		}
		if out := appendPart(dst, i); out != nil {
			dst = out
		} else {
			dst = append(dst, "null"...)
		}
	}
	return append(dst, ']')
}

// jsonNumber matches the JSON number grammar, which FHIR's integer and
// decimal values must follow.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// checkValue reports whether the primitive n has a value that its JSON
// form can take: a boolean, a number, the XHTML of a div or any string,
// as its type t requires. It reports a value of the wrong form as a
// problem.
func (c *converter) checkValue(n *node, t *fhirmodel.Type, at *location) (bool, error) {
	if n.xhtml != nil {
		if t.Name != "xhtml" {
			return false, c.report(n, at, outcome.CodeStructure, "XHTML inside %s of type %s", n.name, t.Name)
		}
		return true, nil
	}
	if n.value == nil {
		return false, nil
	}
	v := *n.value
	switch t.System {
	case "Boolean":
		if v != "true" && v != "false" {
			return false, c.report(n, at, outcome.CodeValue, "%s must be true or false", n.name)
		}
	case "Integer", "Decimal":
		if !jsonNumber.MatchString(v) {
			return false, c.report(n, at, outcome.CodeValue, "%s must be a number", n.name)
		}
	}
	return true, nil
}

// appendValue appends the JSON value of the primitive n, which checkValue
// accepted: a boolean, a number with its exact decimal text, the XHTML of
// a div, or a string. AppendQuote fails only on invalid UTF-8, and
// encoding/xml rejects that in text and attributes before n exists.
func appendValue(dst []byte, n *node, t *fhirmodel.Type) []byte {
	if n.xhtml != nil {
		dst, _ = jsontext.AppendQuote(dst, n.xhtml)
		return dst
	}
	switch t.System {
	case "Boolean", "Integer", "Decimal":
		return append(dst, *n.value...)
	}
	dst, _ = jsontext.AppendQuote(dst, *n.value)
	return dst
}

// groupByName groups the nodes by element name, in the order in which
// each name first occurs. FHIR XML keeps the occurrences of one element
// together, as JSON arrays do, so the first node of a later run of a name
// is marked apart, for the caller to report. The runs are joined in
// document order.
func groupByName(nodes []*node) [][]*node {
	var groups [][]*node
	index := map[string]int{}
	for i, n := range nodes {
		if i > 0 && nodes[i-1].name == n.name {
			k := index[n.name]
			groups[k] = append(groups[k], n)
			continue
		}
		if k, seen := index[n.name]; seen {
			n.apart = true
			groups[k] = append(groups[k], n)
			continue
		}
		index[n.name] = len(groups)
		groups = append(groups, []*node{n})
	}
	return groups
}
