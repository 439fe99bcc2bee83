package validate

import (
	"strconv"

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
	if b.strength != "required" && !r.keeps(outcome.Warning) {
		return // a weaker binding reports warnings at most, which are not kept here
	}
	var buf [4]coding
	codings, applies := appendBindingCodings(buf[:0], o)
	if !applies {
		return
	}
	sev := outcome.Warning
	if b.strength == "required" {
		sev = outcome.Error
	}
	if len(codings) == 0 {
		if o.typ == "CodeableConcept" && b.strength != "preferred" && r.keeps(sev) {
			r.addBuilt(sev, outcome.CodeRequired, o.path(), "no code given; a code from value set "+b.valueSet+" is "+b.strength)
		}
		return
	}
	exp := r.v.bindingExpansion(b, d.owner.pkg)
	if exp == nil {
		if !r.keeps(outcome.Information) {
			return
		}
		r.addBuilt(outcome.Information, outcome.CodeNotFound, o.path(), "value set "+b.valueSet+" is not loaded; the "+b.strength+" binding was not verified")
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
		if !r.keeps(outcome.Information) {
			return
		}
		r.addBuilt(outcome.Information, outcome.CodeInformational, o.path(), "membership in value set "+b.valueSet+" could not be verified offline")
		return
	}
	if r.keeps(sev) {
		r.addBuilt(sev, codeInvalid, o.path(), "code is not in value set "+b.valueSet+" ("+b.strength+" binding)")
	}
}

// bindingCodings returns the codes a binding applies to. applies is false
// for types bindings do not apply to.
func bindingCodings(o *occurrence) (codings []coding, applies bool) {
	return appendBindingCodings(nil, o)
}

// appendBindingCodings is bindingCodings appending to codings, whose
// storage the caller provides so that most values need no allocation.
func appendBindingCodings(codings []coding, o *occurrence) ([]coding, bool) {
	v := o.val
	switch o.typ {
	case "code", "string", "uri":
		if v.kind != kindString {
			return nil, false
		}
		return append(codings, coding{code: v.text}), true
	case "Coding", "Quantity":
		if code := v.str("code"); code != "" {
			return append(codings, coding{system: v.str("system"), code: code}), true
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
// The Coding is at at, or at at.coding[index] of a CodeableConcept
// when index is not negative. Its location is built only for an issue,
// the system is resolved once, and messages are concatenated rather than
// formatted, because this runs for every Coding.
func (r *run) codingInSystem(c *jnode, at *location, index int) {
	system, code := c.str("system"), c.str("code")
	if system == "" || code == "" || r.relativeSystem(system, at, index) {
		return
	}
	res := r.v.resolve(system, nil)
	if r.valueSetAsSystem(system, res, at, index) {
		return
	}
	if res != nil && res.ResourceType == "CodeSystem" {
		if cs := r.v.compiledCodeSystem(res); cs.complete && !cs.has(code) {
			r.addBuilt(outcome.Error, codeInvalid, codingPath(at.String(), index, "code"), "code is not defined in code system "+system)
		}
		return
	}
	ext, known := externalSystems[system]
	switch {
	case known && !ext.valid(code):
		r.addBuilt(outcome.Error, codeInvalid, codingPath(at.String(), index, "code"), ext.invalidMessage)
	case !r.keeps(outcome.Information):
	case known:
		r.addBuilt(outcome.Information, outcome.CodeInformational, codingPath(at.String(), index, "code"), ext.unverifiedMessage)
	default:
		r.addBuilt(outcome.Information, outcome.CodeInformational, codingPath(at.String(), index, "code"), "code system "+system+" is not in the loaded packages; the code was not verified")
	}
}

// codingPath returns the location of a member of the Coding at path, or
// at path.coding[index] when index is not negative, in one concatenation.
func codingPath(path string, index int, member string) string {
	if index < 0 {
		return path + "." + member
	}
	return path + ".coding[" + strconv.Itoa(index) + "]." + member
}

// keeps reports whether an issue of severity sev recorded now can reach
// the result. Inside a profile check (conformsTo) only errors can, unless
// it is an entry check,
// because that check counts the errors of its sandbox and drops the
// issues, along with whatever nested checks merged into it. A Check keeps
// errors only too. Callers skip building the message of an issue that
// cannot be kept.
func (r *run) keeps(sev outcome.Severity) bool {
	return sev == outcome.Error || sev == outcome.Fatal || r.reportsAsWalk() && !r.errorsOnly
}

// addBuilt records an issue whose message is already built, without a
// call to fmt. add uses its format verbatim when it gets no arguments, so
// a '%' in msg, from a system URL for example, stays as written.
func (r *run) addBuilt(sev outcome.Severity, code outcome.Code, path, msg string) {
	r.add(sev, code, path, msg, noFormatArgs...)
}

// noFormatArgs is the empty argument list for add with a built message.
// go vet reports a call with a non-constant format and no arguments, and
// passing this empty list keeps that check quiet.
var noFormatArgs []any
