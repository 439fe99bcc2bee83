package validate

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// resourceTypeNames are the concrete resource types of FHIR R4.
var resourceTypeNames = func() map[string]bool {
	m := map[string]bool{}
	model := fhirmodel.R4()
	for _, name := range model.Names() {
		if t := model.Type(name); t.Kind == fhirmodel.KindResource && !t.Abstract {
			m[name] = true
		}
	}
	return m
}()

// jsonKind returns the JSON kind a primitive type is written as. It is a
// switch rather than a map because it runs for every primitive value.
func jsonKind(typ string) string {
	switch typ {
	case "boolean":
		return "boolean"
	case "integer", "decimal", "positiveInt", "unsignedInt":
		return "number"
	}
	return "string" // integer64 included
}

// primitive validates one primitive value: its JSON kind, the regex of its
// type, calendar validity of dates, and the id and extensions of its
// "_name" half.
func (r *run) primitive(o *occurrence, d *elemDef) {
	if o.ext != nil {
		r.primitiveExtras(o)
	}
	if o.val == nil {
		return
	}
	typ := o.typ
	if isResourceID(d) {
		typ = "id"
	}
	if !r.primitiveKind(o, typ) {
		return
	}
	if typ == "xhtml" && r.checkedNarrative(o.val) {
		r.primitiveFormat(o, typ, d)
		r.maxLength(o, d)
		return
	}
	if o.val.kind == kindString && o.val.text == "" {
		r.errorf(outcome.CodeInvalid, o.path(), "empty strings are not allowed; omit the element instead")
		return
	}
	if o.val.kind == kindString && !o.val.unescaped && hasControlCharacter(o.val.text) {
		r.errorf(outcome.CodeInvalid, o.path(), "a %s may not contain control characters other than tab, carriage return and line feed", typ)
		return
	}
	r.primitiveFormat(o, typ, d)
	r.maxLength(o, d)
	if typ == "xhtml" {
		r.xhtml(o)
	}
}

// hasControlCharacter reports whether text contains a code point below
// U+0020 other than tab, CR and LF, which FHIR R4 forbids in every string
// primitive. The type regexes do not catch them, because \S matches a
// control character. text is the decoded value, so a JSON \u escape
// counts as the character it encodes. It tests eight bytes at a time and
// looks at single bytes only in a word that has a byte below 0x20, because
// narratives, the longest strings, are scanned in full.
func hasControlCharacter(text string) bool {
	i := 0
	for ; i+8 <= len(text); i += 8 {
		if hasByteBelow0x20(loadWord(text[i:])) && hasControlByte(text[i:i+8]) {
			return true
		}
	}
	return hasControlByte(text[i:])
}

func hasControlByte(text string) bool {
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < 0x20 && c != '\t' && c != '\r' && c != '\n' {
			return true
		}
	}
	return false
}

