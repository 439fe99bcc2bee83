package fhirreq

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Caps on one query string or _search form body.
const (
	MaxQueryBytes = 8 << 10
	MaxParams     = 100
	maxChainLinks = 4
	maxHasDepth   = 4
)

// Query is a query string (or _search form body) parsed once. The
// parameters _include, _revinclude, _has, _count, _summary, _format,
// _elements and _type are parsed into fields of their own. Every other
// parameter is in Params, in request order.
type Query struct {
	Params   []Param
	Includes []Include // _include and _revinclude, in request order
	Has      []Has     // _has reverse chains
	Count    int       // _count, or -1 when absent
	Summary  string    // _summary: true, text, data, count or false
	Format   string    // _format, as sent
	Elements []string  // _elements
	Types    []string  // _type, each a resource type

	// firstParam and firstLink store the first parameter of Params and its
	// first link, so that the common query of one plain parameter (and
	// controls such as _count) needs no allocation of its own.
	firstParam [1]Param
	firstLink  [1]Link
}

// Empty reports whether q has no parameter at all.
func (q *Query) Empty() bool {
	return len(q.Params) == 0 && len(q.Includes) == 0 && len(q.Has) == 0 && q.Count < 0 &&
		q.Summary == "" && q.Format == "" && q.Elements == nil && q.Types == nil
}

// Param is one search or operation parameter.
type Param struct {
	// Links is the parameter name split at chain dots: one link for a plain
	// parameter, more for a chained search (subject:Patient.name has the
	// links {subject Patient} and {name ""}).
	Links []Link
	// Value is the percent-decoded value, with FHIR's "\," escapes intact.
	Value string
}

// Link is one step of a parameter name with its modifier, such as "exact",
// "missing", "not" or, on a reference parameter, a resource type.
type Link struct {
	Name     string
	Modifier string
}

// Name returns the first link's name: the parameter of the searched type.
func (p Param) Name() string { return p.Links[0].Name }

// Modifier returns the first link's modifier.
func (p Param) Modifier() string { return p.Links[0].Modifier }

// Chained reports whether p is a chained parameter.
func (p Param) Chained() bool { return len(p.Links) > 1 }

// Plain reports whether p has one link, no modifier and one value, the only
// form that can satisfy a granular scope restriction.
func (p Param) Plain() bool {
	return len(p.Links) == 1 && p.Links[0].Modifier == "" && !hasUnescapedComma(p.Value)
}

// Include is one _include or _revinclude value.
type Include struct {
	Reverse bool   // _revinclude
	Iterate bool   // the :iterate modifier
	Source  string // the type whose reference parameter is followed, or "*"
	Param   string // the reference search parameter, or "*"
	Target  string // the target type, "" when not named
}

// Has is one _has reverse chain: resources of Type whose parameter Ref
// points at the searched resource and which match the rest.
type Has struct {
	Type string
	Ref  string
	// Next is a nested _has; when nil, Param and Value end the chain.
	Next  *Has
	Param Link
	Value string
}

// Types returns every type the chain reaches, outermost first.
func (h *Has) Types() []string {
	var out []string
	for ; h != nil; h = h.Next {
		out = append(out, h.Type)
	}
	return out
}

// singleValued are the parameters that may appear once per query, each
// with its own bit, so that a query tracks the ones it has seen in one
// word.
var singleValued = func() map[string]uint32 {
	names := []string{
		"_count", "_summary", "_format", "_elements", "_sort",
		"_total", "_contained", "_containedType", "_pretty", "_type",
		"_since", "_at", "_query", "_graphql", "_outputFormat",
	}
	m := make(map[string]uint32, len(names))
	for i, n := range names {
		m[n] = 1 << i
	}
	return m
}()

// knownUnderscore are the underscore parameters FHIR R4 defines for search,
// history, GraphQL and bulk export. Any other name starting with "_" is
// rejected, because an upstream might give it a meaning the policy cannot
// see.
var knownUnderscore = map[string]bool{
	"_id": true, "_lastUpdated": true, "_tag": true, "_profile": true, "_security": true,
	"_source": true, "_text": true, "_content": true, "_list": true, "_filter": true,
	"_typeFilter": true, "_include": true, "_revinclude": true, "_has": true,
}

