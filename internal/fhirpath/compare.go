package fhirpath

import (
	"strings"
	"unicode"
)

// Three-valued result of an equality or comparison: unknown is the empty
// collection.
type tristate int8

const (
	unknown tristate = iota
	isFalse
	isTrue
)

func tri(b bool) tristate {
	if b {
		return isTrue
	}
	return isFalse
}

// equalItems implements '=' on two items.
func equalItems(a, b Value) tristate {
	// Strings, integers and booleans of the same type, or primitive nodes
	// containing them, compare directly, because most operands of '=' are
	// of these types. Strings are read first without converting a node's
	// text to a Value.
	if x, ok := stringOf(a); ok {
		if y, ok := stringOf(b); ok {
			return tri(x == y)
		}
	}
	switch x := primitiveOrSelf(a).(type) {
	case String:
		if y, ok := primitiveOrSelf(b).(String); ok {
			return tri(x == y)
		}
	case Integer:
		if y, ok := primitiveOrSelf(b).(Integer); ok {
			return tri(x == y)
		}
	case Boolean:
		if y, ok := primitiveOrSelf(b).(Boolean); ok {
			return tri(x == y)
		}
	}
	an, aIsNode := a.(*Node)
	bn, bIsNode := b.(*Node)
	if aIsNode && bIsNode && !an.hasValue() && !bn.hasValue() && !an.isPrimitive() && !bn.isPrimitive() {
		if _, ok := an.quantity(); !ok {
			return tri(deepEqual(an, bn, false))
		}
	}
	x, y := systemValue(a), systemValue(b)
	if x == nil || y == nil {
		return unknown
	}
	return equalSystem(x, y, false)
}

// primitiveOrSelf returns the value of a node that has one, and any other
// item unchanged.
func primitiveOrSelf(v Value) Value {
	if n, ok := v.(*Node); ok && n.hasValue() {
		return n.Value()
	}
	return v
}

// equivalentItems implements '~' on two items.
func equivalentItems(a, b Value) bool {
	an, aIsNode := a.(*Node)
	bn, bIsNode := b.(*Node)
	if aIsNode && bIsNode && !an.hasValue() && !bn.hasValue() && !an.isPrimitive() && !bn.isPrimitive() {
		if _, ok := an.quantity(); !ok {
			return deepEqual(an, bn, true)
		}
	}
	x, y := systemValue(a), systemValue(b)
	if x == nil || y == nil {
		return x == nil && y == nil
	}
	return equalSystem(x, y, true) == isTrue
}

// deepEqual compares complex nodes member by member, in order.
func deepEqual(a, b *Node, equivalent bool) bool {
	if a == b {
		return true
	}
	if a.typeNameOf() != b.typeNameOf() || len(a.children) != len(b.children) {
		return false
	}
	if a.hasValue() != b.hasValue() {
		return false
	}
	if a.hasValue() {
		r := equalSystem(a.Value(), b.Value(), equivalent)
		if r != isTrue {
			return false
		}
	}
	for i := range a.children {
		ca, cb := a.children[i], b.children[i]
		if ca.name != cb.name || !deepEqual(ca, cb, equivalent) {
			return false
		}
	}
	return true
}

// equalSystem compares two System values for '=' or, with equivalent set,
// for '~' (which never returns unknown).
func equalSystem(x, y Value, equivalent bool) tristate {
	switch a := x.(type) {
	case Boolean:
		b, ok := y.(Boolean)
		return tri(ok && a == b)
	case String:
		b, ok := y.(String)
		if !ok {
			return isFalse
		}
		if equivalent {
			return tri(normalizeSpace(string(a)) == normalizeSpace(string(b)))
		}
		return tri(a == b)
	case Integer, Decimal:
		return equalNumbers(x, y, equivalent)
	case Quantity:
		return equalQuantity(a, y, equivalent)
	case Date, DateTime:
		return equalDateTimes(x, y, equivalent)
	case Time:
		b, ok := y.(Time)
		if !ok {
			return isFalse
		}
		c, known := timeCompare(a, b)
		return temporalResult(c, known, equivalent)
	case TypeInfo:
		b, ok := y.(TypeInfo)
		return tri(ok && a == b)
	}
	return isFalse
}

func temporalResult(c int, known, equivalent bool) tristate {
	if !known {
		if equivalent {
			return isFalse
		}
		return unknown
	}
	return tri(c == 0)
}

