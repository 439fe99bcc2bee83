package validate

import (
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// cardinality checks the number of occurrences against min and max.
func (r *run) cardinality(d *elemDef, n int, path string) {
	if n < d.min {
		r.errorf(outcome.CodeRequired, path, "minimum required = %d, but only %d found (from %s)", d.min, n, d.owner.label())
	}
	if d.max >= 0 && n > d.max {
		if d.max == 0 {
			r.errorf(outcome.CodeStructure, path, "element is not allowed here (max = 0, from %s)", d.owner.label())
			return
		}
		r.errorf(outcome.CodeStructure, path, "maximum allowed = %d, but %d found (from %s)", d.max, n, d.owner.label())
	}
}

// oneChoice checks that a choice element is given under one name only.
func (r *run) oneChoice(g *group) {
	for _, o := range g.occs[1:] {
		if o.typ != g.occs[0].typ {
			r.errorf(outcome.CodeStructure, g.path(), "choice element %s[x] is given as more than one type", g.def.name)
			return
		}
	}
}

// occurrence validates one value against its element definition (a slice
// definition when the value matched one).
func (r *run) occurrence(o *occurrence, d *elemDef) {
	if o.val == nil && o.ext == nil {
		// A null item of a primitive array may only hold the place of a
		// value whose extensions are in the matching "_name" item, which
		// is known once both halves are read. Other nulls were reported
		// as they were read.
		if isPrimitiveType(o.typ) && o.at.index >= 0 {
			r.errorf(outcome.CodeStructure, o.path(), "null item with no extension in the matching item of the \"_\" array; an item needs a value, an extension or both")
		}
		return
	}
	t := d.typeRefOf(o.typ)
	if d.contentRef == "" && len(d.types) > 0 && t == nil {
		r.errorf(outcome.CodeStructure, o.path(), "type %s is not allowed here (from %s)", o.typ, d.owner.label())
		return
	}
	isResource := t != nil && t.resource || t == nil && (o.typ == "Resource" || r.isResourceType(o.typ))
	switch {
	case isPrimitiveType(o.typ):
		r.primitive(o, d)
	case isResource:
		r.resourceAnyOf(o.val, o.path(), o.fp, d.typeProfiles(resourceTypeOf(o, d)), d.owner.pkg)
		return
	default:
		if !r.complex(o, d) {
			return
		}
	}
	r.fixedPattern(o, d)
	r.valueLimits(o, d)
	r.bind(o, d)
	if !isResourceElement(d) {
		r.constraints(d, &o.at, o.fp)
	}
}

func (d *elemDef) hasType(code string) bool {
	for _, t := range d.types {
		if t.code == code {
			return true
		}
	}
	return false
}

// typeProfiles returns the profiles the type code's entry lists.
func (d *elemDef) typeProfiles(code string) []string {
	if t := d.typeRefOf(code); t != nil {
		return t.profiles
	}
	return nil
}

// typeRefOf returns the type entry of the type code, or nil.
func (d *elemDef) typeRefOf(code string) *typeRef {
	for i := range d.types {
		if d.types[i].code == code {
			return &d.types[i]
		}
	}
	return nil
}

// isResourceElement reports whether d contains a resource, whose own
// definition carries its constraints.
func isResourceElement(d *elemDef) bool {
	return len(d.types) == 1 && d.types[0].resource
}

// complex validates an object of a data type or backbone element. It
// returns false when the value is not an object at all.
func (r *run) complex(o *occurrence, d *elemDef) bool {
	if o.val.kind != kindObject {
		r.errorf(outcome.CodeStructure, o.path(), "a %s must be a JSON object", o.typ)
		return false
	}
	container, typeRoot := r.containerFor(o, d)
	if container == nil {
		return true
	}
	r.members(o.val, container, &o.at, o.fp, false)
	if typeRoot != nil {
		r.constraints(typeRoot, &o.at, o.fp)
	}
	switch o.typ {
	case "Extension":
		r.extensionShape(o)
	case "Reference":
		r.reference(o, d)
	case "Attachment":
		r.attachmentSize(o)
	case "Coding":
		r.codingInSystem(o.val, &o.at, -1)
	case "CodeableConcept":
		for i, c := range itemsOf(o.val.prop("coding")) {
			r.codingInSystem(c, &o.at, i)
		}
	}
	return true
}

// containerFor returns the element definition whose children describe the
// value's members, and the root of the type definition when the value is
// described by one (whose constraints then apply too).
func (r *run) containerFor(o *occurrence, d *elemDef) (container, typeRoot *elemDef) {
	if d.contentRef != "" {
		return r.contentReference(d), nil
	}
	if len(d.children) > 0 {
		return d, nil
	}
	t := d.typeRefOf(o.typ)
	if t != nil && len(t.profiles) > 0 {
		if s := r.firstProfile(t, d.owner.pkg); s != nil {
			return s.root, s.root
		}
		r.warnf(outcome.CodeNotFound, o.path(), "profile %s not found; the element was checked against %s only", t.profiles[0], o.typ)
	}
	if o.typ == "Extension" {
		if s := r.extensionDefinition(o, d); s != nil {
			return s.root, s.root
		}
	}
	s, err := r.coreStructure(t, o.typ)
	if err != nil || s == nil {
		r.errorf(outcome.CodeException, o.path(), "no definition for type %s", o.typ)
		return nil, nil
	}
	return s.root, s.root
}

// contentReference resolves "#Questionnaire.item" in the definition that
// owns d, then in the core definition of the same type.
func (r *run) contentReference(d *elemDef) *elemDef {
	id := strings.TrimPrefix(d.contentRef, "#")
	if i := strings.Index(id, "#"); i >= 0 {
		id = id[i+1:] // "http://...#Questionnaire.item"
	}
	if e := d.owner.byID[id]; e != nil {
		return e
	}
	root, _, _ := strings.Cut(id, ".")
	if s, err := r.v.typeStructure(root); err == nil && s != nil {
		return s.byID[id]
	}
	return nil
}

// isResourceType reports whether code names a FHIR R4 resource type.
func (r *run) isResourceType(code string) bool { return resourceTypeNames[code] }

func itemsOf(n *jnode) []*jnode {
	if n == nil {
		return nil
	}
	if n.kind == kindArray {
		return n.items
	}
	return []*jnode{n}
}

// extensionShape checks invariant ext-1 natively: an extension has either
// nested extensions or a value, not both and not neither.
func (r *run) extensionShape(o *occurrence) {
	hasValue := false
	for _, p := range o.val.props {
		if strings.HasPrefix(p.name, "value") || strings.HasPrefix(p.name, "_value") {
			hasValue = true
		}
	}
	hasExt := o.val.prop("extension") != nil
	if hasValue == hasExt {
		r.errorf(outcome.CodeInvariant, o.path(), "ext-1: an extension must have either extensions or a value[x], not both")
	}
}

// extensionDefinition finds the definition of an extension by its url and
// checks that a modifier extension is used as one (and only as one). An
// extension whose definition is not loaded is an error, because its
// content cannot be verified, unless its url is in an allowed domain
// (Options.AllowedModifierDomains for a modifier extension).
func (r *run) extensionDefinition(o *occurrence, d *elemDef) *structure {
	url := o.val.str("url")
	if url == "" || !isAbsolute(url) {
		r.relativeExtensionURL(o, d, url)
		return nil
	}
	modifierSlot := d.name == "modifierExtension"
	s, err := r.v.structureAt(url, d.owner.pkg)
	if err != nil || s == nil {
		if r.v.allowedExtension(url, modifierSlot) {
			r.warnf(outcome.CodeNotFound, o.path(), "extension %s is not defined in the loaded packages; its content was not verified", url)
		} else {
			r.errorf(outcome.CodeNotFound, o.path(), "extension %s is not defined in the loaded packages, so it is not allowed", url)
		}
		return nil
	}
	if s.typ != "Extension" {
		r.errorf(outcome.CodeInvalid, o.path(), "extension url %s names a %s definition, not an extension", url, s.typ)
		return nil
	}
	switch {
	case s.root.isModifier && !modifierSlot:
		r.errorf(outcome.CodeStructure, o.path(), "extension %s is a modifier extension, so it must be sent in modifierExtension", url)
	case !s.root.isModifier && modifierSlot:
		r.errorf(outcome.CodeStructure, o.path(), "extension %s is not a modifier extension, so it must not be sent in modifierExtension", url)
	}
	r.checkExtensionContext(o, s)
	return s
}

// relativeExtensionURL rejects a relative extension url unless it names a
// part of a complex extension. A part that matches a slice of its
// definition never gets here, so inside a defined extension the url names
// a part the definition lacks. As in the HL7 validator, both are errors
// because the content could not be verified.
func (r *run) relativeExtensionURL(o *occurrence, d *elemDef, url string) {
	switch {
	case url == "":
		// Extension.url is required; cardinality reports its absence.
	case d.path != "Extension.extension":
		r.errorf(outcome.CodeInvalid, o.path(), "Extension.url must be an absolute URL, not %q: only the parts of a complex extension have relative urls", url)
	case !d.owner.isCore():
		r.errorf(outcome.CodeStructure, o.path(), "sub-extension url %q is not defined by the extension %s", url, d.owner.label())
	}
}

// maxLength checks ElementDefinition.maxLength, in characters. A string
// has no more characters than bytes, so only one longer in bytes is
// counted.
func (r *run) maxLength(o *occurrence, d *elemDef) {
	if d.maxLength > 0 && o.val != nil && o.val.kind == kindString && len(o.val.text) > d.maxLength &&
		utf8.RuneCountInString(o.val.text) > d.maxLength {
		r.errorf(outcome.CodeTooLong, o.path(), "value is longer than the maximum length %d", d.maxLength)
	}
}

// attachmentSize checks that Attachment.size, when given with inline
// data, is the size of the decoded data.
func (r *run) attachmentSize(o *occurrence) {
	size, data := o.val.prop("size"), o.val.prop("data")
	if size == nil || data == nil || size.kind != kindNumber || data.kind != kindString {
		return
	}
	decoded, err := decodeBase64(data.text)
	if err != nil {
		return // the base64Binary check reports it
	}
	if n, err := strconv.Atoi(size.text); err == nil && n != len(decoded) {
		r.errorf(outcome.CodeValue, o.path()+".size", "size is %d but the data contains %d bytes", n, len(decoded))
	}
}

// decodeBase64 decodes a base64Binary value, which may contain whitespace
// between its groups of four characters.
func decodeBase64(text string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
}
