package fhirpath

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// Limits on the documents ParseJSON accepts.
const (
	MaxJSONDepth = 64      // nesting of objects and arrays
	MaxJSONNodes = 1 << 21 // nodes in one tree
)

// ParseJSON builds a node tree from a FHIR R4 JSON resource, typing every
// element from the R4 model. Properties the model does not define are
// kept, untyped, with values inferred from their JSON kind. The document
// must be a single JSON object without duplicate member names. Numbers
// keep their text, so decimal precision is preserved.
func ParseJSON(b []byte) (*Node, error) {
	return ParseJSONModel(b, fhirmodel.R4(), "")
}

// ParseJSONModel is ParseJSON with an explicit model. typeName types the
// root object when it is not a resource (for example "HumanName"). When it
// is empty, the root's resourceType names its type.
func ParseJSONModel(b []byte, model *fhirmodel.Model, typeName string) (*Node, error) {
	bld := &jsonBuilder{model: model}
	dec := newJSONDecoder(b)
	if dec.PeekKind() != '{' {
		return nil, errors.New("fhirpath: JSON input is not an object")
	}
	var root *Node
	var err error
	if typeName != "" {
		root = &Node{typ: model.Type(typeName)}
		if root.typ == nil {
			return nil, fmt.Errorf("fhirpath: unknown type %q", typeName)
		}
		err = bld.object(dec, root)
	} else {
		root, err = bld.resourceValue(dec, "", "")
	}
	if err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("fhirpath: invalid JSON at byte %d: data after the top-level value", dec.InputOffset())
	}
	return root, nil
}

// newJSONDecoder reads b in place: given a *bytes.Buffer, jsontext uses its
// bytes without copying them into a buffer of its own. Every token the
// builder keeps is copied out by String, so the tree never aliases b.
func newJSONDecoder(b []byte) *jsontext.Decoder {
	return jsontext.NewDecoder(bytes.NewBuffer(b), jsontext.AllowDuplicateNames(false), jsontext.AllowInvalidUTF8(false))
}

type jsonBuilder struct {
	model   *fhirmodel.Model
	lenient bool // accept unknown resourceTypes as untyped trees (tests only)
	depth   int
	nodes   int
}

func jsonError(dec *jsontext.Decoder, err error) error {
	if err == nil {
		return nil
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return fmt.Errorf("fhirpath: invalid JSON: %w", err)
	}
	return fmt.Errorf("fhirpath: invalid JSON at byte %d: %w", dec.InputOffset(), err)
}

func (b *jsonBuilder) newNode(dec *jsontext.Decoder) error {
	b.nodes++
	if b.nodes > MaxJSONNodes {
		return fmt.Errorf("fhirpath: JSON document at byte %d has more than %d elements", dec.InputOffset(), MaxJSONNodes)
	}
	return nil
}

// resourceValue reads a resource object, finding its resourceType first so
// that the members can be typed.
func (b *jsonBuilder) resourceValue(dec *jsontext.Decoder, name, jsonName string) (*Node, error) {
	raw, err := dec.ReadValue()
	if err != nil {
		return nil, jsonError(dec, err)
	}
	if raw.Kind() != '{' {
		return nil, fmt.Errorf("fhirpath: invalid JSON at byte %d: resource %q is not an object", dec.InputOffset(), jsonName)
	}
	rt, err := findResourceType(raw)
	if err != nil {
		return nil, err
	}
	n := &Node{name: name, jsonName: jsonName}
	if rt != "" {
		n.typ = b.model.Type(rt)
		if n.typ == nil || n.typ.Kind != fhirmodel.KindResource {
			if !b.lenient {
				return nil, fmt.Errorf("fhirpath: unknown resourceType %q", rt)
			}
			n.typ, n.declaredType = nil, rt
		}
	}
	inner := newJSONDecoder(raw)
	if err := b.object(inner, n); err != nil {
		return nil, err
	}
	return n, nil
}

func findResourceType(raw []byte) (string, error) {
	dec := newJSONDecoder(raw)
	if _, err := dec.ReadToken(); err != nil {
		return "", jsonError(dec, err)
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return "", jsonError(dec, err)
		}
		if name.String() != "resourceType" {
			if err := dec.SkipValue(); err != nil {
				return "", jsonError(dec, err)
			}
			continue
		}
		v, err := dec.ReadToken()
		if err != nil || v.Kind() != '"' {
			return "", errors.New("fhirpath: resourceType is not a string")
		}
		return v.String(), nil
	}
	return "", nil
}

