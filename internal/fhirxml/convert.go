package fhirxml

import (
	"fmt"
	"regexp"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

type converter struct {
	model *fhirmodel.Model
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

// resource appends the JSON object of the resource n.
func (c *converter) resource(dst []byte, n *node) ([]byte, error) {
	t := c.model.Type(n.name)
	if t == nil || t.Kind != fhirmodel.KindResource || t.Abstract {
		return nil, fmt.Errorf("fhirxml: line %d: %s is not a concrete R4 resource type", n.line, n.name)
	}
	if n.value != nil || n.id != nil || n.url != nil {
		return nil, fmt.Errorf("fhirxml: line %d: resource %s has attributes", n.line, n.name)
	}
	o := &object{buf: append(dst, '{')}
	o.key("resourceType")
	o.buf, _ = jsontext.AppendQuote(o.buf, n.name)
	return c.members(o, n, t)
}

// complex appends the JSON object of the complex element n of type t.
func (c *converter) complex(dst []byte, n *node, t *fhirmodel.Type) ([]byte, error) {
	if n.value != nil {
		return nil, fmt.Errorf("fhirxml: line %d: %s of type %s has a value attribute", n.line, n.name, t.Name)
	}
	return c.members(&object{buf: append(dst, '{')}, n, t)
}

// members appends the attributes and child elements of n, of type t, to
// o and closes it. Outside resources, id is an attribute, and so is an
// extension's url. A child element of either name is an error, so no
// member is written twice.
func (c *converter) members(o *object, n *node, t *fhirmodel.Type) ([]byte, error) {
	isExtension := t.IsA("Extension")
	if n.url != nil && !isExtension {
		return nil, fmt.Errorf("fhirxml: line %d: only an extension has a url attribute, not %s", n.line, n.name)
	}
	for _, a := range []struct {
		name string
		v    *string
	}{{"id", n.id}, {"url", n.url}} {
		if a.v == nil {
			continue
		}
		if _, _, ok := t.Member(a.name); !ok {
			return nil, fmt.Errorf("fhirxml: line %d: %s of type %s has no %s", n.line, n.name, t.Name, a.name)
		}
		o.key(a.name)
		o.buf, _ = jsontext.AppendQuote(o.buf, *a.v)
	}
	groups, err := groupByName(n.children)
	if err != nil {
		return nil, err
	}
	elements := map[string]string{} // element name to the first member name of it
	for _, g := range groups {
		name := g[0].name
		if (name == "id" && t.Kind != fhirmodel.KindResource) || (name == "url" && isExtension) {
			return nil, fmt.Errorf("fhirxml: line %d: %s is an attribute of %s in XML, not an element", g[0].line, name, n.name)
		}
		element, _, _ := t.Member(name)
		if first, dup := elements[element]; dup {
			return nil, fmt.Errorf("fhirxml: line %d: %s and %s are both %s of %s, which takes one", g[0].line, first, name, element, t.Name)
		}
		elements[element] = name
		if err := c.member(o, g, t); err != nil {
			return nil, err
		}
	}
	return append(o.buf, '}'), nil
}

// member appends the elements g, which share a name, as members of o.
func (c *converter) member(o *object, g []*node, t *fhirmodel.Type) error {
	first := g[0]
	name, typ, ok := t.Member(first.name)
	if !ok || typ == nil {
		return fmt.Errorf("fhirxml: line %d: %s has no element %s", first.line, t.Name, first.name)
	}
	repeats := t.Element(name).Repeats()
	if !repeats && len(g) > 1 {
		return fmt.Errorf("fhirxml: line %d: %s.%s repeats, which its definition does not allow", g[1].line, t.Name, first.name)
	}
	for _, n := range g {
		if n.xhtml != nil && typ.Name != "xhtml" {
			return fmt.Errorf("fhirxml: line %d: XHTML inside %s of type %s", n.line, n.name, typ.Name)
		}
	}
	var err error
	switch typ.Kind {
	case fhirmodel.KindPrimitive:
		return c.primitive(o, g, typ, repeats)
	case fhirmodel.KindResource:
		o.key(first.name)
		o.buf, err = each(o.buf, g, repeats, func(dst []byte, n *node) ([]byte, error) {
			if len(n.children) != 1 || n.value != nil || n.id != nil {
				return nil, fmt.Errorf("fhirxml: line %d: %s must hold exactly one resource", n.line, n.name)
			}
			return c.resource(dst, n.children[0])
		})
	default:
		o.key(first.name)
		o.buf, err = each(o.buf, g, repeats, func(dst []byte, n *node) ([]byte, error) { return c.complex(dst, n, typ) })
	}
	return err
}

// each appends one value per node of g, as an array when the element
// repeats.
func each(dst []byte, g []*node, repeats bool, value func([]byte, *node) ([]byte, error)) ([]byte, error) {
	if repeats {
		dst = append(dst, '[')
	}
	for i, n := range g {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = value(dst, n); err != nil {
			return nil, err
		}
	}
	if repeats {
		dst = append(dst, ']')
	}
	return dst, nil
}

// primitive appends the primitive elements g as the member "name" with
// their values and the member "_name" with their ids and extensions. When
// the element repeats, each is an array with null where an occurrence
// lacks that part.
func (c *converter) primitive(o *object, g []*node, t *fhirmodel.Type, repeats bool) error {
	hasValue, hasExtra := false, false
	for _, n := range g {
		hasValue = hasValue || n.value != nil || n.xhtml != nil
		hasExtra = hasExtra || n.id != nil || len(n.children) > 0
		if n.url != nil {
			return fmt.Errorf("fhirxml: line %d: primitive %s has a url attribute", n.line, n.name)
		}
	}
	name := g[0].name
	if !hasValue && !hasExtra {
		return fmt.Errorf("fhirxml: line %d: %s has neither a value nor an extension", g[0].line, name)
	}
	var err error
	if hasValue {
		o.key(name)
		o.buf, err = each(o.buf, g, repeats, func(dst []byte, n *node) ([]byte, error) { return primitiveValue(dst, n, t) })
		if err != nil {
			return err
		}
	}
	if hasExtra {
		o.key("_" + name)
		o.buf, err = each(o.buf, g, repeats, func(dst []byte, n *node) ([]byte, error) {
			if n.id == nil && len(n.children) == 0 {
				return append(dst, "null"...), nil
			}
			extra := *n
			extra.value = nil
			return c.complex(dst, &extra, t)
		})
	}
	return err
}

// jsonNumber matches the JSON number grammar, which FHIR's integer and
// decimal values must follow.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// primitiveValue appends the JSON value of the primitive n: a boolean, a
// number with its exact decimal text, the XHTML of a div, or a string.
func primitiveValue(dst []byte, n *node, t *fhirmodel.Type) ([]byte, error) {
	if n.xhtml != nil {
		if t.Name != "xhtml" {
			return nil, fmt.Errorf("fhirxml: line %d: XHTML inside %s of type %s", n.line, n.name, t.Name)
		}
		return jsontext.AppendQuote(dst, n.xhtml)
	}
	if n.value == nil {
		return append(dst, "null"...), nil
	}
	v := *n.value
	switch t.System {
	case "Boolean":
		if v != "true" && v != "false" {
			return nil, fmt.Errorf("fhirxml: line %d: %s must be true or false", n.line, n.name)
		}
		return append(dst, v...), nil
	case "Integer", "Decimal":
		if !jsonNumber.MatchString(v) {
			return nil, fmt.Errorf("fhirxml: line %d: %s must be a number", n.line, n.name)
		}
		return append(dst, v...), nil
	}
	return jsontext.AppendQuote(dst, v)
}

// groupByName groups consecutive nodes of one element name. FHIR XML
// keeps the occurrences of one element together, as JSON arrays do, so a
// name that comes back after another is an error.
func groupByName(nodes []*node) ([][]*node, error) {
	var groups [][]*node
	seen := map[string]bool{}
	for i, n := range nodes {
		if i > 0 && nodes[i-1].name == n.name {
			groups[len(groups)-1] = append(groups[len(groups)-1], n)
			continue
		}
		if seen[n.name] {
			return nil, fmt.Errorf("fhirxml: line %d: the %s elements are not together", n.line, n.name)
		}
		seen[n.name] = true
		groups = append(groups, []*node{n})
	}
	return groups, nil
}
