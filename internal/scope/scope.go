package scope

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// Perm is a set of SMART v2 permission letters.
type Perm uint8

// The SMART v2 permissions, in the order their letters are written.
const (
	Create Perm = 1 << iota
	Read
	Update
	Delete
	Search

	// All is cruds, the v1 "*" permission.
	All = Create | Read | Update | Delete | Search
)

// permLetters lists the letters in the order SMART v2 requires.
var permLetters = []struct {
	letter byte
	perm   Perm
}{{'c', Create}, {'r', Read}, {'u', Update}, {'d', Delete}, {'s', Search}}

// v1Perms maps the SMART v1 permission words to v2 letters.
var v1Perms = map[string]Perm{"read": Read | Search, "write": Create | Update | Delete, "*": All}

// String returns the permission letters in SMART v2 order, e.g. "rs".
func (p Perm) String() string {
	var b strings.Builder
	for _, l := range permLetters {
		if p&l.perm != 0 {
			b.WriteByte(l.letter)
		}
	}
	return b.String()
}

// Wildcard is the resource that matches every type.
const Wildcard = "*"

// MaxLength is the longest scope Parse accepts, in bytes.
const MaxLength = 512

// maxParams caps the restriction parameters of one scope.
const maxParams = 8

// Param is one name=value pair of a granular restriction, or of a search
// when passed to Set.Permits.
type Param struct {
	Name  string
	Value string
}

// Operations lists the operation grants: the resource type and operation
// name (without "$") of each. Parse rejects every other operation.
var Operations = []struct{ Type, Name string }{
	{"Claim", "submit"},
	{"Claim", "inquire"},
	{"Patient", "member-match"},
	{"CoverageEligibilityRequest", "submit"},
	{"Subscription", "status"},
	{"Subscription", "events"},
}

// Scope is one parsed scope. The zero value is not a valid scope.
type Scope struct {
	// Type is a FHIR resource type or Wildcard.
	Type string
	// Perms is the permission set; zero for an operation grant.
	Perms Perm
	// Operation is the operation name without "$" for an operation grant.
	Operation string
	// Params is the granular restriction, sorted by name.
	Params []Param

	raw string // the scope as parsed; "" for a scope built by intersection
}

// Options controls what Parse accepts.
type Options struct {
	// AllowWildcard accepts the resource "*". Only a partner registration
	// that explicitly allows wildcard scopes sets it.
	AllowWildcard bool
}

// ErrWildcard reports a wildcard scope where the registration does not
// allow one.
var ErrWildcard = errors.New("scope: wildcard resource \"*\" is not allowed for this registration")

// Error is a scope that does not parse. Reason never contains the scope,
// which callers may quote themselves when it is not secret.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "scope: " + e.Reason }

