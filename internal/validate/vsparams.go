package validate

import (
	"regexp"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

const (
	extValueSetParameter = "http://hl7.org/fhir/tools/StructureDefinition/valueset-parameter"
	extCQFExpression     = "http://hl7.org/fhir/StructureDefinition/cqf-expression"
)

// expressionVariable finds the %name variables of a FHIRPath expression.
var expressionVariable = regexp.MustCompile(`%([A-Za-z][A-Za-z0-9_-]*)`)

// builtinVariables are the FHIRPath and FHIR environment variables a
// filter expression may use without a declared parameter.
var builtinVariables = map[string]bool{"resource": true, "rootResource": true, "context": true, "ucum": true, "sct": true, "loinc": true}

// valueSetParameters checks the parameterised filters of a ValueSet: a
// filter value computed by a cqf-expression may only use the parameters
// the ValueSet declares with the valueset-parameter extension.
func (r *run) valueSetParameters(n *jnode, path string) {
	declared := map[string]bool{}
	for _, x := range extensions(n, extValueSetParameter) {
		for _, part := range extensions(x, "name") {
			if v, _ := choiceValue(part, "value"); v != nil && v.kind == kindString {
				declared[v.text] = true
			}
		}
	}
	compose := n.prop("compose")
	for _, part := range []string{"include", "exclude"} {
		for i, inc := range itemsOf(compose.prop(part)) {
			for j, f := range itemsOf(inc.prop("filter")) {
				r.filterExpression(f.prop("_value"), declared, filterValueAt{path, part, i, j})
			}
		}
	}
}

// filterValueAt locates a compose.include or compose.exclude filter value
// of a ValueSet at path. The location is built only for an issue.
type filterValueAt struct {
	path, part string // part is "include" or "exclude"
	i, j       int    // the indexes of the include and of its filter
}

func (at filterValueAt) String() string {
	return indexed(indexed(at.path+".compose."+at.part, at.i)+".filter", at.j) + ".value"
}

// filterExpression checks the variables of the cqf-expression extensions
// on a filter value.
func (r *run) filterExpression(value *jnode, declared map[string]bool, at filterValueAt) {
	for k, x := range itemsOf(value.prop("extension")) {
		if x.str("url") != extCQFExpression {
			continue
		}
		expr := x.prop("valueExpression")
		if lang := expr.str("language"); lang != "" && lang != "text/fhirpath" {
			continue
		}
		for _, m := range expressionVariable.FindAllStringSubmatch(expr.str("expression"), -1) {
			name := m[1]
			if declared[name] || builtinVariables[name] || strings.HasPrefix(name, "vs-") || strings.HasPrefix(name, "ext-") {
				continue
			}
			r.errorf(outcome.CodeBusinessRule, indexed(at.String()+".extension", k), "the filter expression uses parameter %q, which the ValueSet does not declare", name)
		}
	}
}
