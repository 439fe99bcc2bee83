package validate

import (
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// valueLimit is an ElementDefinition's minValue[x] or maxValue[x]: the
// type suffix of the member name ("Date", "Quantity") and its value.
type valueLimit struct {
	typ string
	val *jnode
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
		r.warnf(outcome.CodeProcessing, o.path(), "the value could not be compared to the %s value %s (from %s)", strings.TrimPrefix(relation, "less than the "), limitText(lim), d.owner.label())
	case beyond:
		r.errorf(outcome.CodeValue, o.path(), "value is %s value %s (from %s)", relation, limitText(lim), d.owner.label())
	}
}

// quantityBeyond compares a quantity to a quantity limit. known is false
// when either has no UCUM code or the units are not commensurable.
func quantityBeyond(q, lim *jnode, op string) (beyond, known bool) {
	if !isUCUMQuantity(q) || !isUCUMQuantity(lim) {
		return false, false
	}
	beyond, known, err := compareUCUM(q, lim, op)
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
