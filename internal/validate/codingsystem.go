package validate

import (
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// notCodeSystem reports a Coding.system that cannot name a code system:
// a relative reference, or the canonical URL of a value set the packages
// contain (a common mistake, since bindings name value sets).
func (r *run) notCodeSystem(system, path string) bool {
	if !strings.Contains(system, ":") {
		r.errorf(codeInvalid, path+".system", "Coding.system must be an absolute URI, not a relative reference")
		return true
	}
	if r.v.codeSystem(system, nil) != nil {
		return false
	}
	if res := r.v.resolve(system, nil); res != nil && res.ResourceType == "ValueSet" {
		r.errorf(codeInvalid, path+".system", "Coding.system names value set %s, but it must name a code system", system)
		return true
	}
	return false
}

// wrongCanonicalType reports a canonical reference that resolves to a
// resource of another type than the element expects.
func (r *run) wrongCanonicalType(url, want, path string) bool {
	res := r.v.resolve(url, nil)
	if res == nil || res.ResourceType == want {
		return false
	}
	r.errorf(outcome.CodeStructure, path, "canonical URL %s names a %s, but a %s is expected here", url, res.ResourceType, want)
	return true
}
