package validate

// resourceTypeOf returns the type whose profiles apply to a resource
// value: its resourceType when the element lists that type, so that an
// element typed "Practitioner or PractitionerRole" applies the
// PractitionerRole profiles to a PractitionerRole; otherwise the
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
	if len(r.bundles) == 0 {
		return false
	}
	b := r.bundles[len(r.bundles)-1]
	return b.typ == "collection" && !b.selfContained
}

// unconstrained reports whether a slice's element at a value or pattern
// discriminator's path sets no fixed value, pattern or required binding,
// so that the discriminator does not restrict the slice.
func unconstrained(target *elemDef) bool {
	return target.fixed == nil && target.pattern == nil && (target.binding == nil || target.binding.strength != "required")
}
