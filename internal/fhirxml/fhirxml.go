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
// Convert rejects a document with any problem: a DOCTYPE, text content,
// an unknown element or attribute, two types of one choice element,
// repeats that are not together, and the like. ConvertReport rejects only
// problems of the whole document. For a problem of one element it records
// the line and FHIRPath location and goes on, so that a validator can
// check the rest. It leaves the faulty element out of the JSON form, or
// only the faulty part: an unknown attribute, a value that is not the
// boolean or number its type requires. Of an element repeated where its
// definition allows one, of a choice element given in two types and of
// the resources inside one element, it keeps the first. A left-out item
// of a repeating primitive becomes null in the JSON arrays, so the other
// items keep their indices. A left-out item of a repeating complex
// element or resource is dropped, so the validator numbers the items
// after it lower than the document does. A problem that the JSON form
// shows the validator by itself, such as an empty complex element, is
// carried over and not reported by the converter.
//
// One difference from the XML specification remains. XML 1.0 turns a
// literal tab or line break in an attribute value into a space. Go's
// decoder returns such a character unchanged, the same as one written as
// a character reference, so the converter keeps both.
package fhirxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

const (
	fhirNamespace  = "http://hl7.org/fhir"
	xhtmlNamespace = "http://www.w3.org/1999/xhtml"
	// MaxDepth caps the nesting of elements, so that hostile input cannot
	// exhaust the stack.
	MaxDepth = 100
	// MaxBytes caps the size of a converted document.
	MaxBytes = 32 << 20
	// MaxProblems caps the problems ConvertReport returns. A problem takes
	// more memory than the few bytes of XML that can cause it, so without a
	// cap a hostile document could grow the list to many times its size.
	MaxProblems = 10_000
)

// Problem is an element-level problem of a document: one that leaves the
// rest of the document convertible. Its message names elements, types and
// attributes, never a value, because values may be PHI.
type Problem struct {
	Line int // line on which the element's start tag ends, from 1
	// Expression is the FHIRPath location of the element, in the form the
	// validator uses ("Patient.name[0].given[1]",
	// "Observation.value.ofType(Quantity)").
	Expression string
	// Element is Expression without the index and choice type of its last
	// step ("Patient.name[0].given"): the path at which the validator
	// reports the cardinality of the element.
	Element string
	Code    outcome.Code // structure, or value for a malformed value
	Message string
	// LeftOut is set when the JSON form has nothing of the element, so a
	// validator may report it missing at Element. An item of a repeating
	// primitive leaves null in its place, which counts as an item.
	LeftOut bool
}

// Error formats the problem as Convert returns it.
func (p Problem) Error() string { return fmt.Sprintf("fhirxml: line %d: %s", p.Line, p.Message) }

// foreignKind is the reason an element is not a FHIR element.
type foreignKind uint8

const (
	notForeign       foreignKind = iota
	foreignNamespace             // in neither the FHIR nor the XHTML namespace
	foreignXHTML                 // XHTML, but not a div that declares the namespace itself
)

// node is one FHIR element of the document. The parser records the
// element-level faults it finds in the node, and the converter reports
// them with the element's location, which only the type model gives.
type node struct {
	name     string
	value    *string // the value attribute
	id       *string // the id attribute
	url      *string // the url attribute of an extension
	children []*node
	xhtml    []byte // the whole element, for a Narrative div
	line     int

	foreign      foreignKind // the element and its content were skipped
	hasText      bool        // text content besides white space
	unknownAttrs []string    // names of attributes FHIR does not define
	apart        bool        // the element starts a second run of its name among its siblings
	leftOut      bool        // the converter left the element out of the JSON form
}

// empty reports whether the element has nothing at all: no attribute, no
// content.
func (n *node) empty() bool {
	return n.value == nil && n.id == nil && n.url == nil && len(n.children) == 0 && n.xhtml == nil &&
		!n.hasText && len(n.unknownAttrs) == 0
}

