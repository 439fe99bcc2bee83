package validate

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// reference checks a Reference: that a local reference resolves (to a
// contained resource, or to an entry of the enclosing Bundle), that the
// target's type is one the element allows, and that a resolved target
// conforms to one of the target profiles.
func (r *run) reference(o *occurrence, d *elemDef) {
	ref := o.val.str("reference")
	if ref == "" {
		return
	}
	target, checked := r.resolveReference(ref, o)
	typ := ""
	if target != nil {
		typ = target.str("resourceType")
	} else if t, _, ok := restfulTail(ref); ok {
		typ = t
	}
	allowed := r.targetTypes(d)
	if typ != "" && len(allowed) > 0 && !allowed[typ] && !allowed["Resource"] {
		r.errorf(outcome.CodeStructure, o.path(), "reference to a %s is not allowed here; allowed targets: %s (from %s)", typeLabel(typ), joinKeys(allowed), d.owner.label())
		return
	}
	if target == nil {
		if checked {
			r.unresolved(ref, o.path())
		}
		return
	}
	r.targetProfiles(target, typ, o, d)
}

// resolveReference returns the resource a reference points to, and
// whether the reference was one this validator can resolve (local to the
// resource or to a Bundle that must be self-contained). at is the
// Reference, or nil when resolving for a slice discriminator.
func (r *run) resolveReference(ref string, at *occurrence) (*jnode, bool) {
	if strings.HasPrefix(ref, "#") {
		return r.resolveContained(ref[1:]), true
	}
	b := r.innermostBundle()
	if b == nil {
		return nil, false
	}
	if target, decided := r.resolveVersioned(ref, at); decided {
		return target, true
	}
	target, ambiguous, variant := r.resolveInBundle(ref)
	if variant {
		if at != nil {
			r.fullURLVariant(at.path())
		}
		return nil, false
	}
	if ambiguous {
		if at != nil {
			r.ambiguous(b, at.path())
		}
		return nil, false
	}
	local := strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:")
	return target, local || b.selfContained
}

// resolveForDiscriminator resolves a Reference value for a resolve() step.
func (r *run) resolveForDiscriminator(n *jnode) *jnode {
	ref := n.str("reference")
	if ref == "" {
		return nil
	}
	target, _ := r.resolveReference(ref, nil)
	return target
}

// resolveContained finds a contained resource by id in the resource that
// contains the current one, or the container itself for "#".
func (r *run) resolveContained(id string) *jnode {
	var container *jnode
	for i := len(r.resources) - 1; i >= 0; i-- {
		if !r.resources[i].contained {
			container = r.resources[i].node
			break
		}
	}
	if container == nil {
		return nil
	}
	if id == "" {
		return container
	}
	for _, c := range itemsOf(container.prop("contained")) {
		if c.str("id") == id {
			return c
		}
	}
	return nil
}

func (r *run) unresolved(ref, path string) {
	if !r.reportsAsWalk() {
		return
	}
	r.uncounted++
	defer func() { r.uncounted-- }()
	switch {
	case strings.HasPrefix(ref, "#"):
		r.errorf(outcome.CodeNotFound, path, "reference to a contained resource that is not in the resource")
	case r.inCollection():
		r.warnf(outcome.CodeNotFound, path, "reference does not resolve to an entry of the collection Bundle")
	default:
		r.errorf(outcome.CodeNotFound, path, "reference does not resolve to an entry of the Bundle, which must contain every resource it refers to")
	}
}

// fullURLVariant reports a reference that equals the fullUrl of an entry
// only when the letter case of the scheme or host, or a trailing slash, is
// ignored. It is an error in every Bundle: the receiver may resolve it to
// that entry, whose type and profiles were then not checked against the
// reference.
func (r *run) fullURLVariant(path string) {
	if !r.reportsAsWalk() {
		return
	}
	r.uncounted++
	defer func() { r.uncounted-- }()
	r.errorf(outcome.CodeStructure, path, "reference matches the fullUrl of an entry only when the letter case of the scheme or host, or a trailing slash, is ignored, so its target was not checked; write it exactly as the fullUrl of its target")
}