func invalid(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// Parse parses one scope token. See the package documentation for the
// grammar.
func Parse(s string, opts Options) (Scope, error) {
	if len(s) > MaxLength {
		return Scope{}, invalid("longer than %d bytes", MaxLength)
	}
	rest, err := cutContext(s)
	if err != nil {
		return Scope{}, err
	}
	typ, perm, ok := strings.Cut(rest, ".")
	if !ok {
		return Scope{}, invalid(`missing "." between resource type and permissions`)
	}
	if err := checkType(typ, opts); err != nil {
		return Scope{}, err
	}

	sc := Scope{Type: typ, raw: s}
	if op, isOp := strings.CutPrefix(perm, "$"); isOp {
		return sc.withOperation(op)
	}
	letters, restriction, hasRestriction := strings.Cut(perm, "?")
	if sc.Perms, err = parsePerms(letters, hasRestriction); err != nil {
		return Scope{}, err
	}
	if hasRestriction {
		if sc.Params, err = parseRestriction(restriction, sc.Perms); err != nil {
			return Scope{}, err
		}
	}
	return sc, nil
}

// cutContext removes the "system/" prefix, rejecting the other SMART
// contexts by name so that the error states why.
func cutContext(s string) (string, error) {
	if rest, ok := strings.CutPrefix(s, "system/"); ok {
		return rest, nil
	}
	for _, ctx := range []string{"patient/", "user/"} {
		if strings.HasPrefix(s, ctx) {
			return "", invalid("%s scopes are not accepted: Gatehouse issues backend-services tokens, which take system/ scopes only", strings.TrimSuffix(ctx, "/"))
		}
	}
	return "", invalid(`must start with "system/"`)
}

func checkType(typ string, opts Options) error {
	switch {
	case typ == Wildcard && opts.AllowWildcard:
		return nil
	case typ == Wildcard:
		return ErrWildcard
	case !fhirreq.IsResourceType(typ):
		return invalid("unknown resource type; resource types are case-sensitive FHIR R4 names")
	}
	return nil
}

func (sc Scope) withOperation(op string) (Scope, error) {
	if sc.Type == Wildcard {
		return Scope{}, invalid("an operation grant must name its resource type, not \"*\"")
	}
	for _, o := range Operations {
		if o.Type == sc.Type && o.Name == op {
			sc.Operation = op
			return sc, nil
		}
	}
	return Scope{}, invalid("unknown operation grant; Gatehouse defines system/Claim.$submit, system/Claim.$inquire, system/Patient.$member-match, system/CoverageEligibilityRequest.$submit, system/Subscription.$status and system/Subscription.$events")
}

// parsePerms reads a v1 word or v2 letters. v1 words take no restriction.
func parsePerms(s string, restricted bool) (Perm, error) {
	if p, ok := v1Perms[s]; ok {
		if restricted {
			return 0, invalid("a SMART v1 permission takes no ?restriction; use the v2 letters rs")
		}
		return p, nil
	}
	if s == "" {
		return 0, invalid("missing permissions after \".\"")
	}
	var p Perm
	next := 0
	for i := 0; i < len(s); i++ {
		j := next
		for j < len(permLetters) && permLetters[j].letter != s[i] {
			j++
		}
		if j == len(permLetters) {
			return 0, invalid("permissions must be read, write, * or the letters c, r, u, d, s, each once and in that order")
		}
		p |= permLetters[j].perm
		next = j + 1
	}
	return p, nil
}

// restrictedNames are the underscore parameters a restriction may name.
var restrictedNames = map[string]bool{"_id": true, "_tag": true, "_profile": true, "_security": true, "_source": true, "_lastUpdated": true}

func parseRestriction(s string, perms Perm) ([]Param, error) {
	if perms&^(Read|Search) != 0 {
		return nil, invalid("a ?restriction is accepted only on the permissions r and s, because the gateway cannot see the stored resource of a write")
	}
	if s == "" {
		return nil, invalid(`empty restriction after "?"`)
	}
	pairs := strings.Split(s, "&")
	if len(pairs) > maxParams {
		return nil, invalid("more than %d restriction parameters", maxParams)
	}
	params := make([]Param, 0, len(pairs))
	for _, pair := range pairs {
		name, value, ok := strings.Cut(pair, "=")
		if !ok || !validParamName(name) || !validParamValue(value) {
			return nil, invalid("a restriction must be name=value pairs joined by \"&\", with names of letters, digits and \"-\" and values without space, quote, backslash, \"&\", \"=\", \"%%\", \",\", \"?\" or \"#\"")
		}
		params = append(params, Param{Name: name, Value: value})
	}
	slices.SortFunc(params, compareParams)
	for i := 1; i < len(params); i++ {
		if params[i].Name == params[i-1].Name {
			return nil, invalid("a restriction names the same parameter twice")
		}
	}
	return params, nil
}

func compareParams(a, b Param) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Value, b.Value)
}

