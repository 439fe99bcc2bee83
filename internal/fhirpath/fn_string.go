package fhirpath

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// String functions. Positions and lengths count Unicode code points, not
// bytes. Regular expressions use Go's RE2 syntax, which runs in time
// linear in the input.
func init() {
	register("indexOf", 1, 1, fnIndexOf)
	register("lastIndexOf", 1, 1, fnLastIndexOf)
	register("substring", 1, 2, fnSubstring)
	register("startsWith", 1, 1, stringPredicate(strings.HasPrefix))
	register("endsWith", 1, 1, stringPredicate(strings.HasSuffix))
	register("contains", 1, 1, stringPredicate(strings.Contains))
	register("upper", 0, 0, stringMap(strings.ToUpper))
	register("lower", 0, 0, stringMap(strings.ToLower))
	register("trim", 0, 0, stringMap(func(s string) string { return strings.TrimFunc(s, unicode.IsSpace) }))
	register("length", 0, 0, fnLength)
	register("toChars", 0, 0, fnToChars)
	register("replace", 2, 2, fnReplace)
	register("matches", 1, 1, func(c *call) (Collection, error) { return regexMatch(c, false) })
	register("matchesFull", 1, 1, func(c *call) (Collection, error) { return regexMatch(c, true) })
	register("replaceMatches", 2, 2, fnReplaceMatches)
	register("split", 1, 1, fnSplit)
	register("join", 0, 1, fnJoin)
	register("encode", 1, 1, func(c *call) (Collection, error) { return codec(c, true) })
	register("decode", 1, 1, func(c *call) (Collection, error) { return codec(c, false) })
	register("escape", 1, 1, func(c *call) (Collection, error) { return escaping(c, true) })
	register("unescape", 1, 1, func(c *call) (Collection, error) { return escaping(c, false) })
}

// runeIndex converts a byte offset in s to a code point offset.
func runeIndex(s string, byteOff int) int {
	if byteOff < 0 {
		return -1
	}
	return utf8.RuneCountInString(s[:byteOff])
}

func fnIndexOf(c *call) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	sub, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	return c.ev.single(Integer(runeIndex(s, strings.Index(s, sub)))), nil
}

func fnLastIndexOf(c *call) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	sub, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	return c.ev.single(Integer(runeIndex(s, strings.LastIndex(s, sub)))), nil
}

// substringEnd returns the end offset of substring(start [, length]) in a
// string of n characters, for a start already known to be in range.
func substringEnd(c *call, start, n int) (int, error) {
	if len(c.node.args) < 2 {
		return n, nil
	}
	length, hasLength, err := c.intArg(1)
	if err != nil || !hasLength {
		return n, err
	}
	return min(start+max(length, 0), n), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiStrings holds every one-character ASCII String as a Value, so that
// substring(i, 1), which check-digit invariants call once per digit,
// does not box a new string each time.
var asciiStrings = func() (t [128]Value) {
	for i := range t {
		t[i] = String(rune(i))
	}
	return t
}()

func fnSubstring(c *call) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	start, ok, err := c.intArg(0)
	if err != nil || !ok {
		return nil, err
	}
	if isASCII(s) {
		// Byte offsets are rune offsets, and the result can share s.
		if start < 0 || start >= len(s) {
			return nil, nil
		}
		end, err := substringEnd(c, start, len(s))
		if err != nil {
			return nil, err
		}
		if end-start == 1 {
			return c.ev.single(asciiStrings[s[start]]), nil
		}
		return c.ev.single(String(s[start:end])), nil
	}

	runes := []rune(s)
	if start < 0 || start >= len(runes) {
		return nil, nil
	}
	end, err := substringEnd(c, start, len(runes))
	if err != nil {
		return nil, err
	}
	return c.ev.single(String(runes[start:end])), nil
}

func stringPredicate(pred func(s, sub string) bool) func(c *call) (Collection, error) {
	return func(c *call) (Collection, error) {
		s, ok, err := c.inputString()
		if err != nil || !ok {
			return nil, err
		}
		sub, ok, err := c.stringArg(0)
		if err != nil || !ok {
			return nil, err
		}
		return boolResult(pred(s, sub))
	}
}

func stringMap(f func(string) string) func(c *call) (Collection, error) {
	return func(c *call) (Collection, error) {
		s, ok, err := c.inputString()
		if err != nil || !ok {
			return nil, err
		}
		return c.ev.single(String(f(s))), nil
	}
}

func fnLength(c *call) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	return c.ev.single(Integer(utf8.RuneCountInString(s))), nil
}

func fnToChars(c *call) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	if err := c.ev.checkCount(c.node.at, utf8.RuneCountInString(s)); err != nil {
		return nil, err
	}
	out := make(Collection, 0, len(s))
	for _, r := range s {
		out = append(out, String(string(r)))
	}
	return out, nil
}

func fnReplace(c *call) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	pattern, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	repl, ok, err := c.stringArg(1)
	if err != nil || !ok {
		return nil, err
	}
	// The result size is known before it is built: an empty pattern
	// matches before every code point and at the end.
	matches := utf8.RuneCountInString(s) + 1
	if pattern != "" {
		matches = strings.Count(s, pattern)
	}
	if err := c.chargeString(len(s) + matches*(len(repl)-len(pattern))); err != nil {
		return nil, err
	}
	return c.ev.single(String(strings.ReplaceAll(s, pattern, repl))), nil
}

// regexCache keeps compiled patterns. Expressions usually pass literal
// patterns, so the set stays small. It is bounded to keep hostile inputs
// from growing it.
var regexCache sync.Map

const maxCachedRegexps = 1024

var regexCount int64
var regexMu sync.Mutex

