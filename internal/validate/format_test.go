package validate

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// formatSeeds are values near the edges of the primitive regexes; the
// test mutates them to reach the cases between.
var formatSeeds = []string{
	"", " ", "a", "a b", "a  b", " a", "a ", "a\fb", "a\tb", "a\nb", "é", "x\u00a0y",
	"abc-DEF.123", "0123456789012345678901234567890123456789012345678901234567890123",
	"01234567890123456789012345678901234567890123456789012345678901234", "a_b",
	"http://x/y", "urn:oid:1.2.3", "urn:uuid:0f0e1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b",
	"0", "-0", "00", "1", "-1", "10", "012", "1.5", "1.", ".5", "-0.0", "1e5", "1E+05", "1e", "1.5e-3", "+1",
	"2024", "0000", "0001", "1000", "2024-02", "2024-13", "2024-00", "2024-02-29", "2024-02-32", "2024-2-1",
	"2024-01-31T23:59:60Z", "2024-01-31T24:00:00Z", "2024-01-31T12:00:00", "2024-01-31T12:00:00.123+14:00",
	"2024-01-31T12:00:00+14:01", "2024-01-31T12:00:00-13:59", "2024-01-31T12:00:00.Z", "2024-01T12:00:00Z",
	"12:00:00", "23:59:60.5", "24:00:00", "12:60:00", "12:00", "AAAA", "AAA=", "AB CD", " ABCD ", "ABC",
}

func TestNativeFormatsMatchRegex(t *testing.T) {
	alphabet := "0123456789-:.TZ+ eE\f\tabAZ=/"
	rng := rand.New(rand.NewPCG(1, 2))
	for src, native := range nativeFormats {
		re := regexp.MustCompile(`^(?:` + src + `)$`)
		check := func(s string) {
			if got, want := native(s), re.MatchString(s); got != want {
				t.Errorf("regex %.40q on %q: native %v, regex %v", src, s, got, want)
			}
		}
		for _, seed := range formatSeeds {
			check(seed)
			for range 300 {
				check(mutate(rng, seed, alphabet))
			}
		}
	}
}

// mutate changes, inserts or deletes one to three characters of s.
func mutate(rng *rand.Rand, s, alphabet string) string {
	b := []byte(s)
	for range 1 + rng.IntN(3) {
		c := alphabet[rng.IntN(len(alphabet))]
		i := 0
		if len(b) > 0 {
			i = rng.IntN(len(b))
		}
		switch op := rng.IntN(3); {
		case op == 0 && len(b) > 0:
			b[i] = c
		case op == 1:
			b = append(b[:i], append([]byte{c}, b[i:]...)...)
		case len(b) > 0:
			b = append(b[:i], b[i+1:]...)
		}
	}
	return string(b)
}