// loadWord returns the first eight bytes of s as a little-endian word.
// The compiler turns the shifts into one load (checked on amd64, Go 1.26).
func loadWord(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hasByteBelow0x20 reports whether a byte of w is below 0x20. Subtracting
// 0x20 from each byte borrows into the byte's top bit exactly when some
// byte is below 0x20 and had its top bit clear, so the result is exact
// for "any byte", though not for which one.
func hasByteBelow0x20(w uint64) bool {
	return (w-0x20*lowBits)&^w&highBits != 0
}

// isResourceID reports whether d is the id of a resource, which the R4
// definitions type as string but the specification restricts to id.
func isResourceID(d *elemDef) bool {
	return d.name == "id" && strings.Count(d.path, ".") == 1 && d.owner != nil && d.owner.kind == "resource"
}

// primitiveKind checks that the JSON value is of the kind the type uses.
func (r *run) primitiveKind(o *occurrence, typ string) bool {
	want := jsonKind(typ)
	if jsonKindName(o.val.kind) != want {
		r.errorf(outcome.CodeStructure, o.path(), "a %s must be a JSON %s", typ, want)
		return false
	}
	return true
}

// jsonKindName names a JSON kind as jsonKind does, or returns "" for
// objects, arrays and null.
func jsonKindName(kind byte) string {
	switch kind {
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindTrue, kindFalse:
		return "boolean"
	}
	return ""
}

// primitiveFormat checks the value against the regex of its type (and of
// its element, if the definition adds one) and the rules a regex cannot
// express: integer ranges and real calendar dates.
func (r *run) primitiveFormat(o *occurrence, typ string, d *elemDef) {
	text := o.val.text
	if o.val.kind == kindTrue || o.val.kind == kindFalse {
		return
	}
	valueDef := r.valueDefOf(d.typeRefOf(typ), typ)
	if valueDef != nil && valueDef.maxLength > 0 && len(text) > valueDef.maxLength {
		r.errorf(outcome.CodeTooLong, o.path(), "a %s may not be longer than %d bytes", typ, valueDef.maxLength)
		return
	}
	if !r.matchesTypeFormat(valueDef, text) {
		r.errorf(outcome.CodeValue, o.path(), "value is not a valid %s", typ)
		return
	}
	if d.regex != "" && !isPrimitiveValueRegex(d) {
		if !r.matchesTypeFormat(d, text) {
			r.errorf(outcome.CodeValue, o.path(), "value does not match the pattern required by %s", d.owner.label())
		}
	}
	switch typ {
	case "integer", "positiveInt", "unsignedInt":
		if n, err := strconv.ParseInt(text, 10, 64); err != nil || n > math.MaxInt32 || n < math.MinInt32 {
			r.errorf(outcome.CodeValue, o.path(), "%s is outside the 32-bit range", typ)
		}
	case "decimal":
		if !decimalInRange(text) {
			r.errorf(outcome.CodeValue, o.path(), "decimal is outside the range of a 64-bit IEEE 754 number because its magnitude overflows or a non-zero value rounds to zero; use 0 or a magnitude from 5e-324 to 1.7e308")
		}
	case "date", "dateTime", "instant":
		if !realDate(text) {
			r.errorf(outcome.CodeValue, o.path(), "value is not a valid %s: no such calendar date", typ)
		}
	}
}

// decimalInRange reports whether a decimal that matched the R4 regex keeps
// its value when read as a 64-bit IEEE 754 number, as JavaScript's
// JSON.parse and Go's encoding/json into float64 read it. The R4 type has
// no range, but 1e400 becomes infinity there and 1e-400 becomes zero, so
// a receiver would act on another number than the one validated.
// Precision is not capped, because R4 shows precision with trailing zeros
// and its own Observation-decimal example has 19 significant digits.
func decimalInRange(text string) bool {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return false // ErrRange: the magnitude overflows
	}
	return f != 0 || !hasNonZeroDigit(text)
}

// hasNonZeroDigit reports whether the significand of a decimal, the part
// before any exponent, has a digit other than 0.
func hasNonZeroDigit(text string) bool {
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		text = text[:i]
	}
	return strings.ContainsAny(text, "123456789")
}

// base64Regex is the R4 regex of base64Binary values.
const base64Regex = `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`

// matchesTypeFormat applies the regex of a primitive type, natively where
// nativeFormats has the regex. base64Binary is always checked natively,
// because attachments are large and the regex engine takes milliseconds
// per megabyte on them.
func (r *run) matchesTypeFormat(valueDef *elemDef, text string) bool {
	if valueDef == nil || valueDef.regex == "" {
		return true
	}
	if valueDef.format != nil {
		return valueDef.format(text)
	}
	re := r.typeRegex(valueDef)
	return re == nil || re.MatchString(text)
}

// isBase64Text reports whether text matches base64Regex anchored at both
// ends: groups of four characters from [0-9a-zA-Z+/=], with whitespace
// (tab, newline, form feed, carriage return, space) allowed only between
// groups, and at least one group. Attachments make these the longest
// values, so runs of alphabet characters are skipped through a table.
func isBase64Text(text string) bool {
	n := 0
	for i := 0; i < len(text); {
		start := i
		for i < len(text) && base64Class[text[i]] == base64Alphabet {
			i++
		}
		n += i - start
		if i == len(text) {
			break
		}
		if base64Class[text[i]] != base64Space || n%4 != 0 {
			return false
		}
		i++
	}
	return n > 0 && n%4 == 0
}