func compileRegex(c *call, pattern string, full bool) (*regexp.Regexp, error) {
	key := pattern
	if full {
		key = "\x00" + pattern
	}
	if re, ok := regexCache.Load(key); ok {
		return re.(*regexp.Regexp), nil
	}
	src := "(?s)" + pattern
	if full {
		src = "(?s)^(?:" + pattern + ")$"
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, c.errorf("invalid regular expression %q: %v", abbreviate(pattern), err)
	}
	regexMu.Lock()
	if regexCount < maxCachedRegexps {
		regexCount++
		// A pattern may be cut from a document, whose memory a kept key
		// would pin.
		regexCache.Store(strings.Clone(key), re)
	}
	regexMu.Unlock()
	return re, nil
}

func regexMatch(c *call, full bool) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	pattern, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	re, err := compileRegex(c, pattern, full)
	if err != nil {
		return nil, err
	}
	return boolResult(re.MatchString(s))
}

func fnReplaceMatches(c *call) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	pattern, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	repl, ok, err := c.stringArg(1)
	if err != nil || !ok {
		return nil, err
	}
	re, err := compileRegex(c, pattern, false)
	if err != nil {
		return nil, err
	}
	out, err := replaceAllBounded(c, re, s, repl)
	if err != nil {
		return nil, err
	}
	return c.ev.single(String(out)), nil
}

// replaceAllBounded is re.ReplaceAllString, but it stops with an error
// once the result exceeds maxStringResult. A replacement such as
// "$0$0$0" multiplies the input, so the size is not known in advance.
// The matches count as a collection against MaxCollection, because each
// costs an index slice before anything is replaced.
func replaceAllBounded(c *call, re *regexp.Regexp, s, repl string) (string, error) {
	matches := re.FindAllStringSubmatchIndex(s, c.ev.maxColl+1)
	if err := c.ev.checkCount(c.node.at, len(matches)); err != nil {
		return "", err
	}
	var out []byte
	last := 0
	for _, m := range matches {
		out = append(out, s[last:m[0]]...)
		out = re.ExpandString(out, repl, s, m)
		last = m[1]
		if len(out) > maxStringResult {
			return "", c.chargeString(len(out))
		}
	}
	out = append(out, s[last:]...)
	return string(out), c.chargeString(len(out))
}

func fnSplit(c *call) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	sep, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	parts := strings.Count(s, sep) + 1
	if sep == "" {
		parts = utf8.RuneCountInString(s)
	}
	if err := c.ev.checkCount(c.node.at, parts); err != nil {
		return nil, err
	}
	out := make(Collection, parts)
	for i, p := range strings.Split(s, sep) {
		out[i] = String(p)
	}
	return out, nil
}

func fnJoin(c *call) (Collection, error) {
	sep := ""
	if len(c.node.args) == 1 {
		s, ok, err := c.stringArg(0)
		if err != nil {
			return nil, err
		}
		if ok {
			sep = s
		}
	}
	var b strings.Builder
	for i, v := range c.input {
		s, ok := stringOf(v)
		if !ok {
			return nil, c.errorf("expects strings, got %s", describe(v))
		}
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s)
		if b.Len() > maxStringResult {
			return nil, c.chargeString(b.Len())
		}
	}
	if err := c.chargeString(b.Len()); err != nil {
		return nil, err
	}
	return c.ev.single(String(b.String())), nil
}

func codec(c *call, encode bool) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	format, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	var enc interface {
		EncodeToString([]byte) string
		DecodeString(string) ([]byte, error)
	}
	switch format {
	case "base64":
		enc = base64.StdEncoding
	case "urlbase64":
		enc = base64.URLEncoding
	case "hex":
		if encode {
			return c.builtString(hex.EncodeToString([]byte(s)))
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, c.errorf("invalid hex input: %v", err)
		}
		return c.ev.single(String(b)), nil
	default:
		return nil, c.errorf("unknown encoding %q", format)
	}
	if encode {
		return c.builtString(enc.EncodeToString([]byte(s)))
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, c.errorf("invalid %s input: %v", format, err)
	}
	return c.ev.single(String(b)), nil
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

// escapeJSON returns s as the inside of a JSON string literal. Unlike
// json.Marshal it leaves <, > and & alone: JSON does not require their
// escapes, which encoding/json adds for HTML safety.
func escapeJSON(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	quoted := b.String()
	return quoted[1 : len(quoted)-2] // drop the quotes and Encode's newline
}

// builtString returns s, which the function built from its input and
// which may be several times as long, as a single result after
// chargeString. Encoding and escaping grow a string by at most a factor
// of six, so the string is checked after it is built.
func (c *call) builtString(s string) (Collection, error) {
	if err := c.chargeString(len(s)); err != nil {
		return nil, err
	}
	return c.ev.single(String(s)), nil
}

func escaping(c *call, escape bool) (Collection, error) {
	s, ok, err := c.inputString()
	if err != nil || !ok {
		return nil, err
	}
	format, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	switch {
	case format == "html" && escape:
		return c.builtString(htmlEscaper.Replace(s))
	case format == "html":
		return c.ev.single(String(html.UnescapeString(s))), nil
	case format == "json" && escape:
		return c.builtString(escapeJSON(s))
	case format == "json":
		return c.ev.single(String(unescapeJSON(s))), nil
	}
	return nil, c.errorf("unknown escape format %q", format)
}

// unescapeJSON resolves the escapes of a JSON string body. Malformed
// escapes are kept as written.
func unescapeJSON(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case '"', '\\', '/':
			b.WriteByte(c)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if r, err := strconv.ParseUint(s[i+1:min(i+5, len(s))], 16, 32); err == nil && i+5 <= len(s) {
				b.WriteRune(rune(r))
				i += 4
				continue
			}
			b.WriteString("\\u")
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}
