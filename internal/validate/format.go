package validate

import "strings"

// nativeFormats check the regexes of the R4 primitive types in Go. They
// are keyed by the regex text, so a type whose definition carries another
// regex falls back to the regex engine. Each function accepts exactly the
// strings its regex matches anchored at both ends, which format_test.go
// checks against the regex engine. Primitive values are the most
// numerous values of an instance, and a hand-written scan is several
// times faster than RE2 on them.
var nativeFormats = map[string]func(string) bool{
	`[ \r\n\t\S]+`:          isFHIRString,
	`[^\s]+(\s[^\s]+)*`:     isFHIRCode,
	`[A-Za-z0-9\-\.]{1,64}`: isFHIRID,
	`\S*`:                   noWhitespace,
	`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: isFHIRDecimal,
	`-?([0]|([1-9][0-9]*))`:                          isFHIRInteger,
	`[1-9][0-9]*`:                                    isPositiveDigits,
	`[0]|([1-9][0-9]*)`:                              isUnsignedDigits,
	dateRegex:                                        isFHIRDate,
	dateTimeRegex:                                    isFHIRDateTime,
	instantRegex:                                     isFHIRInstant,
	`([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?`: isFHIRTime,
	base64Regex: isBase64Text,
	oidRegex:    isFHIROID,
	uuidRegex:   isFHIRUUID,
}

const (
	dateRegex     = `([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?`
	dateTimeRegex = `([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?`
	oidRegex      = `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`
	uuidRegex     = `urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
	instantRegex  = `([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))`
)

// isSpace reports whether c is in RE2's \s class: tab, newline, form
// feed, carriage return and space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isFHIRString matches [ \r\n\t\S]+: every character but a form feed.
// A byte of a multi-byte UTF-8 sequence is never one of the \s bytes, so
// scanning bytes is enough.
func isFHIRString(s string) bool {
	return s != "" && strings.IndexByte(s, '\f') < 0
}

// isFHIRCode matches [^\s]+(\s[^\s]+)*: no whitespace at either end and
// no two whitespace characters in a row.
func isFHIRCode(s string) bool {
	if s == "" || isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isSpace(s[i]) && isSpace(s[i-1]) {
			return false
		}
	}
	return true
}

func isFHIRID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func noWhitespace(s string) bool {
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			return false
		}
	}
	return true
}

// digits returns the length of the run of ASCII digits at the start of s.
func digits(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

// isUnsignedDigits matches 0|[1-9][0-9]*.
func isUnsignedDigits(s string) bool {
	n := digits(s)
	return n == len(s) && n > 0 && (s[0] != '0' || n == 1)
}

func isPositiveDigits(s string) bool {
	return isUnsignedDigits(s) && s[0] != '0'
}

func isFHIRInteger(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	return isUnsignedDigits(s)
}

func isFHIRDecimal(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	n := digits(s)
	if n == 0 || s[0] == '0' && n > 1 {
		return false
	}
	s = s[n:]
	if len(s) > 0 && s[0] == '.' {
		n = digits(s[1:])
		if n == 0 {
			return false
		}
		s = s[1+n:]
	}
	if len(s) > 0 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		n = digits(s)
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	return s == ""
}

// twoDigits reads a two-digit number at the start of s, or -1.
func twoDigits(s string) int {
	if len(s) < 2 || !isDigit(s[0]) || !isDigit(s[1]) {
		return -1
	}
	return int(s[0]-'0')*10 + int(s[1]-'0')
}

// datePart reads YYYY, YYYY-MM or YYYY-MM-DD at the start of s and returns
// the rest and how many of the three parts it read (0 when the year is
// not valid). A year is four digits other than 0000.
func datePart(s string) (rest string, parts int) {
	if len(s) < 4 || digits(s[:4]) != 4 || s[:4] == "0000" {
		return s, 0
	}
	s, parts = s[4:], 1
	if len(s) < 3 || s[0] != '-' {
		return s, parts
	}
	if m := twoDigits(s[1:]); m < 1 || m > 12 {
		return s, parts
	}
	s, parts = s[3:], 2
	if len(s) < 3 || s[0] != '-' {
		return s, parts
	}
	if d := twoDigits(s[1:]); d < 1 || d > 31 {
		return s, parts
	}
	return s[3:], 3
}

// timePart reads hh:mm:ss with optional fractional seconds at the start
// of s and returns the rest, or false.
func timePart(s string) (string, bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return s, false
	}
	h, m, sec := twoDigits(s), twoDigits(s[3:]), twoDigits(s[6:])
	if h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60 {
		return s, false
	}
	s = s[8:]
	if len(s) > 0 && s[0] == '.' {
		n := digits(s[1:])
		if n == 0 {
			return s, false
		}
		s = s[1+n:]
	}
	return s, true
}

// isTimeZone matches Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00).
func isTimeZone(s string) bool {
	if s == "Z" {
		return true
	}
	if len(s) != 6 || s[0] != '+' && s[0] != '-' || s[3] != ':' {
		return false
	}
	h, m := twoDigits(s[1:]), twoDigits(s[4:])
	return h >= 0 && m >= 0 && (h <= 13 && m <= 59 || h == 14 && m == 0)
}

func isFHIRDate(s string) bool {
	rest, parts := datePart(s)
	return parts > 0 && rest == ""
}

// isFHIRDateTime matches a date, or a full date with a time and a time
// zone: a dateTime with a time and no zone is not valid.
func isFHIRDateTime(s string) bool {
	rest, parts := datePart(s)
	switch {
	case parts == 0:
		return false
	case rest == "":
		return true
	case parts < 3 || rest[0] != 'T':
		return false
	}
	return isInstantTail(rest[1:])
}

func isFHIRInstant(s string) bool {
	rest, parts := datePart(s)
	return parts == 3 && rest != "" && rest[0] == 'T' && isInstantTail(rest[1:])
}

// isInstantTail matches the time and time zone after the T.
func isInstantTail(s string) bool {
	rest, ok := timePart(s)
	return ok && isTimeZone(rest)
}

func isFHIRTime(s string) bool {
	rest, ok := timePart(s)
	return ok && rest == ""
}

// isFHIROID matches urn:oid: and then an arc 0, 1 or 2 followed by one or
// more further arcs, each a number without leading zeros.
func isFHIROID(s string) bool {
	rest, ok := strings.CutPrefix(s, "urn:oid:")
	if !ok || len(rest) < 3 || rest[0] < '0' || rest[0] > '2' {
		return false
	}
	rest = rest[1:]
	for rest != "" {
		if rest[0] != '.' {
			return false
		}
		n := digits(rest[1:])
		if !isUnsignedDigits(rest[1 : 1+n]) {
			return false
		}
		rest = rest[1+n:]
	}
	return true
}

// isFHIRUUID matches urn:uuid: and a UUID in lower-case hex, in groups
// of 8, 4, 4, 4 and 12 digits.
func isFHIRUUID(s string) bool {
	rest, ok := strings.CutPrefix(s, "urn:uuid:")
	if !ok || len(rest) != 36 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isDigit(c) && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
