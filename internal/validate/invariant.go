package validate

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// corrections replaces invariants whose published R4 expression is wrong.
// tim-9 compares the repeating Timing.repeat.when with "in", which
// FHIRPath makes an error as soon as when has two values (HL7 Jira
// FHIR-35990), so the replacement tests every value.
//
// US Core's pd-1 applies "or" to repeating elements, which FHIRPath makes
// an error as soon as one has two values, so the replacement tests existence.
//
// Questionnaire's que-7 tests "answer is Boolean", but the answer is the
// FHIR type boolean, which this FHIRPath engine does not match to
// System.Boolean.
//
// Questionnaire's que-12 tests "more than two" enableWhen although its
// rule is about more than one. The reference validator applies the rule
// as stated.
//
// R4's dom-3 lets through a contained resource without an id that does
// not refer to its container, because "'#'+id in (...)" is then empty
// and where() drops a resource whose criterion is empty. Nothing can
// refer to such a resource, so it breaks the rule that dom-3 states in
// words. The replacement is the form later HL7 tooling publishes (Da
// Vinci PAS 2.2.1 carries it). It tests id.exists(), and accepts a uri
// "#" where R4 repeats the canonical test.
var corrections = map[string]string{
	"contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()": "contained.where(((id.exists() and ('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url)))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(uri) = '#').exists()).not()).trace('unmatched', id).empty()",
	"enableWhen.count() > 2 implies enableBehavior.exists()":                             "enableWhen.count() > 1 implies enableBehavior.exists()",
	"operator = 'exists' implies (answer is Boolean)":                                    "operator = 'exists' implies (answer is boolean)",
	"telecom or endpoint":                                                                "telecom.exists() or endpoint.exists()",
	"offset.empty() or (when.exists() and ((when in ('C' | 'CM' | 'CD' | 'CV')).not()))": "offset.empty() or (when.exists() and when.all(($this in ('C' | 'CM' | 'CD' | 'CV')).not()))",
}

// invariant evaluates one constraint. A false result is an issue of the
// constraint's severity. An evaluation error is reported too, as an error
// for error constraints, because an invariant that cannot be evaluated has
// not been shown to hold.
func (r *run) invariant(c *constraint, d *elemDef, at *location, fp *fhirpath.Node) {
	if r.v.noShortcuts {
		r.reportInvariant(c, d, at, r.evalInvariant(c, fp))
		return
	}
	plan := c.absentPlan()
	if plan.satisfied != nil && plan.satisfied(fp) {
		return
	}
	key, cacheable := absentKeyFor(plan, c, fp)
	if !cacheable {
		r.reportInvariant(c, d, at, r.evalInvariant(c, fp))
		return
	}

	// Most lookups of a constraint repeat its previous key, because an
	// element has one type and usually the same children, so the entry
	// found last is compared before the key is hashed.
	if last := c.lastAbsent.Load(); last != nil && last.v == r.v && last.key == key {
		r.reportInvariant(c, d, at, last.res)
		return
	}
	if got, ok := r.v.absentResults.load(key); ok {
		c.lastAbsent.Store(got)
		r.reportInvariant(c, d, at, got.res)
		return
	}
	entry := &absentEntry{v: r.v, key: key, res: r.evalInvariant(c, fp)}
	r.v.absentResults.store(key, entry)
	c.lastAbsent.Store(entry)
	r.reportInvariant(c, d, at, entry.res)
}

// absentEntry is a cached invariant outcome with its key and the validator
// whose cache contains it. The results under one key are equal whichever
// run computed them, so an entry that lost a race to store is as good as
// the one kept.
type absentEntry struct {
	v   *Validator
	key absentKey
	res invariantResult
}

