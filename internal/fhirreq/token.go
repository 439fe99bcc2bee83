package fhirreq

import "strings"

//go:generate go run ./gentoken -o tokenparams_gen.go

// IsTokenParam reports whether name is a search parameter of type token on
// the resource type typ in FHIR R4 core, such as Observation category or
// the _id, _tag and _security parameters of every type. It returns false
// for parameters that implementation guides define, whose types it does
// not know.
func IsTokenParam(typ, name string) bool {
	return tokenParams[[2]string{typ, name}] ||
		tokenParams[[2]string{"Resource", name}] ||
		tokenParams[[2]string{"DomainResource", name}]
}

// Token is one value of a token search parameter (FHIR R4 search, "token"),
// with its escapes removed.
type Token struct {
	// System is the code system before the "|", "" for "|code".
	System string
	// HasSystem is false for a bare "code", which matches the code in any
	// system, and true for "system|code", "|code" and "system|".
	HasSystem bool
	// Code is the code after the "|", or the whole value without one. It
	// is "" for "system|", which matches every code of the system.
	Code string
}

// ParseToken parses one token value, as sent (escapes intact) and without
// commas: one alternative of a comma-separated list. The escapes "\|",
// "\,", "\$" and "\\" stand for the character after the backslash. It
// reports false for an unescaped comma, a second unescaped "|", any other
// escape, and a value with neither a system nor a code.
func ParseToken(v string) (Token, bool) {
	var tok Token
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\\':
			if i+1 == len(v) || strings.IndexByte(`\|,$`, v[i+1]) < 0 {
				return Token{}, false
			}
			i++
			b.WriteByte(v[i])
		case ',':
			return Token{}, false
		case '|':
			if tok.HasSystem {
				return Token{}, false
			}
			tok.HasSystem = true
			tok.System = b.String()
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	tok.Code = b.String()
	if tok.Code == "" && tok.System == "" {
		return Token{}, false
	}
	return tok, true
}

// Within reports whether every coding that t matches is also matched by
// outer, so that a search for t returns no resource a search for outer
// would not return. Every token with a given code, whatever its system, is
// within the bare code. A "system|code" is also within "system|".
func (t Token) Within(outer Token) bool {
	if !outer.HasSystem {
		return t.Code == outer.Code
	}
	if !t.HasSystem || t.System != outer.System {
		return false
	}
	return outer.Code == "" || t.Code == outer.Code
}

// SplitValues splits a search parameter value, as sent, at the commas that
// separate the alternatives of a FHIR "OR" list. An escaped comma ("\,")
// does not split, and escapes stay intact in the parts.
func SplitValues(v string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case ',':
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}