// Convert returns the JSON form of the FHIR R4 resource in data, or an
// error at the first problem of the document.
func Convert(data []byte, model *fhirmodel.Model) ([]byte, error) {
	root, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	c := converter{model: model, strict: true}
	return c.root(root)
}

// ConvertReport returns the JSON form of the FHIR R4 resource in data and
// the element-level problems of the document, in line order. It leaves
// out what it reports (see the package documentation), so the JSON form
// is valid JSON with no repeated member name.
//
// err is set for a problem of the whole document. Such a document is not
// XML, is larger than MaxBytes, has a DOCTYPE or declares an encoding
// other than UTF-8. Or it has no single root element, nests elements
// deeper than MaxDepth, or its root is not a concrete R4 resource type.
// err is also set, with the first MaxProblems problems returned, when the
// document has more problems than that.
func ConvertReport(data []byte, model *fhirmodel.Model) ([]byte, []Problem, error) {
	root, err := parseDocument(data)
	if err != nil {
		return nil, nil, err
	}
	c := converter{model: model}
	out, err := c.root(root)
	c.finishProblems()
	if err != nil {
		return nil, c.problems, err
	}
	return out, c.problems, nil
}

// parseDocument checks the size and the start of data, then parses it.
func parseDocument(data []byte) (*node, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("fhirxml: the document is larger than %d bytes, the conversion limit", MaxBytes)
	}
	if trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return nil, errors.New("fhirxml: the document is not XML: it starts as JSON does")
	}
	return parse(data)
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
// the offset of its start tag in the document. An element outside the
// FHIR namespace is skipped with its content and marked foreign, unless
// it is the root, which must be a FHIR resource.
func (p *parser) element(se xml.StartElement, start int64, depth int) (*node, error) {
	line, _ := p.dec.InputPos()
	if depth > MaxDepth {
		return nil, fmt.Errorf("fhirxml: line %d: elements nested deeper than %d", line, MaxDepth)
	}
	n := &node{name: se.Name.Local, line: line}
	if se.Name.Space == xhtmlNamespace {
		if !declaresXHTML(se, p.data[start:]) {
			if depth == 0 {
				return nil, fmt.Errorf("fhirxml: line %d: an XHTML element must be a div that declares the XHTML namespace itself", line)
			}
			n.foreign = foreignXHTML
			return n, p.skip()
		}
		if err := p.skip(); err != nil {
			return nil, err
		}
		// XML parsers turn CR LF and lone CR into LF (XML 1.0, section 2.11),
		// and the raw text is taken without a parser.
		raw := bytes.ReplaceAll(p.data[start:p.dec.InputOffset()], []byte("\r\n"), []byte("\n"))
		n.xhtml = bytes.ReplaceAll(raw, []byte("\r"), []byte("\n"))
		return n, nil
	}
	if se.Name.Space != fhirNamespace {
		if depth == 0 {
			return nil, fmt.Errorf("fhirxml: line %d: element %s is not in the FHIR namespace %s", line, se.Name.Local, fhirNamespace)
		}
		n.foreign = foreignNamespace
		return n, p.skip()
	}
	for _, a := range se.Attr {
		n.setAttr(a)
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
				n.hasText = true
			}
		case xml.Directive:
			return nil, errDirective
		}
	}
}

// skip reads past the end of the element whose start tag was read last.
// It rejects a declaration inside the element, as one anywhere else is.
func (p *parser) skip() error {
	for depth := 1; depth > 0; {
		tok, err := p.dec.Token()
		if err != nil {
			return fmt.Errorf("fhirxml: %w", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.Directive:
			return errDirective
		}
	}
	return nil
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
// location are dropped, and the name of any other attribute is recorded as
// unknown.
func (n *node) setAttr(a xml.Attr) {
	if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") || a.Name.Local == "schemaLocation" {
		return
	}
	v := a.Value
	switch {
	case a.Name.Space != "":
	case a.Name.Local == "value":
		n.value = &v
		return
	case a.Name.Local == "id":
		n.id = &v
		return
	case a.Name.Local == "url":
		n.url = &v
		return
	}
	n.unknownAttrs = append(n.unknownAttrs, a.Name.Local)
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