// satisfiedShortcuts maps invariant expressions to Go tests of cases in
// which they are true, run before FHIRPath evaluates them. A false return
// means FHIRPath evaluates the expression.
var satisfiedShortcuts = map[string]func(fp *fhirpath.Node) bool{
	// ref-1 holds for a reference that does not start with "#": the left
	// operand of "or" is true. Only local references need %rootResource.
	// Without a reference child both operands of "or" are empty, and an
	// empty result counts as satisfied (see constraintResult), as for a
	// Reference that has only an identifier or a display.
	"reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))": func(fp *fhirpath.Node) bool {
		var ref *fhirpath.Node
		for _, c := range fp.Children() {
			if c.Name() == "reference" || c.JSONName() == "reference" {
				if ref != nil {
					return false
				}
				ref = c
			}
		}
		if ref == nil {
			return true
		}
		s, ok := ref.StringValue()
		return ok && !strings.HasPrefix(s, "#")
	},
	// dom-6 (a warning) holds when a text child has a div child.
	"text.`div`.exists()": func(fp *fhirpath.Node) bool {
		for _, text := range fp.Children() {
			if text.Name() == "text" && namedChild(text, "div") != nil {
				return true
			}
		}
		return false
	},
	// bdl-3, bdl-4 and bdl-7: see bundlecheck.go.
	"entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or %resource.type = 'history'))":                    entriesMatchType("request", "batch", "transaction", "history"),
	"entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' or %resource.type = 'history'))": entriesMatchType("response", "batch-response", "transaction-response", "history"),
	"(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()":                                    entryVersionsDistinct,
	// bdl-8 holds for a single fullUrl string without "/_history/".
	"fullUrl.contains('/_history/').not()": func(fp *fhirpath.Node) bool {
		url := namedChild(fp, "fullUrl")
		if url == nil || namedChildren(fp, "fullUrl") != 1 {
			return false
		}
		s, ok := url.StringValue()
		return ok && !strings.Contains(s, "/_history/")
	},
}

