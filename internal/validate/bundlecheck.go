package validate

import (
	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// Native checks of the Bundle invariants that FHIRPath evaluates in time
// quadratic in the number of entries: bdl-3 and bdl-4 read %resource.type
// once per entry, and isDistinct in bdl-7 compares every pair of entries.
// Each returns true only when the invariant holds and evaluating it could
// not fail, and false in every other case, which is then evaluated.

// entriesMatchType returns the check of "entry.all(member.exists() =
// (%resource.type = t1 or ...))": an entry has member exactly when the
// Bundle's type is one of types.
func entriesMatchType(member string, types ...string) func(fp *fhirpath.Node) bool {
	return func(fp *fhirpath.Node) bool {
		bundleType, ok := singleString(enclosingResource(fp), "type")
		if !ok {
			return false
		}
		want := false
		for _, t := range types {
			want = want || bundleType == t
		}
		for _, entry := range fp.Children() {
			if entry.Name() != "entry" {
				continue
			}
			if hasChild(entry, member) != want {
				return false
			}
		}
		return true
	}
}

// entryVersionsDistinct is the check of bdl-7, "(type = 'history') or
// entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId)
// .isDistinct()": the fullUrl and versionId of the entries that have a
// fullUrl, joined, are all different. It gives up on any element that
// repeats or lacks a string value, where the concatenation could fail.
func entryVersionsDistinct(fp *fhirpath.Node) bool {
	seen := map[string]struct{}{}
	for _, entry := range fp.Children() {
		if entry.Name() != "entry" || !hasChild(entry, "fullUrl") {
			continue
		}
		url, ok := singleString(entry, "fullUrl")
		if !ok {
			return false
		}
		version, ok := optionalString(entry, "resource", "meta", "versionId")
		if !ok {
			return false
		}
		key := url + version
		if _, dup := seen[key]; dup {
			return false
		}
		seen[key] = struct{}{}
	}
	return true
}

// enclosingResource returns the nearest resource at or above fp, the
// %resource of an evaluation on fp.
func enclosingResource(fp *fhirpath.Node) *fhirpath.Node {
	for n := fp; n != nil; n = n.Parent() {
		if t := n.Type(); t != nil && t.Kind == fhirmodel.KindResource {
			return n
		}
	}
	return nil
}

func hasChild(n *fhirpath.Node, name string) bool {
	for _, c := range n.Children() {
		if c.Name() == name {
			return true
		}
	}
	return false
}

// singleString returns the value of n's only child called name, when
// there is exactly one and its value is a string.
func singleString(n *fhirpath.Node, name string) (string, bool) {
	if n == nil {
		return "", false
	}
	var found *fhirpath.Node
	for _, c := range n.Children() {
		if c.Name() != name {
			continue
		}
		if found != nil {
			return "", false
		}
		found = c
	}
	if found == nil {
		return "", false
	}
	return found.StringValue()
}

// optionalString follows path from n, one child per step, and returns the
// string at its end: "" when a step is missing, and false when a step
// repeats or the last element has no string value.
func optionalString(n *fhirpath.Node, path ...string) (string, bool) {
	for _, name := range path {
		var next *fhirpath.Node
		for _, c := range n.Children() {
			if c.Name() != name {
				continue
			}
			if next != nil {
				return "", false
			}
			next = c
		}
		if next == nil {
			return "", true
		}
		n = next
	}
	return n.StringValue()
}
