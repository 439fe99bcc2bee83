package fhirreq

import (
	"slices"
	"testing"
)

func TestParseToken(t *testing.T) {
	tests := []struct {
		in   string
		want Token
		ok   bool
	}{
		{"laboratory", Token{Code: "laboratory"}, true},
		{"http://loinc.org|1234-5", Token{System: "http://loinc.org", HasSystem: true, Code: "1234-5"}, true},
		{"|laboratory", Token{HasSystem: true, Code: "laboratory"}, true},
		{"http://loinc.org|", Token{System: "http://loinc.org", HasSystem: true}, true},
		{`a\|b`, Token{Code: "a|b"}, true},
		{`a\,b`, Token{Code: "a,b"}, true},
		{`a\$b`, Token{Code: "a$b"}, true},
		{`a$b`, Token{Code: "a$b"}, true},
		{`a\\|b`, Token{System: `a\`, HasSystem: true, Code: "b"}, true},
		{`s\|x|c`, Token{System: "s|x", HasSystem: true, Code: "c"}, true},
		{"", Token{}, false},
		{"|", Token{}, false},
		{"a|b|c", Token{}, false},
		{"a,b", Token{}, false},
		{`a\b`, Token{}, false},
		{`a\`, Token{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseToken(tt.in)
			if ok != tt.ok {
				t.Fatalf("ParseToken(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if got != tt.want {
				t.Errorf("ParseToken(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestTokenWithin(t *testing.T) {
	tests := []struct {
		name     string
		t, outer string
		within   bool
	}{
		{"same bare code", "lab", "lab", true},
		{"system code in bare code", "s|lab", "lab", true},
		{"no-system code in bare code", "|lab", "lab", true},
		{"any code of system in bare code", "s|", "lab", false},
		{"other bare code", "vital", "lab", false},
		{"same system code", "s|lab", "s|lab", true},
		{"bare code in system code", "lab", "s|lab", false},
		{"no-system code in system code", "|lab", "s|lab", false},
		{"other system", "o|lab", "s|lab", false},
		{"any code of system in system code", "s|", "s|lab", false},
		{"system code in any code of system", "s|lab", "s|", true},
		{"any code in any code of system", "s|", "s|", true},
		{"bare code in any code of system", "lab", "s|", false},
		{"other system in any code of system", "o|lab", "s|", false},
		{"no-system code in no-system code", "|lab", "|lab", true},
		{"bare code in no-system code", "lab", "|lab", false},
		{"system code in no-system code", "s|lab", "|lab", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, ok1 := ParseToken(tt.t)
			outer, ok2 := ParseToken(tt.outer)
			if !ok1 || !ok2 {
				t.Fatalf("ParseToken failed on %q or %q", tt.t, tt.outer)
			}
			if got := tok.Within(outer); got != tt.within {
				t.Errorf("%q within %q = %v, want %v", tt.t, tt.outer, got, tt.within)
			}
		})
	}
}

func TestSplitValues(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{`a\,b`, []string{`a\,b`}},
		{`a\\,b`, []string{`a\\`, "b"}},
		{"a,", []string{"a", ""}},
		{"s|a,s|b", []string{"s|a", "s|b"}},
	}
	for _, tt := range tests {
		if got := SplitValues(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("SplitValues(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsTokenParam(t *testing.T) {
	tests := []struct {
		typ, name string
		want      bool
	}{
		{"Observation", "category", true},
		{"Observation", "code", true},
		{"Claim", "_id", true},
		{"Claim", "_tag", true},
		{"Claim", "_security", true},
		{"Patient", "family", false},
		{"Observation", "date", false},
		{"Observation", "subject", false},
		{"Claim", "_profile", false},
		{"Observation", "no-such-param", false},
	}
	for _, tt := range tests {
		if got := IsTokenParam(tt.typ, tt.name); got != tt.want {
			t.Errorf("IsTokenParam(%q, %q) = %v, want %v", tt.typ, tt.name, got, tt.want)
		}
	}
}