func badQuery(reason string) error { return &Error{http.StatusBadRequest, reason} }

// ParseQuery parses a raw (still percent-encoded) query string strictly:
//
//   - parameters are separated by "&" only; ";" anywhere is rejected, as are
//     empty parameters, a missing "=" and empty values;
//   - a literal "+" is rejected, because form decoding reads it as a space
//     and RFC 3986 as a plus; send %20 or %2B;
//   - %26 (&), %3D (=), %3B (;) and %25 (%) are rejected, so that no parser
//     that decodes before splitting, or decodes twice, reads other
//     parameters than this one;
//   - names are raw ASCII: letters, digits, "_", "-", "." and ":";
//   - values decode to valid UTF-8 without control characters;
//   - a parameter in the single-valued list may appear once;
//   - unknown names that start with "_" are rejected.
//
// Errors never quote the query, which may hold PHI.
func ParseQuery(raw string) (*Query, error) {
	q := &Query{}
	if err := q.parse(raw); err != nil {
		return nil, err
	}
	return q, nil
}

// parse is ParseQuery into q, which must be zero.
func (q *Query) parse(raw string) error {
	q.Count = -1
	if raw == "" {
		return nil
	}
	if err := checkRawQuery(raw); err != nil {
		return err
	}
	if strings.Count(raw, "&") >= MaxParams {
		return badQuery("the query has more than " + strconv.Itoa(MaxParams) + " parameters")
	}
	var seen uint32 // bits of singleValued
	for part := range strings.SplitSeq(raw, "&") {
		key, rawValue, ok := strings.Cut(part, "=")
		if !ok || key == "" || rawValue == "" {
			return badQuery("every query parameter must be name=value with a non-empty name and value")
		}
		value, err := decodeValue(rawValue)
		if err != nil {
			return err
		}
		if err := q.add(key, value, &seen); err != nil {
			return err
		}
	}
	return nil
}

func checkRawQuery(raw string) error {
	if len(raw) > MaxQueryBytes {
		return badQuery("the query is longer than " + strconv.Itoa(MaxQueryBytes) + " bytes")
	}
	if querySeparators.in(raw) {
		return badQuery(`the query contains ";", "+" or "#": separate parameters with "&" and percent-encode spaces as %20 and plus signs as %2B`)
	}
	for i := strings.IndexByte(raw, '%'); i >= 0 && i+2 < len(raw); {
		if splitsDifferently(raw[i+1], raw[i+2]) {
			return badQuery("the query contains an encoded \"&\", \"=\", \";\" or \"%\", which parsers split differently")
		}
		next := strings.IndexByte(raw[i+1:], '%')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return nil
}

// splitsDifferently reports whether %hi lo encodes "&" (26), "=" (3D),
// ";" (3B) or "%" (25), in either letter case.
func splitsDifferently(hi, lo byte) bool {
	switch hi {
	case '2':
		return lo == '5' || lo == '6'
	case '3':
		return lo == 'b' || lo == 'B' || lo == 'd' || lo == 'D'
	}
	return false
}

func decodeValue(raw string) (string, error) {
	v := raw
	if strings.IndexByte(raw, '%') >= 0 {
		var err error
		if v, err = url.PathUnescape(raw); err != nil {
			return "", badQuery("a query value is not valid percent-encoded UTF-8")
		}
	}
	if !utf8.ValidString(v) {
		return "", badQuery("a query value is not valid percent-encoded UTF-8")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "", badQuery("a query value contains a control character")
		}
	}
	return v, nil
}

