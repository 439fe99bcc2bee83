package fhirpath

import (
	"regexp"
	"testing"
)

// The scanners must accept exactly what these regular expressions, which
// they replaced, accept.
var (
	integerTextPattern  = regexp.MustCompile(`^[+-]?[0-9]+$`)
	decimalTextPattern  = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)
	quantityTextPattern = regexp.MustCompile(`^([+-]?[0-9]+(?:\.[0-9]+)?)\s*(?:'([^']+)'|([a-zA-Z]+))?$`)
)

var conversionTexts = []string{
	"", "+", "-", "0", "-1", "+12", "1.", ".5", "1.5", "-1.50", "1.5.2", "1e3", " 1", "1 ",
	"12a", "1 'mg'", "1'mg'", "1 \t\n\f\r'mg'", "1 ''", "1 'm'g'", "1 'mg", "1 mg'", "1.0 'wk'",
	"4 days", "4 Days", "4 da-ys", "4 day s", "1 '[in_i]'", "1 'm\ng'", "1 'é'", "1 é", "2\v'mg'",
	"-0.0 'g'", "1 'mg' ", "1 year", "1 \x85'mg'",
}

func TestConversionTextMatchesPatterns(t *testing.T) {
	for _, s := range conversionTexts {
		if got, want := isIntegerText(s), integerTextPattern.MatchString(s); got != want {
			t.Errorf("isIntegerText(%q) = %v, want %v", s, got, want)
		}
		if got, want := isDecimalText(s), decimalTextPattern.MatchString(s); got != want {
			t.Errorf("isDecimalText(%q) = %v, want %v", s, got, want)
		}

		number, unit, keyword, ok := splitQuantityText(s)
		m := quantityTextPattern.FindStringSubmatch(s)
		if ok != (m != nil) {
			t.Errorf("splitQuantityText(%q) ok = %v, want %v", s, ok, m != nil)
			continue
		}
		if ok && (number != m[1] || unit != m[2] || keyword != m[3]) {
			t.Errorf("splitQuantityText(%q) = %q, %q, %q, want %q, %q, %q", s, number, unit, keyword, m[1], m[2], m[3])
		}
	}
}

func FuzzConversionText(f *testing.F) {
	for _, s := range conversionTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isIntegerText(s), integerTextPattern.MatchString(s); got != want {
			t.Errorf("isIntegerText(%q) = %v, want %v", s, got, want)
		}
		if got, want := isDecimalText(s), decimalTextPattern.MatchString(s); got != want {
			t.Errorf("isDecimalText(%q) = %v, want %v", s, got, want)
		}
		number, unit, keyword, ok := splitQuantityText(s)
		m := quantityTextPattern.FindStringSubmatch(s)
		if ok != (m != nil) || ok && (number != m[1] || unit != m[2] || keyword != m[3]) {
			t.Errorf("splitQuantityText(%q) = %q, %q, %q, %v; pattern gives %q", s, number, unit, keyword, ok, m)
		}
	})
}