func equalNumbers(x, y Value, equivalent bool) tristate {
	if a, ok := x.(Integer); ok {
		if b, ok := y.(Integer); ok {
			return tri(a == b)
		}
	}
	switch y.(type) {
	case Integer, Decimal:
	case Quantity:
		return equalQuantity(Quantity{Value: toDecimal(x), Unit: "1"}, y, equivalent)
	default:
		return isFalse
	}
	a, b := toDecimal(x), toDecimal(y)
	if equivalent {
		p := min(a.Scale(), b.Scale())
		return tri(a.RoundTo(p).Cmp(b.RoundTo(p)) == 0)
	}
	return tri(a.Cmp(b) == 0)
}

func equalQuantity(a Quantity, y Value, equivalent bool) tristate {
	var b Quantity
	switch v := y.(type) {
	case Quantity:
		b = v
	case Integer, Decimal:
		b = Quantity{Value: toDecimal(v), Unit: "1"}
	default:
		return isFalse
	}
	if equivalent {
		// Compare in a's unit, at the precision of the less precise value.
		p := min(a.Value.Scale(), b.Value.Scale())
		if conv, ok := convertQuantity(Quantity{Value: b.Value, Unit: definiteUnit(b.Unit)}, definiteUnit(a.Unit)); ok {
			b = Quantity{Value: conv.Value, Unit: a.Unit}
		}
		a.Value, b.Value = a.Value.RoundTo(p), b.Value.RoundTo(p)
	}
	c, ok := compareQuantities(a, b, equivalent)
	if !ok {
		if equivalent || !calendarMismatch(a.Unit, b.Unit) {
			return isFalse
		}
		return unknown
	}
	return tri(c == 0)
}

// calendarMismatch reports a calendar year or month against another time
// unit, which FHIRPath leaves undecided for '='.
func calendarMismatch(a, b string) bool {
	return calendarMonths(a) > 0 || calendarMonths(b) > 0
}

func equalDateTimes(x, y Value, equivalent bool) tristate {
	a, aok := asDateTime(x)
	b, bok := asDateTime(y)
	if !aok || !bok {
		return isFalse
	}
	c, known := compareTemporal(a.temporal, b.temporal)
	return temporalResult(c, known, equivalent)
}

func asDateTime(v Value) (DateTime, bool) {
	switch x := v.(type) {
	case DateTime:
		return x, true
	case Date:
		return dateToDateTime(x), true
	}
	return DateTime{}, false
}

// normalizeSpace lower-cases s and turns every white space character into
// a space, for string equivalence: FHIRPath treats all white space
// characters as equivalent, but does not trim or collapse them.
func normalizeSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		return unicode.ToLower(r)
	}, s)
}

// compareItems orders two items for <, >, <= and >=. known is false when
// the order is undetermined (precision or units). An error reports types
// that cannot be compared.
func compareItems(at int, a, b Value) (c int, known bool, err error) {
	x, y := systemValue(a), systemValue(b)
	if x == nil || y == nil {
		return 0, false, nil
	}
	switch p := x.(type) {
	case Integer, Decimal:
		switch y.(type) {
		case Integer, Decimal:
			return toDecimal(x).Cmp(toDecimal(y)), true, nil
		case Quantity:
			c, ok := compareQuantities(Quantity{Value: toDecimal(x), Unit: "1"}, y.(Quantity), false)
			return c, ok, nil
		}
	case String:
		if q, ok := y.(String); ok {
			return strings.Compare(string(p), string(q)), true, nil
		}
	case Date, DateTime:
		if q, ok := asDateTime(y); ok {
			pd, _ := asDateTime(x)
			c, known := compareTemporal(pd.temporal, q.temporal)
			return c, known, nil
		}
	case Time:
		if q, ok := y.(Time); ok {
			c, known := timeCompare(p, q)
			return c, known, nil
		}
	case Quantity:
		switch q := y.(type) {
		case Quantity:
			c, ok := compareQuantities(p, q, false)
			return c, ok, nil
		case Integer, Decimal:
			c, ok := compareQuantities(p, Quantity{Value: toDecimal(q), Unit: "1"}, false)
			return c, ok, nil
		}
	}
	return 0, false, errorf(at, "cannot compare %s with %s", describe(x), describe(y))
}
