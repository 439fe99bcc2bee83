package fhirpath

import (
	"fmt"
	"strings"
)

// Limits on what Compile accepts.
const (
	// MaxExpressionLength is the longest expression, in bytes, Compile
	// accepts. The longest invariant of the R4 core package is under 1 KiB.
	MaxExpressionLength = 64 << 10

	// MaxDepth is the deepest nesting of operators, parentheses and
	// function arguments Compile accepts.
	MaxDepth = 128
)

// SyntaxError reports an expression Compile rejects: a syntax error, an
// unknown function, or a function called with the wrong number of
// arguments.
type SyntaxError struct {
	Offset int    // byte offset of the offending token
	Msg    string // lower case, quotes the token
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fhirpath: %s at offset %d", e.Msg, e.Offset)
}

// Binary operator precedence, loosest first.
var binaryPrecedence = map[string]int{
	"implies": 1,
	"or":      2, "xor": 2,
	"and": 3,
	"in":  4, "contains": 4,
	"=": 5, "~": 5, "!=": 5, "!~": 5,
	"<": 6, ">": 6, "<=": 6, ">=": 6,
	"|":  7,
	"is": 8, "as": 8,
	"+": 9, "-": 9, "&": 9,
	"*": 10, "/": 10, "div": 10, "mod": 10,
}

// keywordOps are operators spelt as words. They are operators only in
// infix position, and a delimited identifier is never one.
var keywordOps = map[string]bool{
	"implies": true, "or": true, "xor": true, "and": true, "in": true,
	"contains": true, "is": true, "as": true, "div": true, "mod": true,
}

// calendarUnits maps the calendar duration keywords of quantity literals to
// their singular form.
var calendarUnits = map[string]string{
	"year": "year", "years": "year", "month": "month", "months": "month",
	"week": "week", "weeks": "week", "day": "day", "days": "day",
	"hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
	"second": "second", "seconds": "second", "millisecond": "millisecond",
	"milliseconds": "millisecond",
}

type parser struct {
	toks  []token
	i     int
	depth int
}

func parse(src string) (node, error) {
	if len(src) > MaxExpressionLength {
		return nil, &SyntaxError{Offset: MaxExpressionLength, Msg: fmt.Sprintf("expression of %d bytes exceeds the limit of %d", len(src), MaxExpressionLength)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tokEOF {
		return nil, p.errorf(p.peek(), "empty expression")
	}
	n, err := p.expression(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t, "unexpected %s", t)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return &SyntaxError{Offset: t.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) isOp(text string) bool {
	t := p.peek()
	return t.kind == tokOp && t.text == text
}

func (p *parser) expect(text string) (token, error) {
	t := p.advance()
	if t.kind != tokOp || t.text != text {
		return t, p.errorf(t, "expected %q, found %s", text, t)
	}
	return t, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf(p.peek(), "expression nested deeper than %d levels", MaxDepth)
	}
	return nil
}

// infixOp returns the binary operator at the current token, if any.
func (p *parser) infixOp() (string, bool) {
	t := p.peek()
	switch t.kind {
	case tokOp:
		_, ok := binaryPrecedence[t.text]
		return t.text, ok
	case tokIdent:
		if keywordOps[t.text] {
			return t.text, true
		}
	}
	return "", false
}

// expression parses operators binding tighter than minPrec by precedence
// climbing. All binary operators are left-associative.
func (p *parser) expression(minPrec int) (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()

	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op, ok := p.infixOp()
		if !ok || binaryPrecedence[op] <= minPrec {
			return left, nil
		}
		opTok := p.advance()
		if op == "is" || op == "as" {
			ts, err := p.typeSpecifier()
			if err != nil {
				return nil, err
			}
			left = &typeOpNode{at: opTok.pos, op: op, left: left, typ: ts}
			continue
		}
		right, err := p.expression(binaryPrecedence[op])
		if err != nil {
			return nil, err
		}
		left, err = newBinary(opTok, left, right)
		if err != nil {
			return nil, err
		}
	}
}

func (p *parser) unary() (node, error) {
	if p.isOp("+") || p.isOp("-") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		opTok := p.advance()
		operand, err := p.unary()
		if err != nil {
			return nil, err
		}
		if opTok.text == "+" {
			return operand, nil
		}
		if lit, ok := operand.(*literalNode); ok {
			if neg, ok := negateLiteral(lit); ok {
				return neg, nil
			}
		}
		return &negateNode{at: opTok.pos, operand: operand}, nil
	}
	return p.postfix()
}

// postfix parses a term followed by member invocations and indexers.
func (p *parser) postfix() (node, error) {
	n, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.advance()
			inv, err := p.invocation(false)
			if err != nil {
				return nil, err
			}
			n = &dotNode{left: n, right: inv}
		case p.isOp("["):
			open := p.advance()
			idx, err := p.expression(0)
			if err != nil {
				return nil, err
			}
			if _, err := p.expect("]"); err != nil {
				return nil, err
			}
			n = &indexNode{at: open.pos, target: n, index: idx}
		default:
			return n, nil
		}
	}
}

