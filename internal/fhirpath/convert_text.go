package fhirpath

// Scanners for the string forms the conversion functions accept. They
// replace regular expressions, which cost more than the rest of a
// conversion.

// isIntegerText reports whether s matches [+-]?[0-9]+.
func isIntegerText(s string) bool {
	digits, rest := scanSignedDigits(s)
	return digits > 0 && rest == ""
}

// isDecimalText reports whether s matches [+-]?[0-9]+(\.[0-9]+)?.
func isDecimalText(s string) bool {
	n := decimalTextLength(s)
	return n > 0 && n == len(s)
}

// decimalTextLength returns the length of the longest prefix of s that
// matches [+-]?[0-9]+(\.[0-9]+)?, or 0 when none does.
func decimalTextLength(s string) int {
	digits, rest := scanSignedDigits(s)
	if digits == 0 {
		return 0
	}
	if len(rest) > 1 && rest[0] == '.' && isDigit(rest[1]) {
		rest = rest[1:]
		for len(rest) > 0 && isDigit(rest[0]) {
			rest = rest[1:]
		}
	}
	return len(s) - len(rest)
}

// scanSignedDigits skips an optional sign and then digits, returning the
// number of digits and the rest of s.
func scanSignedDigits(s string) (int, string) {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n, s[n:]
}

// splitQuantityText splits the string form toQuantity() accepts: a
// number, optional white space, then optionally a UCUM unit in single
// quotes or a calendar keyword of ASCII letters. This is the regular
// expression ^([+-]?[0-9]+(\.[0-9]+)?)\s*('([^']+)'|([a-zA-Z]+))?$ with
// \s as RE2 defines it: space, \t, \n, \f and \r.
func splitQuantityText(s string) (number, unit, keyword string, ok bool) {
	n := decimalTextLength(s)
	if n == 0 {
		return "", "", "", false
	}
	number, rest := s[:n], s[n:]
	for len(rest) > 0 && isRE2Space(rest[0]) {
		rest = rest[1:]
	}
	switch {
	case rest == "":
		return number, "", "", true
	case rest[0] == '\'':
		if len(rest) < 3 || rest[len(rest)-1] != '\'' {
			return "", "", "", false
		}
		unit = rest[1 : len(rest)-1]
		for i := 0; i < len(unit); i++ {
			if unit[i] == '\'' {
				return "", "", "", false
			}
		}
		return number, unit, "", true
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i] | 0x20; c < 'a' || c > 'z' {
			return "", "", "", false
		}
	}
	return number, "", rest, true
}

func isRE2Space(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}
