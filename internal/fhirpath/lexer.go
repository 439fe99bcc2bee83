package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

type tokenKind uint8

const (
	tokEOF        tokenKind = iota
	tokIdent                // name, or a `delimited` name with Text unescaped
	tokDelimIdent           // `delimited identifier`, never a keyword
	tokString               // 'string', Text unescaped
	tokNumber               // 12 or 12.5
	tokDate                 // @2015-02-04
	tokDateTime             // @2015-02-04T14:34
	tokTime                 // @T14:34
	tokOp                   // punctuation and symbolic operators
	tokEnvVar               // %name or %`name` or %'name', Text is the name
	tokSpecial              // $this, $index, $total
)

type token struct {
	kind tokenKind
	text string // identifier, operator, unescaped string or literal text without '@'
	pos  int    // byte offset in the expression
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return strconv.Quote("'" + t.text + "'")
	case tokDate, tokDateTime, tokTime:
		return strconv.Quote("@" + t.text)
	case tokEnvVar:
		return strconv.Quote("%" + t.text)
	}
	return strconv.Quote(t.text)
}

// lexer splits an expression into tokens. Comments (// to end of line and
// /* ... */) and white space separate tokens and are dropped.
type lexer struct {
	src  string
	pos  int
	toks []token
}

func lex(src string) ([]token, error) {
	l := &lexer{src: src}
	for {
		if err := l.skipSpaceAndComments(); err != nil {
			return nil, err
		}
		if l.pos >= len(l.src) {
			l.toks = append(l.toks, token{kind: tokEOF, pos: l.pos})
			return l.toks, nil
		}
		tok, err := l.next()
		if err != nil {
			return nil, err
		}
		l.toks = append(l.toks, tok)
	}
}

func (l *lexer) errorf(pos int, format string, args ...any) error {
	return &SyntaxError{Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) skipSpaceAndComments() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
			l.pos++
		case strings.HasPrefix(l.src[l.pos:], "//"):
			end := strings.IndexByte(l.src[l.pos:], '\n')
			if end < 0 {
				l.pos = len(l.src)
			} else {
				l.pos += end + 1
			}
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return l.errorf(l.pos, "unterminated comment %q", "/*")
			}
			l.pos += end + 4
		default:
			return nil
		}
	}
	return nil
}

func (l *lexer) next() (token, error) {
	start := l.pos
	c := l.src[l.pos]
	switch {
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokIdent, text: l.src[start:l.pos], pos: start}, nil
	case c >= '0' && c <= '9':
		return l.number(), nil
	case c == '\'':
		s, err := l.quoted('\'')
		return token{kind: tokString, text: s, pos: start}, err
	case c == '`':
		s, err := l.quoted('`')
		return token{kind: tokDelimIdent, text: s, pos: start}, err
	case c == '@':
		return l.temporal()
	case c == '%':
		return l.envVar()
	case c == '$':
		l.pos++
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		name := l.src[start:l.pos]
		if name != "$this" && name != "$index" && name != "$total" {
			return token{}, l.errorf(start, "unknown special variable %q", name)
		}
		return token{kind: tokSpecial, text: name, pos: start}, nil
	}
	for _, op := range [...]string{"<=", ">=", "!=", "!~"} {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += 2
			return token{kind: tokOp, text: op, pos: start}, nil
		}
	}
	if strings.IndexByte(".,()[]{}+-*/&|<>=~", c) >= 0 {
		l.pos++
		return token{kind: tokOp, text: l.src[start:l.pos], pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	return token{}, l.errorf(start, "unexpected character %q", r)
}

// number reads an integer or decimal. A '.' belongs to the number only when
// a digit follows, so "1.convertsToInteger()" is 1, '.', identifier.
func (l *lexer) number() token {
	start := l.pos
	l.digits()
	if l.pos+1 < len(l.src) && l.src[l.pos] == '.' && isDigit(l.src[l.pos+1]) {
		l.pos++
		l.digits()
	}
	return token{kind: tokNumber, text: l.src[start:l.pos], pos: start}
}

func (l *lexer) digits() int {
	start := l.pos
	for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
		l.pos++
	}
	return l.pos - start
}

// quoted reads a string or delimited identifier and resolves its escapes.
func (l *lexer) quoted(quote byte) (string, error) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == quote:
			l.pos++
			return b.String(), nil
		case c == '\\':
			if err := l.escape(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return "", l.errorf(start, "unterminated %s starting %q", quoteName(quote), abbreviate(l.src[start:]))
}

