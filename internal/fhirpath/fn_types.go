package fhirpath

import (
	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"slices"
)

// Type operators and functions, tree navigation and utility functions.
func init() {
	typeFunc("is", fnIs)
	typeFunc("as", fnAs)
	typeFunc("ofType", fnOfType)
	register("type", 0, 0, fnType)

	register("children", 0, 0, fnChildren)
	register("descendants", 0, 0, fnDescendants)

	register("trace", 1, 2, fnTrace)
	register("now", 0, 0, func(c *call) (Collection, error) {
		return c.ev.single(dateTimeFromInstant(c.ev.nowTime())), nil
	})
	register("today", 0, 0, func(c *call) (Collection, error) {
		d, _ := convertToDate(dateTimeFromInstant(c.ev.nowTime()))
		return c.ev.single(d), nil
	})
	register("timeOfDay", 0, 0, func(c *call) (Collection, error) {
		t := dateTimeFromInstant(c.ev.nowTime()).temporal
		t.year, t.month, t.day, t.hasTZ, t.tzMinutes = 0, 1, 1, false, 0
		return c.ev.single(Time{t}), nil
	})
}

func typeFunc(name string, impl func(c *call) (Collection, error)) {
	functions[name] = &funcDef{minArgs: 1, maxArgs: 1, typeArg: true, impl: impl}
}

// typeSpec is a type name from is, as or ofType, with its namespace when
// qualified.
type typeSpec struct {
	namespace string // "System", "FHIR" or "" when unqualified
	name      string
}

func (t typeSpec) String() string {
	if t.namespace == "" {
		return t.name
	}
	return t.namespace + "." + t.name
}

var systemTypeNames = map[string]bool{
	"Any": true, "Boolean": true, "Integer": true, "Decimal": true, "String": true,
	"Date": true, "DateTime": true, "Time": true, "Quantity": true,
}

// checkTypeSpec rejects names that are neither System types nor types of
// the model.
func checkTypeSpec(ev *evaluator, at int, t typeSpec) error {
	known := false
	switch t.namespace {
	case "System":
		// An unknown System type matches nothing rather than failing,
		// because the System namespace is closed.
		known = true
	case "FHIR":
		known = ev.model.Type(t.name) != nil
	default:
		known = systemTypeNames[t.name] || ev.model.Type(t.name) != nil
	}
	if !known {
		return errorf(at, "unknown type %q", t.String())
	}
	return nil
}

// isType reports whether v is of type t. For FHIR nodes, derived types
// match (code is a string, Age is a Quantity) unless exact is set, which
// as() and ofType() use for primitive types.
func isType(v Value, t typeSpec, exact bool) bool {
	if n, ok := v.(*Node); ok && n.typ != nil {
		if t.namespace == "System" {
			return false
		}
		if exact && n.typ.Kind == fhirmodel.KindPrimitive {
			return n.typ.Name == t.name
		}
		return n.typ.IsA(t.name)
	}
	if t.namespace == "FHIR" {
		return false
	}
	sv := primitiveValue(v)
	if sv == nil {
		return false
	}
	_, name := sv.TypeName()
	return name == t.name || t.name == "Any"
}

// typeOpNode is the operator form of is and as.
type typeOpNode struct {
	at   int
	op   string
	left node
	typ  typeSpec
}

func (n *typeOpNode) offset() int { return n.at }

func (n *typeOpNode) eval(ev *evaluator, sc *scope, focus Collection) (Collection, error) {
	if err := checkTypeSpec(ev, n.at, n.typ); err != nil {
		return nil, err
	}
	c, err := n.left.eval(ev, sc, focus)
	if err != nil || len(c) == 0 {
		return nil, err
	}
	if len(c) > 1 {
		return nil, errorf(n.at, "operator %q expects one item, got %d", n.op, len(c))
	}
	if n.op == "is" {
		return boolCollection(isType(c[0], n.typ, false)), nil
	}
	if isType(c[0], n.typ, true) {
		return c, nil
	}
	return nil, nil
}

func fnIs(c *call) (Collection, error) {
	if err := checkTypeSpec(c.ev, c.node.at, c.node.typeArg); err != nil {
		return nil, err
	}
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return nil, err
	}
	return boolResult(isType(v, c.node.typeArg, false))
}

// fnAs filters the input by type, like ofType(). FHIRPath N1 defines
// as() on single items only, but R4 core invariants such as dom-3 apply
// it to collections (descendants().as(canonical)), so this engine accepts
// them. The operator form "x as T" still requires a single item.
func fnAs(c *call) (Collection, error) {
	return fnOfType(c)
}

func fnOfType(c *call) (Collection, error) {
	if err := checkTypeSpec(c.ev, c.node.at, c.node.typeArg); err != nil {
		return nil, err
	}
	var out Collection
	for _, v := range c.input {
		if isType(v, c.node.typeArg, true) {
			out = append(out, v)
		}
	}
	return out, nil
}

func fnType(c *call) (Collection, error) {
	out := make(Collection, 0, len(c.input))
	for _, v := range c.input {
		ns, name := v.TypeName()
		out = append(out, TypeInfo{Namespace: ns, Name: name})
	}
	return out, nil
}

func fnChildren(c *call) (Collection, error) {
	var out Collection
	for _, v := range c.input {
		if n, ok := v.(*Node); ok {
			for _, ch := range n.children {
				out = append(out, ch)
			}
		}
	}
	return out, nil
}

// fnDescendants walks the subtrees of the input breadth first. The walk is
// iterative and charged against MaxSteps and MaxCollection.
//
// The result is sized by counting first, and serves as the queue: after
// the input nodes, the walk visits out in order.
func fnDescendants(c *call) (Collection, error) {
	total := 0
	for _, v := range c.input {
		if n, ok := v.(*Node); ok {
			total += countDescendants(n)
		}
	}
	out := c.ev.collection(min(total, c.ev.maxColl+1))
	visit := func(n *Node) error {
		if err := c.ev.step(c.node.at, 1+len(n.children)); err != nil {
			return err
		}
		for _, ch := range n.children {
			out = append(out, ch)
		}
		if len(out) > c.ev.maxColl {
			return c.ev.checkSize(c.node.at, out)
		}
		return nil
	}
	for _, v := range c.input {
		if n, ok := v.(*Node); ok {
			if err := visit(n); err != nil {
				return nil, err
			}
		}
	}
	for i := 0; i < len(out); i++ {
		if err := visit(out[i].(*Node)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// countDescendants returns the number of nodes below n.
func countDescendants(n *Node) int {
	total := len(n.children)
	for _, ch := range n.children {
		total += countDescendants(ch)
	}
	return total
}

func fnTrace(c *call) (Collection, error) {
	name, _, err := c.stringArg(0)
	if err != nil {
		return nil, err
	}
	if c.ev.cfg.Trace == nil {
		return c.input, nil
	}
	values := c.input
	if len(c.node.args) == 2 {
		values = nil
		for i, item := range c.input {
			r, err := c.lambda(1, item, i)
			if err != nil {
				return nil, err
			}
			values = append(values, r...)
		}
	}
	// The hook may keep values, which can live in the evaluator's arena.
	c.ev.cfg.Trace(name, slices.Clone(values))
	return c.input, nil
}
