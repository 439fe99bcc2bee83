package scope

import (
	"fmt"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// MaxScopes caps the scopes of one Set.
const MaxScopes = 200

// Set is a parsed list of scopes. It is immutable once built and safe for
// concurrent use.
type Set struct {
	scopes []Scope
}

// ParseSet parses each token with opts. The error names the position of the
// first token that does not parse.
func ParseSet(tokens []string, opts Options) (Set, error) {
	if len(tokens) > MaxScopes {
		return Set{}, fmt.Errorf("scope: more than %d scopes", MaxScopes)
	}
	out := Set{scopes: make([]Scope, 0, len(tokens))}
	for i, tok := range tokens {
		sc, err := Parse(tok, opts)
		if err != nil {
			return Set{}, fmt.Errorf("scope %d: %w", i, err)
		}
		out.scopes = append(out.scopes, sc)
	}
	return out, nil
}

// ParseGranted parses the scopes of an access token issued by Gatehouse,
// which Intersect has already limited to the registration, so wildcards are
// accepted. Tokens that do not parse are dropped: they permit nothing.
func ParseGranted(tokens []string) Set {
	return parseLenient(tokens, Options{AllowWildcard: true})
}

// ParseRequested parses the scopes a client requests. Tokens that do not
// parse with opts are dropped: a request may name scopes this server does not
// define, and those are simply not granted (RFC 6749 section 3.3).
func ParseRequested(tokens []string, opts Options) Set {
	return parseLenient(tokens, opts)
}

func parseLenient(tokens []string, opts Options) Set {
	if len(tokens) > MaxScopes {
		tokens = tokens[:MaxScopes]
	}
	out := Set{scopes: make([]Scope, 0, len(tokens))}
	for _, tok := range tokens {
		if sc, err := Parse(tok, opts); err == nil {
			out.scopes = append(out.scopes, sc)
		}
	}
	return out
}

// Scopes returns the scopes in order. The caller must not modify them.
func (s Set) Scopes() []Scope { return s.scopes }

// HasWildcard reports whether some scope of s names the resource "*".
func (s Set) HasWildcard() bool {
	for _, sc := range s.scopes {
		if sc.Type == Wildcard {
			return true
		}
	}
	return false
}

// Len returns the number of scopes.
func (s Set) Len() int { return len(s.scopes) }

// Strings returns each scope's String form, in order.
func (s Set) Strings() []string {
	out := make([]string, len(s.scopes))
	for i, sc := range s.scopes {
		out[i] = sc.String()
	}
	return out
}

// String returns the scopes separated by single spaces, the OAuth form.
func (s Set) String() string { return strings.Join(s.Strings(), " ") }

// Permits reports whether some scope of s grants perm (one letter) on typ
// for a request whose search parameters are params. A restricted scope
// grants only Search, and only when each restriction is satisfied by some
// parameter of the same name (see satisfies). Callers pass only the search
// parameters without a modifier or a chain, with their values as sent, so
// a parameter such as category:not=x never satisfies a restriction on
// category.
func (s Set) Permits(perm Perm, typ string, params []Param) bool {
	for _, sc := range s.scopes {
		if sc.Operation != "" || sc.Perms&perm == 0 {
			continue
		}
		if sc.Type != Wildcard && sc.Type != typ {
			continue
		}
		if len(sc.Params) == 0 {
			return true
		}
		if perm == Search && restrictionMet(typ, sc.Params, params) {
			return true
		}
	}
	return false
}

// restrictionMet reports whether every restriction is satisfied by some
// parameter. Several parameters of one name are ANDed by the server, so one
// that satisfies the restriction is enough.
func restrictionMet(typ string, restriction, params []Param) bool {
	for _, want := range restriction {
		found := false
		for _, p := range params {
			if p.Name == want.Name && satisfies(typ, want, p.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// satisfies reports whether a search for value, as sent, returns only
// resources that a search with the restriction would return. The value
// equal to the restriction always does. On a token parameter of typ, each
// alternative of a comma-separated list must parse as a token within the
// restriction's token. So category=<system>|laboratory satisfies
// category=laboratory, but not the reverse. Other parameter types, and a
// restriction that is not a valid token, need the exact value.
func satisfies(typ string, restriction Param, value string) bool {
	if value == restriction.Value {
		return true
	}
	if !fhirreq.IsTokenParam(typ, restriction.Name) {
		return false
	}
	outer, ok := fhirreq.ParseToken(restriction.Value)
	if !ok {
		return false
	}
	for _, alt := range fhirreq.SplitValues(value) {
		tok, ok := fhirreq.ParseToken(alt)
		if !ok || !tok.Within(outer) {
			return false
		}
	}
	return true
}

// PermitsOperation reports whether s contains the operation grant for op (the
// name without "$") on typ.
func (s Set) PermitsOperation(typ, op string) bool {
	for _, sc := range s.scopes {
		if sc.Operation == op && sc.Type == typ {
			return true
		}
	}
	return false
}

// Intersect returns what requested and registered both permit, in the order
// of requested. A requested scope covered by a registered one is granted as
// written, so a client that asked in v1 form gets v1 back. Otherwise each
// non-empty overlap with a registered scope is granted in canonical v2 form.
// A scope already covered by an earlier granted scope is left out. The
// result depends only on what the scopes permit, never on how many there
// are or how they are spelled.
func Intersect(requested, registered Set) Set {
	var granted []Scope
	add := func(sc Scope) {
		for _, g := range granted {
			if g.Covers(sc) {
				return
			}
		}
		granted = append(granted, sc)
	}
	for _, r := range requested.scopes {
		if covered(registered, r) {
			add(r)
			continue
		}
		for _, g := range registered.scopes {
			if sc, ok := intersect(r, g); ok {
				add(sc)
			}
		}
	}
	return Set{scopes: dropCovered(granted)}
}

func covered(s Set, t Scope) bool {
	for _, sc := range s.scopes {
		if sc.Covers(t) {
			return true
		}
	}
	return false
}

// dropCovered removes each scope that a later scope covers, so that the
// list has no redundant entry whatever order the overlaps were found in.
func dropCovered(scopes []Scope) []Scope {
	out := scopes[:0]
	for i, sc := range scopes {
		redundant := false
		for j, other := range scopes {
			if j > i && other.Covers(sc) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, sc)
		}
	}
	return out
}
