package validate

import (
	"github.com/gatehouse-health/gatehouse/internal/chunks"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// maxNesting caps how deep resource validations nest: contained resources,
// Bundle entries, and the profile checks of references and slices, which
// validate a resource again inside another validation.
const maxNesting = 24

// run is the state of one Validate call.
type run struct {
	v         *Validator
	issues    []outcome.Issue
	seen      map[issueKey]struct{} // the issues' keys, once there are linearIssues; see recorded
	evaluated map[evalKey]struct{}  // constraints evaluated, so each is evaluated once per location; see firstEvaluation
	// lastNode is the node whose constraints are being evaluated in a
	// single-pass resource, and evaluatedIDs[lastStart:] the constraints
	// evaluated on it so far (see firstEvaluation). A sandbox starts its
	// list past the end of the one it interrupts, which it keeps.
	lastNode     *fhirpath.Node
	evaluatedIDs []uint32
	lastStart    int
	nesting      int
	// conformanceChecks counts the profile checks under way (see
	// conformsTo). Unresolved references are not reported inside one,
	// because the resource's own validation reports them where they are.
	conformanceChecks int
	// errorsOnly is set for Check: warnings and information are neither
	// built nor recorded.
	errorsOnly bool
	// assumed counts the times conformsTo met a check still under way
	// and took it to hold. A result that rests on one is not cached.
	assumed int
	// entryCheck is the entry check whose pass is under way, and
	// reportAsWalk is set during such a pass (see entryCheck).
	entryCheck   *entryCheck
	reportAsWalk bool
	// uncounted is above zero while invariants are evaluated or
	// unresolved references reported, whose errors an entry check does
	// not count for the verdict of its profile check.
	uncounted int
	// nestingCapped counts the resources not validated because they are
	// nested deeper than maxNesting.
	nestingCapped int
	// sandboxedChecks and entryChecks count the profile checks run in a
	// sandbox of their own and as entry checks, and reusedEntryChecks the
	// entry checks whose issues the walk recorded, for tests.
	sandboxedChecks, entryChecks, reusedEntryChecks int
	// singlePassEvaluations counts the constraints firstEvaluation let
	// through without the evaluated map, for tests.
	singlePassEvaluations int
	fpFailed              bool
	// unknownMembership is set when memberOf() met a value set it could
	// not expand during the invariant being evaluated.
	unknownMembership bool

	groups     chunks.List[group]       // see newGroup
	groupStack []*group                 // see memberElements
	occs       chunks.List[occurrence]  // see newOccurrence
	occRefs    chunks.List[*occurrence] // see occRoom
	sliceDefs  chunks.List[*elemDef]    // see slices
	locations  chunks.List[location]    // see rootLocation
	// entryCheckValues stores the run's entry checks, which Bundles keep
	// until they are popped.
	entryCheckValues chunks.List[entryCheck]
	// profileLists stores the profiles of the resources being validated.
	profileLists chunks.List[*structure]
	tree         treeArena             // the instance's tree
	fpTree       fhirpath.DecodedArena // the instance's FHIRPath tree

	// spareSeen and spareEvaluated are emptied maps that sandbox reuses,
	// because slice matching and profile checks run one per value.
	spareSeen      []map[issueKey]struct{}
	spareEvaluated []map[evalKey]struct{}

	resources []*resourceFrame           // resources being validated, innermost last
	frames    chunks.List[resourceFrame] // the frames of resources, in stack order
	bundles   []*bundleIndex             // Bundles being validated, innermost last
	// spareBundles are emptied indexes that pushBundle reuses in this run.
	spareBundles []*bundleIndex
	conforms     map[conformKey]*bool // profile checks of resources, nil while in progress
	// cleanNarratives are the narratives that passed their text checks;
	// see narrativeChecked.
	cleanNarratives map[*jnode]struct{}
}

type issueKey struct {
	severity outcome.Severity
	code     outcome.Code
	path     string
	msg      string
}

// evalKey identifies one constraint at one location. The base definition
// and a profile carry copies of the same constraint, so it is keyed by
// content (constraintID), and the FHIRPath node identifies the location.
type evalKey struct {
	id   uint32
	node *fhirpath.Node
}

type conformKey struct {
	node    *jnode
	profile string
}

// resourceFrame is one resource being validated.
type resourceFrame struct {
	node      *jnode
	path      string
	contained bool // a contained resource, whose references resolve in its container
	// multiPass is set when the resource, or one that contains it, is
	// validated against more than one definition, so that its nodes are
	// walked more than once outside a sandbox. It is false for a
	// top-level resource with one definition.
	multiPass bool
}

// multiPass reports whether the nodes being walked may be walked again in
// this run (see resourceFrame.multiPass). Outside any resource it returns
// true, which is always safe.
func (r *run) multiPass() bool {
	return len(r.resources) == 0 || r.resources[len(r.resources)-1].multiPass
}

// firstEvaluation reports whether constraint id has not yet been evaluated
// on node, and records that it now is. The base definition and a profile,
// or an element and its type, carry copies of one constraint, and each
// copy would otherwise be reported with its own source.
//
// In a resource walked once, the constraints of a node are evaluated
// together, after those of its descendants: the type's, then the
// element's. Only the node's own list is then needed, which saves a map
// entry per constraint and node of large documents. A sandbox saves and
// restores that list, because a profile check can run between the two.
// Resources walked more than once use the map of the whole run.
func (r *run) firstEvaluation(id uint32, node *fhirpath.Node) bool {
	if r.multiPass() {
		key := evalKey{id: id, node: node}
		if _, done := r.evaluated[key]; done {
			return false
		}
		r.evaluated[key] = struct{}{}
		return true
	}
	if node != r.lastNode {
		r.lastNode, r.evaluatedIDs = node, r.evaluatedIDs[:r.lastStart]
	}
	if slices.Contains(r.evaluatedIDs[r.lastStart:], id) {
		return false
	}
	r.evaluatedIDs = append(r.evaluatedIDs, id)
	r.singlePassEvaluations++
	return true
}

// add records an issue once, so the same problem found through the base
// definition and a profile is reported once. Inside a profile check only
// errors are recorded, because the check counts them and drops the rest
// (see keeps).
func (r *run) add(sev outcome.Severity, code outcome.Code, path, format string, args ...any) {
	if ec := r.entryCheck; ec != nil && r.uncounted == 0 && (sev == outcome.Error || sev == outcome.Fatal) {
		ec.countedErrors++
	}
	if !r.keeps(sev) {
		return
	}
	msg := formatMessage(format, args)
	if r.recorded(issueKey{sev, code, path, msg}) {
		return
	}
	is := outcome.Issue{Severity: sev, Code: code, Diagnostics: msg}
	if path != "" {
		is.Expression = []string{path}
	}
	r.issues = append(r.issues, is)
}

// linearIssues is the number of issues below which recorded compares a
// new issue with each recorded one: with few issues that costs less than
// hashing their messages and locations.
const linearIssues = 32

// recorded reports whether an issue with key k is already recorded, and
// otherwise counts it as recorded: the caller appends it. Past
// linearIssues issues, r.seen is filled with all of them and looked up.
func (r *run) recorded(k issueKey) bool {
	if len(r.issues) < linearIssues {
		for i := range r.issues {
			if keyOf(&r.issues[i]) == k {
				return true
			}
		}
		return false
	}
	if len(r.seen) < len(r.issues) {
		for i := range r.issues {
			r.seen[keyOf(&r.issues[i])] = struct{}{}
		}
	}
	if _, dup := r.seen[k]; dup {
		return true
	}
	r.seen[k] = struct{}{}
	return false
}

func keyOf(is *outcome.Issue) issueKey {
	path := ""
	if len(is.Expression) > 0 {
		path = is.Expression[0]
	}
	return issueKey{is.Severity, is.Code, path, is.Diagnostics}
}

func (r *run) errorf(code outcome.Code, path, format string, args ...any) {
	r.add(outcome.Error, code, path, format, args...)
}

func (r *run) warnf(code outcome.Code, path, format string, args ...any) {
	r.add(outcome.Warning, code, path, format, args...)
}

func (r *run) infof(code outcome.Code, path, format string, args ...any) {
	r.add(outcome.Information, code, path, format, args...)
}

// errorCount counts the issues of severity error or fatal.
func (r *run) errorCount() int {
	n := 0
	for _, is := range r.issues {
		if is.Severity == outcome.Error || is.Severity == outcome.Fatal {
			n++
		}
	}
	return n
}

// sandbox runs fn with a fresh issue list and returns the issues fn
// recorded, leaving the run's own list unchanged.
func (r *run) sandbox(fn func()) []outcome.Issue {
	if r.entryCheck != nil {
		r.entryCheck.nestedSandbox = true
	}
	savedIssues, savedSeen, savedEval := r.issues, r.seen, r.evaluated
	r.issues, r.seen, r.evaluated = nil, takeMap(&r.spareSeen), takeMap(&r.spareEvaluated)
	savedNode, savedStart, savedLen := r.lastNode, r.lastStart, len(r.evaluatedIDs)
	r.lastNode, r.lastStart = nil, savedLen
	defer func() {
		r.lastNode, r.lastStart, r.evaluatedIDs = savedNode, savedStart, r.evaluatedIDs[:savedLen]
	}()
	fn()
	got := r.issues
	r.spareSeen = append(r.spareSeen, clearedMap(r.seen))
	r.spareEvaluated = append(r.spareEvaluated, clearedMap(r.evaluated))
	r.issues, r.seen, r.evaluated = savedIssues, savedSeen, savedEval
	return got
}

// takeMap returns an empty map from a list of spares, or a new one.
func takeMap[K comparable, V any](spares *[]map[K]V) map[K]V {
	if n := len(*spares); n > 0 {
		m := (*spares)[n-1]
		(*spares)[n-1] = nil
		*spares = (*spares)[:n-1]
		return m
	}
	return map[K]V{}
}

// merge records issues found in a sandbox, as add would record each: an
// issue already recorded is dropped. The issues keep their messages and
// locations, which add built when the sandbox recorded them.
func (r *run) merge(issues []outcome.Issue) {
	for i := range issues {
		if !r.recorded(keyOf(&issues[i])) {
			r.issues = append(r.issues, issues[i])
		}
	}
}

func countErrors(issues []outcome.Issue) int {
	n := 0
	for _, is := range issues {
		if is.Severity == outcome.Error || is.Severity == outcome.Fatal {
			n++
		}
	}
	return n
}

// document validates the top-level resource.
func (r *run) document(tree *jnode, body []byte, profiles []string) error {
	fp, err := fhirpath.ParseDecodedIn(tree, body, &r.fpTree)
	if err != nil {
		r.fpFailed = true
	}
	r.resource(tree, "", fp, profiles, nil)
	if r.fpFailed && r.errorCount() == 0 {
		// The FHIRPath tree is only rejected for structural faults this
		// validator reports itself, so fail closed if it did not.
		r.errorf(outcome.CodeProcessing, tree.str("resourceType"), "invariants not evaluated: %s", strings.TrimPrefix(err.Error(), "fhirpath: "))
	}
	return nil
}
