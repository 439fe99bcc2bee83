package validate

import (
	"strings"
	"sync/atomic"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
)

// elemPlan contains the facts, resolved from other definitions, that
// checking a value against one element definition needs and that are the
// same for every value. It is worked out on first use and
// kept with the definition, so the structures cached by a Validator carry
// their plans, and a transient definition (see conformsTo) drops its plan
// with it.
type elemPlan struct {
	// targetTypes are the resource types a Reference or canonical element
	// allows, from its target profiles. An empty map allows any type.
	targetTypes map[string]bool
}

// planOf returns the plan of d, building it on first use. Building is
// deterministic, so when two goroutines race the first plan stored wins
// and the other is dropped.
func (r *run) planOf(d *elemDef) *elemPlan {
	if p := d.plan.Load(); p != nil {
		return p
	}
	p := &elemPlan{targetTypes: r.buildTargetTypes(d)}
	d.plan.CompareAndSwap(nil, p)
	return d.plan.Load()
}

// targetTypes returns the resource types a Reference element allows. The
// map is shared and must not be changed.
func (r *run) targetTypes(d *elemDef) map[string]bool { return r.planOf(d).targetTypes }

// typeValueDef returns the value element of a primitive type's core
// definition, which carries the type's regex and maximum length.
// valueDefOf returns typeValueDef(typ), kept in t after the first call
// when t is typ's entry in a compiled definition.
func (r *run) valueDefOf(t *typeRef, typ string) *elemDef {
	if t == nil || t.resolved == nil || t.code != typ {
		return r.typeValueDef(typ)
	}
	if e := t.resolved.valueDef.Load(); e != nil {
		return e
	}
	e := r.typeValueDef(typ)
	if e != nil {
		t.resolved.valueDef.Store(e)
	}
	return e
}

// coreStructure returns Validator.typeStructure(code), kept in t after
// the first call when t is code's entry in a compiled definition.
func (r *run) coreStructure(t *typeRef, code string) (*structure, error) {
	if t == nil || t.resolved == nil || t.code != code {
		return r.v.typeStructure(code)
	}
	if s := t.resolved.core.Load(); s != nil {
		return s, nil
	}
	s, err := r.v.typeStructure(code)
	if err == nil && s != nil {
		t.resolved.core.Store(s)
	}
	return s, err
}

// targetStructures resolves t's target profiles as seen from from, the
// package of t's definition, and keeps the results in t.
func (r *run) targetStructures(t *typeRef, from *fhirpkg.Package) []resolvedProfile {
	if t.resolved != nil {
		if p := t.resolved.targets.Load(); p != nil {
			return *p
		}
	}
	out := make([]resolvedProfile, len(t.targetProfiles))
	for i, p := range t.targetProfiles {
		out[i].s, out[i].err = r.v.structureAt(p, from)
	}
	if t.resolved != nil {
		t.resolved.targets.Store(&out)
	}
	return out
}

func (r *run) typeValueDef(typ string) *elemDef {
	if e, ok := r.v.valueDefs.load(typ); ok {
		return e
	}
	s, err := r.v.typeStructure(typ)
	if err != nil || s == nil {
		return nil
	}
	e := s.byID[typ+".value"]
	if e != nil {
		// Only types of the core package get here, so the cache is bounded.
		r.v.valueDefs.store(strings.Clone(typ), e)
	}
	return e
}

// profileRoot caches the first of a type entry's profiles that resolves,
// as seen from the package of the definition. The profiles are named by
// the definition, not the instance, so the cache is bounded.
type profileRoot struct {
	s atomic.Pointer[structure] // noProfile when none resolves
}

// noProfile marks a type entry none of whose profiles resolve.
var noProfile = &structure{}

// firstProfile returns the first of t's profiles that resolves and
// compiles, or nil.
func (r *run) firstProfile(t *typeRef, from *fhirpkg.Package) *structure {
	if t.profileRoot != nil {
		if s := t.profileRoot.s.Load(); s != nil {
			if s == noProfile {
				return nil
			}
			return s
		}
	}
	found := noProfile
	for _, p := range t.profiles {
		s, err := r.v.structureAt(p, from)
		if err == nil && s != nil {
			found = s
			break
		}
	}
	if t.profileRoot != nil {
		t.profileRoot.s.Store(found)
	}
	if found == noProfile {
		return nil
	}
	return found
}
