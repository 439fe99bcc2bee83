package validate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// Messages about answers name the item, the rule and the limit, never the
// answer itself, because answers are patient data.

// Extensions of Questionnaire items that limit their answers.
const (
	extMinValue         = "http://hl7.org/fhir/StructureDefinition/minValue"
	extMaxValue         = "http://hl7.org/fhir/StructureDefinition/maxValue"
	extMinLength        = "http://hl7.org/fhir/StructureDefinition/minLength"
	extRegex            = "http://hl7.org/fhir/StructureDefinition/regex"
	extMaxDecimalPlaces = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"
	extMaxSize          = "http://hl7.org/fhir/StructureDefinition/maxSize"
	extMimeType         = "http://hl7.org/fhir/StructureDefinition/mimeType"
	extOptionExclusive  = "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive"
	extUnitOption       = "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption"
	extUnitValueSet     = "http://hl7.org/fhir/StructureDefinition/questionnaire-unitValueSet"
	extReferenceType    = "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource"
	extMinQuantity      = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-minQuantity"
	extMaxQuantity      = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-maxQuantity"
	ucumSystem          = "http://unitsofmeasure.org"
)

// answerTypes maps the R4 item types to the answer value types they take,
// as the type suffix of the value[x] member. choice and open-choice take
// the types an answerOption may have.
var answerTypes = map[string][]string{
	"boolean":     {"Boolean"},
	"decimal":     {"Decimal"},
	"integer":     {"Integer"},
	"date":        {"Date"},
	"dateTime":    {"DateTime"},
	"time":        {"Time"},
	"string":      {"String"},
	"text":        {"String"},
	"url":         {"Uri"},
	"attachment":  {"Attachment"},
	"reference":   {"Reference"},
	"quantity":    {"Quantity"},
	"choice":      {"Coding", "Date", "Time", "Integer", "String"},
	"open-choice": {"Coding", "Date", "Time", "Integer", "String"},
}

// answerValueTypes are the types of QuestionnaireResponse.item.answer.value[x] in R4.
var answerValueTypes = map[string]bool{
	"Boolean": true, "Decimal": true, "Integer": true, "Date": true, "DateTime": true, "Time": true,
	"String": true, "Uri": true, "Attachment": true, "Coding": true, "Quantity": true, "Reference": true,
}

// answer checks one answer against its item definition: the value type,
// then the rules of that type. count is the number of answers the item
// has.
func (c *qrCheck) answer(def, ans *jnode, at string, count int) {
	val, typ := choiceValue(ans, "value")
	itemType := def.str("type")
	allowed, known := answerTypes[itemType]
	if val == nil || !known {
		return
	}
	valAt := at + ".value.ofType(" + typ + ")"
	if !answerValueTypes[typ] {
		return // the structure check reports a type QuestionnaireResponse.answer.value[x] does not have
	}
	if !slices.Contains(allowed, typ) {
		c.r.errorf(outcome.CodeStructure, valAt, "an answer to an item of type %s must be of type %s, not %s", itemType, strings.Join(allowed, " or "), typ)
		return
	}
	switch typ {
	case "Coding":
		c.codingAnswer(def, val, at, valAt, count)
	case "String":
		c.stringAnswer(def, val, valAt)
	case "Integer", "Decimal", "Date", "DateTime", "Time":
		c.orderedAnswer(def, val, typ, valAt)
	case "Quantity":
		c.quantityAnswer(def, val, valAt)
	case "Attachment":
		c.attachmentAnswer(def, val, at)
	case "Reference":
		c.referenceAnswer(def, val, valAt)
	}
}

// codingAnswer checks a Coding against the answer options or the answer
// value set. An exclusive option must be the only answer. Codes outside
// the options of an open-choice item are warnings, because free text is
// allowed there.
func (c *qrCheck) codingAnswer(def, val *jnode, at, valAt string, count int) {
	sev := outcome.Error
	if def.str("type") == "open-choice" {
		sev = outcome.Warning
	}
	if options := itemsOf(def.prop("answerOption")); len(options) > 0 {
		opt := matchingOption(options, "Coding", val)
		switch {
		case opt == nil:
			c.r.add(sev, codeInvalid, valAt, "the code is not one of the answer options of item %q", def.str("linkId"))
		case count > 1 && extensionTrue(opt, extOptionExclusive):
			c.r.errorf(outcome.CodeBusinessRule, at, "the answer is an exclusive option of item %q, so it must be the only answer", def.str("linkId"))
		}
		return
	}
	if vs := def.str("answerValueSet"); vs != "" {
		c.valueSetMember(vs, val.str("system"), val.str("code"), valAt, sev)
	}
}