func validParamName(name string) bool {
	if restrictedNames[name] {
		return true
	}
	if name == "" || !isLetter(name[0]) || len(name) > 64 {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isLetter(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func validParamValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || strings.IndexByte("\"\\&=%,?#", c) >= 0 {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// String returns the scope as it was parsed, or in canonical v2 form for a
// scope built by Intersect.
func (sc Scope) String() string {
	if sc.raw != "" {
		return sc.raw
	}
	return sc.Canonical()
}

// Canonical returns the scope in SMART v2 form with its restriction
// parameters sorted, so that equal scopes have equal canonical forms.
func (sc Scope) Canonical() string {
	var b strings.Builder
	b.WriteString("system/")
	b.WriteString(sc.Type)
	b.WriteByte('.')
	if sc.Operation != "" {
		b.WriteByte('$')
		b.WriteString(sc.Operation)
		return b.String()
	}
	b.WriteString(sc.Perms.String())
	for i, p := range sc.Params {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	return b.String()
}

// Covers reports whether every request t permits is also permitted by sc:
// the same operation, or a type sc names (or sc's wildcard), permissions
// within sc's, and for each of sc's restrictions one of t's within it (see
// paramWithin).
func (sc Scope) Covers(t Scope) bool {
	if sc.Operation != "" || t.Operation != "" {
		return sc.Operation == t.Operation && sc.Type == t.Type
	}
	if sc.Type != Wildcard && sc.Type != t.Type {
		return false
	}
	if t.Perms&^sc.Perms != 0 {
		return false
	}
	return restrictionsWithin(t.Type, t.Params, sc.Params)
}

// restrictionsWithin reports whether each restriction in outer has one of
// the same name in inner that is within it. Scope restrictions name each
// parameter once.
func restrictionsWithin(typ string, inner, outer []Param) bool {
	for _, o := range outer {
		i := slices.IndexFunc(inner, func(p Param) bool { return p.Name == o.Name })
		if i < 0 || !paramWithin(typ, inner[i], o) {
			return false
		}
	}
	return true
}

// intersect returns a scope that permits only what both a and b permit,
// and false when that is nothing or cannot be written as one scope (see
// mergeParams).
func intersect(a, b Scope) (Scope, bool) {
	if a.Operation != "" || b.Operation != "" {
		if a.Operation == b.Operation && a.Type == b.Type {
			return Scope{Type: a.Type, Operation: a.Operation}, true
		}
		return Scope{}, false
	}
	typ := a.Type
	switch {
	case a.Type == Wildcard:
		typ = b.Type
	case b.Type != Wildcard && a.Type != b.Type:
		return Scope{}, false
	}
	perms := a.Perms & b.Perms
	if perms == 0 {
		return Scope{}, false
	}
	params, ok := mergeParams(typ, a.Params, b.Params)
	if !ok {
		return Scope{}, false
	}
	return Scope{Type: typ, Perms: perms, Params: params}, true
}

// paramWithin reports whether every search that satisfies the restriction
// inner also satisfies outer, on a search of typ ("*" for a wildcard
// scope, where only the parameters of every type are tokens). It applies
// the rule of Set.Permits to inner's value as if it were sent in a search.
// That is exact because a restriction value has no comma, so it is one
// token, and because fhirreq.Token.Within is transitive: a search value
// within inner is within outer.
func paramWithin(typ string, inner, outer Param) bool {
	return inner.Name == outer.Name && satisfies(typ, outer, inner.Value)
}

// mergeParams returns the restrictions of both scopes on a search of typ.
// When both restrict one parameter, the value within the other is kept,
// because a search that satisfies it satisfies both. When neither value is
// within the other, the scopes are treated as overlapping in nothing. That
// may be narrower than the true intersection (<system>| and a bare code
// share <system>|code) but never wider.
func mergeParams(typ string, a, b []Param) ([]Param, bool) {
	if len(b) == 0 {
		return a, true
	}
	out := slices.Clone(a)
	for _, p := range b {
		i := slices.IndexFunc(out, func(q Param) bool { return q.Name == p.Name })
		switch {
		case i < 0:
			out = append(out, p)
		case paramWithin(typ, p, out[i]):
			out[i] = p
		case paramWithin(typ, out[i], p):
			// out[i] is already the narrower one.
		default:
			return nil, false
		}
	}
	slices.SortFunc(out, compareParams)
	return out, true
}