// primitiveGroup tracks the nodes of one primitive property of an object,
// so that "name" and "_name" merge whichever comes first.
type primitiveGroup struct {
	name  string
	nodes []*Node
}

// object reads the members of a JSON object into n's children.
func (b *jsonBuilder) object(dec *jsontext.Decoder, n *Node) error {
	b.depth++
	defer func() { b.depth-- }()
	if b.depth > MaxJSONDepth {
		return fmt.Errorf("fhirpath: JSON at byte %d nested deeper than %d", dec.InputOffset(), MaxJSONDepth)
	}
	if _, err := dec.ReadToken(); err != nil { // {
		return jsonError(dec, err)
	}
	var groups []primitiveGroup
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return jsonError(dec, err)
		}
		name := tok.String()
		if name == "resourceType" && (n.isResource() || n.declaredType != "") {
			if err := dec.SkipValue(); err != nil {
				return jsonError(dec, err)
			}
			continue
		}
		if err := b.member(dec, n, name, &groups); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil { // }
		return jsonError(dec, err)
	}
	dropPlaceholders(n)
	return nil
}

// member reads one property. The element name and type come from the
// model: "valueQuantity" is the element "value" of type Quantity.
func (b *jsonBuilder) member(dec *jsontext.Decoder, parent *Node, jsonName string, groups *[]primitiveGroup) error {
	extra := strings.HasPrefix(jsonName, "_")
	baseName := strings.TrimPrefix(jsonName, "_")
	name, typ := b.elementType(parent, baseName)

	if typ != nil && typ.Kind == fhirmodel.KindPrimitive || extra {
		return b.primitiveMember(dec, parent, name, baseName, typ, extra, groups)
	}
	return b.eachItem(dec, func() error {
		child, err := b.complexValue(dec, parent, name, jsonName, typ)
		if err != nil || child == nil {
			return err
		}
		child.parent = parent
		parent.children = append(parent.children, child)
		return nil
	})
}

// elementType resolves a property name to its element name and type.
func (b *jsonBuilder) elementType(parent *Node, jsonName string) (string, *fhirmodel.Type) {
	if parent.typ == nil {
		return jsonName, nil
	}
	if name, typ, ok := parent.typ.Member(jsonName); ok {
		return name, typ
	}
	return jsonName, nil
}

