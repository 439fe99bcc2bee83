package validate

import (
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// An entry check is a profile check (see conformsTo) of a resource that
// the Bundle being validated lists as an entry and has not walked yet. It
// validates the entry as the Bundle's walk will: at the entry's path,
// with its FHIRPath node, reporting every issue the walk reports. The
// walk then records the stored issues instead of validating the entry
// again against the same profile.
//
// The verdict of the profile check comes from the same pass. A profile
// check evaluates no invariants and reports no unresolved or ambiguous
// references, so errors raised by those are not counted. The pass does
// not decide the verdict when it ran a nested sandbox (slice matching
// without discriminators, or a resource with several profiles), because
// those choose by counting errors, invariant errors included. The
// profile check then runs as before.
//
// NOTE: the guards for references from contained resources and for
// entries walked more than once follow from reading the code, and no
// test fails without them. The validate tests never reach the contained
// guards, and the cached conformsTo verdicts and the deduplication in
// merge hide the others.
type entryCheck struct {
	node    *jnode
	path    string
	fp      *fhirpath.Node
	profile *structure // the one definition the entry was validated against
	issues  []outcome.Issue

	started bool // the pass reached the entry's profiles
	aborted bool // the walk cannot take the issues, so none are stored
	// countedErrors counts the errors a profile check would also raise.
	countedErrors int
	// nestedSandbox is set when a sandbox other than a profile check ran
	// inside the pass.
	nestedSandbox bool
}

// walkedEntry marks an entry the Bundle's walk has reached, for which an
// entry check would come too late.
var walkedEntry = &entryCheck{aborted: true}

// reportsAsWalk reports whether issues are recorded as the walk of the
// top-level resource records them: outside profile checks, or inside an
// entry check.
func (r *run) reportsAsWalk() bool {
	return r.conformanceChecks == 0 || r.reportAsWalk
}

// checkAsEntry runs the profile check of n against profile as an entry
// check, when n is an entry of the innermost Bundle that its walk has not
// reached. decided is false when the caller must run the profile check
// itself. refPath is where the check was asked for.
func (r *run) checkAsEntry(n *jnode, profile, refPath string, from *fhirpkg.Package) (ok, decided bool) {
	b := r.innermostBundle()
	if r.v.noEntryChecks || b == nil || b.fp == nil || !b.reportsAsWalk || n.str("resourceType") == "" {
		return false, false
	}
	i, isEntry := b.byNode[n]
	if !isEntry {
		return false, false
	}
	if _, seen := b.entryChecks[n]; seen {
		return false, false
	}
	path := b.path + ".entry[" + strconv.Itoa(b.entries[i].item) + "].resource"
	fp := b.entryFP(i)
	// A profile check inside a contained resource resolves references in
	// another container than the walk of the entry does.
	if fp == nil || r.inContained(refPath) || r.inContained(path) {
		return false, false
	}

	ec := r.entryCheckValues.One()
	*ec = entryCheck{node: n, path: path, fp: fp}
	b.entryChecks[n] = ec
	assumedBefore, cappedBefore := r.assumed, r.nestingCapped
	issues := r.sandbox(func() {
		r.entryCheck, r.reportAsWalk = ec, true
		r.resource(n, path, fp, []string{profile}, from)
		r.entryCheck, r.reportAsWalk = nil, false
	})
	r.entryChecks++
	if !ec.started || ec.aborted {
		ec.aborted = true
		return false, false
	}
	// A check that took an unfinished check to hold, or met the nesting
	// limit, may differ from the walk's, which runs elsewhere on the stack.
	if r.assumed == assumedBefore && r.nestingCapped == cappedBefore {
		ec.issues = issues
	} else {
		ec.aborted = true
	}
	if ec.nestedSandbox {
		return false, false
	}
	return ec.countedErrors == 0, true
}

// startEntryCheck reports whether resource must stop the pass of an entry
// check of n. The pass goes on only when n has one profile, declared in its
// meta.profile, and resolving the profiles raised no issue.
func (r *run) startEntryCheck(n *jnode, frame *resourceFrame, profiles []*structure, from *fhirpkg.Package) (stop bool) {
	ec := r.entryCheck
	if ec == nil || ec.node != n || ec.started {
		return false
	}
	ec.started = true
	if len(profiles) != 1 || frame.contained || len(r.issues) > 0 || !declares(r, n, profiles[0], from) {
		ec.aborted = true
		return true
	}
	ec.profile = profiles[0]
	return false
}

// declares reports whether n's meta.profile names s.
func declares(r *run, n *jnode, s *structure, from *fhirpkg.Package) bool {
	for _, p := range itemsOf(n.prop("meta").prop("profile")) {
		if p.kind != kindString {
			continue
		}
		if got, err := r.v.structureAt(p.text, from); err == nil && got == s {
			return true
		}
	}
	return false
}

// storedEntryCheck returns the entry check whose issues the walk records
// for entry n instead of validating it, or nil. It also marks n as
// reached by the walk. issuesBefore is the length of the issue list
// before n's profiles were resolved.
func (r *run) storedEntryCheck(n *jnode, path string, fp *fhirpath.Node, frame *resourceFrame, profiles []*structure, issuesBefore int) *entryCheck {
	b := r.innermostBundle()
	if b == nil || !r.reportsAsWalk() || r.entryCheck != nil && r.entryCheck.node == n {
		return nil
	}
	if _, isEntry := b.byNode[n]; !isEntry {
		return nil
	}
	ec := b.entryChecks[n]
	if ec == nil {
		b.entryChecks[n] = walkedEntry
		return nil
	}
	// The package that placed the entry (from) only resolves its
	// profiles, so the walk may come from another package than the
	// profile check. The walk of a multi-pass resource skips the invariants
	// evaluated on its nodes in an earlier walk (see firstEvaluation),
	// which an entry check, evaluating them in its sandbox, cannot tell.
	if ec.aborted || ec.path != path || ec.fp != fp || len(profiles) != 1 || profiles[0] != ec.profile ||
		frame.multiPass || frame.contained || len(r.issues) != issuesBefore {
		return nil
	}
	b.entryChecks[n] = walkedEntry
	return ec
}

// entryFP returns the FHIRPath node of the resource of entry i, or nil.
// It builds no slice, unlike Node.Child, because it runs once per entry
// check.
func (b *bundleIndex) entryFP(i int) *fhirpath.Node {
	item := b.entries[i].item
	var entry *fhirpath.Node
	for _, c := range b.fp.Children() {
		if c.Name() != "entry" {
			continue
		}
		if item == 0 {
			entry = c
			break
		}
		item--
	}
	if entry == nil || namedChildren(entry, "resource") != 1 {
		return nil
	}
	return namedChild(entry, "resource")
}
