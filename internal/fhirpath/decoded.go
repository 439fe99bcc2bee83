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

// MemberRecorder is implemented by a DecodedJSON object that stores how
// its members resolve in the FHIR model. While ParseDecoded builds the
// tree, it calls RecordMember for each member i of the object whose JSON
// name, without a leading "_", is a member of the object's type parent.
// The index is that name's fhirmodel.Type.MemberIndex. The caller can then
// reuse the resolution instead of looking the name up again. The builder
// reads it nowhere, and an object whose build fails may have some of its
// members recorded.
type MemberRecorder interface {
	RecordMember(i int, parent *fhirmodel.Type, index int)
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
// Primitive values are converted from their text when first read, which
// writes to the node, so one goroutine at a time evaluates the tree.
func ParseDecoded(root DecodedJSON, body []byte) (*Node, error) {
	return ParseDecodedIn(root, body, nil)
}

// ParseDecodedIn is ParseDecoded with the nodes taken from arena, when it
// is not nil. The tree is then valid until the arena is reset, except a
// tree that ParseJSON built after a fault, which does not use the arena.
func ParseDecodedIn(root DecodedJSON, body []byte, arena *DecodedArena) (*Node, error) {
	bld := &decodedBuilder{model: fhirmodel.R4(), arena: arena}
	if arena != nil {
		bld.groups = arena.groups[:0]
	}
	n, err := bld.resource(root, "", "")
	if arena != nil {
		// A build that stopped at a fault leaves groups on the stack.
		clear(bld.groups)
		arena.groups = bld.groups[:0]
	}
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

	// Nodes and the first room for each object's children are carved out
	// of chunks, a few allocations per document instead of one or two
	// per element. The room has one place per member and array item, so
	// that arrays do not grow it. It may be larger than the children, but
	// it belongs to one node alone, so an append past its capacity moves
	// to the heap and overwrites no other node's children. A node kept
	// after the tree is dropped keeps its whole chunk in memory.
	slab  []Node
	refs  []*Node
	arena *DecodedArena // when not nil, nodes and children come from it
	// groups contains the primitive groups of the objects being read,
	// innermost last.
	groups []decodedGroup
}

// decodedGroup is a primitiveGroup without a slice for the common case of
// one value: the nodes of one primitive property, so that "name" and
// "_name" merge whichever comes first.
type decodedGroup struct {
	name  string
	first *Node
	more  []*Node
	count int
}

func (g *decodedGroup) node(i int) *Node {
	if i == 0 {
		return g.first
	}
	return g.more[i-1]
}

// add appends n to g. room is the number of nodes the property has in
// all, so that the first node after the first takes room for the rest
// from b's chunks instead of growing a slice per item.
func (g *decodedGroup) add(b *decodedBuilder, n *Node, room int) {
	switch {
	case g.count == 0:
		g.first = n
	case g.more == nil && room > 1:
		g.more = append(b.childRoom(room-1), n)
	default:
		g.more = append(g.more, n)
	}
	g.count++
}

const (
	nodeChunk = 64
	refChunk  = 256
)

// node returns a zero Node from the current chunk.
func (b *decodedBuilder) node() *Node {
	if b.arena != nil {
		return &b.arena.nodes.Take(1)[0]
	}
	if len(b.slab) == 0 {
		b.slab = make([]Node, nodeChunk)
	}
	n := &b.slab[0]
	b.slab = b.slab[1:]
	return n
}

// childRoom returns an empty children slice with capacity n.
func (b *decodedBuilder) childRoom(n int) []*Node {
	if b.arena != nil {
		return b.arena.refs.Take(n)[:0]
	}
	if n > refChunk/4 {
		return make([]*Node, 0, n)
	}
	if len(b.refs) < n {
		b.refs = make([]*Node, refChunk)
	}
	c := b.refs[:0:n]
	b.refs = b.refs[n:]
	return c
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
	n := b.node()
	n.name, n.jsonName = name, jsonName
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
	members := v.JSONLen()
	room, extras := childCount(v, members)
	if n.children == nil {
		n.children = b.childRoom(room)
	}
	mark := len(b.groups)
	rec, _ := v.(MemberRecorder)
	for i := range members {
		name, val := v.JSONMember(i)
		if name == "resourceType" && n.isResource() {
			continue
		}
		if err := b.member(val, n, name, mark, extras, memberSlot{rec, i}); err != nil {
			return err
		}
	}
	clear(b.groups[mark:])
	b.groups = b.groups[:mark]
	dropPlaceholders(n)
	return nil
}

// childCount returns the maximum number of children the members of object
// v can give, which is one per value, counting each array item. Both
// halves of a primitive ("name" and "_name") are counted, although they
// merge into one node. extras reports whether a member name starts with
// "_".
func childCount(v DecodedJSON, members int) (count int, extras bool) {
	for i := range members {
		name, val := v.JSONMember(i)
		if val.JSONKind() == '[' {
			count += val.JSONLen()
		} else {
			count++
		}
		extras = extras || len(name) > 0 && name[0] == '_'
	}
	return count, extras
}

// memberSlot is the place where the builder records a member's
// resolution: member i of an object that implements MemberRecorder. A nil
// rec records nothing.
type memberSlot struct {
	rec MemberRecorder
	i   int
}

// member reads one property, as jsonBuilder.member does. extras reports
// whether a member name of the parent object starts with "_".
func (b *decodedBuilder) member(v DecodedJSON, parent *Node, jsonName string, groups int, extras bool, slot memberSlot) error {
	extra := len(jsonName) > 0 && jsonName[0] == '_'
	baseName := jsonName
	if extra {
		baseName = jsonName[1:]
	}
	name, typ, index := b.elementType(parent, baseName, slot)
	// A primitive property shares its nodes with another member of the
	// object only when that member is its "_" half or another choice
	// type of the same element. Without either, no group is needed.
	lone := !extras && name == jsonName
	if typ != nil && typ.Kind == fhirmodel.KindPrimitive && lone {
		return b.lonePrimitive(v, parent, name, typ, index)
	}
	if typ != nil && typ.Kind == fhirmodel.KindPrimitive || extra {
		return b.primitiveMember(v, parent, name, baseName, typ, extra, groups, index)
	}
	return eachDecoded(v, func(item DecodedJSON) error {
		child, err := b.complexValue(item, name, jsonName, typ)
		if err != nil || child == nil {
			return err
		}
		child.parent = parent
		child.memberIndex = int32(index + 1)
		parent.children = append(parent.children, child)
		return nil
	})
}

// elementType resolves a property name to its element name and type, as
// jsonBuilder.elementType does, and records the resolution in slot. The
// index is the name's fhirmodel.Type.MemberIndex in parent's type, or -1.
func (b *decodedBuilder) elementType(parent *Node, jsonName string, slot memberSlot) (string, *fhirmodel.Type, int) {
	if parent.typ == nil {
		return jsonName, nil, -1
	}
	name, typ, index := parent.typ.MemberIndex(jsonName)
	if index < 0 {
		return jsonName, nil, -1
	}
	if slot.rec != nil {
		slot.rec.RecordMember(slot.i, parent.typ, index)
	}
	return name, typ, index
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
		n := b.node()
		n.name, n.jsonName, n.typ = name, jsonName, typ
		return n, b.object(v, n)
	case 'n':
		return nil, nil
	}
	if typ != nil {
		return nil, errNeedsParse
	}
	n := b.node()
	// With typ nil, Value infers the value's type as inferScalar does.
	n.name, n.jsonName = name, jsonName
	n.scalarKind, n.scalar = v.JSONKind(), v.JSONText()
	return n, nil
}

