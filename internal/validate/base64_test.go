package validate

import (
	"regexp"
	"testing"
)

// TestBase64MatchesRegex checks the native base64Binary check against the
// R4 regex it replaces.
func TestBase64MatchesRegex(t *testing.T) {
	re := regexp.MustCompile(`^(?:` + base64Regex + `)$`)
	cases := []string{"", "QQ==", "QUJD", "QUJDRA==", "QUJ", "QU JD", "QUJD RA==", " QUJD ", "QUJD\nRA==\n", "QUJD\tRA==",
		"QUJD!", "QUJD\u00a0", "====", "a/b+", "QUJDR", "QUJD  \r\n  QUJD", "\n", "QUJDQUJD", "QUJ\nD"}
	for _, c := range cases {
		if got, want := isBase64Text(c), re.MatchString(c); got != want {
			t.Errorf("isBase64Text(%q) = %v, regex says %v", c, got, want)
		}
	}
}

func FuzzBase64MatchesRegex(f *testing.F) {
	re := regexp.MustCompile(`^(?:` + base64Regex + `)$`)
	for _, s := range []string{"QUJD", "QU JD", " QUJD\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isBase64Text(s), re.MatchString(s); got != want {
			t.Fatalf("isBase64Text(%q) = %v, regex says %v", s, got, want)
		}
	})
}
