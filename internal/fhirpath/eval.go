package fhirpath

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// Default evaluation limits, used when the EvalContext leaves them zero.
const (
	DefaultMaxSteps      = 10_000_000 // items visited, summed over all steps
	DefaultMaxCollection = 1 << 20    // items in one intermediate collection
)

// ErrLimit is returned, wrapped, when an evaluation exceeds MaxSteps or
// MaxCollection.
var ErrLimit = errors.New("evaluation limit exceeded")

// Expression is a compiled FHIRPath expression. It is immutable and safe
// for concurrent use.
type Expression struct {
	src  string
	root node
}

// Compile parses expr and resolves its functions. It rejects expressions
// longer than MaxExpressionLength or nested deeper than MaxDepth, with a
// *SyntaxError.
func Compile(expr string) (*Expression, error) {
	root, err := parse(expr)
	if err != nil {
		return nil, err
	}
	return &Expression{src: expr, root: root}, nil
}

// MustCompile is Compile for expressions fixed in the program text. It
// panics on error.
func MustCompile(expr string) *Expression {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the source text.
func (e *Expression) String() string { return e.src }

// Terminology checks codes against value sets for memberOf(). The
// validator implements it, and evaluation without one fails memberOf().
type Terminology interface {
	// MemberOf reports whether the code, Coding or CodeableConcept in
	// value is in the value set with the given canonical URL. known is
	// false when the value set cannot be evaluated, which makes memberOf()
	// return empty.
	MemberOf(ctx context.Context, value *Node, valueSetURL string) (member, known bool, err error)
}

// Conformance checks resources against profiles for conformsTo().
type Conformance interface {
	// ConformsTo reports whether value conforms to the StructureDefinition
	// with the given canonical URL. An unknown profile is an error.
	ConformsTo(ctx context.Context, value *Node, profileURL string) (bool, error)
}

// Resolver looks up references that resolve() cannot find in the input's
// own Bundle or contained resources. It returns nil when the reference is
// unknown.
type Resolver interface {
	Resolve(ctx context.Context, from *Node, reference string) (*Node, error)
}

// EvalContext configures one evaluation. The zero value works: it
// evaluates with the default limits and the R4 model, without
// terminology or profile checks.
type EvalContext struct {
	// Context is passed to the hooks. Nil means context.Background().
	Context context.Context

	// Resource and RootResource set %resource and %rootResource. When nil,
	// they are the resource containing the first input node, and for a
	// contained resource, the resource that contains it.
	Resource     *Node
	RootResource *Node

	// Variables adds environment variables, named without the '%'.
	Variables map[string]Collection

	// Now returns the current time for now(), today() and timeOfDay().
	// Nil means time.Now. All calls in one evaluation see the same instant.
	Now func() time.Time

	Terminology Terminology // memberOf(); nil makes memberOf() an error
	Conformance Conformance // conformsTo(); nil makes conformsTo() an error
	Resolver    Resolver    // resolve() beyond the Bundle; may be nil

	// Trace receives the values passed to trace(). Nil discards them.
	Trace func(name string, values Collection)

	// Model types the names used in is(), as() and ofType(). Nil means R4.
	Model *fhirmodel.Model

	// MaxSteps caps the work of one evaluation and MaxCollection the size
	// of any intermediate collection. Zero means the defaults.
	MaxSteps      int
	MaxCollection int
}

// EvalError reports a failure during evaluation: a type error, a
// singleton expected, a limit exceeded, or a failing hook.
type EvalError struct {
	Offset int    // byte offset in the expression of the failing operator or function
	Msg    string // lower case
	Err    error  // underlying error, if any
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("fhirpath: %s at offset %d", e.Msg, e.Offset)
}

func (e *EvalError) Unwrap() error { return e.Err }

// evaluator is the state of one Evaluate call. Evaluators are pooled:
// the scratch memory of one evaluation (the arena and the call and scope
// stacks) is reused by the next, so Evaluate copies its result out of the
// arena before the evaluator goes back to the pool.
type evaluator struct {
	// cfg is a copy of the caller's EvalContext, made only when it sets a
	// field that isZero checks (cfgSet). Most callers set none, and
	// copying the struct in and out of a pooled evaluator costs a write
	// barrier for every pointer in it while the collector runs.
	cfg      EvalContext
	cfgSet   bool
	model    *fhirmodel.Model
	steps    int
	maxSteps int
	maxColl  int
	now      time.Time
	nowSet   bool
	input    Collection

	// Nodes of %resource and %rootResource. Their collections are built on
	// first use, because most expressions never name them.
	resourceNode, rootNode *Node
	resource, root         Collection

	rootScope scope
	arena     arena
	calls     []*call // call frames in use below callDepth, reused above it
	callDepth int
	scopes    []*scope // iteration scopes, a stack like calls
	scopeTop  int

	// results is heap memory for the results of later evaluations, handed
	// out in pieces and never reused (see result).
	results []Value
}

// scope contains the iteration variables inside function arguments.
type scope struct {
	this     Collection
	index    int
	hasIndex bool
	total    Collection
	hasTotal bool
}

var evaluatorPool = sync.Pool{New: func() any { return new(evaluator) }}

// Evaluate runs the expression with input as the context collection
// ($this and %context). Input items are usually the root *Node of a tree
// from ParseJSON. The result is the caller's to keep and modify.
func (e *Expression) Evaluate(ec EvalContext, input ...Value) (Collection, error) {
	ev := acquireEvaluator(&ec, input)
	defer ev.release()
	out, err := e.root.eval(ev, &ev.rootScope, ev.rootScope.this)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	// out may live in the evaluator's arena, which the next evaluation
	// reuses.
	return ev.result(out), nil
}

// EvaluateBool evaluates a constraint expecting at most one boolean. It
// returns ok=false for an empty result, so the caller decides what an
// empty result means, and an error for more items or a non-boolean.
func (e *Expression) EvaluateBool(ec EvalContext, input ...Value) (result, ok bool, err error) {
	ev := acquireEvaluator(&ec, input)
	defer ev.release()
	out, err := e.root.eval(ev, &ev.rootScope, ev.rootScope.this)
	if err != nil {
		return false, false, err
	}
	switch len(out) {
	case 0:
		return false, false, nil
	case 1:
		if b, isBool := primitiveValue(out[0]).(Boolean); isBool {
			return bool(b), true, nil
		}
	}
	return false, false, &EvalError{Offset: 0, Msg: fmt.Sprintf("result of %q is not a single boolean", abbreviate(e.src))}
}

// acquireEvaluator takes an evaluator from the pool and prepares it for
// one evaluation of input under ec.
func acquireEvaluator(ec *EvalContext, input []Value) *evaluator {
	ev := evaluatorPool.Get().(*evaluator)
	ev.reset(ec, input)
	ev.rootScope.this = ev.input
	return ev
}

// reset prepares a pooled evaluator for one evaluation.
func (ev *evaluator) reset(ec *EvalContext, input []Value) {
	if !ec.isZero() {
		ev.cfg, ev.cfgSet = *ec, true
	}
	model := ec.Model
	if model == nil {
		model = fhirmodel.R4()
	}
	if ev.model != model {
		ev.model = model
	}
	ev.maxSteps, ev.maxColl = ec.MaxSteps, ec.MaxCollection
	// A copy, so that the caller's variadic slice does not escape and can
	// stay on its stack.
	ev.input = ev.collection(len(input))
	if len(input) == 1 {
		ev.input = append(ev.input, input[0])
	} else {
		ev.input = append(ev.input, input...)
	}
	ev.steps, ev.nowSet = 0, false
	// A panic in an earlier evaluation may have left frames pushed.
	ev.callDepth, ev.scopeTop = 0, 0
	if ev.maxSteps <= 0 {
		ev.maxSteps = DefaultMaxSteps
	}
	if ev.maxColl <= 0 {
		ev.maxColl = DefaultMaxCollection
	}
	ev.setResources(ec, input)
}

// release returns the evaluator to the pool. An evaluator whose arena
// grew past maxPooledArena is dropped instead, so one huge evaluation
// does not pin its memory.
func (ev *evaluator) release() {
	if ev.cfgSet {
		ev.cfg, ev.cfgSet = EvalContext{}, false
	}
	// The collections of %resource and %rootResource are built on first
	// use, so they must not carry over. The input, the resource nodes and
	// $this are set again by the next reset.
	if ev.resource != nil || ev.root != nil {
		ev.resource, ev.root = nil, nil
	}
	if !ev.arena.reset() {
		return
	}
	evaluatorPool.Put(ev)
}

// isZero reports whether ec sets nothing that the evaluator copies.
// Resource, RootResource and the limits are read by reset directly.
func (ec *EvalContext) isZero() bool {
	return ec.Context == nil && ec.Variables == nil && ec.Now == nil &&
		ec.Terminology == nil && ec.Conformance == nil && ec.Resolver == nil &&
		ec.Trace == nil && ec.Model == nil
}

// context returns the context passed to the hooks.
func (ev *evaluator) context() context.Context {
	if ev.cfg.Context != nil {
		return ev.cfg.Context
	}
	return context.Background()
}

func (ev *evaluator) setResources(ec *EvalContext, input []Value) {
	var res *Node
	if ec.Resource != nil {
		res = ec.Resource
	} else if len(input) > 0 {
		if n, ok := input[0].(*Node); ok {
			res = n.resource()
		}
	}
	ev.resourceNode = res
	root := ec.RootResource
	if root == nil && res != nil {
		root = res
		// A contained resource's root is the resource that contains it.
		if res.name == "contained" && res.parent != nil {
			if outer := res.parent.resource(); outer != nil {
				root = outer
			}
		}
	}
	ev.rootNode = root
}

// resourceCollection returns %resource, or %rootResource with root set.
func (ev *evaluator) resourceCollection(root bool) Collection {
	if root {
		if ev.root == nil && ev.rootNode != nil {
			ev.root = ev.single(ev.rootNode)
		}
		return ev.root
	}
	if ev.resource == nil && ev.resourceNode != nil {
		ev.resource = ev.single(ev.resourceNode)
	}
	return ev.resource
}

// step charges n units of work.
func (ev *evaluator) step(at, n int) error {
	ev.steps += n
	if ev.steps > ev.maxSteps {
		return ev.stepsExceeded(at)
	}
	return nil
}

// stepsExceeded is the error of step, kept out of line so that step is
// inlined.
//
//go:noinline
func (ev *evaluator) stepsExceeded(at int) error {
	return &EvalError{Offset: at, Msg: fmt.Sprintf("evaluation exceeded %d steps", ev.maxSteps), Err: ErrLimit}
}

// maxStringResult caps one string built by an evaluation: a
// concatenation, the result of a string function, or the unit of a
// product or quotient of quantities.
const maxStringResult = 16 << 20

// stringBytesPerStep is how many bytes of a built string cost one step,
// so that MaxSteps also bounds the total size of the strings an
// evaluation builds, not only the size of each.
const stringBytesPerStep = 16

// chargeString rejects a string of n bytes, about to be built, above
// maxStringResult, and charges it against MaxSteps.
func (ev *evaluator) chargeString(at, n int) error {
	if n > maxStringResult {
		return &EvalError{Offset: at, Msg: fmt.Sprintf("string of %d bytes exceeds the limit of %d bytes", n, maxStringResult), Err: ErrLimit}
	}
	return ev.step(at, n/stringBytesPerStep)
}

// checkSize rejects collections above MaxCollection.
func (ev *evaluator) checkSize(at int, c Collection) error {
	return ev.checkCount(at, len(c))
}

// checkCount is checkSize for a collection of n items not built yet.
func (ev *evaluator) checkCount(at, n int) error {
	if n > ev.maxColl {
		return &EvalError{Offset: at, Msg: fmt.Sprintf("collection of %d items exceeds the limit of %d", n, ev.maxColl), Err: ErrLimit}
	}
	return ev.step(at, n)
}

func (ev *evaluator) nowTime() time.Time {
	if !ev.nowSet {
		if ev.cfg.Now != nil {
			ev.now = ev.cfg.Now()
		} else {
			ev.now = time.Now()
		}
		ev.nowSet = true
	}
	return ev.now
}

func errorf(at int, format string, args ...any) error {
	return &EvalError{Offset: at, Msg: fmt.Sprintf(format, args...)}
}