// stringAnswer checks a string answer: options or value set, length,
// pattern, and line breaks in a single-line item.
func (c *qrCheck) stringAnswer(def, val *jnode, at string) {
	itemType, link := def.str("type"), def.str("linkId")
	options := itemsOf(def.prop("answerOption"))
	switch {
	case itemType == "open-choice":
		// Free text is what open-choice adds to the options.
	case len(options) > 0:
		if matchingOption(options, "String", val) == nil {
			c.r.errorf(codeInvalid, at, "the answer is not one of the answer options of item %q", link)
		}
	case def.str("answerValueSet") != "":
		c.valueSetMember(def.str("answerValueSet"), "", val.text, at, outcome.Error)
	case itemType == "choice":
		c.r.infof(outcome.CodeInformational, at, "item %q lists no answer options, so the string answer was not checked", link)
	}

	length := len([]rune(val.text))
	if lim := def.prop("maxLength"); lim != nil && lim.kind == kindNumber && compareNumbers(fmt.Sprint(length), lim.text) > 0 {
		c.r.errorf(outcome.CodeTooLong, at, "the answer has %d characters; item %q allows at most %s", length, link, lim.text)
	}
	if lim, ok := extensionInt(def, extMinLength); ok && length < lim {
		c.r.errorf(outcome.CodeValue, at, "the answer has %d characters; item %q needs at least %d", length, link, lim)
	}
	c.pattern(def, val.text, at)
	if itemType == "string" && strings.ContainsAny(val.text, "\r\n") {
		c.r.warnf(outcome.CodeValue, at, "answers to items of type string should not contain line breaks; item type text allows them")
	}
}

// pattern checks the regex extension of an item.
func (c *qrCheck) pattern(def *jnode, text, at string) {
	src, _ := extensionValue(def, extRegex)
	if src == nil || src.kind != kindString {
		return
	}
	re, err := c.r.v.regex(src.text)
	if err != nil {
		c.r.warnf(outcome.CodeProcessing, at, "the regex of item %q is not a valid RE2 expression, so the answer was not checked: %v", def.str("linkId"), err)
		return
	}
	if !re.MatchString(text) {
		c.r.errorf(outcome.CodeValue, at, "the answer does not match the pattern %s of item %q", src.text, def.str("linkId"))
	}
}

// orderedAnswer checks a number, date or time: options, the minValue and
// maxValue extensions, and the decimal places of a decimal.
func (c *qrCheck) orderedAnswer(def, val *jnode, typ, at string) {
	link := def.str("linkId")
	if options := itemsOf(def.prop("answerOption")); len(options) > 0 && typ != "Decimal" && def.str("type") != "open-choice" {
		if matchingOption(options, typ, val) == nil {
			c.r.errorf(codeInvalid, at, "the answer is not one of the answer options of item %q", link)
		}
	}
	if lim, _ := extensionValue(def, extMinValue); lim != nil {
		if cmp, ok := orderValues(typ, val, lim); ok && cmp < 0 {
			c.r.errorf(outcome.CodeValue, at, "the answer is less than the minimum %s of item %q", lim.text, link)
		}
	}
	if lim, _ := extensionValue(def, extMaxValue); lim != nil {
		if cmp, ok := orderValues(typ, val, lim); ok && cmp > 0 {
			c.r.errorf(outcome.CodeValue, at, "the answer is greater than the maximum %s of item %q", lim.text, link)
		}
	}
	if lim, ok := extensionInt(def, extMaxDecimalPlaces); ok && typ == "Decimal" && decimalPlaces(val.text) > lim {
		c.r.errorf(outcome.CodeValue, at, "the answer has %d decimal places; item %q allows at most %d", decimalPlaces(val.text), link, lim)
	}
}

