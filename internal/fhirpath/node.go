package fhirpath

import (
	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// Node is one element of a FHIR resource tree: a resource, a complex
// element or a primitive. A primitive node carries its value as a System
// value (String, Boolean, Integer, Decimal, Date, DateTime, Time) and its
// id and extensions as children, merged from the JSON "_name" property.
//
// A tree from ParseJSON is immutable once built, so it may be evaluated
// concurrently. A tree from ParseDecoded is not (see Value).
type Node struct {
	name     string          // element name, without the choice type suffix
	jsonName string          // property name as written ("valueQuantity")
	typ      *fhirmodel.Type // nil when the model does not define the element
	value    Value           // primitive value; nil for complex nodes (see Value)
	children []*Node         // in document order
	parent   *Node

	// scalarKind and scalar are a primitive's JSON kind ('"', '0', 't'
	// or 'f') and text, kept by ParseDecoded instead of value. Most values
	// of a validated document are never read by an expression, so Value
	// converts one only when it is first read. scalarKind is 0 when value
	// is final.
	scalarKind byte
	scalar     string

	// memberIndex is one more than the node's fhirmodel.Type.MemberIndex in
	// its parent's type, or 0 when it is unknown. Only ParseDecoded sets it.
	memberIndex int32

	// declaredType is the resourceType of a resource the model does not
	// define, kept only when parsing leniently (see jsonBuilder.lenient).
	declaredType string
}

// TypeName implements Value: the FHIR type of the node, or System.Any
// when the model does not define it.
func (n *Node) TypeName() (string, string) {
	if n.typ == nil {
		if n.hasValue() {
			return n.Value().TypeName()
		}
		return "System", "Any"
	}
	return "FHIR", n.typ.Name
}

// Name returns the element name ("value" for valueQuantity), or "" for the
// root of a tree.
func (n *Node) Name() string { return n.name }

// JSONName returns the property name as written in the JSON document.
func (n *Node) JSONName() string { return n.jsonName }

// MemberIndex returns the fhirmodel.Type.MemberIndex of the node's JSON
// name in its parent's type, or -1 when the tree builder did not record
// it. ParseDecoded records it for every member the model defines.
// ParseJSON, and so ParseDecoded after a fault, records none.
func (n *Node) MemberIndex() int { return int(n.memberIndex) - 1 }

// Type returns the node's type in the FHIR model, or nil.
func (n *Node) Type() *fhirmodel.Type { return n.typ }

// Value returns the primitive value of the node, or nil. A value that
// ParseDecoded kept as text is converted on first use and stored in the
// node, so a tree from ParseDecoded, like its arena, is for one goroutine
// at a time.
func (n *Node) Value() Value {
	if n.scalarKind != 0 {
		n.value = primitiveFromScalar(n.scalarKind, n.scalar, n.typ)
		n.scalarKind, n.scalar = 0, ""
	}
	return n.value
}

// StringValue returns the value of a node whose value is a System.String,
// as n.Value().(String) does, with ok false for any other node. A string
// that ParseDecoded kept as text is returned without converting it to a
// Value, which would allocate.
func (n *Node) StringValue() (s string, ok bool) {
	if n.scalarKind == '"' && (n.typ == nil || n.typ.System == "String") {
		return n.scalar, true // what primitiveFromScalar returns for it
	}
	v, ok := n.Value().(String)
	return string(v), ok
}

// hasValue reports whether the node has a primitive value, without
// converting one that ParseDecoded kept as text.
func (n *Node) hasValue() bool { return n.value != nil || n.scalarKind != 0 }

// Children returns the child elements in document order.
func (n *Node) Children() []*Node { return n.children }

// Parent returns the containing node, or nil at the root.
func (n *Node) Parent() *Node { return n.parent }

// Child returns the children with the given element name.
func (n *Node) Child(name string) []*Node {
	var out []*Node
	for _, c := range n.children {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// firstChild returns the first child named name, or nil.
func (n *Node) firstChild(name string) *Node {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *Node) isPrimitive() bool {
	return n.typ != nil && n.typ.Kind == fhirmodel.KindPrimitive
}

// isResource reports whether the node is a resource (the root of a tree,
// a contained resource or a Bundle entry's resource).
func (n *Node) isResource() bool {
	return n.typ != nil && n.typ.Kind == fhirmodel.KindResource
}

// resource returns the nearest resource at or above n.
func (n *Node) resource() *Node {
	for x := n; x != nil; x = x.parent {
		if x.isResource() {
			return x
		}
	}
	return nil
}

// typeNameOf returns the FHIR type name of n, or "".
func (n *Node) typeNameOf() string {
	if n.typ == nil {
		return ""
	}
	return n.typ.Name
}

// quantity converts a FHIR Quantity (or a type derived from it, such as
// Age) to System.Quantity. The unit is the UCUM code when the system is
// UCUM, else the human-readable unit. A calendar keyword used as the
// code with no system keeps its calendar meaning.
func (n *Node) quantity() (Quantity, bool) {
	if n.typ == nil || !n.typ.IsA("Quantity") {
		return Quantity{}, false
	}
	v := n.firstChild("value")
	if v == nil {
		return Quantity{}, false
	}
	d, ok := v.Value().(Decimal)
	if !ok {
		return Quantity{}, false
	}
	q := Quantity{Value: d, Unit: "1"}
	code, _ := stringOf(childValue(n, "code"))
	system, _ := stringOf(childValue(n, "system"))
	unit, _ := stringOf(childValue(n, "unit"))
	switch {
	case code != "" && system == "http://unitsofmeasure.org":
		q.Unit = code
	case code != "" && system == "" && isCalendarUnit(code):
		q.Unit = code
	case unit != "":
		q.Unit = unit
	case code != "":
		q.Unit = code
	}
	return q, true
}

func childValue(n *Node, name string) Value {
	if c := n.firstChild(name); c != nil && c.hasValue() {
		return c.Value()
	}
	return nil
}
