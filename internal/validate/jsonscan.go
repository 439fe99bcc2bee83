package validate

import (
	"math/bits"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// scanTree reads src into the tree readTree builds, with a scanner of its
// own instead of the jsontext decoder, which takes about 1.5 times the
// scanner's CPU time on a PAS request Bundle (BenchmarkReadTree). It
// returns nil when it cannot read src as exactly the same tree, and the
// caller then runs the decoder, which returns the error. The scanner rejects
// everything the decoder rejects, such as bad syntax, duplicate member
// names, data after the top-level value and values past the limits. In
// strings it rejects control characters, invalid UTF-8 and unpaired
// UTF-16 surrogate escapes. It also rejects a top level that is not an
// object. Nodes it took from arena before giving up are released.
func scanTree(src string, lim Limits, arena *treeArena) *jnode {
	s := &treeScanner{src: src, lim: lim, arena: arena}
	if arena != nil {
		s.props, s.items = arena.propStack[:0], arena.itemStack[:0]
		nodes, props, items := arena.nodes.Mark(), arena.props.Mark(), arena.items.Mark()
		defer func() {
			clear(s.props)
			clear(s.items)
			arena.propStack, arena.itemStack = s.props[:0], s.items[:0]
		}()
		root := s.document()
		if root == nil {
			arena.nodes.Release(nodes)
			arena.props.Release(props)
			arena.items.Release(items)
		}
		return root
	}
	return s.document()
}

// maxDecoderDepth is the nesting jsontext accepts (maxNestingDepth in
// jsontext/state.go of go-json-experiment/json v1.27.2), which applies
// when Limits.MaxDepth is larger.
const maxDecoderDepth = 10000

// maxScannedMembers and maxScannedNameLength bound the objects in which
// the scanner looks for duplicate names: the number of members and the
// bytes of one name. FHIR element names are far shorter.
const (
	maxScannedMembers    = 64
	maxScannedNameLength = 128
)

// treeScanner is the state of scanTree. Its reading methods return false
// or nil when the scanner gives up, and the scan then stops.
type treeScanner struct {
	src   string
	pos   int
	lim   Limits
	nodes int
	depth int

	arena *treeArena
	slab  []jnode
	props []jprop  // members of the objects being read, innermost last
	items []*jnode // items of the arrays being read, innermost last
}

func (s *treeScanner) document() *jnode {
	s.skipSpace()
	if s.pos >= len(s.src) || s.src[s.pos] != '{' {
		return nil
	}
	root := s.value()
	if root == nil {
		return nil
	}
	s.skipSpace()
	if s.pos != len(s.src) {
		return nil
	}
	return root
}

func (s *treeScanner) skipSpace() {
	if s.pos < len(s.src) && s.src[s.pos] > ' ' {
		return
	}
	s.skipSpaceRun()
}

// skipSpaceRun skips white space like skipSpace, which calls it once the
// next byte may be white space. Indented documents put runs of spaces
// after each line break, and it skips those eight bytes at a time. It is not inlined, so that skipSpace is, and the
// common case of no white space costs one comparison.
//
//go:noinline
func (s *treeScanner) skipSpaceRun() {
	src, i := s.src, s.pos
	for i < len(src) {
		switch src[i] {
		case ' ', '\t', '\n', '\r':
			i++
			for i+8 <= len(src) {
				if other := loadWord(src[i:]) ^ eightSpaces; other != 0 {
					i += bits.TrailingZeros64(other) / 8
					break
				}
				i += 8
			}
			continue
		}
		break
	}
	s.pos = i
}

const (
	eightSpaces = 0x2020202020202020
	lowBits     = 0x0101010101010101
	highBits    = 0x8080808080808080
)

// specialBytes marks the first byte of w that ends plain string text.
// That is a control character, the quote, the backslash or a byte of a
// multi-byte UTF-8 sequence. The lowest set bit of the result, if any, is
// that byte's high bit. Higher bits may be wrong, because a borrow in the
// subtractions carries into the next byte.
func specialBytes(w uint64) uint64 {
	control := (w - lowBits*0x20) &^ w
	quote := w ^ (lowBits * '"')
	backslash := w ^ (lowBits * '\\')
	return (control | (quote-lowBits)&^quote | (backslash-lowBits)&^backslash | w) & highBits
}

func (s *treeScanner) newNode(kind byte) *jnode {
	return newTreeNode(s.arena, &s.slab, kind)
}

// value reads the value at s.pos, which the caller has moved past any
// white space.
func (s *treeScanner) value() *jnode {
	s.nodes++
	if s.nodes > s.lim.MaxNodes || s.pos >= len(s.src) {
		return nil
	}
	switch c := s.src[s.pos]; c {
	case '{', '[':
		s.depth++
		if s.depth > s.lim.MaxDepth || s.depth > maxDecoderDepth {
			return nil
		}
		s.pos++
		n := s.newNode(c)
		ok := false
		if c == '{' {
			ok = s.object(n)
		} else {
			ok = s.array(n)
		}
		s.depth--
		if !ok {
			return nil
		}
		return n
	case '"':
		text, unescaped, ok := s.string()
		if !ok {
			return nil
		}
		n := s.newNode(kindString)
		n.text = text
		n.unescaped = unescaped
		return n
	case 't':
		return s.literal("true", kindTrue)
	case 'f':
		return s.literal("false", kindFalse)
	case 'n':
		return s.literal("null", kindNull)
	}
	text, ok := s.number()
	if !ok {
		return nil
	}
	n := s.newNode(kindNumber)
	n.text = text
	return n
}

func (s *treeScanner) literal(word string, kind byte) *jnode {
	if len(s.src)-s.pos < len(word) || s.src[s.pos:s.pos+len(word)] != word {
		return nil
	}
	s.pos += len(word)
	return s.newNode(kind)
}

// number reads a number as RFC 8259 writes it and returns its text.
func (s *treeScanner) number() (string, bool) {
	start := s.pos
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return "", false
	}
	if s.peek() == '.' {
		s.pos++
		if !s.digits() {
			return "", false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if !s.digits() {
			return "", false
		}
	}
	return s.src[start:s.pos], true
}

// peek returns the byte at s.pos, or 0 at the end.
func (s *treeScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

// digits skips decimal digits and reports whether there was one.
func (s *treeScanner) digits() bool {
	start := s.pos
	for s.pos < len(s.src) && s.src[s.pos] >= '0' && s.src[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

// string reads the string at s.pos and returns its unescaped text, and
// whether the source had no escapes. Text without escapes is cut from
// src, as the decoder's path does.
func (s *treeScanner) string() (text string, unescaped, ok bool) {
	src, i := s.src, s.pos+1
	start := s.pos
	escaped := false
	for {
		// Plain text is skipped a word at a time, and the byte loop below
		// then stops at the byte the word scan found or near the end.
		for i+8 <= len(src) {
			if special := specialBytes(loadWord(src[i:])); special != 0 {
				i += bits.TrailingZeros64(special) / 8
				break
			}
			i += 8
		}
		for i < len(src) && plainStringByte[src[i]] {
			i++
		}
		if i >= len(src) {
			return "", false, false
		}
		c := src[i]
		if c == '"' {
			i++
			break
		}
		switch {
		case c == '\\':
			escaped = true
			if i+1 < len(src) && shortEscape[src[i+1]] {
				i += 2
				continue
			}
			s.pos = i
			if !s.escape() {
				return "", false, false
			}
			i = s.pos
		case c < ' ':
			return "", false, false
		default:
			_, size := utf8.DecodeRuneInString(src[i:])
			if size <= 1 {
				return "", false, false
			}
			i += size
		}
	}
	s.pos = i
	text = src[start+1 : i-1]
	if escaped {
		text = unescape(text)
	}
	if len(text) > s.lim.MaxStringLength {
		return "", false, false
	}
	return text, !escaped, true
}

// plainStringByte marks the bytes a string may contain as they are:
// ASCII from the space on, except the quote and the backslash.
var plainStringByte = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// shortEscape marks the bytes that follow a backslash in a two-byte
// escape sequence. The \u escapes need escape's checks.
var shortEscape = func() (t [256]bool) {
	for _, c := range []byte(`"\/bfnrt`) {
		t[c] = true
	}
	return t
}()

// unescape returns the text of a string body whose escapes string has
// checked. It writes what jsontext.AppendUnquote writes for them.
func unescape(body string) string {
	b := make([]byte, 0, len(body))
	for {
		j := strings.IndexByte(body, '\\')
		if j < 0 {
			b = append(b, body...)
			break
		}
		b = append(b, body[:j]...)
		body = body[j:]
		switch c := body[1]; c {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := rune(hexValue(body[2:6]))
			if utf16.IsSurrogate(r) {
				r = utf16.DecodeRune(r, rune(hexValue(body[8:12])))
				body = body[6:]
			}
			b = utf8.AppendRune(b, r)
			body = body[6:]
			continue
		default: // '"', '\\' and '/'
			b = append(b, c)
		}
		body = body[2:]
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// escape skips the escape sequence at s.pos, with the checks the decoder
// makes when it validates UTF-8: a UTF-16 surrogate must be the first
// half of a pair whose second half follows as another \u escape.
func (s *treeScanner) escape() bool {
	if s.pos+1 >= len(s.src) {
		return false
	}
	switch s.src[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return true
	case 'u':
	default:
		return false
	}
	v1, ok := s.hex4(s.pos + 2)
	if !ok {
		return false
	}
	s.pos += 6
	if !utf16.IsSurrogate(rune(v1)) {
		return true
	}
	if s.pos+1 >= len(s.src) || s.src[s.pos] != '\\' || s.src[s.pos+1] != 'u' {
		return false
	}
	v2, ok := s.hex4(s.pos + 2)
	if !ok || utf16.DecodeRune(rune(v1), rune(v2)) == utf8.RuneError {
		return false
	}
	s.pos += 6
	return true
}

// hex4 reads four hexadecimal digits at i.
func (s *treeScanner) hex4(i int) (uint16, bool) {
	if i+4 > len(s.src) {
		return 0, false
	}
	for _, c := range []byte(s.src[i : i+4]) {
		if hexDigit(c) < 0 {
			return 0, false
		}
	}
	return hexValue(s.src[i : i+4]), true
}

// hexValue returns the value of four hexadecimal digits.
func hexValue(digits string) uint16 {
	var v uint16
	for _, c := range []byte(digits[:4]) {
		v = v<<4 | uint16(hexDigit(c))
	}
	return v
}

// hexDigit returns the value of a hexadecimal digit, or -1.
func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// object reads the members of an object after its '{' and the closing
// '}'. Names are compared after unescaping, as the decoder compares
// them, to reject duplicates.
func (s *treeScanner) object(n *jnode) bool {
	mark := len(s.props)
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		name, _, ok := s.string()
		if !ok {
			return false
		}
		// Pairwise comparison is quick for the few short members of FHIR
		// objects. The decoder, which hashes names, reads objects with
		// more or longer ones, so that comparing stays linear in the size
		// of the document.
		if len(s.props)-mark >= maxScannedMembers || len(name) > maxScannedNameLength {
			return false
		}
		for _, p := range s.props[mark:] {
			if p.name == name {
				return false
			}
		}
		s.skipSpace()
		if s.peek() != ':' {
			return false
		}
		s.pos++
		s.skipSpace()
		v := s.value()
		if v == nil {
			return false
		}
		s.props = append(s.props, jprop{name: name, val: v})
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
			s.skipSpace()
			continue
		case '}':
			s.pos++
		default:
			return false
		}
		break
	}
	if s.arena != nil {
		n.props = s.arena.props.Take(len(s.props) - mark)
		copy(n.props, s.props[mark:])
	} else {
		n.props = append(make([]jprop, 0, len(s.props)-mark), s.props[mark:]...)
	}
	clear(s.props[mark:])
	s.props = s.props[:mark]
	return true
}

// array reads the items of an array after its '[' and the closing ']'.
func (s *treeScanner) array(n *jnode) bool {
	mark := len(s.items)
	s.skipSpace()
	if s.peek() == ']' {
		s.pos++
		return true
	}
	for {
		if len(s.items)-mark >= s.lim.MaxArrayItems {
			return false
		}
		v := s.value()
		if v == nil {
			return false
		}
		s.items = append(s.items, v)
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
			s.skipSpace()
			continue
		case ']':
			s.pos++
		default:
			return false
		}
		break
	}
	if s.arena != nil {
		n.items = s.arena.items.Take(len(s.items) - mark)
		copy(n.items, s.items[mark:])
	} else {
		n.items = append(make([]*jnode, 0, len(s.items)-mark), s.items[mark:]...)
	}
	clear(s.items[mark:])
	s.items = s.items[:mark]
	return true
}
