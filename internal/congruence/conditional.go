package congruence

import (
	"errors"
	"net/url"
	"strings"
)

// errConditionalIdentifier is returned for an identifier search parameter
// that cannot be read, so that the caller rejects what it cannot check.
var errConditionalIdentifier = errors.New("congruence: unreadable identifier parameter in a conditional reference")

// ConditionalIdentifiers returns the identifiers that the identifier
// search parameters of query name, such as "identifier=SYSTEM|VALUE" in
// the conditional reference "Patient?identifier=SYSTEM|VALUE". query is
// the part after "?". A token "SYSTEM|VALUE" gives that system, and
// "|VALUE" or "VALUE" (any system, in FHIR search) an empty one.
// Comma-separated values are each returned, and the FHIR escapes "\,",
// "\|", "\$" and "\\" are read. Other parameters are ignored. A parameter
// "identifier" with a modifier, or one that cannot be percent-decoded, is
// an error, because the gateway cannot tell what it names.
func ConditionalIdentifiers(query string) ([]Identifier, error) {
	var out []Identifier
	for _, param := range strings.Split(query, "&") {
		name, value, _ := strings.Cut(param, "=")
		name, err := url.QueryUnescape(name)
		if err != nil {
			return nil, errConditionalIdentifier
		}
		if strings.HasPrefix(name, "identifier:") {
			return nil, errConditionalIdentifier
		}
		if name != "identifier" {
			continue
		}
		value, err = url.QueryUnescape(value)
		if err != nil {
			return nil, errConditionalIdentifier
		}
		for _, token := range splitEscaped(value, ',') {
			parts := splitEscaped(token, '|')
			var id Identifier
			switch len(parts) {
			case 1:
				id.Value = unescapeSearch(parts[0])
			case 2:
				id = Identifier{System: unescapeSearch(parts[0]), Value: unescapeSearch(parts[1])}
			default:
				return nil, errConditionalIdentifier
			}
			if id.Value != "" {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

// splitEscaped splits s at every sep that no backslash escapes, leaving
// the escapes in place.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unescapeSearch removes the backslash of each FHIR search escape.
func unescapeSearch(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// conditionalQuery returns the query of the conditional reference ref,
// the part after "?", and whether ref has one.
func conditionalQuery(ref string) (string, bool) {
	_, query, ok := strings.Cut(ref, "?")
	return query, ok
}