// primitiveMember reads "name" or "_name" of a primitive property and
// merges it with the other half. The groups of the object being read
// start at index groups of b.groups.
func (b *decodedBuilder) primitiveMember(v DecodedJSON, parent *Node, name, jsonName string, typ *fhirmodel.Type, extra bool, groups int, index int) error {
	gi := b.findGroup(groups, name)
	items := 1
	if v.JSONKind() == '[' {
		items = v.JSONLen()
	}
	i := 0
	return eachDecoded(v, func(item DecodedJSON) error {
		// Re-read on each item: reading an item's "_name" object may
		// append groups of a nested object and move b.groups.
		g := &b.groups[gi]
		if i >= g.count {
			if err := b.newNode(); err != nil {
				return err
			}
			n := b.node()
			n.name, n.jsonName, n.typ, n.parent = name, jsonName, typ, parent
			n.memberIndex = int32(index + 1)
			g.add(b, n, items)
			parent.children = append(parent.children, n)
		}
		n := g.node(i)
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
		n.scalarKind, n.scalar = kind, item.JSONText()
		return nil
	})
}

// lonePrimitive reads a primitive property whose nodes no other member
// of the object shares, as primitiveMember would without a group.
func (b *decodedBuilder) lonePrimitive(v DecodedJSON, parent *Node, name string, typ *fhirmodel.Type, index int) error {
	return eachDecoded(v, func(item DecodedJSON) error {
		if err := b.newNode(); err != nil {
			return err
		}
		n := b.node()
		n.name, n.jsonName, n.typ, n.parent = name, name, typ, parent
		n.memberIndex = int32(index + 1)
		parent.children = append(parent.children, n)
		kind := item.JSONKind()
		switch kind {
		case 'n':
			return nil
		case '{', '[':
			return errNeedsParse
		}
		n.scalarKind, n.scalar = kind, item.JSONText()
		return nil
	})
}

// findGroup returns the index in b.groups of the group called name among
// those from index from on, adding it when missing.
func (b *decodedBuilder) findGroup(from int, name string) int {
	for i := from; i < len(b.groups); i++ {
		if b.groups[i].name == name {
			return i
		}
	}
	b.groups = append(b.groups, decodedGroup{name: name})
	return len(b.groups) - 1
}
