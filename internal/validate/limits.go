package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// valueLimit is an ElementDefinition's minValue[x] or maxValue[x]: the
// type suffix of the member name ("Date", "Quantity") and its value.
type valueLimit struct {
	typ string
	val *jnode
}

// elementLimits reads the minValue[x] and maxValue[x] members of an
// element definition.
func elementLimits(msg json.RawMessage) (minimum, maximum *valueLimit, err error) {
	if !bytes.Contains(msg, []byte(`"minValue`)) && !bytes.Contains(msg, []byte(`"maxValue`)) {
		return nil, nil, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(msg, &members); err != nil {
		return nil, nil, err
	}
	for key, raw := range members {
		isMin := strings.HasPrefix(key, "minValue") && len(key) > len("minValue")
		isMax := strings.HasPrefix(key, "maxValue") && len(key) > len("maxValue")
		if !isMin && !isMax {
			continue
		}
		p := &treeParser{dec: jsontext.NewDecoder(bytes.NewReader(raw)), lim: Limits{MaxNodes: 1 << 10, MaxArrayItems: 1 << 10}}
		v, err := p.value()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", key, err)
		}
		if isMin {
			minimum = &valueLimit{typ: key[len("minValue"):], val: v}
		} else {
			maximum = &valueLimit{typ: key[len("maxValue"):], val: v}
		}
	}
	return minimum, maximum, nil
}

// valueLimits checks a value against the element's minValue[x] and
// maxValue[x]. Messages name the limit, never the instance value.
func (r *run) valueLimits(o *occurrence, d *elemDef) {
	if o.val == nil || (d.minValue == nil && d.maxValue == nil) {
		return
	}
	if d.minValue != nil {
		r.valueLimit(o, d, d.minValue, "<", "less than the minimum")
	}
	if d.maxValue != nil {
		r.valueLimit(o, d, d.maxValue, ">", "greater than the maximum")
	}
}

// valueLimit reports a value beyond one limit: op is "<" for a minimum
// and ">" for a maximum.
func (r *run) valueLimit(o *occurrence, d *elemDef, lim *valueLimit, op, relation string) {
	var beyond, known bool
	switch {
	case o.val.kind == kindObject && lim.val.kind == kindObject:
		beyond, known = quantityBeyond(o.val, lim.val, op)
	case o.val.kind == kindNumber && lim.val.kind == kindNumber:
		cmp := compareNumbers(o.val.text, lim.val.text)
		beyond, known = (op == "<" && cmp < 0) || (op == ">" && cmp > 0), true
	case o.val.kind == kindString && lim.val.kind == kindString:
		cmp, _ := orderValues("Date", o.val, lim.val)
		beyond, known = (op == "<" && cmp < 0) || (op == ">" && cmp > 0), true
	}
	switch {
	case !known:
		r.warnf(outcome.CodeProcessing, o.path, "the value could not be compared to the %s value %s (from %s)", strings.TrimPrefix(relation, "less than the "), limitText(lim), d.owner.label())
	case beyond:
		r.errorf(outcome.CodeValue, o.path, "value is %s value %s (from %s)", relation, limitText(lim), d.owner.label())
	}
}

// quantityBeyond compares a quantity to a quantity limit in the FHIRPath
// engine, which converts between UCUM units. known is false when either
// has no UCUM code or the units are not commensurable.
func quantityBeyond(q, lim *jnode, op string) (beyond, known bool) {
	value, limit := q.prop("value"), lim.prop("value")
	formal := func(n *jnode) bool { return n.str("system") == ucumSystem && ucumCode.MatchString(n.str("code")) }
	if value == nil || limit == nil || !formal(q) || !formal(lim) || !ucumNumber.MatchString(value.text) || !ucumNumber.MatchString(limit.text) {
		return false, false
	}
	expr, err := fhirpath.Compile(fmt.Sprintf("%s '%s' %s %s '%s'", value.text, q.str("code"), op, limit.text, lim.str("code")))
	if err != nil {
		return false, false
	}
	beyond, known, err = expr.EvaluateBool(fhirpath.EvalContext{})
	return beyond, known && err == nil
}

// limitText renders a limit for a message.
func limitText(lim *valueLimit) string {
	if lim.val.kind == kindObject {
		return strings.TrimSpace(numberText(lim.val.prop("value")) + " " + lim.val.str("code"))
	}
	return lim.val.text
}

func numberText(n *jnode) string {
	if n == nil || n.kind != kindNumber {
		return ""
	}
	return n.text
}
