package validate

import "github.com/gatehouse-health/gatehouse/internal/fhirpkg"

// provenNonConformant reports whether validating resource n against the
// profile url would certainly report an error, judged from the members of
// n alone: a top-level element the profile requires is absent, or one it
// forbids (max 0) is present. Either is a cardinality error of the full
// validation, or a structural error found before it. A false result
// proves nothing.
//
// It lets the choice between alternative profiles (an element whose type
// lists several, or slices discriminated by profile) skip the full
// validation of alternatives that cannot match. An example is PAS's Claim
// update profile, which requires Claim.related, for a Claim without it.
func (r *run) provenNonConformant(n *jnode, url string, from *fhirpkg.Package) bool {
	if n == nil || n.kind != kindObject || r.v.noShortcuts {
		return false
	}
	s, err := r.v.structureAt(url, from)
	if err != nil || s == nil || s.root == nil || s.typ != n.str("resourceType") {
		return false
	}
	var stack [64]bool
	present := stack[:0]
	if len(s.root.children) > len(stack) {
		present = make([]bool, 0, len(s.root.children))
	}
	present = present[:len(s.root.children)]
	for _, p := range n.props {
		if p.name == "resourceType" {
			continue
		}
		name := p.name
		if len(name) > 1 && name[0] == '_' {
			name = name[1:]
		}
		if i, _ := matchChild(s.root, name); i >= 0 {
			present[i] = true
		}
	}
	for i, c := range s.root.children {
		if c.min > 0 && !present[i] || c.max == 0 && present[i] {
			return true
		}
	}
	return false
}
