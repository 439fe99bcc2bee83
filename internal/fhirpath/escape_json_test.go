package fhirpath

import "testing"

func TestEscapeJSON(t *testing.T) {
	cases := []struct{ in, want string }{
		{`"1<2"`, `\"1<2\"`},
		{"a&b>c", "a&b>c"},
		{`back\slash`, `back\\slash`},
		// A backslash followed by the text of an HTML escape stays two
		// characters apart: it is not an escape of '<'.
		{`\u003c`, `\\u003c`},
		{"tab\there", `tab\there`},
		{"line\u2028sep", `line\u2028sep`},
	}
	for _, c := range cases {
		if got := escapeJSON(c.in); got != c.want {
			t.Errorf("escapeJSON(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
