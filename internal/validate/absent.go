package validate

import (
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// Most invariants test elements that are absent from most values, or only
// whether elements are present, so many evaluations give a result already
// known. Three shapes of expression are recognized, and their results on
// complex nodes are computed once per (expression, type, children
// present) and kept in Validator.absentResults:
//
//   - presence: boolean combinations (and, or, xor, implies, not()) of
//     name.exists() and name.empty(), such as qty-3 "code.empty() or
//     system.exists()". The result depends only on which names are present.
//   - absent: an expression that refers to no environment variable
//     (%resource...), not to $this, and calls only functions whose result
//     depends on their input collection and arguments alone, such as
//     dom-4. When none of its names is present, it evaluates as on any
//     other node of that type without them. Its names are every
//     identifier that is not a keyword or a function: a superset of the
//     children it navigates to.
//   - chain: a path from a child name through functions that map an empty
//     collection to an empty one (where, select, trace...), ending in
//     functions without arguments (empty(), exists(), not()...), such as
//     dom-3 "contained.where(...).trace(...).empty()". When the child is
//     absent the arguments are never evaluated, so the result is constant.

type absentMode uint8

const (
	modeNone absentMode = iota
	modePresence
	modeAbsent
	modeChain
)

// absentPlan is the analysis of one expression.
type absentPlan struct {
	mode  absentMode
	names []string // child names the result depends on (modeChain: the first only)
	// satisfied is the expression's entry in satisfiedShortcuts, or nil.
	satisfied func(fp *fhirpath.Node) bool
}

// absentKey identifies a cached result: the constraint, type of the focus
// and which names of the plan are present (a bit per name). Constraints
// belong to the compiled definitions a Validator caches, so the keys are
// bounded by the loaded packages.
type absentKey struct {
	c       *constraint
	typ     *fhirmodel.Type
	present uint64
}

// pureFunctions are the FHIRPath functions whose result depends only on
// their input and arguments, never on the children of the focus beyond
// what the names in the expression select, nor on the clock or the
// environment.
var pureFunctions = setOf(
	"empty", "exists", "all", "allTrue", "anyTrue", "allFalse", "anyFalse", "subsetOf", "supersetOf",
	"count", "distinct", "isDistinct", "where", "select", "ofType", "as", "is", "single", "first", "last",
	"tail", "skip", "take", "intersect", "exclude", "union", "combine", "iif", "not",
	"toBoolean", "convertsToBoolean", "toInteger", "convertsToInteger", "toDecimal", "convertsToDecimal",
	"toString", "convertsToString", "toDate", "convertsToDate", "toDateTime", "convertsToDateTime",
	"toTime", "convertsToTime", "toQuantity", "convertsToQuantity",
	"indexOf", "substring", "startsWith", "endsWith", "contains", "upper", "lower", "replace", "matches",
	"replaceMatches", "length", "toChars", "trim", "split", "join", "encode", "decode",
	"abs", "ceiling", "exp", "floor", "ln", "log", "power", "round", "sqrt", "truncate",
	"sum", "min", "max", "avg", "lowBoundary", "highBoundary", "precision", "comparable",
	"extension",
)

// fhirpathKeywords are the operators and literals spelled as identifiers.
var fhirpathKeywords = setOf("and", "or", "xor", "implies", "is", "as", "in", "contains", "div", "mod", "true", "false")

// maxPlanNames is the number of names a cache key can tell apart: one bit
// of absentKey.present each.
const maxPlanNames = 64

// analyzeAbsent finds the shape of an expression. An expression naming
// more than maxPlanNames names is never cached, because a name without a
// bit would go unseen in the key.
func analyzeAbsent(src string) absentPlan {
	plan := shapeOf(src)
	if len(plan.names) > maxPlanNames {
		return absentPlan{}
	}
	return plan
}

// shapeOf tries the shapes of an expression, the most useful first.
func shapeOf(src string) absentPlan {
	if names, ok := presenceNames(src); ok {
		return absentPlan{mode: modePresence, names: names}
	}
	if lead, ok := chainLead(src); ok {
		return absentPlan{mode: modeChain, names: []string{lead}}
	}
	return absentNames(src)
}

// presenceTerm is name.exists() or name.empty() with a single-step name.
var presenceTerm = regexp.MustCompile(`(^|[^.\w$%])([A-Za-z_]\w*)\.(exists|empty)\(\)`)

// presenceRest matches the remainder of a presence expression once its
// terms, .not() calls and boolean operators are removed.
var presenceRest = regexp.MustCompile(`^[T()\s]*$`)

var booleanOperators = regexp.MustCompile(`\b(and|or|xor|implies)\b`)

// presenceNames recognizes a presence expression and returns its names.
func presenceNames(src string) ([]string, bool) {
	if strings.ContainsAny(src, "'`\"") {
		return nil, false
	}
	var names []string
	rest := presenceTerm.ReplaceAllStringFunc(src, func(m string) string {
		sub := presenceTerm.FindStringSubmatch(m)
		if !slices.Contains(names, sub[2]) {
			names = append(names, sub[2])
		}
		return sub[1] + "T"
	})
	rest = strings.ReplaceAll(rest, ".not()", "")
	rest = booleanOperators.ReplaceAllString(rest, " ")
	if len(names) == 0 || len(names) > 64 || !presenceRest.MatchString(rest) {
		return nil, false
	}
	return names, true
}

// emptyPreserving are the functions that map an empty collection to an
// empty one without evaluating their arguments. chainEnds are functions
// without arguments, so their result on a constant input is constant.
var (
	emptyPreserving = setOf("where", "select", "trace", "ofType", "first", "last", "tail", "distinct", "skip", "take", "extension")
	chainEnds       = setOf("empty", "exists", "not", "count", "allTrue", "anyTrue", "allFalse", "anyFalse", "isDistinct")
)

// chainLead recognizes a chain expression and returns the child name it
// starts from. The name must start in lower case, because an upper-case
// first step names the type of the focus, not a child.
func chainLead(src string) (string, bool) {
	steps, ok := splitTopLevel(strings.TrimSpace(src))
	if !ok || len(steps) < 2 || !isLowerIdent(steps[0]) || fhirpathKeywords[steps[0]] {
		return "", false // a literal such as true is not a child
	}
	ended := false
	for _, step := range steps[1:] {
		name, args, isCall := strings.Cut(step, "(")
		switch {
		case !isCall && !ended && isLowerIdent(step):
			// navigation: empty stays empty
		case !isCall || !strings.HasSuffix(args, ")") || !isIdent(name):
			return "", false
		case chainEnds[name] && args == ")":
			ended = true
		case emptyPreserving[name] && !ended:
		default:
			return "", false
		}
	}
	return steps[0], ended
}

// splitTopLevel splits an expression at the dots outside parentheses and
// quotes, and fails when anything but a path is at the top level: each
// step is an identifier, optionally followed by one parenthesized
// argument list that ends the step.
func splitTopLevel(src string) ([]string, bool) {
	var steps []string
	depth, start, closed := 0, 0, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\'' || c == '`' || c == '"':
			end := skipQuoted(src, i)
			if end < 0 {
				return nil, false
			}
			i = end - 1
			if depth == 0 {
				return nil, false
			}
		case c == '(':
			if depth == 0 && closed {
				return nil, false
			}
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, false
			}
			closed = depth == 0
		case depth > 0:
		case c == '.':
			steps = append(steps, src[start:i])
			start, closed = i+1, false
		case closed || !isIdentPart(c):
			return nil, false
		}
	}
	if depth != 0 {
		return nil, false
	}
	return append(steps, src[start:]), true
}