// quantityAnswer checks a Quantity's unit against the unit options or the
// unit value set, and its value against the minimum and maximum
// quantities.
func (c *qrCheck) quantityAnswer(def, val *jnode, at string) {
	link := def.str("linkId")
	system, code := val.str("system"), val.str("code")
	if units := extensions(def, extUnitOption); len(units) > 0 {
		found := false
		for _, u := range units {
			if unit, _ := choiceValue(u, "value"); unit != nil && unit.str("code") == code && unit.str("system") == system {
				found = true
			}
		}
		if !found {
			c.r.errorf(codeInvalid, at, "the unit is not one of the unit options of item %q", link)
		}
	}
	if vs, _ := extensionValue(def, extUnitValueSet); vs != nil && vs.kind == kindString {
		if code == "" {
			c.r.errorf(codeInvalid, at, "the quantity has no unit code, so its unit is not in the unit value set %s of item %q", vs.text, link)
		} else {
			c.valueSetMember(vs.text, system, code, at, outcome.Error)
		}
	}
	if lim, _ := extensionValue(def, extMinQuantity); lim != nil {
		c.quantityLimit(val, lim, "<", "less than the minimum", link, at)
	}
	if lim, _ := extensionValue(def, extMaxQuantity); lim != nil {
		c.quantityLimit(val, lim, ">", "greater than the maximum", link, at)
	}
}

// ucumNumber and ucumCode accept what can be written into a FHIRPath
// quantity literal.
var (
	ucumNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	ucumCode   = regexp.MustCompile(`^[!-&(-\[\]-~]+$`) // printable ASCII without ' and \
)

// isUCUMQuantity reports whether a Quantity has a UCUM code and a value
// that a FHIRPath quantity literal can contain.
func isUCUMQuantity(q *jnode) bool {
	value := q.prop("value")
	return value != nil && q.str("system") == ucumSystem && ucumCode.MatchString(q.str("code")) && ucumNumber.MatchString(value.text)
}

// compareUCUM evaluates "q op lim" in the FHIRPath engine, which converts
// between UCUM units. Both quantities must pass isUCUMQuantity. known is
// false when the units are not commensurable, and err is set only when
// the comparison does not compile.
func compareUCUM(q, lim *jnode, op string) (beyond, known bool, err error) {
	src := fmt.Sprintf("%s '%s' %s %s '%s'", q.prop("value").text, q.str("code"), op, lim.prop("value").text, lim.str("code"))
	expr, err := fhirpath.Compile(src)
	if err != nil {
		return false, false, err
	}
	beyond, known, evalErr := expr.EvaluateBool(fhirpath.EvalContext{})
	return beyond, known && evalErr == nil, nil
}

// quantityLimit reports a quantity beyond a limit: op is "<" for a
// minimum and ">" for a maximum, and relation names the comparison in
// words. A quantity or limit without a UCUM code is an error, because
// the limit then cannot be checked.
func (c *qrCheck) quantityLimit(val, lim *jnode, op, relation, link, at string) {
	if val.prop("value") == nil || lim.prop("value") == nil {
		return
	}
	if !isUCUMQuantity(val) || !isUCUMQuantity(lim) {
		c.r.errorf(outcome.CodeValue, at, "the answer cannot be checked against the limit of item %q because the answer and the limit do not both have a UCUM unit code", link)
		return
	}

	beyond, known, err := compareUCUM(val, lim, op)
	switch {
	case err != nil:
		c.r.warnf(outcome.CodeProcessing, at, "the quantity limit of item %q was not checked: %v", link, trimPrefix(err))
	case !known:
		c.r.errorf(outcome.CodeValue, at, "the answer's unit %s cannot be converted to the unit %s of the limit of item %q", val.str("code"), lim.str("code"), link)
	case beyond:
		c.r.errorf(outcome.CodeValue, at, "the answer is %s %s %s of item %q", relation, lim.prop("value").text, lim.str("code"), link)
	}
}

