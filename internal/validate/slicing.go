package validate

import (
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// slices assigns each occurrence of a sliced element to the first slice
// whose discriminators it matches and checks the slicing rules: each
// slice's cardinality, closed slicing (no unmatched values), ordered
// slicing and openAtEnd. It returns the definition each occurrence is
// validated against: its slice, or the sliced element itself. It returns
// nil when the element has no slices, which means the element for all.
// The list is taken from the run's chunks (see sliceDefs), because every
// sliced element of the instance needs one; the caller gives it back.
//
// NOTE: re-slices (slices of slices) are not matched. Values are checked
// against the outer slice only.
func (r *run) slices(g *group) []*elemDef {
	d := g.def
	if len(d.slices) == 0 {
		return nil
	}
	defs := r.sliceDefs.Take(len(g.occs))
	for i := range defs {
		defs[i] = d
	}
	var countRoom [16]int
	counts := countRoom[:0]
	for range d.slices {
		counts = append(counts, 0)
	}
	rules, ordered := "open", false
	if d.slicing != nil {
		rules, ordered = d.slicing.rules, d.slicing.ordered
	}
	last, unmatchedSeen := -1, false
	for i, o := range g.occs {
		if o.val == nil && o.ext == nil {
			continue
		}
		m := r.matchSlice(d, o)
		if m < 0 {
			unmatchedSeen = true
			if rules == "closed" {
				r.errorf(outcome.CodeStructure, o.path(), "value matches none of the slices of %s, and the slicing is closed (from %s)", d.id, d.owner.label())
			}
			continue
		}
		defs[i] = d.slices[m]
		counts[m]++
		if ordered && m < last {
			r.errorf(outcome.CodeStructure, o.path(), "slices of %s are out of order (from %s)", d.id, d.owner.label())
		}
		if rules == "openAtEnd" && unmatchedSeen {
			r.errorf(outcome.CodeStructure, o.path(), "values outside the slices of %s must come last (from %s)", d.id, d.owner.label())
		}
		last = max(last, m)
	}
	for j, s := range d.slices {
		if n := counts[j]; n < s.min || s.max >= 0 && n > s.max {
			r.sliceCardinality(s, n, g.path())
		}
	}
	return defs
}

func (r *run) sliceCardinality(s *elemDef, n int, path string) {
	if n < s.min {
		r.errorf(outcome.CodeRequired, path, "slice %s: minimum required = %d, but only %d found (from %s)", s.sliceName, s.min, n, s.owner.label())
	}
	if s.max >= 0 && n > s.max {
		r.errorf(outcome.CodeStructure, path, "slice %s: maximum allowed = %d, but %d found (from %s)", s.sliceName, s.max, n, s.owner.label())
	}
}

// matchSlice returns the index of the first slice the occurrence matches,
// or -1.
func (r *run) matchSlice(d *elemDef, o *occurrence) int {
	for j, s := range d.slices {
		if r.sliceMatches(d, s, o) {
			return j
		}
	}
	return -1
}

// sliceMatches tests every discriminator. Without discriminators, a value
// matches a slice when it validates against it without errors.
func (r *run) sliceMatches(d, s *elemDef, o *occurrence) bool {
	if d.slicing == nil || len(d.slicing.discriminators) == 0 {
		issues := r.sandbox(func() { r.occurrence(o, s) })
		return countErrors(issues) == 0
	}
	for _, disc := range d.slicing.discriminators {
		if !r.discriminate(disc, s, o) {
			return false
		}
	}
	return true
}

// discriminate tests one discriminator of slice s against a value.
func (r *run) discriminate(disc discriminator, s *elemDef, o *occurrence) bool {
	steps := disc.steps
	target := r.defAt(s, o.typ, steps)
	var room [8]typedNode
	actual := r.nodesAt(room[:0], typedNode{node: o.val, typ: o.typ}, steps)
	switch disc.typ {
	case "value", "pattern":
		if matched, known := extensionURLSlice(disc, s, o); known {
			return matched
		}
		if target != nil && unconstrained(s, target) {
			return true // the slice sets no value for this discriminator
		}
		return target != nil && r.valueDiscriminator(target, actual)
	case "exists":
		if target == nil {
			return false
		}
		if target.min >= 1 {
			return len(actual) > 0
		}
		return target.max != 0 || len(actual) == 0
	case "type":
		return target != nil && typeDiscriminator(target, actual)
	case "profile":
		return target != nil && r.profileDiscriminator(target, actual, &o.at, steps)
	}
	return false
}

func (r *run) valueDiscriminator(target *elemDef, actual []typedNode) bool {
	for _, a := range actual {
		switch {
		case target.fixed != nil:
			if sameValue(a.node, target.fixed) {
				return true
			}
		case target.pattern != nil:
			if containsPattern(a.node, target.pattern) {
				return true
			}
		case target.binding != nil && target.binding.strength == "required":
			exp := r.v.expand(target.binding.valueSet, target.owner.pkg)
			typ := a.typ
			if typ == "" {
				typ = singleType(target)
			}
			codings, _ := bindingCodings(&occurrence{val: a.node, typ: typ})
			for _, c := range codings {
				if in, _ := exp.containsSafe(c); in {
					return true
				}
			}
		}
	}
	return false
}

// containsSafe is contains on a possibly nil expansion.
func (x *expansion) containsSafe(c coding) (bool, bool) {
	if x == nil {
		return false, false
	}
	return x.contains(c.system, c.code)
}

func typeDiscriminator(target *elemDef, actual []typedNode) bool {
	for _, a := range actual {
		typ := a.typ
		if rt := a.node.str("resourceType"); rt != "" && (typ == "" || typ == "Resource" || resourceTypeNames[typ]) {
			typ = rt
		}
		for _, t := range target.types {
			if t.code == typ {
				return true
			}
		}
	}
	return false
}

// profileDiscriminator tests whether a value conforms to one of the
// profiles the slice gives at the discriminator path.
func (r *run) profileDiscriminator(target *elemDef, actual []typedNode, at *location, steps []string) bool {
	var profiles []string
	for _, t := range target.types {
		if len(steps) > 0 && steps[len(steps)-1] == "resolve()" {
			profiles = append(profiles, t.targetProfiles...)
		} else {
			profiles = append(profiles, t.profiles...)
		}
	}
	for _, a := range actual {
		for _, p := range profiles {
			if r.conformsTo(a.node, a.typ, p, at, target) {
				return true
			}
		}
	}
	return false
}

// conformsTo reports whether a value validates without errors against a
// profile. Results are cached per value and profile, and a check that
// reaches itself again (a reference cycle) counts as conforming.
func (r *run) conformsTo(n *jnode, typ, profile string, at *location, d *elemDef) bool {
	k := conformKey{node: n, profile: profile}
	if res, ok := r.conforms[k]; ok {
		if res == nil {
			// The same check is under way further up: a reference cycle.
			// It is taken to hold, as the cycle's outermost check decides.
			r.assumed++
			return true
		}
		return *res
	}
	if n.str("resourceType") != "" && r.provenNonConformant(n, profile, d.owner.pkg) {
		no := false
		r.conforms[k] = &no
		return false
	}
	r.conforms[k] = nil
	// The path is rendered only here: a cached result needs none.
	path := at.String()
	assumedBefore := r.assumed
	r.conformanceChecks++
	// A nested check is no part of an entry check under way: its errors
	// are its own, and it records issues as profile checks do.
	savedEntryCheck, savedReport := r.entryCheck, r.reportAsWalk
	r.entryCheck, r.reportAsWalk = nil, false
	defer func() {
		r.conformanceChecks--
		r.entryCheck, r.reportAsWalk = savedEntryCheck, savedReport
	}()
	ok, decided := r.checkAsEntry(n, profile, path, d.owner.pkg)
	if !decided {
		r.sandboxedChecks++
		var issues = r.sandbox(func() {
			if rt := n.str("resourceType"); rt != "" {
				r.resource(n, path, nil, []string{profile}, d.owner.pkg)
				return
			}
			r.occurrence(&occurrence{val: n, typ: typ, at: location{text: path, index: -1}}, &elemDef{
				id: d.id, path: d.path, name: d.name, min: 0, max: 1, baseMax: 1,
				types: []typeRef{newTypeRef(typ, []string{profile}, nil, false)}, owner: d.owner,
			})
		})
		ok = countErrors(issues) == 0
	}
	if r.assumed > assumedBefore && r.conformanceChecks > 1 {
		// The result took a check that is still under way to hold, and
		// that check may yet fail, so the result is not kept for reuse.
		// The outermost check (conformanceChecks 1) can only have
		// assumed itself, which is the usual reading of a cycle.
		delete(r.conforms, k)
		return ok
	}
	r.conforms[k] = &ok
	return ok
}
