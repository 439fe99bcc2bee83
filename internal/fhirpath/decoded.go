package fhirpath

import (
	"errors"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// DecodedJSON is one value of a JSON document a caller has already
// decoded, read by ParseDecoded. Kinds are those of jsontext.Kind: '{',
// '[', '"', '0', 't', 'f' and 'n'.
type DecodedJSON interface {
	// JSONKind returns the kind of the value.
	JSONKind() byte
	// JSONText returns the unescaped text of a string, or a number as
	// written so that decimal precision is kept. Other kinds return "".
	JSONText() string
	// JSONLen returns the number of members of an object or items of an
	// array.
	JSONLen() int
	// JSONMember returns member i of an object, in document order.
	JSONMember(i int) (name string, value DecodedJSON)
	// JSONItem returns item i of an array.
	JSONItem(i int) DecodedJSON
}

// errNeedsParse stops a build at a fault that ParseJSON reports, because
// only ParseJSON can word that error with its byte offset.
var errNeedsParse = errors.New("fhirpath: decoded document needs the parser's error")

// ParseDecoded builds the tree ParseJSON builds from body, reading root,
// the caller's decoding of body, instead of tokenising body again. root
// must be body decoded as a single JSON object without duplicate member
// names. When the document has a fault that makes ParseJSON fail, body is
// parsed to return ParseJSON's own error. Strings of the tree are those of
// root, so root's strings must not alias memory the caller changes later.
func ParseDecoded(root DecodedJSON, body []byte) (*Node, error) {
	bld := &decodedBuilder{model: fhirmodel.R4()}
	n, err := bld.resource(root, "", "")
	if err != nil {
		return ParseJSON(body)
	}
	return n, nil
}

// decodedBuilder mirrors jsonBuilder step by step over decoded values,
// with the same depth and node limits. Every fault returns errNeedsParse.
type decodedBuilder struct {
	model *fhirmodel.Model
	depth int
	nodes int
}

func (b *decodedBuilder) newNode() error {
	b.nodes++
	if b.nodes > MaxJSONNodes {
		return errNeedsParse
	}
	return nil
}

// resource types a resource object from its resourceType member.
func (b *decodedBuilder) resource(v DecodedJSON, name, jsonName string) (*Node, error) {
	if v.JSONKind() != '{' {
		return nil, errNeedsParse
	}
	n := &Node{name: name, jsonName: jsonName}
	for i := range v.JSONLen() {
		member, val := v.JSONMember(i)
		if member != "resourceType" {
			continue
		}
		if val.JSONKind() != '"' {
			return nil, errNeedsParse
		}
		n.typ = b.model.Type(val.JSONText())
		if n.typ == nil || n.typ.Kind != fhirmodel.KindResource {
			return nil, errNeedsParse
		}
		break
	}
	return n, b.object(v, n)
}

// object reads the members of v into n's children.
func (b *decodedBuilder) object(v DecodedJSON, n *Node) error {
	b.depth++
	defer func() { b.depth-- }()
	if b.depth > MaxJSONDepth {
		return errNeedsParse
	}
	var groups []primitiveGroup
	for i := range v.JSONLen() {
		name, val := v.JSONMember(i)
		if name == "resourceType" && n.isResource() {
			continue
		}
		if err := b.member(val, n, name, &groups); err != nil {
			return err
		}
	}
	dropPlaceholders(n)
	return nil
}

// member reads one property, as jsonBuilder.member does.
func (b *decodedBuilder) member(v DecodedJSON, parent *Node, jsonName string, groups *[]primitiveGroup) error {
	extra := len(jsonName) > 0 && jsonName[0] == '_'
	baseName := jsonName
	if extra {
		baseName = jsonName[1:]
	}
	name, typ := (&jsonBuilder{model: b.model}).elementType(parent, baseName)
	if typ != nil && typ.Kind == fhirmodel.KindPrimitive || extra {
		return b.primitiveMember(v, parent, name, baseName, typ, extra, groups)
	}
	return eachDecoded(v, func(item DecodedJSON) error {
		child, err := b.complexValue(item, name, jsonName, typ)
		if err != nil || child == nil {
			return err
		}
		child.parent = parent
		parent.children = append(parent.children, child)
		return nil
	})
}

// eachDecoded calls fn once for a single value or once per array item.
// An array inside an array is a fault ParseJSON reports.
func eachDecoded(v DecodedJSON, fn func(DecodedJSON) error) error {
	if v.JSONKind() != '[' {
		return fn(v)
	}
	for i := range v.JSONLen() {
		item := v.JSONItem(i)
		if item.JSONKind() == '[' {
			return errNeedsParse
		}
		if err := fn(item); err != nil {
			return err
		}
	}
	return nil
}

// complexValue reads one object or, for properties the model does not
// know, any value.
func (b *decodedBuilder) complexValue(v DecodedJSON, name, jsonName string, typ *fhirmodel.Type) (*Node, error) {
	if err := b.newNode(); err != nil {
		return nil, err
	}
	if typ != nil && typ.Kind == fhirmodel.KindResource {
		return b.resource(v, name, jsonName)
	}
	switch v.JSONKind() {
	case '{':
		n := &Node{name: name, jsonName: jsonName, typ: typ}
		return n, b.object(v, n)
	case 'n':
		return nil, nil
	}
	if typ != nil {
		return nil, errNeedsParse
	}
	return &Node{name: name, jsonName: jsonName, value: inferScalar(v.JSONKind(), v.JSONText())}, nil
}

// primitiveMember reads "name" or "_name" of a primitive property and
// merges it with the other half.
func (b *decodedBuilder) primitiveMember(v DecodedJSON, parent *Node, name, jsonName string, typ *fhirmodel.Type, extra bool, groups *[]primitiveGroup) error {
	g := findGroup(groups, name)
	i := 0
	return eachDecoded(v, func(item DecodedJSON) error {
		if i >= len(g.nodes) {
			if err := b.newNode(); err != nil {
				return err
			}
			n := &Node{name: name, jsonName: jsonName, typ: typ, parent: parent}
			g.nodes = append(g.nodes, n)
			parent.children = append(parent.children, n)
		}
		n := g.nodes[i]
		i++
		kind := item.JSONKind()
		switch {
		case kind == 'n':
			return nil
		case extra && kind != '{':
			return errNeedsParse
		case extra:
			return b.object(item, n)
		case kind == '{' || kind == '[':
			return errNeedsParse
		}
		n.value = primitiveFromScalar(kind, item.JSONText(), typ)
		return nil
	})
}
