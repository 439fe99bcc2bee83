package fhirpath

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// parseFHIRXML builds a node tree from a FHIR XML resource, for the test
// inputs of the official suite that exist only as XML. It follows the
// FHIR XML rules the inputs use: primitive values in "value" attributes,
// id and url as attributes, resources wrapped in an element named after
// the property (contained, resource), and XHTML narrative kept as text.
func parseFHIRXML(path string) (*Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	start, err := nextStart(dec)
	if err != nil {
		return nil, err
	}
	x := &xmlBuilder{model: fhirmodel.R4(), dec: dec}
	return x.resource(start, "", nil)
}

type xmlBuilder struct {
	model *fhirmodel.Model
	dec   *xml.Decoder
}

func nextStart(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, errors.New("unexpected end element " + t.Name.Local)
		}
	}
}

func (x *xmlBuilder) resource(start xml.StartElement, name string, parent *Node) (*Node, error) {
	typ := x.model.Type(start.Name.Local)
	if typ == nil || typ.Kind != fhirmodel.KindResource {
		return nil, fmt.Errorf("unknown resource %q", start.Name.Local)
	}
	n := &Node{name: name, jsonName: name, typ: typ, parent: parent}
	return n, x.children(n)
}

// children reads child elements until the end of the current element.
func (x *xmlBuilder) children(n *Node) error {
	for {
		tok, err := x.dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			child, err := x.element(t, n)
			if err != nil {
				return err
			}
			if child != nil {
				n.children = append(n.children, child)
			}
		}
	}
}

func (x *xmlBuilder) element(start xml.StartElement, parent *Node) (*Node, error) {
	jsonName := start.Name.Local
	name, typ := (&jsonBuilder{model: x.model}).elementType(parent, jsonName)
	if typ == nil {
		return nil, fmt.Errorf("unknown element %q in %s", jsonName, parent.typeNameOf())
	}
	switch {
	case typ.Kind == fhirmodel.KindResource:
		inner, err := nextStart(x.dec)
		if err != nil {
			return nil, err
		}
		res, err := x.resource(inner, name, parent)
		if err != nil {
			return nil, err
		}
		return res, x.skipToEnd()
	case typ.Name == "xhtml":
		var b strings.Builder
		if err := x.xhtml(&b, start, true); err != nil {
			return nil, err
		}
		return &Node{name: name, jsonName: jsonName, typ: typ, parent: parent, value: String(b.String())}, nil
	}
	n := &Node{name: name, jsonName: jsonName, typ: typ, parent: parent}
	for _, a := range start.Attr {
		if a.Name.Space != "" || a.Name.Local == "xmlns" {
			continue
		}
		if a.Name.Local == "value" && typ.Kind == fhirmodel.KindPrimitive {
			n.value = primitiveFromText(a.Value, typ)
			continue
		}
		_, atyp := (&jsonBuilder{model: x.model}).elementType(n, a.Name.Local)
		if atyp == nil {
			return nil, fmt.Errorf("unknown attribute %q on %s", a.Name.Local, jsonName)
		}
		n.children = append(n.children, &Node{name: a.Name.Local, jsonName: a.Name.Local, typ: atyp, parent: n, value: primitiveFromText(a.Value, atyp)})
	}
	return n, x.children(n)
}

func (x *xmlBuilder) skipToEnd() error {
	depth := 0
	for {
		tok, err := x.dec.Token()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// xhtml re-serializes an XHTML element and its content.
func (x *xmlBuilder) xhtml(b *strings.Builder, start xml.StartElement, root bool) error {
	b.WriteString("<" + start.Name.Local)
	if root {
		b.WriteString(` xmlns="http://www.w3.org/1999/xhtml"`)
	}
	for _, a := range start.Attr {
		if a.Name.Local == "xmlns" || a.Name.Space == "xmlns" {
			continue
		}
		b.WriteString(" " + a.Name.Local + `="`)
		xml.EscapeText(b2w{b}, []byte(a.Value))
		b.WriteString(`"`)
	}
	b.WriteString(">")
	for {
		tok, err := x.dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := x.xhtml(b, t, false); err != nil {
				return err
			}
		case xml.EndElement:
			b.WriteString("</" + t.Name.Local + ">")
			return nil
		case xml.CharData:
			xml.EscapeText(b2w{b}, t)
		}
	}
}

type b2w struct{ b *strings.Builder }

func (w b2w) Write(p []byte) (int, error) { return w.b.Write(p) }

var _ io.Writer = b2w{}

// primitiveFromText converts an XML attribute value to the System value
// of a FHIR primitive type.
func primitiveFromText(s string, typ *fhirmodel.Type) Value {
	switch typ.System {
	case "Boolean":
		if b, err := strconv.ParseBool(s); err == nil {
			return Boolean(b)
		}
	case "Integer":
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Integer(i)
		}
	case "Decimal":
		if d, err := ParseDecimal(s); err == nil {
			return d
		}
	case "Date":
		if d, err := ParseDate(s); err == nil {
			return d
		}
	case "DateTime":
		if d, err := ParseDateTime(s); err == nil {
			return d
		}
	case "Time":
		if t, err := ParseTime(s); err == nil {
			return t
		}
	}
	return String(s)
}
