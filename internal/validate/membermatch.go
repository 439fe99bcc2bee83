package validate

import "github.com/gatehouse-health/gatehouse/internal/fhirmodel"

// modelMatches is matchChild's result for every member name of one model
// type, by the type's member index (fhirmodel.Type.MemberIndex). The
// FHIRPath tree builder records that index for each member in the
// validator's tree. The walk then reads a member's child from this slice
// instead of looking the name up a second time.
type modelMatches struct {
	typ     *fhirmodel.Type
	matches []childMatch
}

// modelMatches returns the matches of c's children for the member names
// of typ, built on first use. A definition keeps the matches of the first
// type it is used with, usually the type it defines. It returns nil for a
// nil typ and for any other type, and members are then matched by name.
func (c *elemDef) modelMatches(typ *fhirmodel.Type) *modelMatches {
	if typ == nil {
		return nil
	}
	m := c.modelIndex.Load()
	if m == nil {
		m = newModelMatches(c, typ)
		if !c.modelIndex.CompareAndSwap(nil, m) {
			m = c.modelIndex.Load()
		}
	}
	if m.typ != typ {
		return nil
	}
	return m
}

func newModelMatches(c *elemDef, typ *fhirmodel.Type) *modelMatches {
	m := &modelMatches{typ: typ, matches: make([]childMatch, typ.MemberCount())}
	for i := range m.matches {
		index, childType := matchChild(c, typ.MemberName(i))
		m.matches[i] = childMatch{index: index, typ: childType}
	}
	return m
}

// match returns matchChild(c, name) for member p of an object recorded
// under m's type. name is p's name without its "_". A member the builder
// did not record is matched by name.
func (m *modelMatches) match(c *elemDef, p jprop, name string) (int, string) {
	if m == nil || p.member == 0 {
		return matchChild(c, name)
	}
	found := m.matches[p.member-1]
	return found.index, found.typ
}
