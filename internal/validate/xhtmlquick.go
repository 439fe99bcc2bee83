package validate

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// quickXHTML reports whether checkXHTML would accept text, for narrative
// in the plain form most senders write. That form has one div root that
// declares the XHTML namespace as default, elements and attributes from
// the allowed lists, quoted attribute values, and no references but the
// five XML entities and &nbsp;. For anything else, valid or not, it
// returns false and checkXHTML decides with the XML decoder. So it never
// accepts what checkXHTML rejects. It reads text once and allocates
// nothing unless elements nest deeper than maxQuickDepth.
func quickXHTML(text string) bool {
	q := xhtmlScanner{src: text}
	q.skipSpace()
	if !strings.HasPrefix(q.src[q.pos:], "<div") {
		return false
	}
	var open [maxQuickDepth]string
	stack := open[:0]
	for {
		if !q.text() {
			return false
		}
		if q.pos == len(q.src) {
			break
		}
		// q.src[q.pos] is '<'.
		if q.pos+1 < len(q.src) && q.src[q.pos+1] == '/' {
			if len(stack) == 0 || !q.endTag(stack[len(stack)-1]) {
				return false
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				break
			}
			continue
		}
		name, selfClosing, ok := q.startTag(len(stack) == 0)
		if !ok {
			return false
		}
		if !selfClosing {
			stack = append(stack, name)
		} else if len(stack) == 0 {
			break
		}
	}
	q.skipSpace()
	return len(stack) == 0 && q.pos == len(q.src) && q.content
}

// maxQuickDepth is the element nesting quickXHTML tracks without
// allocating. Deeper narrative is still checked, on the heap.
const maxQuickDepth = 32

// maxQuickAttributes is the number of attributes per element whose names
// quickXHTML compares for duplicates without allocating.
const maxQuickAttributes = 8

type xhtmlScanner struct {
	src     string
	pos     int
	content bool // text other than white space, or an img with a src
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (q *xhtmlScanner) skipSpace() {
	src, i := q.src, q.pos
	for i < len(src) && isXMLSpace(src[i]) {
		i++
	}
	q.pos = i
}

// Byte classes of character data. A byte of class textPlain is content
// and a byte of class textSpace is white space. Every other byte needs
// the closer look text gives it.
const (
	textPlain uint8 = iota
	textSpace
	textSpecial
)

var textClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case isXMLSpace(byte(c)):
			t[c] = textSpace
		case c < 0x20, c >= 0x80, c == '<', c == '&', c == ']':
			t[c] = textSpecial
		}
	}
	return t
}()

// text reads character data up to the next '<' or the end.
func (q *xhtmlScanner) text() bool {
	for q.pos < len(q.src) {
		q.skipOrdinary()
		if q.pos == len(q.src) {
			break
		}
		c := q.src[q.pos]
		switch {
		case c == '<':
			return true
		case c == '&':
			if !q.reference() {
				return false
			}
		case c == ']':
			if strings.HasPrefix(q.src[q.pos:], "]]>") {
				return false
			}
			q.content = true
			q.pos++
		case c >= 0x80:
			r, ok := q.char()
			if !ok {
				return false
			}
			q.content = q.content || !unicode.IsSpace(r)
		default: // a control character other than white space
			return false
		}
	}
	return true
}

// skipOrdinary skips plain characters and white space, noting whether
// any was plain. Once the narrative has content, that no longer needs
// noting and the loop only looks for the next byte of class textSpecial.
func (q *xhtmlScanner) skipOrdinary() {
	src, i := q.src, q.pos
	if q.content {
		for i < len(src) && textClass[src[i]] != textSpecial {
			i++
		}
		q.pos = i
		return
	}
	for i < len(src) && textClass[src[i]] != textSpecial {
		if textClass[src[i]] == textPlain {
			q.content = true
		}
		i++
	}
	q.pos = i
}

// reference reads one of the five XML entities or &nbsp;, which is white
// space to checkXHTML.
func (q *xhtmlScanner) reference() bool {
	rest := q.src[q.pos:]
	for _, ref := range [...]string{"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"} {
		if strings.HasPrefix(rest, ref) {
			q.pos += len(ref)
			q.content = true
			return true
		}
	}
	if strings.HasPrefix(rest, "&nbsp;") {
		q.pos += len("&nbsp;")
		return true
	}
	return false
}

