package fhirpath

import (
	"math"
)

// binaryNode applies an operator to the collections of both operands.
type binaryNode struct {
	at          int
	op          string
	kind        opKind // op classified at compile time
	left, right node
}

// opKind groups the binary operators by how eval handles them.
type opKind uint8

const (
	opArithmetic    opKind = iota // + - * / div mod
	opLogic                       // and or xor implies
	opEqual                       // = !=
	opEquivalent                  // ~
	opNotEquivalent               // !~
	opCompare                     // < > <= >=
	opUnion                       // |
	opIn                          // in
	opContains                    // contains
	opConcatenate                 // &
)

func classifyOperator(op string) opKind {
	switch op {
	case "and", "or", "xor", "implies":
		return opLogic
	case "=", "!=":
		return opEqual
	case "~":
		return opEquivalent
	case "!~":
		return opNotEquivalent
	case "<", ">", "<=", ">=":
		return opCompare
	case "|":
		return opUnion
	case "in":
		return opIn
	case "contains":
		return opContains
	case "&":
		return opConcatenate
	}
	return opArithmetic
}

func (n *binaryNode) offset() int { return n.at }

func newBinary(op token, left, right node) (node, error) {
	return &binaryNode{at: op.pos, op: op.text, kind: classifyOperator(op.text), left: left, right: right}, nil
}

func (n *binaryNode) eval(ev *evaluator, sc *scope, focus Collection) (Collection, error) {
	if n.kind == opLogic {
		return n.evalLogic(ev, sc, focus)
	}
	l, err := n.left.eval(ev, sc, focus)
	if err != nil {
		return nil, err
	}
	r, err := n.right.eval(ev, sc, focus)
	if err != nil {
		return nil, err
	}
	if err := ev.step(n.at, len(l)+len(r)); err != nil {
		return nil, err
	}
	switch n.kind {
	case opEqual:
		return fromTristate(negateIf(equalCollections(l, r), n.op == "!=")), nil
	case opEquivalent:
		return boolCollection(equivalentCollections(l, r)), nil
	case opNotEquivalent:
		return boolCollection(!equivalentCollections(l, r)), nil
	case opCompare:
		return n.compare(l, r)
	case opUnion:
		out := union(ev, l, r)
		return out, ev.checkSize(n.at, out)
	case opIn:
		return n.membership(l, r)
	case opContains:
		return n.membership(r, l)
	case opConcatenate:
		return n.concatenate(ev, l, r)
	}
	return n.arithmetic(ev, l, r)
}

func fromTristate(t tristate) Collection {
	switch t {
	case isTrue:
		return collTrue
	case isFalse:
		return collFalse
	}
	return nil
}

func negateIf(t tristate, neg bool) tristate {
	if !neg || t == unknown {
		return t
	}
	if t == isTrue {
		return isFalse
	}
	return isTrue
}

// equalCollections implements '=': empty if either side is empty, false
// for different sizes, else the items compared in order.
func equalCollections(l, r Collection) tristate {
	if len(l) == 0 || len(r) == 0 {
		return unknown
	}
	if len(l) != len(r) {
		return isFalse
	}
	result := isTrue
	for i := range l {
		switch equalItems(l[i], r[i]) {
		case isFalse:
			return isFalse
		case unknown:
			result = unknown
		}
	}
	return result
}