// attachmentAnswer checks an Attachment's size against the maxSize
// extension and its content type against the mimeType extensions.
func (c *qrCheck) attachmentAnswer(def, val *jnode, at string) {
	link := def.str("linkId")
	if lim, _ := extensionValue(def, extMaxSize); lim != nil && lim.kind == kindNumber {
		if size, ok := attachmentBytes(val); ok && compareNumbers(fmt.Sprint(size), lim.text) > 0 {
			c.r.errorf(outcome.CodeTooLong, at, "the attachment has %d bytes; item %q allows at most %s", size, link, lim.text)
		}
	}
	types := extensions(def, extMimeType)
	if len(types) == 0 {
		return
	}
	got, _, _ := strings.Cut(val.str("contentType"), ";")
	for _, x := range types {
		if want, _ := choiceValue(x, "value"); want != nil && strings.EqualFold(strings.TrimSpace(got), want.text) {
			return
		}
	}
	c.r.errorf(outcome.CodeValue, at, "the attachment's content type is not one of the MIME types item %q allows", link)
}

// attachmentBytes returns the size an Attachment states, or else the
// size of its decoded data.
func attachmentBytes(val *jnode) (int, bool) {
	if size := val.prop("size"); size != nil && size.kind == kindNumber {
		n, ok := integerText(size.text)
		return n, ok
	}
	data := val.prop("data")
	if data == nil || data.kind != kindString {
		return 0, false
	}
	decoded, err := decodeBase64(data.text)
	return len(decoded), err == nil
}

// referenceAnswer checks that a reference names a resource type, and one
// the referenceResource extensions allow.
func (c *qrCheck) referenceAnswer(def, val *jnode, at string) {
	typ := referenceTypeName(val.str("reference"))
	if typ == "" {
		return
	}
	if !resourceTypeNames[typ] {
		c.r.errorf(outcome.CodeStructure, at, "the reference names resource type %q, which is not an R4 resource type", typ)
		return
	}
	var allowed []string
	for _, x := range extensions(def, extReferenceType) {
		if v, _ := choiceValue(x, "value"); v != nil && v.kind == kindString {
			allowed = append(allowed, v.text)
		}
	}
	if len(allowed) > 0 && !slices.Contains(allowed, typ) {
		c.r.errorf(outcome.CodeStructure, at, "a reference to a %s is not allowed by item %q, which allows %s", typ, def.str("linkId"), strings.Join(allowed, ", "))
	}
}

// referenceTypeName returns the type segment of a RESTful reference
// ("Patient" in "https://example.org/fhir/Patient/1"), or "" when the
// reference has no segment that looks like a type name (local, urn: or
// other references).
func referenceTypeName(ref string) string {
	if ref == "" || strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "urn:") {
		return ""
	}
	ref, _, _ = strings.Cut(ref, "?")
	typ, _, ok := lastTwoSegments(ref)
	if !ok || typ == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return ""
	}
	return typ
}

// valueSetMember reports a code outside a value set with severity sev.
// Codes of systems the packages cannot enumerate are rejected only when
// they fail the system's syntax.
func (c *qrCheck) valueSetMember(vs, system, code, at string, sev outcome.Severity) {
	exp := c.r.v.expand(vs, nil)
	if exp == nil {
		c.r.warnf(outcome.CodeNotFound, at, "value set %s is not loaded, so the answer was not checked against it", vs)
		return
	}
	in, known := membershipBySyntax(exp, system, code)
	switch {
	case in:
	case !known:
		c.r.infof(outcome.CodeInformational, at, "membership in value set %s could not be verified offline", vs)
	default:
		c.r.add(sev, codeInvalid, at, "the answer is not in value set %s", vs)
	}
}

// membershipBySyntax is expansion.contains, refined for the systems that
// are open in the expansion: a code that fails the syntax of every such
// system it could belong to is known not to be in the value set.
func membershipBySyntax(exp *expansion, system, code string) (in, known bool) {
	in, known = exp.contains(system, code)
	if in || known || exp.openAll {
		return in, known
	}
	candidates := []string{system}
	if system == "" {
		candidates = exp.systems()
	}
	for _, s := range candidates {
		if !exp.open[s] {
			continue
		}
		if ext, ok := externalSystems[s]; !ok || ext.valid(code) {
			return false, false
		}
	}
	return false, true
}

// extensionTrue reports whether n has an extension with a URL whose value
// is true.
func extensionTrue(n *jnode, url string) bool {
	v, _ := extensionValue(n, url)
	return v.isTrue()
}
