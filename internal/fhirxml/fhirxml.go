// Package fhirxml converts FHIR R4 resources from their XML form to their
// JSON form, using the R4 type model to tell arrays from single values
// and numbers and booleans from strings. Gatehouse reads JSON only. The
// converter is for implementation guides published only as XML source,
// such as Da Vinci HRex 1.0.0, whose conformance resources ship in the
// binary once converted.
//
// The conversion follows the FHIR specification's rules for the two
// formats (https://hl7.org/fhir/R4/json.html and xml.html):
//   - the value attribute of a primitive becomes the JSON value, and its
//     id attribute and extensions go to the "_name" member;
//   - repeated elements become arrays, with null where an entry has no
//     value or no extension part;
//   - a resource inside an element (contained, Bundle.entry.resource,
//     Parameters.parameter.resource) becomes an object with its
//     resourceType;
//   - Narrative.div keeps its XHTML text.
//
// Documents outside those rules are errors: a DOCTYPE, text content, an
// unknown element or attribute, two types of one choice element, repeats
// that are not together. One difference remains. XML 1.0 turns a literal
// tab or line break in an attribute value into a space. Go's decoder
// returns such a character unchanged, the same as one written as a
// character reference, so the converter keeps both.
package fhirxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

const (
	fhirNamespace  = "http://hl7.org/fhir"
	xhtmlNamespace = "http://www.w3.org/1999/xhtml"
	// MaxDepth caps the nesting of elements, so that hostile input cannot
	// exhaust the stack.
	MaxDepth = 100
	// MaxBytes caps the size of a converted document.
	MaxBytes = 32 << 20
)

// node is one FHIR element of the document.
type node struct {
	name     string
	value    *string // the value attribute
	id       *string // the id attribute
	url      *string // the url attribute of an extension
	children []*node
	xhtml    []byte // the whole element, for a Narrative div
	line     int
}

// Convert returns the JSON form of the FHIR R4 resource in data.
func Convert(data []byte, model *fhirmodel.Model) ([]byte, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("fhirxml: the document is larger than %d bytes, the conversion limit", MaxBytes)
	}
	if trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return nil, errors.New("fhirxml: the document is not XML: it starts as JSON does")
	}
	root, err := parse(data)
	if err != nil {
		return nil, err
	}
	c := converter{model: model}
	return c.resource(nil, root)
}

// parse reads the document into a tree of FHIR elements.
func parse(data []byte) (*node, error) {
	p := parser{dec: xml.NewDecoder(bytes.NewReader(data)), data: data}
	p.dec.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("the document declares the encoding %q; FHIR XML must be UTF-8", charset)
	}
	for {
		start := p.dec.InputOffset()
		tok, err := p.dec.Token()
		if err == io.EOF {
			return nil, errors.New("fhirxml: no root element")
		}
		if err != nil {
			return nil, fmt.Errorf("fhirxml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			root, err := p.element(t, start, 0)
			if err != nil {
				return nil, err
			}
			return root, p.rest()
		case xml.Directive:
			return nil, errDirective
		}
	}
}

// errDirective rejects DOCTYPE and other declarations, which FHIR
// documents never need and which entity tricks rely on.
var errDirective = errors.New("fhirxml: the document has a DOCTYPE or other declaration, which FHIR does not allow")

type parser struct {
	dec  *xml.Decoder
	data []byte
}

// element reads the element that se starts, up to its end tag. start is
// the offset of its start tag in the document.
func (p *parser) element(se xml.StartElement, start int64, depth int) (*node, error) {
	line, _ := p.dec.InputPos()
	if depth > MaxDepth {
		return nil, fmt.Errorf("fhirxml: line %d: elements nested deeper than %d", line, MaxDepth)
	}
	n := &node{name: se.Name.Local, line: line}
	if se.Name.Space == xhtmlNamespace {
		if !declaresXHTML(se, p.data[start:]) {
			return nil, fmt.Errorf("fhirxml: line %d: an XHTML element must be a div that declares the XHTML namespace itself", line)
		}
		if err := p.dec.Skip(); err != nil {
			return nil, fmt.Errorf("fhirxml: %w", err)
		}
		// XML parsers turn CR LF and lone CR into LF (XML 1.0, section 2.11),
		// and the raw text is taken without a parser.
		raw := bytes.ReplaceAll(p.data[start:p.dec.InputOffset()], []byte("\r\n"), []byte("\n"))
		n.xhtml = bytes.ReplaceAll(raw, []byte("\r"), []byte("\n"))
		return n, nil
	}
	if se.Name.Space != fhirNamespace {
		return nil, fmt.Errorf("fhirxml: line %d: element %s is not in the FHIR namespace %s", line, se.Name.Local, fhirNamespace)
	}
	for _, a := range se.Attr {
		if err := n.setAttr(a); err != nil {
			return nil, err
		}
	}
	for {
		offset := p.dec.InputOffset()
		tok, err := p.dec.Token()
		if err != nil {
			return nil, fmt.Errorf("fhirxml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			child, err := p.element(t, offset, depth+1)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, child)
		case xml.EndElement:
			return n, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("fhirxml: line %d: text inside element %s; FHIR puts values in value attributes", line, n.name)
			}
		case xml.Directive:
			return nil, errDirective
		}
	}
}

// declaresXHTML reports whether the start tag se, whose text begins raw,
// is a div that declares the XHTML namespace for its own name: as the
// default namespace, or for its prefix. The div's text is copied into the
// JSON form alone, so a declaration on an ancestor would be lost.
func declaresXHTML(se xml.StartElement, raw []byte) bool {
	end := bytes.IndexAny(raw, " \t\r\n/>")
	if se.Name.Local != "div" || end < 0 {
		return false
	}
	prefix, _, prefixed := strings.Cut(string(raw[1:end]), ":")
	for _, a := range se.Attr {
		if a.Value != xhtmlNamespace {
			continue
		}
		if (!prefixed && a.Name.Space == "" && a.Name.Local == "xmlns") || (prefixed && a.Name.Space == "xmlns" && a.Name.Local == prefix) {
			return true
		}
	}
	return false
}

// setAttr keeps a FHIR attribute. Namespace declarations and the schema
// location are dropped; any other attribute is an error.
func (n *node) setAttr(a xml.Attr) error {
	if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") || a.Name.Local == "schemaLocation" {
		return nil
	}
	v := a.Value
	switch {
	case a.Name.Space != "":
	case a.Name.Local == "value":
		n.value = &v
		return nil
	case a.Name.Local == "id":
		n.id = &v
		return nil
	case a.Name.Local == "url":
		n.url = &v
		return nil
	}
	return fmt.Errorf("fhirxml: line %d: element %s has an unknown attribute %s", n.line, n.name, a.Name.Local)
}

// rest checks that nothing but comments and white space follows the root.
func (p *parser) rest() error {
	for {
		tok, err := p.dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("fhirxml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return fmt.Errorf("fhirxml: a second root element %s", t.Name.Local)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return errors.New("fhirxml: text after the root element")
			}
		case xml.Directive:
			return errDirective
		}
	}
}

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
