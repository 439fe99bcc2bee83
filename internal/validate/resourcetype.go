package validate

import "strings"

// resourceTypeOf returns the type whose profiles apply to a resource
// value. That is its resourceType when the element lists that type, so an
// element typed "Practitioner or PractitionerRole" applies the
// PractitionerRole profiles to a PractitionerRole. Otherwise it is the
// occurrence's type.
func resourceTypeOf(o *occurrence, d *elemDef) string {
	if rt := o.val.str("resourceType"); rt != "" && d.hasType(rt) {
		return rt
	}
	return o.typ
}

// inCollection reports whether the innermost Bundle being validated is a
// collection that need not contain what it refers to. An unresolved
// reference there is a warning, as the reference validator reports it.
func (r *run) inCollection() bool {
	b := r.innermostBundle()
	return b != nil && b.typ == "collection" && !b.selfContained
}

// unconstrained reports whether slice s leaves a value or pattern
// discriminator open: the element at the discriminator's path is one of
// the slice's own children and sets no fixed value, pattern or required
// binding. Slices typed by a profile (extension slices) are never open,
// because the profile carries the value.
func unconstrained(s, target *elemDef) bool {
	for _, t := range s.types {
		if len(t.profiles) > 0 {
			return false
		}
	}
	own := target.owner == s.owner && isChildID(target.id, s.id)
	return own && target.fixed == nil && target.pattern == nil && (target.binding == nil || target.binding.strength != "required")
}

// isChildID reports whether id is below parent, id starting with
// parent + "." (tested without building that string).
func isChildID(id, parent string) bool {
	return len(id) > len(parent) && id[len(parent)] == '.' && strings.HasPrefix(id, parent)
}

// extensionURLSlice matches an extension against a slice by the url
// discriminator: the slice's extension profile is the url the extension
// must have. This is true whether or not the profile is loaded. known is
// false for other discriminators and slices.
func extensionURLSlice(disc discriminator, s *elemDef, o *occurrence) (matched, known bool) {
	if disc.path != "url" || o.typ != "Extension" {
		return false, false
	}
	url := o.val.str("url")
	for _, t := range s.types {
		if t.code != "Extension" {
			continue
		}
		for _, p := range t.profiles {
			known = true
			canonical, _, _ := strings.Cut(p, "|")
			matched = matched || canonical == url
		}
	}
	return matched, known
}