// ambiguous reports a relative reference that readers of the Bundle can
// take to different entries, so its target was not checked. In a Bundle
// that must be self-contained this is an error, because the receiver
// acts on the entry it resolves. Elsewhere the FHIR versions differ too:
// R4 resolves such a reference outside the Bundle, R5 by type and id
// inside it. There it is a warning.
func (r *run) ambiguous(b *bundleIndex, path string) {
	if !r.reportsAsWalk() {
		return
	}
	r.uncounted++
	defer func() { r.uncounted-- }()
	const msg = "reference can be read as more than one entry of the Bundle (by fullUrl, or by resource type and id), so its target was not checked; write it as the fullUrl of its target"
	if b.selfContained {
		r.errorf(outcome.CodeStructure, path, msg)
	} else {
		r.warnf(outcome.CodeStructure, path, msg)
	}
}

// buildTargetTypes returns the resource types a Reference element allows,
// from its target profiles. An empty set allows any type.
func (r *run) buildTargetTypes(d *elemDef) map[string]bool {
	out := map[string]bool{}
	for _, t := range d.types {
		if t.code != "Reference" && t.code != "canonical" {
			continue
		}
		for _, p := range t.targetProfiles {
			name, _, _ := strings.Cut(strings.TrimPrefix(p, coreURL), "|")
			if strings.HasPrefix(p, coreURL) && (resourceTypeNames[name] || name == "Resource") {
				out[name] = true
				continue
			}
			if s, err := r.v.structureAt(p, d.owner.pkg); err == nil && s != nil {
				out[s.typ] = true
			} else {
				out["Resource"] = true // an unknown profile: do not guess its type
			}
		}
	}
	return out
}

// typeLabel names a target's resource type in an issue. The type comes
// from the instance, so a name that is no FHIR resource type is not
// quoted: issues carry no instance values.
func typeLabel(typ string) string {
	if resourceTypeNames[typ] {
		return typ
	}
	return "resource of an unknown type"
}

// targetProfiles checks that a resolved target conforms to at least one
// of the target profiles of its type, when any are profiles rather than
// core definitions. A target profile that is not loaded or cannot be
// compiled may be one the target had to meet. So when no usable profile
// applies to the target's type, the check is reported as not done.
func (r *run) targetProfiles(target *jnode, typ string, o *occurrence, d *elemDef) {
	var profiles, unknown []string
	for i := range d.types {
		t := &d.types[i]
		for j, resolved := range r.targetStructures(t, d.owner.pkg) {
			p, s, err := t.targetProfiles[j], resolved.s, resolved.err
			if err != nil || s == nil {
				unknown = append(unknown, p)
				continue
			}
			if s.typ != typ {
				continue
			}
			if s.isCore() {
				return // the core type itself is allowed
			}
			profiles = append(profiles, p)
		}
	}
	if len(profiles) == 0 {
		if len(unknown) > 0 && r.keeps(outcome.Information) {
			r.infof(outcome.CodeNotFound, o.path(), "target profile %s is not loaded or could not be compiled; the referenced %s was not checked against it (from %s)", strings.Join(unknown, " or "), typeLabel(typ), d.owner.label())
		}
		return
	}
	for _, p := range profiles {
		if r.conformsTo(target, typ, p, &o.at, d) {
			return
		}
	}
	// NOTE: the issue names the target but not the element that failed
	// the target profile. The target's own check reports that element only
	// when it also breaks a rule of FHIR R4 or of a profile the target
	// declares, such as an undefined extension.
	if at := r.entryPath(target); at != "" {
		r.errorf(outcome.CodeInvalid, o.path(), "the referenced %s, %s, does not conform to %s (from %s)",
			typ, at, strings.Join(profiles, " or "), d.owner.label())
		return
	}
	r.errorf(outcome.CodeInvalid, o.path(), "the referenced %s does not conform to %s (from %s)", typ, strings.Join(profiles, " or "), d.owner.label())
}

// entryPath returns the location of target when it is the resource of an
// entry of the innermost Bundle, or "".
func (r *run) entryPath(target *jnode) string {
	b := r.innermostBundle()
	if b == nil {
		return ""
	}
	i, ok := b.byNode[target]
	if !ok {
		return ""
	}
	return b.path + ".entry[" + strconv.Itoa(b.entries[i].item) + "].resource"
}

func joinKeys(m map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}