// equivalentCollections implements '~': both empty, or the same size with
// every item equivalent to a distinct item of the other, in any order.
func equivalentCollections(l, r Collection) bool {
	if len(l) != len(r) {
		return false
	}
	used := make([]bool, len(r))
	for _, a := range l {
		found := false
		for j, b := range r {
			if !used[j] && equivalentItems(a, b) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (n *binaryNode) compare(l, r Collection) (Collection, error) {
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, errorf(n.at, "operator %q expects single items, got %d and %d", n.op, len(l), len(r))
	}
	c, known, err := compareItems(n.at, l[0], r[0])
	if err != nil || !known {
		return nil, err
	}
	var b bool
	switch n.op {
	case "<":
		b = c < 0
	case ">":
		b = c > 0
	case "<=":
		b = c <= 0
	default:
		b = c >= 0
	}
	return boolCollection(b), nil
}

// containsItem reports whether c has an item equal to v.
func containsItem(c Collection, v Value) bool {
	for _, x := range c {
		if equalItems(x, v) == isTrue {
			return true
		}
	}
	return false
}

// union merges two collections, dropping duplicates.
func union(ev *evaluator, l, r Collection) Collection {
	out := ev.collection(len(l) + len(r))
	for _, part := range [2]Collection{l, r} {
		for _, v := range part {
			if !containsItem(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

func (n *binaryNode) membership(item, coll Collection) (Collection, error) {
	if len(item) == 0 {
		return nil, nil
	}
	if len(item) > 1 {
		return nil, errorf(n.at, "operator %q expects one item, got %d", n.op, len(item))
	}
	return boolCollection(containsItem(coll, item[0])), nil
}

func (n *binaryNode) concatenate(ev *evaluator, l, r Collection) (Collection, error) {
	var parts [2]string
	for i, c := range [2]Collection{l, r} {
		if len(c) > 1 {
			return nil, errorf(n.at, "operator %q expects single items, got %d", n.op, len(c))
		}
		if len(c) == 1 {
			s, ok := stringOf(c[0])
			if !ok {
				return nil, errorf(n.at, "operator %q expects strings, got %s", n.op, describe(c[0]))
			}
			parts[i] = s
		}
	}
	if err := ev.chargeString(n.at, len(parts[0])+len(parts[1])); err != nil {
		return nil, err
	}
	return ev.single(String(parts[0] + parts[1])), nil
}

// evalLogic implements and, or, xor and implies with three-valued logic.
// The right operand is skipped when the left decides the result.
func (n *binaryNode) evalLogic(ev *evaluator, sc *scope, focus Collection) (Collection, error) {
	lc, err := n.left.eval(ev, sc, focus)
	if err != nil {
		return nil, err
	}
	l, err := toBoolean(n.at, lc)
	if err != nil {
		return nil, err
	}
	switch {
	case n.op == "and" && l == isFalse, n.op == "implies" && l == isFalse:
		return fromTristate(tri(n.op == "implies")), nil
	case n.op == "or" && l == isTrue:
		return fromTristate(isTrue), nil
	}
	rc, err := n.right.eval(ev, sc, focus)
	if err != nil {
		return nil, err
	}
	r, err := toBoolean(n.at, rc)
	if err != nil {
		return nil, err
	}
	return fromTristate(logic(n.op, l, r)), nil
}

func logic(op string, l, r tristate) tristate {
	switch op {
	case "and":
		switch {
		case l == isFalse || r == isFalse:
			return isFalse
		case l == isTrue && r == isTrue:
			return isTrue
		}
	case "or":
		switch {
		case l == isTrue || r == isTrue:
			return isTrue
		case l == isFalse && r == isFalse:
			return isFalse
		}
	case "xor":
		if l != unknown && r != unknown {
			return tri(l != r)
		}
	case "implies":
		switch {
		case l == isTrue:
			return r
		case r == isTrue:
			return isTrue
		}
	}
	return unknown
}

// toBoolean applies singleton evaluation: empty is unknown, one Boolean is
// itself, one item of another type is true, more items are an error.
func toBoolean(at int, c Collection) (tristate, error) {
	switch len(c) {
	case 0:
		return unknown, nil
	case 1:
		if n, ok := c[0].(*Node); ok && n.isPrimitive() && !n.hasValue() {
			return unknown, nil // a primitive with only extensions
		}
		if b, ok := primitiveValue(c[0]).(Boolean); ok {
			return tri(bool(b)), nil
		}
		return isTrue, nil
	}
	return unknown, errorf(at, "expected a single boolean, got %d items", len(c))
}

// arithmetic implements + - * / div mod.
func (n *binaryNode) arithmetic(ev *evaluator, l, r Collection) (Collection, error) {
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, errorf(n.at, "operator %q expects single items, got %d and %d", n.op, len(l), len(r))
	}
	x, y := systemValue(l[0]), systemValue(r[0])
	if x == nil || y == nil {
		return nil, nil
	}
	if err := ev.chargeString(n.at, builtLength(x, y)); err != nil {
		return nil, err
	}
	v, err := arith(n.op, x, y)
	if err != nil {
		if ee, ok := err.(*EvalError); ok {
			return nil, &EvalError{Offset: n.at, Msg: ee.Msg, Err: ee.Err}
		}
		return nil, &EvalError{Offset: n.at, Msg: "operator " + quote(n.op) + ": " + err.Error(), Err: err}
	}
	if v == nil {
		return nil, nil
	}
	return ev.single(v), nil
}

// builtLength returns an upper bound of the length of the string that
// arithmetic on x and y builds: the sum of two strings, or the unit of a
// product or quotient of quantities, which wraps each unit in brackets.
// It is 0 when no string grows.
func builtLength(x, y Value) int {
	switch a := x.(type) {
	case String:
		if b, ok := y.(String); ok {
			return len(a) + len(b)
		}
	case Quantity:
		if b, ok := y.(Quantity); ok {
			return len(a.Unit) + len(b.Unit) + 5
		}
	}
	return 0
}

func quote(s string) string { return "\"" + s + "\"" }

func arith(op string, x, y Value) (Value, error) {
	switch a := x.(type) {
	case Integer:
		if b, ok := y.(Integer); ok {
			return intArith(op, a, b)
		}
		if _, ok := y.(Decimal); ok {
			return decimalArith(op, toDecimal(a), y.(Decimal))
		}
		if q, ok := y.(Quantity); ok {
			return quantityArith(op, Quantity{Value: toDecimal(a), Unit: "1"}, q)
		}
	case Decimal:
		switch b := y.(type) {
		case Integer, Decimal:
			return decimalArith(op, a, toDecimal(b))
		case Quantity:
			return quantityArith(op, Quantity{Value: a, Unit: "1"}, b)
		}
	case String:
		if b, ok := y.(String); ok && op == "+" {
			return a + b, nil
		}
	case Quantity:
		switch b := y.(type) {
		case Quantity:
			return quantityArith(op, a, b)
		case Integer, Decimal:
			return quantityArith(op, a, Quantity{Value: toDecimal(b), Unit: "1"})
		}
	case Date, DateTime, Time:
		if q, ok := y.(Quantity); ok && (op == "+" || op == "-") {
			return temporalArith(op, x, q)
		}
	}
	return nil, errorf(0, "operator %q cannot apply to %s and %s", op, describe(x), describe(y))
}

func intArith(op string, a, b Integer) (Value, error) {
	switch op {
	case "+":
		s := a + b
		if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
			return nil, errIntegerOverflow
		}
		return s, nil
	case "-":
		if b == -1<<63 {
			return nil, errIntegerOverflow
		}
		return intArith("+", a, -b)
	case "*":
		// The product wrapped unless dividing it by a gives b back.
		// MinInt64 * -1 wraps to MinInt64, and MinInt64 / -1 is MinInt64
		// in Go, so that case is tested on its own.
		p := a * b
		if a != 0 && (p/a != b || a == -1 && b == math.MinInt64) {
			return nil, errIntegerOverflow
		}
		return p, nil
	case "/":
		return decimalArith(op, toDecimal(a), toDecimal(b))
	case "div", "mod":
		if b == 0 {
			return nil, nil
		}
		if a == -1<<63 && b == -1 {
			return nil, errIntegerOverflow
		}
		if op == "div" {
			return a / b, nil
		}
		return a % b, nil
	}
	return nil, errorf(0, "unknown operator %q", op)
}

var errIntegerOverflow = errorf(0, "integer overflow")

func decimalArith(op string, a, b Decimal) (Value, error) {
	switch op {
	case "+":
		return a.Add(b)
	case "-":
		return a.Sub(b)
	case "*":
		return a.Mul(b)
	case "/":
		q, ok, err := a.Quo(b)
		if !ok || err != nil {
			return nil, err
		}
		return q, nil
	case "div":
		if b.Sign() == 0 {
			return nil, nil
		}
		q, _, err := a.Quo(b)
		if err != nil {
			return nil, err
		}
		i, ok := int64Value(q.Truncate(0).big())
		if !ok {
			return nil, errIntegerOverflow
		}
		return i, nil
	case "mod":
		if b.Sign() == 0 {
			return nil, nil
		}
		q, _, err := a.Quo(b)
		if err != nil {
			return nil, err
		}
		prod, err := q.Truncate(0).Mul(b)
		if err != nil {
			return nil, err
		}
		return a.Sub(prod)
	}
	return nil, errorf(0, "unknown operator %q", op)
}

func quantityArith(op string, a, b Quantity) (Value, error) {
	switch op {
	case "+", "-":
		conv, ok := convertQuantity(b, a.Unit)
		if !ok {
			return nil, errorf(0, "units %q and %q are not compatible", a.Unit, b.Unit)
		}
		v, err := decimalArith(op, a.Value, conv.Value)
		if err != nil || v == nil {
			return nil, err
		}
		return Quantity{Value: v.(Decimal), Unit: a.Unit}, nil
	case "*":
		v, err := a.Value.Mul(b.Value)
		return Quantity{Value: v, Unit: multiplyUnits(a.Unit, b.Unit)}, err
	case "/":
		v, ok, err := a.Value.Quo(b.Value)
		if !ok || err != nil {
			return nil, err
		}
		return Quantity{Value: v, Unit: divideUnits(a.Unit, b.Unit)}, nil
	}
	return nil, errorf(0, "operator %q cannot apply to quantities", op)
}

// temporalArith adds or subtracts a time-valued quantity. Calendar
// keywords and the UCUM units of fixed length (wk, d, h, min, s, ms) are
// accepted. The UCUM year 'a' and month 'mo' are rejected, because their
// length differs from calendar years and months.
func temporalArith(op string, x Value, q Quantity) (Value, error) {
	unit := q.Unit
	if word, ok := ucumToCalendar[unit]; ok {
		unit = word
	}
	if !isCalendarUnit(unit) {
		return nil, errorf(0, "cannot add %q to a date or time", q.Unit)
	}
	amount := q.Value
	if op == "-" {
		amount = amount.Neg()
	}
	switch t := x.(type) {
	case Date:
		r, err := t.temporal.add(amount, unit, true)
		return Date{r}, err
	case DateTime:
		r, err := t.temporal.add(amount, unit, false)
		return DateTime{r}, err
	case Time:
		if unit == "year" || unit == "month" || unit == "week" || unit == "day" {
			return nil, errorf(0, "cannot add %q to a time", q.Unit)
		}
		base := t.temporal
		base.year, base.month, base.day = 2000, 1, 1
		r, err := base.add(amount, unit, false)
		return Time{r}, err
	}
	return nil, errorf(0, "cannot add a quantity to %s", describe(x))
}