// namedChild returns n's first child called name, or nil. Unlike
// Node.Child it builds no slice, because the shortcuts run on every
// element they apply to.
func namedChild(n *fhirpath.Node, name string) *fhirpath.Node {
	for _, c := range n.Children() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// namedChildren counts n's children called name.
func namedChildren(n *fhirpath.Node, name string) int {
	count := 0
	for _, c := range n.Children() {
		if c.Name() == name {
			count++
		}
	}
	return count
}

// invariantResult is the outcome of evaluating one invariant, before it
// is reported at a location.
type invariantResult struct {
	kind   invariantOutcome
	detail string // the compile or evaluation error
}

type invariantOutcome uint8

const (
	invariantSatisfied    invariantOutcome = iota // true
	invariantFails                                // false
	invariantNotCompiled                          // the expression does not compile
	invariantNotEvaluable                         // a hook cannot tell offline
	invariantError                                // evaluation failed
	invariantUnverified                           // false, but memberOf() met a value set not loaded
)

// evalInvariant evaluates the (corrected) expression of c on fp.
func (r *run) evalInvariant(c *constraint, fp *fhirpath.Node) invariantResult {
	expr, err := c.compiled(r.v)
	if err != nil {
		return invariantResult{kind: invariantNotCompiled, detail: err.Error()}
	}
	r.unknownMembership = false
	out, err := expr.Evaluate(r.evalContext(), fp)
	ok, known := constraintResult(out)
	switch {
	case err != nil && errors.Is(err, errNotEvaluable):
		return invariantResult{kind: invariantNotEvaluable, detail: trimPrefix(err)}
	case err != nil:
		return invariantResult{kind: invariantError, detail: trimPrefix(err)}
	case known && !ok && r.unknownMembership:
		return invariantResult{kind: invariantUnverified}
	case known && !ok:
		return invariantResult{kind: invariantFails}
	}
	return invariantResult{kind: invariantSatisfied}
}

// reportInvariant records the issue, if any, of an invariant's outcome.
// The location is rendered only for an issue.
func (r *run) reportInvariant(c *constraint, d *elemDef, at *location, res invariantResult) {
	if res.kind == invariantSatisfied {
		return
	}
	path := at.String()
	sev := outcome.Error
	if c.severity == "warning" {
		sev = outcome.Warning
	}
	switch res.kind {
	case invariantNotCompiled:
		r.warnf(outcome.CodeProcessing, path, "invariant %s of %s not evaluated: %v", c.key, d.owner.label(), res.detail)
	case invariantNotEvaluable:
		r.infof(outcome.CodeInformational, path, "invariant %s of %s not evaluated: %s", c.key, d.owner.label(), res.detail)
	case invariantError:
		r.add(sev, outcome.CodeInvariant, path, "invariant %s of %s could not be evaluated: %s", c.key, d.owner.label(), res.detail)
	case invariantUnverified:
		r.infof(outcome.CodeInformational, path, "invariant %s of %s could not be verified offline: it tests membership in a value set that is not loaded", c.key, d.owner.label())
	case invariantFails:
		// Built by concatenation, in one allocation, where passing the
		// three strings to add would box each of them.
		msg := ""
		if r.keeps(sev) {
			msg = c.key + ": " + c.human + " (from " + d.owner.label() + ")"
		}
		r.addBuilt(sev, outcome.CodeInvariant, path, msg)
	}
}

// source returns the expression evaluated for c: the published one, or
// its replacement from corrections.
func (c *constraint) source() string {
	if fixed, ok := corrections[c.expr]; ok {
		return fixed
	}
	return c.expr
}

// compiledConstraint is a constraint's expression as compiled, or the
// error compiling it.
type compiledConstraint struct {
	expr *fhirpath.Expression
	err  error
}

// compiled returns c's expression compiled by v, kept in c after the first
// call. Compiling depends on the source alone, so the result is the same
// whichever validator compiled it. Looking the source up in v's cache on
// each evaluation boxed the string key into an interface, one allocation
// per invariant evaluated.
func (c *constraint) compiled(v *Validator) (*fhirpath.Expression, error) {
	if p := c.compiledExpr.Load(); p != nil {
		return p.expr, p.err
	}
	expr, err := v.expression(c.source())
	c.compiledExpr.Store(&compiledConstraint{expr: expr, err: err})
	return expr, err
}

// absentPlan returns the analysis of c's expression (see absent.go),
// made on first use.
func (c *constraint) absentPlan() *absentPlan {
	if p := c.absent.Load(); p != nil {
		return p
	}
	p := analyzeAbsent(c.source())
	p.satisfied = satisfiedShortcuts[c.expr]
	c.absent.Store(&p)
	return &p
}

// constraintResult reads an invariant's result as a boolean. An empty
// result is unknown. Non-boolean items count as true, the singleton
// evaluation FHIRPath defines for one item, extended to several items the
// way published implementation guides rely on ("telecom or endpoint" in US
// Core pd-1 yields the telecom items when there are several). A false
// boolean anywhere makes the result false.
func constraintResult(out fhirpath.Collection) (ok, known bool) {
	if len(out) == 0 {
		return false, false
	}
	for _, item := range out {
		if b, isBool := item.(fhirpath.Boolean); isBool && !bool(b) {
			return false, true
		}
	}
	return true, true
}

func trimPrefix(err error) string { return strings.TrimPrefix(err.Error(), "fhirpath: ") }

// errNotEvaluable marks hook failures that mean "cannot tell" rather than
// "does not hold", such as conformsTo() on a profile not loaded.
var errNotEvaluable = errors.New("not evaluable offline")

func (r *run) evalContext() fhirpath.EvalContext {
	return fhirpath.EvalContext{
		Now:         r.v.now,
		Terminology: terminologyHook{r},
		Conformance: conformanceHook{},
	}
}

// terminologyHook evaluates memberOf() against the offline expansions.
type terminologyHook struct{ r *run }

func (h terminologyHook) MemberOf(_ context.Context, value *fhirpath.Node, url string) (member, known bool, err error) {
	codings := codingsOfNode(value)
	if len(codings) == 0 {
		return false, true, nil
	}
	exp := h.r.v.expand(url, nil)
	if exp == nil {
		h.r.unknownMembership = true
		return false, false, nil
	}
	allKnown := true
	for _, c := range codings {
		in, ok := exp.contains(c.system, c.code)
		if in {
			return true, true, nil
		}
		allKnown = allKnown && ok
	}
	if !allKnown {
		h.r.unknownMembership = true
	}
	return false, allKnown, nil
}

// codingsOfNode reads the codes of a code, Coding or CodeableConcept node.
func codingsOfNode(n *fhirpath.Node) []coding {
	typ := ""
	if t := n.Type(); t != nil {
		typ = t.Name
	}
	switch {
	case typ == "CodeableConcept":
		var out []coding
		for _, c := range n.Child("coding") {
			out = append(out, codingsOfNode(c)...)
		}
		return out
	case typ == "Coding" || typ == "Quantity" || n.Type() != nil && n.Type().IsA("Quantity"):
		code := nodeString(n, "code")
		if code == "" {
			return nil
		}
		return []coding{{system: nodeString(n, "system"), code: code}}
	}
	if s, ok := n.StringValue(); ok {
		return []coding{{code: s}}
	}
	return nil
}

func nodeString(n *fhirpath.Node, name string) string {
	for _, c := range n.Children() {
		if c.Name() != name {
			continue
		}
		if s, ok := c.StringValue(); ok {
			return s
		}
	}
	return ""
}

// conformanceHook implements conformsTo().
// NOTE: conformsTo() needs the validator to check a FHIRPath node, but the
// validator walks its own JSON tree. Until the two are linked, conformsTo()
// reports that it cannot tell, and the invariant is reported as not
// evaluated (information). No invariant of the shipped packages calls it.
type conformanceHook struct{}

func (conformanceHook) ConformsTo(context.Context, *fhirpath.Node, string) (bool, error) {
	return false, errNotEvaluable
}
