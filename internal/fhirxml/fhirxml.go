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
	"strings"

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
