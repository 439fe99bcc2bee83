package token

import (
	"errors"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/scope"
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

// grantScopes returns what the requested scopes and the registration both
// permit, in request order (see scope.Intersect). It is the one place where
// the granted set is decided. A requested scope is granted as written when a
// registered scope covers it, so system/Claim.read is granted against a
// registered system/Claim.rs. Otherwise only its overlap with the
// registration is granted, in SMART v2 form: system/Claim.* against
// system/Claim.rs grants system/Claim.rs.
//
// Requested scopes that do not parse are not granted. A requested wildcard
// scope (system/*.rs) is not granted either, not even narrowed, unless the
// registration itself contains a wildcard scope: the configuration decides
// whether a partner may register one.
func grantScopes(requested, registered []string) []string {
	reg := scope.ParseGranted(registered)
	req := scope.ParseRequested(requested, scope.Options{AllowWildcard: reg.HasWildcard()})
	granted := scope.Intersect(req, reg)
	if granted.Len() == 0 {
		return nil
	}
	return granted.Strings()
}
