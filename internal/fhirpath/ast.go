package fhirpath

import (
	"fmt"
	"strings"
	"unicode"
)

// node is a compiled expression tree node. eval computes the node's
// collection. Its focus argument is the input of an invocation (the left
// side of '.'), and sc contains $this, $index and $total.
type node interface {
	eval(ev *evaluator, sc *scope, focus Collection) (Collection, error)
	offset() int
}

type literalNode struct {
	at    int
	value Value
	coll  Collection // {value}, built once and shared by every evaluation
}

func newLiteral(at int, v Value) *literalNode {
	return &literalNode{at: at, value: v, coll: Collection{v}}
}

func (n *literalNode) offset() int { return n.at }

func (n *literalNode) eval(*evaluator, *scope, Collection) (Collection, error) {
	return n.coll, nil
}

// negateLiteral folds unary minus into a numeric or quantity literal.
func negateLiteral(n *literalNode) (*literalNode, bool) {
	switch v := n.value.(type) {
	case Integer:
		return newLiteral(n.at, -v), true
	case Decimal:
		return newLiteral(n.at, v.Neg()), true
	case Quantity:
		return newLiteral(n.at, Quantity{Value: v.Value.Neg(), Unit: v.Unit}), true
	}
	return nil, false
}

// parseNumberLiteral reads an integer or decimal literal. Integers that do
// not fit 64 bits become decimals.
func parseNumberLiteral(text string) (Value, error) {
	if !strings.Contains(text, ".") {
		var i int64
		overflow := false
		for _, c := range []byte(text) {
			if i > (1<<63-1-int64(c-'0'))/10 {
				overflow = true
				break
			}
			i = i*10 + int64(c-'0')
		}
		if !overflow {
			return Integer(i), nil
		}
	}
	return ParseDecimal(text)
}

type emptyNode struct{ at int }

func (n *emptyNode) offset() int { return n.at }

func (n *emptyNode) eval(*evaluator, *scope, Collection) (Collection, error) { return nil, nil }

// memberNode navigates to the children of each focus item with the given
// name. At the start of a path, a name starting with an upper-case letter
// also matches an item of that type, so "Patient.name" works on a Patient.
type memberNode struct {
	at    int
	name  string
	first bool
	// typeStep is first && startsUpper(name): the step may match the
	// focus item itself.
	typeStep bool
}

func newMember(at int, name string, first bool) *memberNode {
	return &memberNode{at: at, name: name, first: first, typeStep: first && startsUpper(name)}
}

func (n *memberNode) offset() int { return n.at }

