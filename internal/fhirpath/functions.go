package fhirpath

import (
	"fmt"
)

// funcDef describes a function: its arity and implementation.
type funcDef struct {
	minArgs, maxArgs int
	typeArg          bool // the first argument is a type specifier
	impl             func(c *call) (Collection, error)
}

// functions is filled by the init functions of the fn_*.go files, one per
// family of the specification.
var functions = map[string]*funcDef{}

func register(name string, minArgs, maxArgs int, impl func(c *call) (Collection, error)) {
	functions[name] = &funcDef{minArgs: minArgs, maxArgs: maxArgs, impl: impl}
}

// callNode invokes a function on its focus.
type callNode struct {
	at      int
	name    string
	args    []node
	def     *funcDef
	typeArg typeSpec
}

func (n *callNode) offset() int { return n.at }

func newCall(name token, args []node) (node, error) {
	def, ok := functions[name.text]
	if !ok {
		return nil, &SyntaxError{Offset: name.pos, Msg: fmt.Sprintf("unknown function %q", name.text)}
	}
	if len(args) < def.minArgs || len(args) > def.maxArgs {
		return nil, &SyntaxError{Offset: name.pos, Msg: fmt.Sprintf("function %q takes %s, got %d", name.text, arity(def), len(args))}
	}
	n := &callNode{at: name.pos, name: name.text, args: args, def: def}
	if def.typeArg {
		ts, ok := typeSpecFromNode(args[0])
		if !ok {
			return nil, &SyntaxError{Offset: args[0].offset(), Msg: fmt.Sprintf("function %q expects a type name", name.text)}
		}
		n.typeArg = ts
	}
	return n, nil
}

func arity(d *funcDef) string {
	switch {
	case d.minArgs == d.maxArgs && d.minArgs == 1:
		return "1 argument"
	case d.minArgs == d.maxArgs:
		return fmt.Sprintf("%d arguments", d.minArgs)
	}
	return fmt.Sprintf("%d to %d arguments", d.minArgs, d.maxArgs)
}

func (n *callNode) eval(ev *evaluator, sc *scope, focus Collection) (Collection, error) {
	if err := ev.step(n.at, 1+len(focus)); err != nil {
		return nil, err
	}
	c := ev.pushCall()
	c.ev, c.sc, c.input, c.node = ev, sc, focus, n
	out, err := n.def.impl(c)
	ev.popCall(c)
	if err != nil {
		return nil, err
	}
	return out, ev.checkSize(n.at, out)
}

// call is one invocation of a function.
type call struct {
	ev    *evaluator
	sc    *scope
	input Collection
	node  *callNode
}

func (c *call) errorf(format string, args ...any) error {
	return &EvalError{Offset: c.node.at, Msg: fmt.Sprintf("function %q: ", c.node.name) + fmt.Sprintf(format, args...)}
}

// chargeString is evaluator.chargeString for a string that the function
// builds, with the function named in the error.
func (c *call) chargeString(n int) error {
	err := c.ev.chargeString(c.node.at, n)
	if ee, ok := err.(*EvalError); ok {
		ee.Msg = fmt.Sprintf("function %q: ", c.node.name) + ee.Msg
	}
	return err
}

// arg evaluates argument i in the scope of the call, so $this is the
// same as outside the function.
func (c *call) arg(i int) (Collection, error) {
	return c.node.args[i].eval(c.ev, c.sc, c.sc.this)
}

// lambda evaluates argument i once for an item of the input, with $this
// set to the item and $index to its position.
func (c *call) lambda(i int, item Value, index int) (Collection, error) {
	this := c.ev.single(item)
	sc := c.ev.pushScope()
	*sc = scope{this: this, index: index, hasIndex: true, total: c.sc.total, hasTotal: c.sc.hasTotal}
	out, err := c.node.args[i].eval(c.ev, sc, this)
	c.ev.popScope(sc)
	return out, err
}

// criterion evaluates a boolean argument for one item.
func (c *call) criterion(i int, item Value, index int) (tristate, error) {
	r, err := c.lambda(i, item, index)
	if err != nil {
		return unknown, err
	}
	return toBoolean(c.node.args[i].offset(), r)
}

// singleInput returns the only input item. The bool result is false for
// empty input.
func (c *call) singleInput() (Value, bool, error) {
	switch len(c.input) {
	case 0:
		return nil, false, nil
	case 1:
		return c.input[0], true, nil
	}
	return nil, false, c.errorf("expects one input item, got %d", len(c.input))
}

// stringArg evaluates argument i as an optional single string.
func (c *call) stringArg(i int) (string, bool, error) {
	v, err := c.arg(i)
	if err != nil || len(v) == 0 {
		return "", false, err
	}
	if len(v) > 1 {
		return "", false, c.errorf("argument %d expects one string, got %d items", i+1, len(v))
	}
	s, ok := stringOf(v[0])
	if !ok {
		return "", false, c.errorf("argument %d expects a string, got %s", i+1, describe(v[0]))
	}
	return s, true, nil
}

// intArg evaluates argument i as an optional single integer.
func (c *call) intArg(i int) (int, bool, error) {
	v, err := c.arg(i)
	if err != nil {
		return 0, false, err
	}
	n, ok, err := singletonInteger(c.node.at, v)
	return int(n), ok, err
}

// inputString returns the single string input. The bool result is false
// for empty input or a primitive without a value. A non-string input is an error.
func (c *call) inputString() (string, bool, error) {
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return "", false, err
	}
	if n, isNode := v.(*Node); isNode && n.isPrimitive() && !n.hasValue() {
		return "", false, nil
	}
	s, isString := stringOf(v)
	if !isString {
		return "", false, c.errorf("expects a string input, got %s", describe(v))
	}
	return s, true, nil
}

func boolResult(b bool) (Collection, error) { return boolCollection(b), nil }