// add parses one name=value pair into q.
func (q *Query) add(key, value string, seen *uint32) error {
	if !validKey(key) {
		return badQuery(`a parameter name contains characters other than letters, digits, "_", "-", "." and ":"`)
	}
	base, _, _ := strings.Cut(key, ":")
	base, _, _ = strings.Cut(base, ".")
	bit := singleValued[base]
	if strings.HasPrefix(base, "_") && !knownUnderscore[base] && bit == 0 {
		return badQuery("the query names an unknown parameter starting with \"_\"")
	}
	if bit != 0 {
		if key != base {
			return badQuery("the parameter " + base + " takes no modifier")
		}
		if *seen&bit != 0 {
			return badQuery("the parameter " + base + " appears more than once")
		}
		*seen |= bit
	}

	switch base {
	case "_include", "_revinclude":
		return q.addInclude(key, value)
	case "_has":
		h, err := parseHas(key, value)
		if err != nil {
			return err
		}
		q.Has = append(q.Has, *h)
		return nil
	}
	if bit != 0 {
		if done, err := q.addControl(base, value); done || err != nil {
			return err
		}
	}
	// _sort stays in Params, so every check on parameters reads it, and
	// its value is checked here so that a malformed one never reaches the
	// upstream.
	if base == "_sort" {
		if _, err := ParseSort(value); err != nil {
			return err
		}
	}
	var dst []Link
	if q.Params == nil {
		q.Params, dst = q.firstParam[:0:1], q.firstLink[:0:1]
	}
	links, err := parseLinks(dst, key)
	if err != nil {
		return err
	}
	q.Params = append(q.Params, Param{Links: links, Value: value})
	return nil
}

// addControl stores the parameters that have fields of their own. It
// reports false for single-valued parameters that stay in Params.
func (q *Query) addControl(name, value string) (bool, error) {
	switch name {
	case "_count":
		n, err := parseCount(value)
		q.Count = n
		return true, err
	case "_summary":
		switch value {
		case "true", "text", "data", "count", "false":
			q.Summary = value
			return true, nil
		}
		return true, badQuery("_summary must be true, text, data, count or false")
	case "_format":
		q.Format = value
		return true, nil
	case "_elements":
		els, err := parseElements(value)
		q.Elements = els
		return true, err
	case "_type":
		types, err := parseTypeList(value)
		q.Types = types
		return true, err
	}
	return false, nil
}

func parseCount(v string) (int, error) {
	if len(v) == 0 || len(v) > 9 || (len(v) > 1 && v[0] == '0') {
		return 0, badQuery("_count must be a non-negative integer without sign or leading zeros")
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, badQuery("_count must be a non-negative integer without sign or leading zeros")
		}
		n = n*10 + int(v[i]-'0')
	}
	return n, nil
}

func parseElements(v string) ([]string, error) {
	els := strings.Split(v, ",")
	for _, e := range els {
		if !isElementPath(e) {
			return nil, badQuery("_elements must be a comma-separated list of element names")
		}
	}
	return els, nil
}

func parseTypeList(v string) ([]string, error) {
	types := strings.Split(v, ",")
	for _, t := range types {
		if !resourceTypes[t] {
			return nil, badQuery("_type must list FHIR resource types, comma-separated")
		}
	}
	return types, nil
}

func (q *Query) addInclude(key, value string) error {
	inc := Include{Reverse: strings.HasPrefix(key, "_revinclude")}
	name, modifier, hasModifier := strings.Cut(key, ":")
	if hasModifier {
		if modifier != "iterate" || strings.ContainsAny(modifier, ":.") {
			return badQuery("the only modifier of " + name + " is :iterate")
		}
		inc.Iterate = true
	}
	if name != "_include" && name != "_revinclude" {
		return badQuery("_include and _revinclude take no chain")
	}
	if value == "*" {
		inc.Source, inc.Param = "*", "*"
		q.Includes = append(q.Includes, inc)
		return nil
	}
	parts := strings.Split(value, ":")
	if len(parts) < 2 || len(parts) > 3 || !resourceTypes[parts[0]] || !(parts[1] == "*" || isName(parts[1])) {
		return badQuery("an " + name + " value must be Type:parameter or Type:parameter:TargetType")
	}
	inc.Source, inc.Param = parts[0], parts[1]
	if len(parts) == 3 {
		if !resourceTypes[parts[2]] {
			return badQuery("the target of an " + name + " must be a FHIR resource type")
		}
		inc.Target = parts[2]
	}
	q.Includes = append(q.Includes, inc)
	return nil
}

