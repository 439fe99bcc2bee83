package validate

import (
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// codeInvalid is the issue-type code for a code outside its value set or
// code system.
const codeInvalid = outcome.Code("code-invalid")

// bind checks a value against the element's binding. Violations of
// required bindings are errors, of extensible and preferred bindings
// warnings, and example bindings are not checked. Membership that cannot be decided offline is
// reported as not verified, never as valid.
func (r *run) bind(o *occurrence, d *elemDef) {
	b := d.binding
	if b == nil || b.strength == "example" || o.val == nil {
		return
	}
	codings, applies := bindingCodings(o)
	if !applies {
		return
	}
	sev := outcome.Warning
	if b.strength == "required" {
		sev = outcome.Error
	}
	if len(codings) == 0 {
		if o.typ == "CodeableConcept" && b.strength != "preferred" {
			r.add(sev, outcome.CodeRequired, o.path(), "no code given; a code from value set %s is %s", b.valueSet, b.strength)
		}
		return
	}
	exp := r.v.expand(b.valueSet, d.owner.pkg)
	if exp == nil {
		r.infof(outcome.CodeNotFound, o.path(), "value set %s is not loaded; the %s binding was not verified", b.valueSet, b.strength)
		return
	}
	allKnown := true
	for _, c := range codings {
		in, known := exp.contains(c.system, c.code)
		if in {
			return
		}
		allKnown = allKnown && known
	}
	if !allKnown {
		r.infof(outcome.CodeInformational, o.path(), "membership in value set %s could not be verified offline", b.valueSet)
		return
	}
	r.add(sev, codeInvalid, o.path(), "code is not in value set %s (%s binding)", b.valueSet, b.strength)
}

// bindingCodings returns the codes a binding applies to. applies is false
// for types bindings do not apply to.
func bindingCodings(o *occurrence) (codings []coding, applies bool) {
	v := o.val
	switch o.typ {
	case "code", "string", "uri":
		if v.kind != kindString {
			return nil, false
		}
		return []coding{{code: v.text}}, true
	case "Coding", "Quantity":
		if code := v.str("code"); code != "" {
			return []coding{{system: v.str("system"), code: code}}, true
		}
		return nil, o.typ == "Coding"
	case "CodeableConcept":
		for _, c := range itemsOf(v.prop("coding")) {
			if code := c.str("code"); code != "" {
				codings = append(codings, coding{system: c.str("system"), code: code})
			}
		}
		return codings, true
	}
	return nil, false
}

// codingInSystem checks a Coding's code against its code system. Codes of
// complete code systems in the packages must exist. Codes of external
// systems are checked for syntax where the syntax is known and reported
// as not verified.
func (r *run) codingInSystem(c *jnode, path string) {
	system, code := c.str("system"), c.str("code")
	if system == "" || code == "" || r.notCodeSystem(system, path) {
		return
	}
	if cs := r.v.codeSystem(system, nil); cs != nil {
		if cs.complete && !cs.has(code) {
			r.errorf(codeInvalid, path+".code", "code is not defined in code system %s", system)
		}
		return
	}
	ext, known := externalSystems[system]
	switch {
	case known && !ext.valid(code):
		r.errorf(codeInvalid, path+".code", "code is not a valid %s code", ext.name)
	case known:
		r.infof(outcome.CodeInformational, path+".code", "%s codes cannot be verified offline; the syntax is valid", ext.name)
	default:
		r.infof(outcome.CodeInformational, path+".code", "code system %s is not in the loaded packages; the code was not verified", system)
	}
}