func isIdent(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentPart(s[i]) {
			return false
		}
	}
	return true
}

func isLowerIdent(s string) bool { return isIdent(s) && s[0] >= 'a' && s[0] <= 'z' }

// absentNames decides whether an expression has the absent shape and
// collects its names. It scans tokens without parsing, and anything it
// does not recognize disqualifies the expression.
func absentNames(src string) absentPlan {
	var names []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\'':
			end := skipQuoted(src, i)
			if end < 0 {
				return absentPlan{}
			}
			i = end
		case c == '`':
			end := skipQuoted(src, i)
			if end < 0 {
				return absentPlan{}
			}
			names = append(names, src[i+1:end-1])
			i = end
		case c == '%' || c == '$' || c == '/' && i+1 < len(src) && (src[i+1] == '/' || src[i+1] == '*'):
			return absentPlan{} // environment, $this, or a comment
		case c == '@':
			i = skipTemporal(src, i+1)
		case isIdentStart(c):
			start := i
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			word := src[start:i]
			if isFunctionCall(src, i) {
				if !pureFunctions[word] {
					return absentPlan{}
				}
				if word == "extension" {
					names = append(names, word)
				}
				continue
			}
			if !fhirpathKeywords[word] {
				names = append(names, word)
			}
		case c >= 0x80:
			return absentPlan{}
		default:
			i++
		}
	}
	return absentPlan{mode: modeAbsent, names: names}
}

