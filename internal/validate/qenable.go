package validate

import (
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// enabled evaluates the enableWhen conditions of an item definition.
// enableBehavior "any" needs one condition to be met, otherwise all must be.
// NOTE: a condition reads the answers of every response item with the
// question's linkId. Inside repeating groups the reference validator
// reads only the nearest group's answers.
func (c *qrCheck) enabled(def *jnode) bool {
	conds := itemsOf(def.prop("enableWhen"))
	if len(conds) == 0 {
		return true
	}
	anyOf := def.str("enableBehavior") == "any"
	for _, cond := range conds {
		met := c.conditionMet(cond)
		if anyOf && met {
			return true
		}
		if !anyOf && !met {
			return false
		}
	}
	return !anyOf
}

// conditionMet evaluates one enableWhen condition. "exists" compares the
// presence of answers with answerBoolean. Any other operator is met when
// some answer of the same type as answer[x] satisfies it.
func (c *qrCheck) conditionMet(cond *jnode) bool {
	answers := c.answers[cond.str("question")]
	want, typ := choiceValue(cond, "answer")
	op := cond.str("operator")
	if op == "exists" {
		return (len(answers) > 0) == want.isTrue()
	}
	if want == nil {
		return false
	}
	for _, a := range answers {
		got, gotType := choiceValue(a, "value")
		if got != nil && gotType == typ && compareAnswer(op, typ, got, want) {
			return true
		}
	}
	return false
}

// indexAnswers collects the answers of the response items by linkId, at
// any depth.
func indexAnswers(items []*jnode, out map[string][]*jnode) {
	for _, it := range items {
		answers := itemsOf(it.prop("answer"))
		link := it.str("linkId")
		out[link] = append(out[link], answers...)
		indexAnswers(itemsOf(it.prop("item")), out)
		for _, a := range answers {
			indexAnswers(itemsOf(a.prop("item")), out)
		}
	}
}

func compareAnswer(op, typ string, got, want *jnode) bool {
	switch op {
	case "=":
		return sameAnswerValue(typ, got, want)
	case "!=":
		return !sameAnswerValue(typ, got, want)
	}
	cmp, ok := orderValues(typ, got, want)
	if !ok {
		return false
	}
	switch op {
	case ">":
		return cmp > 0
	case "<":
		return cmp < 0
	case ">=":
		return cmp >= 0
	case "<=":
		return cmp <= 0
	}
	return false
}

// matchingOption returns the answerOption whose value of type typ equals
// val, or nil.
func matchingOption(options []*jnode, typ string, val *jnode) *jnode {
	for _, opt := range options {
		if ov, ot := choiceValue(opt, "value"); ov != nil && ot == typ && sameAnswerValue(typ, ov, val) {
			return opt
		}
	}
	return nil
}

// sameAnswerValue compares two answer values of one type. Codings are equal when their
// codes are and their systems are, or one of them has no system.
func sameAnswerValue(typ string, a, b *jnode) bool {
	switch typ {
	case "Coding":
		sa, sb := a.str("system"), b.str("system")
		return a.str("code") == b.str("code") && (sa == sb || sa == "" || sb == "")
	case "Integer", "Decimal":
		return a.kind == kindNumber && b.kind == kindNumber && compareNumbers(a.text, b.text) == 0
	case "Quantity":
		cmp, ok := orderValues(typ, a, b)
		return ok && cmp == 0
	case "Reference":
		return a.str("reference") == b.str("reference")
	}
	return a.isScalar() && a.kind == b.kind && a.text == b.text
}

// orderValues compares two values of an ordered type. Dates and times of
// different precision compare on their common prefix, so "2020" equals
// "2020-05-01". Quantities compare only when their units are the same.
func orderValues(typ string, a, b *jnode) (int, bool) {
	switch typ {
	case "Integer", "Decimal":
		if a.kind != kindNumber || b.kind != kindNumber {
			return 0, false
		}
		return compareNumbers(a.text, b.text), true
	case "Date", "DateTime", "Time", "String":
		if a.kind != kindString || b.kind != kindString {
			return 0, false
		}
		n := min(len(a.text), len(b.text))
		return strings.Compare(a.text[:n], b.text[:n]), true
	case "Quantity":
		if a.str("code") != b.str("code") || a.str("system") != b.str("system") {
			return 0, false
		}
		return orderValues("Decimal", a.prop("value"), b.prop("value"))
	}
	return 0, false
}

// compareNumbers compares two JSON number texts exactly. A text that is
// not a number sorts as zero.
func compareNumbers(a, b string) int {
	da, _ := fhirpath.ParseDecimal(a)
	db, _ := fhirpath.ParseDecimal(b)
	return da.Cmp(db)
}

// decimalPlaces counts the digits after the decimal point of a JSON
// number text, as written.
func decimalPlaces(text string) int {
	mantissa, _, _ := strings.Cut(strings.ToLower(text), "e")
	_, frac, ok := strings.Cut(mantissa, ".")
	if !ok {
		return 0
	}
	return len(frac)
}

// integerText parses a JSON number text that is a whole number.
func integerText(text string) (int, bool) {
	n, err := strconv.Atoi(text)
	return n, err == nil
}
