package fhirpath

import (
	"strconv"
)

// Value is one item of a collection: a System value (Boolean, Integer,
// Decimal, String, Date, DateTime, Time, Quantity), a *Node of a FHIR
// resource tree, or a TypeInfo returned by type().
type Value interface {
	// TypeName returns the namespace ("System" or "FHIR") and the name of
	// the value's type.
	TypeName() (namespace, name string)
}

// Collection is an ordered FHIRPath collection. An empty collection
// represents "no value".
type Collection []Value

// Boolean is System.Boolean.
type Boolean bool

// Integer is System.Integer.
type Integer int64

// String is System.String.
type String string

// TypeName implements Value.
func (Boolean) TypeName() (string, string) { return "System", "Boolean" }

// TypeName implements Value.
func (Integer) TypeName() (string, string) { return "System", "Integer" }

// TypeName implements Value.
func (String) TypeName() (string, string) { return "System", "String" }

// TypeName implements Value.
func (Decimal) TypeName() (string, string) { return "System", "Decimal" }

// TypeName implements Value.
func (Quantity) TypeName() (string, string) { return "System", "Quantity" }

// TypeName implements Value.
func (Date) TypeName() (string, string) { return "System", "Date" }

// TypeName implements Value.
func (DateTime) TypeName() (string, string) { return "System", "DateTime" }

// TypeName implements Value.
func (Time) TypeName() (string, string) { return "System", "Time" }

// TypeInfo is the result of type(): a SimpleTypeInfo or ClassInfo with the
// properties namespace and name.
type TypeInfo struct {
	Namespace string
	Name      string
}

// TypeName implements Value.
func (TypeInfo) TypeName() (string, string) { return "System", "SimpleTypeInfo" }

func (b Boolean) String() string { return strconv.FormatBool(bool(b)) }
func (i Integer) String() string { return strconv.FormatInt(int64(i), 10) }

// systemValue unwraps a FHIR primitive node to its System value. Other
// values are returned unchanged. A primitive without a value (only id or
// extensions) yields nil.
func systemValue(v Value) Value {
	if n, ok := v.(*Node); ok {
		if n.hasValue() {
			return n.Value()
		}
		if n.isPrimitive() {
			return nil
		}
		if q, ok := n.quantity(); ok {
			return q
		}
	}
	return v
}

// primitiveValue is systemValue for nodes with a primitive value, and nil
// for complex nodes, including Quantity.
func primitiveValue(v Value) Value {
	if n, ok := v.(*Node); ok {
		return n.Value()
	}
	return v
}

// stringOf returns the string of a String value or string-typed primitive.
func stringOf(v Value) (string, bool) {
	if n, ok := v.(*Node); ok {
		return n.StringValue()
	}
	s, ok := v.(String)
	return string(s), ok
}

// toString implements the conversions of toString(): the canonical text of
// any primitive or quantity.
func toString(v Value) (string, bool) {
	switch x := systemValue(v).(type) {
	case String:
		return string(x), true
	case Boolean:
		return x.String(), true
	case Integer:
		return x.String(), true
	case Decimal:
		return x.String(), true
	case Date:
		return x.String(), true
	case DateTime:
		return x.String(), true
	case Time:
		return x.String(), true
	case Quantity:
		return x.String(), true
	}
	return "", false
}
