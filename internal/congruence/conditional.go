package congruence

import (
	"errors"
	"net/url"
	"strings"
)

// errConditionalIdentifier is returned for search criteria the gateway
// cannot read, so that the caller rejects what it cannot check.
var errConditionalIdentifier = errors.New("congruence: unreadable member identifier parameter in search criteria")

// CriteriaIdentifier is an identifier that a member identifier search
// parameter of conditional criteria names.
type CriteriaIdentifier struct {
	Identifier
	// Own marks the searched type's own "identifier" parameter. Its
	// identifier belongs to the resource that the criteria select, not to
	// a resource that it references or that references it.
	Own bool
	// AnySystem marks a value that may be a member id of a system that the
	// criteria do not state. That is a token without a system, a
	// subscriber-id (Coverage.subscriberId is a string), or the identifier
	// of a Coverage.
	AnySystem bool
}

// ConditionalIdentifiers returns the identifiers that the member
// identifier search parameters of query name. typ is the searched resource
// type ("" when unknown), and query the part after "?", as in the
// conditional reference "Patient?identifier=SYSTEM|VALUE". These
// parameters are read, because in FHIR R4 and Da Vinci HRex they match a
// member id:
//
//   - "identifier", the token of every resource's business identifiers
//     (Patient.identifier, Coverage.identifier);
//   - "subscriber-id", HRex's token on Coverage.subscriberId;
//   - any reference parameter with the ":identifier" modifier, which
//     matches Reference.identifier ("beneficiary:identifier",
//     "patient:identifier");
//   - a chain ending in one of the above ("beneficiary.identifier",
//     "subject:Patient.identifier", "coverage.subscriber-id");
//   - a reverse chain ending in one of them
//     ("_has:Coverage:beneficiary:subscriber-id").
//
// A token "SYSTEM|VALUE" gives that system, and "|VALUE" or "VALUE" (any
// system, in FHIR search) an empty one. Comma-separated values are each
// returned, and the FHIR escapes "\,", "\|", "\$" and "\\" are read. Other
// parameters are ignored, because they can only narrow a search that
// these parameters also constrain.
//
// Parameter names and the "identifier" modifier are compared without
// letter case, because a lenient server may match "IDENTIFIER" as
// "identifier".
//
// It returns an error for criteria whose meaning the gateway cannot
// determine. These are a member identifier parameter with a modifier
// (":of-type", ":not", ":text"), a token with more than one unescaped
// "|", and a name or value that cannot be percent-decoded. "_filter" and
// "_query" are errors too, because their expressions may name any member.
// So is a raw "#", because a URL parser ends the query there.
func ConditionalIdentifiers(typ, query string) ([]CriteriaIdentifier, error) {
	// A reader that parses the reference as a URL ends the query at an
	// unescaped "#" and drops the rest as a fragment, so
	// "Patient?_id=1#&identifier=S|V" would select by "_id" alone.
	if strings.ContainsRune(query, '#') {
		return nil, errConditionalIdentifier
	}
	var out []CriteriaIdentifier
	for _, param := range strings.Split(query, "&") {
		rawName, rawValue, _ := strings.Cut(param, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, errConditionalIdentifier
		}
		kind, own, err := memberParameter(name)
		if err != nil {
			return nil, err
		}
		if kind == "" {
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, errConditionalIdentifier
		}
		for _, token := range splitEscaped(value, ',') {
			id, err := parseToken(token)
			if err != nil {
				return nil, err
			}
			if id.Value == "" {
				continue
			}
			anySystem := id.System == "" || kind == "subscriber-id" || own && typ == "Coverage"
			out = append(out, CriteriaIdentifier{Identifier: id, Own: own, AnySystem: anySystem})
		}
	}
	return out, nil
}

// memberParameter returns "identifier" or "subscriber-id" when the search
// parameter name matches a member identifier, and "" for any other
// parameter. own reports the searched type's own "identifier" parameter,
// without chain or modifier.
func memberParameter(name string) (kind string, own bool, err error) {
	if strings.EqualFold(name, "_filter") || strings.EqualFold(name, "_query") {
		return "", false, errConditionalIdentifier
	}
	target, ok := reverseChainTarget(name)
	if !ok {
		return "", false, errConditionalIdentifier
	}
	// A chain "reference.parameter" matches the last parameter on the
	// referenced resource.
	if i := strings.LastIndexByte(target, '.'); i >= 0 {
		target = target[i+1:]
	}
	base, modifier, hasModifier := strings.Cut(strings.ToLower(target), ":")
	switch {
	case base == "identifier" || base == "subscriber-id":
		if hasModifier {
			return "", false, errConditionalIdentifier
		}
		return base, target == name && base == "identifier", nil
	case modifier == "identifier":
		return "identifier", false, nil
	case strings.HasPrefix(modifier, "identifier:"):
		return "", false, errConditionalIdentifier
	}
	return "", false, nil
}

// reverseChainTarget returns the parameter that the search parameter name
// matches on the resource it reaches. A reverse chain
// "_has:Type:reference:parameter" ends in that parameter, which may
// itself be a reverse chain. ok is false for a reverse chain without all
// four parts. "_has" is compared without letter case, as a lenient
// server may compare it.
func reverseChainTarget(name string) (target string, ok bool) {
	target = name
	for isReverseChain(target) {
		parts := strings.SplitN(target, ":", 4)
		if len(parts) < 4 {
			return "", false
		}
		target = parts[3]
	}
	return target, true
}

// isReverseChain reports whether the search parameter name starts with
// "_has:", compared without letter case.
func isReverseChain(name string) bool {
	return len(name) >= 5 && strings.EqualFold(name[:5], "_has:")
}

// parseToken reads one FHIR search token: "SYSTEM|VALUE", "|VALUE" or
// "VALUE".
func parseToken(token string) (Identifier, error) {
	parts := splitEscaped(token, '|')
	switch len(parts) {
	case 1:
		return Identifier{Value: unescapeSearch(parts[0])}, nil
	case 2:
		return Identifier{System: unescapeSearch(parts[0]), Value: unescapeSearch(parts[1])}, nil
	}
	return Identifier{}, errConditionalIdentifier
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

// conditionalQuery returns the resource type and the query of the
// conditional reference ref, the parts before and after "?", and whether
// ref has a query. The type is the last path segment, so a base URL
// before it is ignored, and "" when the path does not end in one.
func conditionalQuery(ref string) (typ, query string, ok bool) {
	path, query, ok := strings.Cut(ref, "?")
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	return path, query, ok
}