// eval reserves room in the arena for the matches and fills it in one
// pass. The spare room belongs to the result, so appending to it
// overwrites nothing.
func (n *memberNode) eval(ev *evaluator, _ *scope, focus Collection) (Collection, error) {
	out := ev.collection(n.room(focus))
	for _, item := range focus {
		if x, ok := item.(*Node); ok {
			if err := ev.step(n.at, 1+len(x.children)); err != nil {
				return nil, err
			}
		}
		out = n.appendMatches(out, item)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, ev.checkSize(n.at, out)
}

// exactRoomAbove is the number of children above which room counts the
// matches instead of reserving a slot per child.
const exactRoomAbove = 32

// room returns the room eval reserves: one slot per child of the focus
// items (an upper bound on the matches, and cheapest to find), or the
// exact number of matches when that bound is large. Reserving the bound
// for a step from a Bundle with thousands of entries, repeated for each
// entry as in "entry.all(... %resource.type ...)", filled the arena with
// slots no match used.
func (n *memberNode) room(focus Collection) int {
	bound := 0
	for _, item := range focus {
		bound++ // the item itself, for a type step or a quantity's field
		if x, ok := item.(*Node); ok {
			bound += len(x.children)
		}
	}
	if bound <= exactRoomAbove {
		return bound
	}
	exact := 0
	for _, item := range focus {
		exact += n.countMatches(item)
	}
	return exact
}

// countMatches returns the number of items appendMatches appends for item.
func (n *memberNode) countMatches(item Value) int {
	x, ok := item.(*Node)
	if !ok {
		return 1 // a quantity's or type's field, or nothing
	}
	if n.typeStep && (x.typ != nil && x.typ.IsA(n.name) || x.declaredType == n.name) {
		return 1
	}
	count := 0
	for _, c := range x.children {
		if c.name == n.name {
			count++
		}
	}
	return count
}

// appendMatches appends what the step finds in item to out.
func (n *memberNode) appendMatches(out Collection, item Value) Collection {
	switch x := item.(type) {
	case *Node:
		if n.typeStep && (x.typ != nil && x.typ.IsA(n.name) || x.declaredType == n.name) {
			return append(out, x)
		}
		for _, c := range x.children {
			if c.name == n.name {
				out = append(out, c)
			}
		}
	case Quantity:
		switch n.name {
		case "value":
			out = append(out, x.Value)
		case "unit":
			out = append(out, String(x.Unit))
		}
	case TypeInfo:
		switch n.name {
		case "namespace":
			out = append(out, String(x.Namespace))
		case "name":
			out = append(out, String(x.Name))
		}
	}
	return out
}

func startsUpper(s string) bool {
	for _, r := range s {
		return unicode.IsUpper(r)
	}
	return false
}

// dotNode evaluates right with the result of left as its focus.
type dotNode struct {
	left, right node
}

func (n *dotNode) offset() int { return n.right.offset() }

func (n *dotNode) eval(ev *evaluator, sc *scope, focus Collection) (Collection, error) {
	l, err := n.left.eval(ev, sc, focus)
	if err != nil {
		return nil, err
	}
	return n.right.eval(ev, sc, l)
}

type indexNode struct {
	at            int
	target, index node
}

func (n *indexNode) offset() int { return n.at }

func (n *indexNode) eval(ev *evaluator, sc *scope, focus Collection) (Collection, error) {
	c, err := n.target.eval(ev, sc, focus)
	if err != nil {
		return nil, err
	}
	idx, err := n.index.eval(ev, sc, sc.this)
	if err != nil {
		return nil, err
	}
	i, ok, err := singletonInteger(n.at, idx)
	if err != nil || !ok {
		return nil, err
	}
	if i < 0 || int(i) >= len(c) {
		return nil, nil
	}
	return ev.single(c[i]), nil
}

type negateNode struct {
	at      int
	operand node
}

func (n *negateNode) offset() int { return n.at }

func (n *negateNode) eval(ev *evaluator, sc *scope, focus Collection) (Collection, error) {
	c, err := n.operand.eval(ev, sc, focus)
	if err != nil || len(c) == 0 {
		return nil, err
	}
	if len(c) > 1 {
		return nil, errorf(n.at, "unary minus expects one item, got %d", len(c))
	}
	switch v := systemValue(c[0]).(type) {
	case Integer:
		return ev.single(-v), nil
	case Decimal:
		return ev.single(v.Neg()), nil
	case Quantity:
		return ev.single(Quantity{Value: v.Value.Neg(), Unit: v.Unit}), nil
	}
	return nil, errorf(n.at, "unary minus cannot negate %s", describe(c[0]))
}

type envVarNode struct {
	at   int
	name string
}

func (n *envVarNode) offset() int { return n.at }

func (n *envVarNode) eval(ev *evaluator, _ *scope, _ Collection) (Collection, error) {
	switch n.name {
	case "resource":
		return ev.resourceCollection(false), nil
	case "rootResource":
		return ev.resourceCollection(true), nil
	case "context":
		return ev.input, nil
	case "ucum":
		return ev.single(String("http://unitsofmeasure.org")), nil
	case "sct":
		return ev.single(String("http://snomed.info/sct")), nil
	case "loinc":
		return ev.single(String("http://loinc.org")), nil
	}
	if v, ok := ev.cfg.Variables[n.name]; ok {
		return v, nil
	}
	if rest, ok := strings.CutPrefix(n.name, "vs-"); ok {
		return ev.single(String("http://hl7.org/fhir/ValueSet/" + rest)), nil
	}
	if rest, ok := strings.CutPrefix(n.name, "ext-"); ok {
		return ev.single(String("http://hl7.org/fhir/StructureDefinition/" + rest)), nil
	}
	return nil, errorf(n.at, "undefined environment variable %q", "%"+n.name)
}

type specialVarNode struct {
	at   int
	name string
}

func (n *specialVarNode) offset() int { return n.at }

func (n *specialVarNode) eval(ev *evaluator, sc *scope, _ Collection) (Collection, error) {
	switch n.name {
	case "$this":
		return sc.this, nil
	case "$index":
		if !sc.hasIndex {
			return nil, errorf(n.at, "%q used outside an iterating function", n.name)
		}
		return ev.single(Integer(sc.index)), nil
	default:
		if !sc.hasTotal {
			return nil, errorf(n.at, "%q used outside aggregate()", n.name)
		}
		return sc.total, nil
	}
}

// describe names a value for error messages without quoting data.
func describe(v Value) string {
	if v == nil {
		return "a primitive without a value"
	}
	ns, name := v.TypeName()
	return fmt.Sprintf("%s.%s", ns, name)
}

// singletonInteger reads an integer argument. The bool result is false for
// an empty collection.
func singletonInteger(at int, c Collection) (Integer, bool, error) {
	if len(c) == 0 || systemValue(c[0]) == nil {
		return 0, false, nil
	}
	if len(c) > 1 {
		return 0, false, errorf(at, "expected one integer, got %d items", len(c))
	}
	i, ok := systemValue(c[0]).(Integer)
	if !ok {
		return 0, false, errorf(at, "expected an integer, got %s", describe(c[0]))
	}
	return i, true, nil
}
