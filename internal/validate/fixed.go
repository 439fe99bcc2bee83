package validate

import (
	"sync"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// fixedPattern checks ElementDefinition.fixed[x] (the value must be
// exactly this) and pattern[x] (the value must contain at least this).
func (r *run) fixedPattern(o *occurrence, d *elemDef) {
	if d.fixed == nil && d.pattern == nil {
		return
	}
	v := o.val
	if v == nil {
		r.errorf(outcome.CodeValue, o.path(), "a value is required by the fixed or pattern value of %s", d.owner.label())
		return
	}
	if d.fixed != nil && !sameValue(v, d.fixed) {
		r.errorf(outcome.CodeValue, o.path(), "value must be %s (fixed by %s)", describeValue(d.fixed), d.owner.label())
	}
	if d.pattern != nil && !containsPattern(v, d.pattern) {
		r.errorf(outcome.CodeValue, o.path(), "value must match the pattern %s (from %s)", describeValue(d.pattern), d.owner.label())
	}
}

// sameValue compares two JSON values: scalars by kind and text, objects by
// members regardless of order, arrays item by item.
func sameValue(a, b *jnode) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kindObject:
		if len(a.props) != len(b.props) {
			return false
		}
		for _, p := range a.props {
			if !sameValue(p.val, b.prop(p.name)) {
				return false
			}
		}
		return true
	case kindArray:
		if len(a.items) != len(b.items) {
			return false
		}
		for i := range a.items {
			if !sameValue(a.items[i], b.items[i]) {
				return false
			}
		}
		return true
	}
	return a.text == b.text
}

// containsPattern reports whether value has at least the content of
// pattern: every member of a pattern object is in the value, and every
// item of a pattern array matches some item of the value array.
func containsPattern(value, pattern *jnode) bool {
	if value == nil {
		return false
	}
	switch pattern.kind {
	case kindObject:
		if value.kind != kindObject {
			return false
		}
		for _, p := range pattern.props {
			if !containsPattern(value.prop(p.name), p.val) {
				return false
			}
		}
		return true
	case kindArray:
		if value.kind != kindArray {
			return false
		}
		for _, want := range pattern.items {
			if !anyContains(value.items, want) {
				return false
			}
		}
		return true
	}
	return value.kind == pattern.kind && value.text == pattern.text
}

func anyContains(items []*jnode, pattern *jnode) bool {
	for _, it := range items {
		if containsPattern(it, pattern) {
			return true
		}
	}
	return false
}

// describeValue renders a definition's fixed or pattern value for a
// message: scalars as written, codings as system#code.
func describeValue(n *jnode) string {
	switch n.kind {
	case kindString, kindNumber:
		return "'" + n.text + "'"
	case kindTrue:
		return "true"
	case kindFalse:
		return "false"
	case kindObject:
		if code := n.str("code"); code != "" {
			return n.str("system") + "#" + code
		}
		if cs := itemsOf(n.prop("coding")); len(cs) > 0 {
			return describeValue(cs[0])
		}
	}
	return "given in the profile"
}

// constraints evaluates the FHIRPath invariants of d on the node at a location.
// ele-1, ext-1, txt-1 and txt-2 are checked natively (see members,
// extensionShape and xhtml), so compiled definitions leave them out.
func (r *run) constraints(d *elemDef, at *location, fp *fhirpath.Node) {
	if fp == nil || len(d.constraints) == 0 {
		return
	}
	for _, c := range d.constraints {
		if r.firstEvaluation(c.id, fp) {
			r.uncounted++
			r.invariant(c, d, at, fp)
			r.uncounted--
		}
	}
}

// nativeConstraints are the core invariants this package checks in Go.
var nativeConstraints = map[string]bool{"ele-1": true, "ext-1": true, "txt-1": true, "txt-2": true}

// constraintIDs numbers the distinct (key, expression) pairs of the
// compiled definitions, so that the copies of one constraint in a base
// definition and its profiles share a number. It grows only with the
// definitions compiled, never with instances.
var constraintIDs struct {
	sync.Mutex
	ids map[[2]string]uint32
}

func constraintID(key, expr string) uint32 {
	constraintIDs.Lock()
	defer constraintIDs.Unlock()
	if constraintIDs.ids == nil {
		constraintIDs.ids = map[[2]string]uint32{}
	}
	id, ok := constraintIDs.ids[[2]string{key, expr}]
	if !ok {
		id = uint32(len(constraintIDs.ids))
		constraintIDs.ids[[2]string{key, expr}] = id
	}
	return id
}