// parseHas reads _has:Type:ref:param[:modifier] and nested
// _has:Type:ref:_has:... chains.
func parseHas(key, value string) (*Has, error) {
	parts := strings.Split(key, ":")
	root, err := hasChain(parts, 0)
	if err != nil {
		return nil, err
	}
	last := root
	for last.Next != nil {
		last = last.Next
	}
	last.Value = value
	return root, nil
}

func hasChain(parts []string, depth int) (*Has, error) {
	bad := badQuery("_has must be _has:Type:reference-parameter:parameter")
	if depth >= maxHasDepth {
		return nil, badQuery("_has chains are limited to " + strconv.Itoa(maxHasDepth) + " levels")
	}
	if len(parts) < 4 || parts[0] != "_has" || !resourceTypes[parts[1]] || !isName(parts[2]) {
		return nil, bad
	}
	h := &Has{Type: parts[1], Ref: parts[2]}
	rest := parts[3:]
	if rest[0] == "_has" {
		next, err := hasChain(rest, depth+1)
		h.Next = next
		return h, err
	}
	if len(rest) > 2 || !isName(rest[0]) || strings.HasPrefix(rest[0], "_has") || strings.Contains(rest[0], ".") {
		return nil, bad
	}
	h.Param = Link{Name: rest[0]}
	if len(rest) == 2 {
		if !isModifier(rest[1]) {
			return nil, bad
		}
		h.Param.Modifier = rest[1]
	}
	return h, nil
}

// parseLinks splits a parameter name into chain links, appended to dst
// when it has room for all of them.
func parseLinks(dst []Link, key string) ([]Link, error) {
	n := strings.Count(key, ".") + 1
	if n > maxChainLinks {
		return nil, badQuery("chained parameters are limited to " + strconv.Itoa(maxChainLinks) + " links")
	}
	links := dst[:0]
	if cap(dst) < n {
		links = make([]Link, 0, n)
	}
	for s := range strings.SplitSeq(key, ".") {
		name, modifier, hasModifier := strings.Cut(s, ":")
		if !isName(name) || (hasModifier && !isModifier(modifier)) {
			return nil, badQuery("a parameter name must be name[:modifier] links joined by \".\"")
		}
		if len(links) > 0 && strings.HasPrefix(name, "_has") {
			return nil, badQuery("_has cannot follow a chain")
		}
		links = append(links, Link{Name: name, Modifier: modifier})
	}
	return links, nil
}

func validKey(k string) bool {
	if len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(isAlnum(c) || c == '_' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// isName accepts a search parameter name: letters, digits, "-" and "_",
// starting with a letter or "_".
func isName(s string) bool {
	if s == "" || len(s) > 64 || !(isAlpha(s[0]) || s[0] == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isModifier(s string) bool {
	if s == "" || len(s) > 64 || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '-') {
			return false
		}
	}
	return true
}

func isElementPath(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if part == "" || !isAlpha(part[0]) {
			return false
		}
		for i := 1; i < len(part); i++ {
			if !isAlnum(part[i]) {
				return false
			}
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool { return isAlpha(c) || '0' <= c && c <= '9' }

// hasUnescapedComma reports whether v lists several values, which FHIR
// separates with commas not preceded by a backslash.
func hasUnescapedComma(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case ',':
			return true
		}
	}
	return false
}

// byteSet is a set of ASCII bytes. Its in method is strings.ContainsAny
// without the lookup table that ContainsAny builds on every call, which the
// parsers would otherwise pay for every Bundle entry.
type byteSet [256]bool

func newByteSet(chars string) *byteSet {
	var set byteSet
	for i := 0; i < len(chars); i++ {
		set[chars[i]] = true
	}
	return &set
}

// in reports whether s contains a byte of the set.
func (set *byteSet) in(s string) bool {
	for i := 0; i < len(s); i++ {
		if set[s[i]] {
			return true
		}
	}
	return false
}

// The byte sets the parsers reject.
var (
	querySeparators   = newByteSet(";+#")
	pathEscapes       = newByteSet("%;\\")
	entryURLAbsolutes = newByteSet(":#")
)
