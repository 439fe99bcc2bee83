package validate

import (
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// A Bundle may carry several versions of one resource under one fullUrl
// (bdl-7 allows it when meta.versionId differs). A reference then has to
// name the version it means: "Observation/1/_history/2" resolves only to
// the entry with that version, and "Observation/1" is ambiguous.

// resolveVersioned resolves a RESTful reference in the innermost Bundle
// when the Bundle contains more than one candidate for it, or when the
// reference names a version and the Bundle contains the resource. decided is
// false when the ordinary resolution applies. An ambiguous reference is
// reported here, at the Reference at, which is nil when resolving for a
// slice discriminator.
func (r *run) resolveVersioned(ref string, at *occurrence) (target *jnode, decided bool) {
	b := r.innermostBundle()
	if b == nil || strings.HasPrefix(ref, "urn:") {
		return nil, false
	}
	if b.allowsDuplicates() {
		return nil, false
	}

	// The entries the reference can mean, ignoring and then checking the
	// version.
	plain, version, _ := strings.Cut(ref, "/_history/")
	typ, id, ok := restfulTail(plain)
	if !ok {
		return nil, false
	}
	// The full URL is joined on the stack, because comparing a converted
	// byte slice with a string does not allocate.
	var urlRoom [128]byte
	full := append(urlRoom[:0], plain...)
	if !isAbsolute(plain) {
		full = append(append(urlRoom[:0], r.referringBase(b)...), plain...)
	}
	absolute := isAbsoluteBytes(full)
	var room [2]*jnode
	matches := room[:0]
	candidates := 0
	for _, e := range b.entries {
		if e.res == nil || e.res.str("resourceType") != typ || e.res.str("id") != id {
			continue
		}
		if e.fullURL != string(full) && absolute {
			continue
		}
		candidates++
		if have := e.res.prop("meta").str("versionId"); version != "" && have != "" && have != version {
			continue
		}
		matches = append(matches, e.res)
	}

	switch {
	case len(matches) > 1:
		if at != nil {
			r.errorf(outcome.CodeStructure, at.path(), "reference matches %d entries of the Bundle; a reference to one of several versions must name the version", len(matches))
		}
		return matches[0], true
	case version == "" || candidates == 0:
		return nil, false
	case len(matches) == 1:
		return matches[0], true
	}
	return nil, true
}