func (p *parser) term() (node, error) {
	t := p.peek()
	switch t.kind {
	case tokNumber:
		return p.numberOrQuantity()
	case tokString:
		p.advance()
		return newLiteral(t.pos, String(t.text)), nil
	case tokDate, tokDateTime, tokTime:
		p.advance()
		v, err := parseTemporalLiteral(t)
		if err != nil {
			return nil, p.errorf(t, "invalid literal %s: %v", t, err)
		}
		return newLiteral(t.pos, v), nil
	case tokEnvVar:
		p.advance()
		return &envVarNode{at: t.pos, name: t.text}, nil
	case tokOp:
		switch t.text {
		case "(":
			p.advance()
			inner, err := p.expression(0)
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(")"); err != nil {
				return nil, err
			}
			return inner, nil
		case "{":
			p.advance()
			if _, err := p.expect("}"); err != nil {
				return nil, err
			}
			return &emptyNode{at: t.pos}, nil
		}
	case tokIdent:
		if t.text == "true" || t.text == "false" {
			p.advance()
			return newLiteral(t.pos, Boolean(t.text == "true")), nil
		}
	}
	return p.invocation(true)
}

// invocation parses an identifier, a function call or a special variable.
// first is true at the start of a path, where an identifier may also name
// the type of the input ("Patient.name").
func (p *parser) invocation(first bool) (node, error) {
	t := p.advance()
	switch t.kind {
	case tokSpecial:
		return &specialVarNode{at: t.pos, name: t.text}, nil
	case tokDelimIdent:
		return newMember(t.pos, t.text, first), nil
	case tokIdent:
		if p.isOp("(") {
			return p.call(t)
		}
		if keywordOps[t.text] && t.text != "as" && t.text != "is" && t.text != "contains" && t.text != "in" {
			return nil, p.errorf(t, "unexpected keyword %s", t)
		}
		return newMember(t.pos, t.text, first), nil
	}
	return nil, p.errorf(t, "unexpected %s", t)
}

func (p *parser) call(name token) (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.advance() // (
	var args []node
	if !p.isOp(")") {
		for {
			arg, err := p.expression(0)
			if err != nil {
				return nil, err
			}
			args = append(args, arg)
			if !p.isOp(",") {
				break
			}
			p.advance()
		}
	}
	if _, err := p.expect(")"); err != nil {
		return nil, err
	}
	return newCall(name, args)
}

func (p *parser) numberOrQuantity() (node, error) {
	t := p.advance()
	num, err := parseNumberLiteral(t.text)
	if err != nil {
		return nil, p.errorf(t, "invalid number %s: %v", t, err)
	}
	next := p.peek()
	switch {
	case next.kind == tokString:
		p.advance()
		if !validUCUMSyntax(next.text) {
			return nil, p.errorf(next, "invalid UCUM unit %s", next)
		}
		return newLiteral(t.pos, Quantity{Value: toDecimal(num), Unit: next.text}), nil
	case next.kind == tokIdent && calendarUnits[next.text] != "":
		p.advance()
		return newLiteral(t.pos, Quantity{Value: toDecimal(num), Unit: calendarUnits[next.text]}), nil
	}
	return newLiteral(t.pos, num), nil
}

// typeSpecifier parses a qualified type name such as FHIR.Patient.
func (p *parser) typeSpecifier() (typeSpec, error) {
	var parts []string
	for {
		t := p.advance()
		if t.kind != tokIdent && t.kind != tokDelimIdent {
			return typeSpec{}, p.errorf(t, "expected a type name, found %s", t)
		}
		parts = append(parts, t.text)
		if !p.isOp(".") {
			break
		}
		p.advance()
	}
	return newTypeSpec(parts), nil
}

// typeSpecFromNode reads a type argument of is(), as() or ofType(), which
// the grammar parses as an expression.
func typeSpecFromNode(n node) (typeSpec, bool) {
	var parts []string
	for {
		switch x := n.(type) {
		case *memberNode:
			parts = append([]string{x.name}, parts...)
			return newTypeSpec(parts), true
		case *dotNode:
			m, ok := x.right.(*memberNode)
			if !ok {
				return typeSpec{}, false
			}
			parts = append([]string{m.name}, parts...)
			n = x.left
		default:
			return typeSpec{}, false
		}
	}
}

func newTypeSpec(parts []string) typeSpec {
	if len(parts) > 1 && (parts[0] == "System" || parts[0] == "FHIR") {
		return typeSpec{namespace: parts[0], name: strings.Join(parts[1:], ".")}
	}
	return typeSpec{name: strings.Join(parts, ".")}
}