// eachItem calls fn once for a single value or once per array item.
func (b *jsonBuilder) eachItem(dec *jsontext.Decoder, fn func() error) error {
	if dec.PeekKind() != '[' {
		return fn()
	}
	if _, err := dec.ReadToken(); err != nil {
		return jsonError(dec, err)
	}
	for dec.PeekKind() != ']' {
		if dec.PeekKind() == 0 {
			_, err := dec.ReadToken()
			return jsonError(dec, err)
		}
		if err := fn(); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return jsonError(dec, err)
}

// complexValue reads one object (a data type, backbone element or
// resource) or, for properties the model does not know, any value.
func (b *jsonBuilder) complexValue(dec *jsontext.Decoder, parent *Node, name, jsonName string, typ *fhirmodel.Type) (*Node, error) {
	if err := b.newNode(dec); err != nil {
		return nil, err
	}
	if typ != nil && typ.Kind == fhirmodel.KindResource {
		return b.resourceValue(dec, name, jsonName)
	}
	switch dec.PeekKind() {
	case '{':
		n := &Node{name: name, jsonName: jsonName, typ: typ}
		return n, b.object(dec, n)
	case 'n':
		_, err := dec.ReadToken()
		return nil, jsonError(dec, err)
	}
	if typ != nil {
		return nil, fmt.Errorf("fhirpath: invalid JSON at byte %d: %q of type %s is not an object", dec.InputOffset(), jsonName, typ.Name)
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, jsonError(dec, err)
	}
	return &Node{name: name, jsonName: jsonName, value: inferValue(tok)}, nil
}

// primitiveMember reads "name" (the values) or "_name" (ids and
// extensions) of a primitive property and merges it with the other half.
func (b *jsonBuilder) primitiveMember(dec *jsontext.Decoder, parent *Node, name, jsonName string, typ *fhirmodel.Type, extra bool, groups *[]primitiveGroup) error {
	g := findGroup(groups, name)
	i := 0
	return b.eachItem(dec, func() error {
		if i >= len(g.nodes) {
			if err := b.newNode(dec); err != nil {
				return err
			}
			n := &Node{name: name, jsonName: jsonName, typ: typ, parent: parent}
			g.nodes = append(g.nodes, n)
			parent.children = append(parent.children, n)
		}
		n := g.nodes[i]
		i++
		if dec.PeekKind() == 'n' {
			_, err := dec.ReadToken()
			return jsonError(dec, err)
		}
		if extra {
			if dec.PeekKind() != '{' {
				return fmt.Errorf("fhirpath: invalid JSON at byte %d: %q is not an object", dec.InputOffset(), "_"+jsonName)
			}
			return b.object(dec, n)
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return jsonError(dec, err)
		}
		if k := tok.Kind(); k == '{' || k == '[' {
			return fmt.Errorf("fhirpath: invalid JSON at byte %d: primitive %q is not a string, number or boolean", dec.InputOffset(), jsonName)
		}
		n.value = primitiveFromJSON(tok, typ)
		return nil
	})
}

func findGroup(groups *[]primitiveGroup, name string) *primitiveGroup {
	for i := range *groups {
		if (*groups)[i].name == name {
			return &(*groups)[i]
		}
	}
	*groups = append(*groups, primitiveGroup{name: name})
	return &(*groups)[len(*groups)-1]
}

// dropPlaceholders removes primitive nodes that got neither a value nor
// an id or extension, such as the nulls that align "_given" with "given".
func dropPlaceholders(n *Node) {
	kept := n.children[:0]
	for _, c := range n.children {
		if !c.hasValue() && len(c.children) == 0 && (c.typ == nil || c.typ.Kind == fhirmodel.KindPrimitive) {
			continue
		}
		kept = append(kept, c)
	}
	n.children = kept
}

// primitiveFromJSON converts a JSON scalar to the System value of the
// FHIR primitive type typ.
func primitiveFromJSON(tok jsontext.Token, typ *fhirmodel.Type) Value {
	return primitiveFromScalar(byte(tok.Kind()), tok.String(), typ)
}

// primitiveFromScalar converts a JSON scalar of the given kind and text
// (the unescaped string, or a number as written) to the System value of
// the FHIR primitive type typ. A value whose text does not fit the type is
// kept as a String so that a validator can report it.
func primitiveFromScalar(kind byte, text string, typ *fhirmodel.Type) Value {
	if typ == nil {
		return inferScalar(kind, text)
	}
	switch typ.System {
	case "Boolean":
		if kind == 't' || kind == 'f' {
			return Boolean(kind == 't')
		}
	case "Integer":
		if kind == '0' {
			if i, err := strconv.ParseInt(text, 10, 64); err == nil {
				return Integer(i)
			}
		}
	case "Decimal":
		if kind == '0' {
			if d, err := ParseDecimal(text); err == nil {
				return d
			}
		}
	case "Date":
		if d, err := ParseDate(text); err == nil && kind == '"' {
			return d
		}
	case "DateTime":
		if d, err := ParseDateTime(text); err == nil && kind == '"' {
			return d
		}
	case "Time":
		if t, err := ParseTime(text); err == nil && kind == '"' {
			return t
		}
	case "String":
		if kind == '"' {
			return String(text)
		}
	}
	return inferScalar(kind, text)
}

// inferValue types a JSON scalar the model does not describe.
func inferValue(tok jsontext.Token) Value {
	return inferScalar(byte(tok.Kind()), tok.String())
}

// inferScalar types a JSON scalar of the given kind and text that the
// model does not describe.
func inferScalar(kind byte, text string) Value {
	switch kind {
	case 't', 'f':
		return Boolean(kind == 't')
	case '0':
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return Integer(i)
		}
		if d, err := ParseDecimal(text); err == nil {
			return d
		}
		return String(text)
	case 'n':
		return nil
	}
	return String(text)
}
