package token

import (
	"errors"
	"slices"
	"strings"
)

// maxScopeTokens caps the number of scopes one request may name.
const maxScopeTokens = 200

// parseScope splits a scope parameter into its scope tokens (RFC 6749
// section 3.3: tokens separated by single spaces, each made of the
// characters %x21 / %x23-5B / %x5D-7E). Repeated tokens are dropped, and the
// first occurrence keeps its place.
func parseScope(s string) ([]string, error) {
	tokens := strings.Split(s, " ")
	if len(tokens) > maxScopeTokens {
		return nil, errors.New("scope names too many scopes")
	}

	out := make([]string, 0, len(tokens))
	for _, tok := range tokens {
		if !validScopeToken(tok) {
			return nil, errors.New("scope must be scope tokens separated by single spaces")
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, nil
}

func validScopeToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// grantScopes returns the requested scopes that the registration allows, in
// request order. It is the one place where the granted set is decided.
//
// TODO: matching is exact string equality. SMART v2 scope semantics
// (system/Claim.rs within system/Claim.cruds, v1 read/write aliases, and
// ?param=value granular scopes) are not yet applied, so a request must name
// a registered scope verbatim to be granted it.
func grantScopes(requested, registered []string) []string {
	var granted []string
	for _, s := range requested {
		if slices.Contains(registered, s) {
			granted = append(granted, s)
		}
	}
	return granted
}