func quoteName(q byte) string {
	if q == '`' {
		return "delimited identifier"
	}
	return "string"
}

func (l *lexer) escape(b *strings.Builder) error {
	start := l.pos
	if l.pos+1 >= len(l.src) {
		return l.errorf(start, "unterminated escape %q", "\\")
	}
	c := l.src[l.pos+1]
	l.pos += 2
	switch c {
	case '\'', '"', '`', '\\', '/':
		b.WriteByte(c)
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		if l.pos+4 > len(l.src) {
			return l.errorf(start, "invalid unicode escape %q", abbreviate(l.src[start:]))
		}
		n, err := strconv.ParseUint(l.src[l.pos:l.pos+4], 16, 32)
		if err != nil {
			return l.errorf(start, "invalid unicode escape %q", l.src[start:l.pos+4])
		}
		l.pos += 4
		r := rune(n)
		if utf16.IsSurrogate(r) && strings.HasPrefix(l.src[l.pos:], "\\u") && l.pos+6 <= len(l.src) {
			if lo, err := strconv.ParseUint(l.src[l.pos+2:l.pos+6], 16, 32); err == nil {
				if pair := utf16.DecodeRune(r, rune(lo)); pair != utf8.RuneError {
					r = pair
					l.pos += 6
				}
			}
		}
		b.WriteRune(r)
	default:
		return l.errorf(start, "invalid escape %q", l.src[start:l.pos])
	}
	return nil
}

// temporal reads a date, date-time or time literal after '@'.
func (l *lexer) temporal() (token, error) {
	start := l.pos
	l.pos++
	if l.pos < len(l.src) && l.src[l.pos] == 'T' {
		l.pos++
		if !l.timePart() {
			return token{}, l.errorf(start, "invalid time literal %q", abbreviate(l.src[start:]))
		}
		return token{kind: tokTime, text: l.src[start+1 : l.pos], pos: start}, nil
	}
	if l.digits() != 4 {
		return token{}, l.errorf(start, "invalid date literal %q", abbreviate(l.src[start:]))
	}
	for i := 0; i < 2 && l.try2('-'); i++ {
	}
	if l.pos >= len(l.src) || l.src[l.pos] != 'T' {
		return token{kind: tokDate, text: l.src[start+1 : l.pos], pos: start}, nil
	}
	l.pos++
	if l.pos < len(l.src) && isDigit(l.src[l.pos]) {
		if !l.timePart() {
			return token{}, l.errorf(start, "invalid date-time literal %q", abbreviate(l.src[start:]))
		}
		l.timeZone()
	}
	return token{kind: tokDateTime, text: l.src[start+1 : l.pos], pos: start}, nil
}

// try2 consumes sep followed by two digits.
func (l *lexer) try2(sep byte) bool {
	if l.pos+2 < len(l.src) && l.src[l.pos] == sep && isDigit(l.src[l.pos+1]) && isDigit(l.src[l.pos+2]) {
		l.pos += 3
		return true
	}
	return false
}

func (l *lexer) timePart() bool {
	if l.digits() != 2 {
		return false
	}
	if l.try2(':') && l.try2(':') {
		if l.pos+1 < len(l.src) && l.src[l.pos] == '.' && isDigit(l.src[l.pos+1]) {
			l.pos++
			l.digits()
		}
	}
	return true
}

func (l *lexer) timeZone() {
	if l.pos >= len(l.src) {
		return
	}
	switch l.src[l.pos] {
	case 'Z':
		l.pos++
	case '+', '-':
		save := l.pos
		l.pos++
		if l.digits() != 2 || !l.try2(':') {
			l.pos = save
		}
	}
}

func (l *lexer) envVar() (token, error) {
	start := l.pos
	l.pos++
	if l.pos >= len(l.src) {
		return token{}, l.errorf(start, "missing name after %q", "%")
	}
	switch c := l.src[l.pos]; {
	case c == '`' || c == '\'':
		s, err := l.quoted(c)
		return token{kind: tokEnvVar, text: s, pos: start}, err
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokEnvVar, text: l.src[start+1 : l.pos], pos: start}, nil
	}
	return token{}, l.errorf(start, "missing name after %q", "%")
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// abbreviate shortens s for an error message.
func abbreviate(s string) string {
	const max = 24
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
