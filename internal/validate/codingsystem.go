package validate

import (
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// relativeSystem reports a Coding.system that is a relative reference,
// which cannot name a code system. at and index locate the Coding as
// for codingInSystem.
func (r *run) relativeSystem(system string, at *location, index int) bool {
	if strings.Contains(system, ":") {
		return false
	}
	r.errorf(codeInvalid, codingPath(at.String(), index, "system"), "Coding.system must be an absolute URI, not a relative reference")
	return true
}

// valueSetAsSystem reports a Coding.system whose resource res, as the
// packages resolve it, is a value set: a common mistake, because
// bindings name value sets. at and index locate the Coding as for
// codingInSystem.
func (r *run) valueSetAsSystem(system string, res *fhirpkg.Resource, at *location, index int) bool {
	if res == nil || res.ResourceType != "ValueSet" {
		return false
	}
	r.errorf(codeInvalid, codingPath(at.String(), index, "system"), "Coding.system names value set %s, but it must name a code system", system)
	return true
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