// skipQuoted returns the index after the closing quote of the string or
// delimited identifier at src[i], or -1 when it is not closed.
func skipQuoted(src string, i int) int {
	quote := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case quote:
			return j + 1
		}
	}
	return -1
}

// skipTemporal skips the characters of a date, time or dateTime literal.
func skipTemporal(src string, i int) int {
	for i < len(src) && (isDigit(src[i]) || src[i] == '-' || src[i] == ':' || src[i] == '.' || src[i] == '+' || src[i] == 'T' || src[i] == 'Z') {
		i++
	}
	return i
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }

// isFunctionCall reports whether the identifier ending at i is followed by
// an opening parenthesis.
func isFunctionCall(src string, i int) bool {
	for i < len(src) && isSpace(src[i]) {
		i++
	}
	return i < len(src) && src[i] == '('
}

// absentKeyFor returns the key under which the result of plan on fp is
// cached, or false when the result must be evaluated. fp must be a complex
// node of a known type. A child is present under a name when its element
// name or its JSON name is that name.
func absentKeyFor(plan *absentPlan, c *constraint, fp *fhirpath.Node) (absentKey, bool) {
	typ := fp.Type()
	if plan.mode == modeNone || typ == nil || fp.Value() != nil {
		return absentKey{}, false
	}
	bits := c.memberBitsFor(plan, typ)
	var present uint64
	for _, child := range fp.Children() {
		if i := child.MemberIndex(); i >= 0 && i < len(bits.names) {
			present |= bits.names[i]
		} else {
			present |= presentBits(plan, child.Name(), child.JSONName())
		}
		// Only a presence plan is cached with names present, so the
		// other plans stop at the first.
		if present != 0 && plan.mode != modePresence {
			return absentKey{}, false
		}
	}
	return absentKey{c: c, typ: typ, present: present}, true
}

// presentBits returns the bits of plan's names that a child with this
// element name and JSON name is present under. analyzeAbsent keeps plans
// to maxPlanNames names, so every name has a bit.
func presentBits(plan *absentPlan, name, jsonName string) uint64 {
	var bits uint64
	for i, n := range plan.names {
		if n == name || n == jsonName {
			bits |= 1 << i
		}
	}
	return bits
}

// memberBits maps each member index of one model type to the presentBits
// of that member, so that absentKeyFor reads one slice item per child of a
// tree from fhirpath.ParseDecoded instead of comparing names.
type memberBits struct {
	typ   *fhirmodel.Type
	names []uint64 // by fhirmodel.Type.MemberIndex
}

// memberBitsFor returns the member bits of plan for typ. A constraint
// keeps those of the last type it was applied to, because an element
// definition's invariants mostly meet one type.
func (c *constraint) memberBitsFor(plan *absentPlan, typ *fhirmodel.Type) *memberBits {
	if b := c.memberBits.Load(); b != nil && b.typ == typ {
		return b
	}
	b := &memberBits{typ: typ, names: make([]uint64, typ.MemberCount())}
	for i := range b.names {
		jsonName := typ.MemberName(i)
		name, _, _ := typ.MemberIndex(jsonName)
		b.names[i] = presentBits(plan, name, jsonName)
	}
	c.memberBits.Store(b)
	return b
}