// Byte classes of base64Binary text: base64Invalid is the zero value.
const (
	base64Invalid uint8 = iota
	base64Alphabet
	base64Space
)

var base64Class = func() (t [256]uint8) {
	for c := range 256 {
		b := byte(c)
		switch {
		case isDigit(b), b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b == '+', b == '/', b == '=':
			t[c] = base64Alphabet
		case isSpace(b):
			t[c] = base64Space
		}
	}
	return t
}()

// isPrimitiveValueRegex reports whether d is the value element of a
// primitive type, whose regex typeRegex already applies.
func isPrimitiveValueRegex(d *elemDef) bool {
	return strings.HasSuffix(d.path, ".value") && d.owner.kind == "primitive-type"
}

// realDate checks that the day of a date exists in its month. A value
// the type regex has passed is decided without time.Parse, with the same
// result. Anything else, which only a definition without the regex lets
// through, is left to time.Parse.
func realDate(s string) bool {
	if len(s) < 10 {
		return true // year or year-month: the regex is enough
	}
	year, month, day, ok := dateDigits(s[:10])
	if !ok {
		_, err := time.Parse("2006-01-02", s[:10])
		return err == nil
	}
	return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(month, year)
}

// dateDigits reads YYYY-MM-DD written with ASCII digits only.
func dateDigits(s string) (year, month, day int, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || digits(s[:4]) != 4 {
		return 0, 0, 0, false
	}
	year = int(s[0]-'0')*1000 + int(s[1]-'0')*100 + twoDigits(s[2:])
	month, day = twoDigits(s[5:]), twoDigits(s[8:])
	return year, month, day, month >= 0 && day >= 0
}

// daysIn returns the number of days of a month of the proleptic
// Gregorian calendar, which time.Parse uses.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// typeRegex returns the compiled regex of a primitive type's value
// element, from its regex extension.
func (r *run) typeRegex(e *elemDef) *regexp.Regexp {
	if e == nil || e.regex == "" {
		return nil
	}
	re, err := r.v.regex(e.regex)
	if err != nil {
		return nil
	}
	return re
}

// regex compiles a FHIR regex, anchored at both ends, once. Go's RE2
// engine matches in time linear in the input.
func (v *Validator) regex(src string) (*regexp.Regexp, error) {
	return cached(&v.regexes, src, func() (*regexp.Regexp, error) { return regexp.Compile(`^(?:` + src + `)$`) })
}

// primitiveExtras validates the "_name" half of a primitive: an object
// holding only id and extension.
func (r *run) primitiveExtras(o *occurrence) {
	if o.ext.kind != kindObject {
		r.errorf(outcome.CodeStructure, o.path(), "the %q form of a primitive must be a JSON object", "_")
		return
	}
	// FHIR JSON objects are never empty, and the "_" object exists only
	// to carry the id or extensions of its primitive.
	if len(o.ext.props) == 0 {
		r.errorf(outcome.CodeStructure, o.path(), "the %q object of a primitive is empty; it must contain id or extension, or be left out", "_")
		return
	}
	root, err := r.v.typeStructure("Element")
	if err != nil || root == nil {
		return
	}
	if o.val == nil && !hasContent(o.ext) {
		r.errorf(outcome.CodeInvariant, o.path(), "ele-1: an element must have a value or children other than id")
	}
	for _, p := range o.ext.props {
		if p.name != "id" && p.name != "extension" {
			r.errorf(outcome.CodeStructure, o.path(), "unknown element %q in the extensions of a primitive", p.name)
		}
	}
	r.memberElements(&jnode{kind: kindObject, props: onlyProps(o.ext, "id", "extension")}, root.root, o.path(), o.fp, false)
}

func onlyProps(n *jnode, names ...string) []jprop {
	var out []jprop
	for _, p := range n.props {
		for _, name := range names {
			if p.name == name {
				out = append(out, p)
			}
		}
	}
	return out
}
