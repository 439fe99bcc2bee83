package gateway

import (
	"strings"

	"golang.org/x/net/http/httpguts"
)

// preferStrict requests that the upstream reject a search with a parameter
// it does not support, the handling preference of FHIR search. Under
// handling=lenient, which some servers also apply by default (Google Cloud
// Healthcare API FHIR stores do), the upstream ignores such a parameter and
// returns more than the search the policy decided on, for example more
// than a scope restricted to category=laboratory permits.
const preferStrict = "handling=strict"

// forwardedPrefer returns the Prefer field value sent upstream for the
// partner's Prefer field lines, or "" for none. Only the preferences
// fhirPreference accepts are kept, so every handling preference is
// removed. They are written back in canonical form: names in lower case,
// values as tokens, parameters and later duplicates of a preference
// dropped (RFC 7240 section 2 considers only the first). When search is
// set, handling=strict comes first.
//
// The upstream never receives the partner's bytes, so a parser that reads the
// field differently from RFC 7240 cannot find a handling preference
// there. A line that does not parse is dropped whole. A preference with a
// quoted value that is not a token is dropped too, because parsers that
// split on "," and ";" before reading quotes (HAPI FHIR's, for one) would
// read the text inside the quotes as preferences.
func forwardedPrefer(lines []string, search bool) string {
	var out []string
	if search {
		out = append(out, preferStrict)
	}
	seen := map[string]bool{}
	for _, line := range lines {
		prefs, ok := parsePrefer(line)
		if !ok {
			continue
		}
		for _, p := range prefs {
			if seen[p.name] || p.unsafe {
				continue
			}
			seen[p.name] = true
			if text, ok := fhirPreference(p); ok {
				out = append(out, text)
			}
		}
	}
	return strings.Join(out, ", ")
}

// fhirPreference returns the canonical text of p when it is a preference
// FHIR R4's HTTP API uses: return (minimal, representation or
// OperationOutcome), respond-async, and wait (RFC 7240) in whole seconds.
// Parameters are dropped. The record does not contain the Prefer field,
// so any other name or value would carry data past it.
func fhirPreference(p preference) (string, bool) {
	switch p.name {
	case "return":
		switch p.value {
		case "minimal", "representation", "OperationOutcome":
			return "return=" + p.value, true
		}
	case "respond-async":
		if p.value == "" {
			return "respond-async", true
		}
	case "wait":
		if n := len(p.value); n > 0 && n <= 5 && strings.Trim(p.value, "0123456789") == "" {
			return "wait=" + p.value, true
		}
	}
	return "", false
}

// preference is one element of a Prefer field, written in canonical form.
type preference struct {
	name  string // lower case
	value string // the value without "=", or ""

	// unsafe is set when a value cannot be written as a token.
	unsafe bool
}

// parsePrefer parses one Prefer field line (RFC 7240 section 2):
//
//	preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] )
//	parameter  = token [ BWS "=" BWS word ]
//	word       = token / quoted-string
//
// Elements are separated by commas, and empty elements are skipped (RFC
// 9110 section 5.6.1). It reports false when the line does not match.
func parsePrefer(s string) ([]preference, bool) {
	p := &preferParser{s: s}
	var prefs []preference
	for {
		p.skipListSeparators()
		if p.done() {
			return prefs, true
		}
		pref, ok := p.preference()
		if !ok {
			return nil, false
		}
		prefs = append(prefs, pref)
		p.skipSpace()
		if !p.done() && p.s[p.i] != ',' {
			return nil, false
		}
	}
}

type preferParser struct {
	s string
	i int
}

func (p *preferParser) done() bool { return p.i >= len(p.s) }

func (p *preferParser) skipSpace() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *preferParser) skipListSeparators() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

// preference reads a preference and skips its parameters, which are not
// forwarded. A parameter whose value is not a token marks the preference
// unsafe.
func (p *preferParser) preference() (preference, bool) {
	name, value, unsafe, ok := p.nameValue()
	if !ok {
		return preference{}, false
	}
	pref := preference{name: name, value: strings.TrimPrefix(value, "="), unsafe: unsafe}
	for {
		p.skipSpace()
		if p.done() || p.s[p.i] != ';' {
			return pref, true
		}
		p.i++
		p.skipSpace()
		if p.done() || !isTokenChar(p.s[p.i]) {
			// An empty parameter, as in "respond-async;;".
			continue
		}
		_, _, unsafe, ok := p.nameValue()
		if !ok {
			return preference{}, false
		}
		pref.unsafe = pref.unsafe || unsafe
	}
}

// nameValue reads token [ BWS "=" BWS word ]. It returns the name in lower
// case and the value as "=" and a token, or "" for no value, an empty value
// or an empty quoted string, which RFC 7240 section 2 makes the same.
// unsafe reports a quoted value that is not a token.
func (p *preferParser) nameValue() (name, value string, unsafe, ok bool) {
	name = strings.ToLower(p.token())
	if name == "" {
		return "", "", false, false
	}
	start := p.i
	p.skipSpace()
	if p.done() || p.s[p.i] != '=' {
		p.i = start
		return name, "", false, true
	}
	p.i++
	p.skipSpace()
	if p.done() || p.s[p.i] == ',' || p.s[p.i] == ';' {
		// An empty value, as in "foo=, bar", which RFC 7240 section 2
		// treats as no value.
		return name, "", false, true
	}
	var word string
	if p.s[p.i] == '"' {
		if word, ok = p.quotedString(); !ok {
			return "", "", false, false
		}
		if word == "" {
			return name, "", false, true
		}
		if !isToken(word) {
			return name, "", true, true
		}
	} else if word = p.token(); word == "" {
		return "", "", false, false
	}
	return name, "=" + word, false, true
}

func (p *preferParser) token() string {
	start := p.i
	for !p.done() && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quotedString reads a quoted-string (RFC 9110 section 5.6.4) and returns
// its content with quoted-pairs resolved.
func (p *preferParser) quotedString() (string, bool) {
	var b strings.Builder
	for p.i++; !p.done(); p.i++ {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), true
		case c == '\\':
			p.i++
			if p.done() || !isQuotedPairChar(p.s[p.i]) {
				return "", false
			}
			b.WriteByte(p.s[p.i])
		case c == '\t' || c >= 0x20 && c != 0x7f:
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	return "", false
}

func isQuotedPairChar(c byte) bool { return c == '\t' || c >= 0x20 && c != 0x7f }

// isToken reports whether s is an RFC 9110 token: one or more tchars,
// which is what httpguts checks for a header field name.
func isToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool { return httpguts.IsTokenRune(rune(c)) }