// char reads one non-ASCII character, which must be valid UTF-8 and
// allowed in XML.
func (q *xhtmlScanner) char() (rune, bool) {
	r, size := utf8.DecodeRuneInString(q.src[q.pos:])
	if r == utf8.RuneError && size <= 1 {
		return r, false
	}
	q.pos += size
	return r, r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

func (q *xhtmlScanner) name() string {
	src, start, i := q.src, q.pos, q.pos
	for i < len(src) {
		c := src[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > start && (c >= '0' && c <= '9' || c == '-')) {
			break
		}
		i++
	}
	q.pos = i
	return src[start:i]
}

// endTag reads "</name>" closing the element want.
func (q *xhtmlScanner) endTag(want string) bool {
	q.pos += 2
	if q.name() != want {
		return false
	}
	q.skipSpace()
	if q.pos >= len(q.src) || q.src[q.pos] != '>' {
		return false
	}
	q.pos++
	return true
}

// startTag reads a start tag of an allowed element. Only the root div may
// carry xmlns, and it must: the XHTML namespace as default.
func (q *xhtmlScanner) startTag(root bool) (name string, selfClosing, ok bool) {
	q.pos++
	name = q.name()
	if !isXHTMLElement(name) || root && name != "div" {
		return "", false, false
	}
	var attrs [maxQuickAttributes]string
	seen, namespaced := attrs[:0], false
	for {
		space := q.pos
		q.skipSpace()
		if q.pos >= len(q.src) {
			return "", false, false
		}
		switch {
		case q.src[q.pos] == '>':
			q.pos++
			return name, false, namespaced == root
		case strings.HasPrefix(q.src[q.pos:], "/>"):
			q.pos += 2
			return name, true, namespaced == root
		case q.pos == space:
			return "", false, false // attributes are separated by white space
		}
		attr, value, ok := q.attribute()
		if !ok || containsString(seen, attr) {
			return "", false, false
		}
		seen = append(seen, attr)
		if !q.quickAttribute(root, name, attr, value) {
			return "", false, false
		}
		namespaced = namespaced || attr == "xmlns"
	}
}

// quickAttribute reports whether an attribute of element name is one the
// quick path may accept. The root div alone may declare xmlns.
func (q *xhtmlScanner) quickAttribute(root bool, name, attr, value string) bool {
	switch {
	case attr == "xmlns":
		return root && value == xhtmlNamespace
	case attr == "xml:lang" || attr == "xml:space":
		return true
	case !isXHTMLAttribute(attr):
		return false
	case attr == "href" || attr == "src":
		// A reference could hide the scheme (&nbsp; is white space to
		// the decoder's checks), so such links are left to the decoder.
		if strings.IndexByte(value, '&') >= 0 || hasJavaScriptScheme(value) {
			return false
		}
		if attr == "src" && name == "img" {
			q.content = true
		}
	}
	return true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// attribute reads name="value" or name='value' and returns the value as
// written. Values with '<', control characters other than white space, or
// references other than those text may have are left to the XML decoder.
func (q *xhtmlScanner) attribute() (name, value string, ok bool) {
	start := q.pos
	name = q.name()
	if name == "xml" && strings.HasPrefix(q.src[q.pos:], ":") {
		q.pos++
		q.name()
		name = q.src[start:q.pos]
	}
	if name == "" {
		return "", "", false
	}
	q.skipSpace()
	if q.pos >= len(q.src) || q.src[q.pos] != '=' {
		return "", "", false
	}
	q.pos++
	q.skipSpace()
	value, ok = q.attributeValue()
	return name, value, ok
}

// attributeValue reads a quoted value and returns it as written.
func (q *xhtmlScanner) attributeValue() (string, bool) {
	if q.pos >= len(q.src) || q.src[q.pos] != '"' && q.src[q.pos] != '\'' {
		return "", false
	}
	quote := q.src[q.pos]
	q.pos++
	start := q.pos
	for q.pos < len(q.src) && q.src[q.pos] != quote {
		q.skipValueCharacters()
		if q.pos >= len(q.src) || q.src[q.pos] == quote {
			break
		}
		c := q.src[q.pos]
		switch {
		case c == '&':
			// reference marks the text as content, but an attribute is
			// not text, so the mark is restored.
			content := q.content
			ok := q.reference()
			q.content = content
			if !ok {
				return "", false
			}
			continue
		case c == '<' || c < 0x20 && !isXMLSpace(c):
			return "", false
		case c >= 0x80:
			if _, ok := q.char(); !ok {
				return "", false
			}
			continue
		}
		q.pos++
	}
	if q.pos >= len(q.src) {
		return "", false
	}
	value := q.src[start:q.pos]
	q.pos++
	return value, true
}

// skipValueCharacters skips the characters of an attribute value that
// need no closer look, up to the next byte valueStop marks. attributeValue
// reads that byte, which may be the closing quote.
func (q *xhtmlScanner) skipValueCharacters() {
	src, i := q.src, q.pos
	for i < len(src) && !valueStop[src[i]] {
		i++
	}
	q.pos = i
}

// valueStop marks the bytes of an attribute value that attributeValue
// reads one at a time: both quotes, and the bytes of class textSpecial
// other than ']', which a value may contain as it is.
var valueStop = func() (t [256]bool) {
	for c := range 256 {
		t[c] = textClass[c] == textSpecial && c != ']' || c == '"' || c == '\''
	}
	return t
}()
