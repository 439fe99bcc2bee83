package validate

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// scannerCases pin the native format checks on the edges of their R4
// regexes. Each row states the regex's verdict. The test checks both the
// regex and the native check against that verdict, so a scanner that
// accepts what the regex rejects, or the reverse, fails by name.
var scannerCases = []struct {
	typ, regex, value string
	valid             bool
}{
	{"date", dateRegex, "2024", true},
	{"date", dateRegex, "0000", false},
	{"date", dateRegex, "0001", true},
	{"date", dateRegex, "0010", true},
	{"date", dateRegex, "0100", true},
	{"date", dateRegex, "1000", true},
	{"date", dateRegex, "999", false},
	{"date", dateRegex, "20240", false},
	{"date", dateRegex, "2024-", false},
	{"date", dateRegex, "2024-1", false},
	{"date", dateRegex, "2024-00", false},
	{"date", dateRegex, "2024-12", true},
	{"date", dateRegex, "2024-13", false},
	{"date", dateRegex, "2024-02-31", true}, // calendar validity is realDate's job
	{"date", dateRegex, "2024-01-32", false},
	{"date", dateRegex, "2024-01-00", false},
	{"date", dateRegex, "2024-01-3", false},
	{"date", dateRegex, "2024-01-01T00:00:00Z", false},
	{"date", dateRegex, "2024-01-01 ", false},
	{"date", dateRegex, "+2024", false},
	{"date", dateRegex, "２０２４", false},

	{"dateTime", dateTimeRegex, "2024", true},
	{"dateTime", dateTimeRegex, "2024-06", true},
	{"dateTime", dateTimeRegex, "2024-06-30", true},
	{"dateTime", dateTimeRegex, "2024-06-30T", false},
	{"dateTime", dateTimeRegex, "2024-06T10:00:00Z", false},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00", false},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00Z", false},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00Z", true},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00z", false},
	{"dateTime", dateTimeRegex, "2024-06-30T23:59:60Z", true},
	{"dateTime", dateTimeRegex, "2024-06-30T23:59:61Z", false},
	{"dateTime", dateTimeRegex, "2024-06-30T24:00:00Z", false},
	{"dateTime", dateTimeRegex, "2024-06-30T19:60:00Z", false},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00.0Z", true},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00.123456789+05:30", true},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00.+05:30", false},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00+14:00", true},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00+14:01", false},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00-13:59", true},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00-15:00", false},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00+05:60", false},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00+0530", false},
	{"dateTime", dateTimeRegex, "2024-06-30T10:00:00+05:30Z", false},

	{"instant", instantRegex, "2024-06-30T10:00:00Z", true},
	{"instant", instantRegex, "2024-06-30T10:00:00.001-05:00", true},
	{"instant", instantRegex, "2024-06-30", false},
	{"instant", instantRegex, "2024-06-30T10:00:00", false},
	{"instant", instantRegex, "2024-06T10:00:00Z", false},
	{"instant", instantRegex, "0000-06-30T10:00:00Z", false},

	{"time", `([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?`, "00:00:00", true},
	{"time", `([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?`, "23:59:60.999", true},
	{"time", `([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?`, "24:00:00", false},
	{"time", `([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?`, "9:00:00", false},
	{"time", `([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?`, "09:00", false},
	{"time", `([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?`, "09:00:00Z", false},
	{"time", `([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?`, "09:00:00.", false},

	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "0", true},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "-0", true},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "-0.00", true},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "01", false},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "+1", false},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "1.", false},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, ".5", false},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "1.5E-07", true},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "1e", false},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "1e+", false},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "--1", false},
	{"decimal", `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "1.2.3", false},

	{"integer", `-?([0]|([1-9][0-9]*))`, "-0", true},
	{"integer", `-?([0]|([1-9][0-9]*))`, "007", false},
	{"integer", `-?([0]|([1-9][0-9]*))`, "1.0", false},
	{"positiveInt", `[1-9][0-9]*`, "0", false},
	{"positiveInt", `[1-9][0-9]*`, "10", true},
	{"unsignedInt", `[0]|([1-9][0-9]*)`, "0", true},
	{"unsignedInt", `[0]|([1-9][0-9]*)`, "00", false},

	{"id", `[A-Za-z0-9\-\.]{1,64}`, "a.b-C9", true},
	{"id", `[A-Za-z0-9\-\.]{1,64}`, "", false},
	{"id", `[A-Za-z0-9\-\.]{1,64}`, "a_b", false},
	{"code", `[^\s]+(\s[^\s]+)*`, "a b", true},
	{"code", `[^\s]+(\s[^\s]+)*`, "a  b", false},
	{"code", `[^\s]+(\s[^\s]+)*`, "a\fb", true},
	{"code", `[^\s]+(\s[^\s]+)*`, "a\u00a0\u00a0b", true}, // \s is ASCII only in RE2
	{"uri", `\S*`, "", true},
	{"uri", `\S*`, "http://x y", false},
	{"string", `[ \r\n\t\S]+`, "a\fb", false},
	{"string", `[ \r\n\t\S]+`, "\u00a0", true},

	{"oid", oidRegex, "urn:oid:2.16.840.1.113883", true},
	{"oid", oidRegex, "urn:oid:1.0", true},
	{"oid", oidRegex, "urn:oid:1", false},
	{"oid", oidRegex, "urn:oid:3.1", false},
	{"oid", oidRegex, "urn:oid:1.01", false},
	{"oid", oidRegex, "urn:oid:1.2.", false},
	{"oid", oidRegex, "urn:oid:1..2", false},
	{"oid", oidRegex, "urn:oid:.1", false},
	{"oid", oidRegex, "URN:OID:1.2", false},
	{"oid", oidRegex, "1.2.3", false},
	{"uuid", uuidRegex, "urn:uuid:f8a1c3e2-4b5d-4e6f-8a7b-9c0d1e2f3a4b", true},
	{"uuid", uuidRegex, "urn:uuid:F8A1C3E2-4B5D-4E6F-8A7B-9C0D1E2F3A4B", false},
	{"uuid", uuidRegex, "urn:uuid:f8a1c3e2-4b5d-4e6f-8a7b-9c0d1e2f3a4", false},
	{"uuid", uuidRegex, "urn:uuid:f8a1c3e24b5d-4e6f-8a7b-9c0d1e2f3a4b0", false},
	{"uuid", uuidRegex, "urn:uuid:g8a1c3e2-4b5d-4e6f-8a7b-9c0d1e2f3a4b", false},
	{"uuid", uuidRegex, "f8a1c3e2-4b5d-4e6f-8a7b-9c0d1e2f3a4b", false},

	{"base64Binary", base64Regex, "QUJD", true},
	{"base64Binary", base64Regex, "QUJ", false},
	{"base64Binary", base64Regex, " QUJD\n", true},
	{"base64Binary", base64Regex, "QU JD", false},
}

func TestScannersMatchRegex(t *testing.T) {
	for _, tc := range scannerCases {
		t.Run(tc.typ+"/"+tc.value, func(t *testing.T) {
			native := nativeFormats[tc.regex]
			if native == nil {
				t.Fatalf("no native check for the %s regex", tc.typ)
			}
			re := regexp.MustCompile(`^(?:` + tc.regex + `)$`)
			if got := re.MatchString(tc.value); got != tc.valid {
				t.Fatalf("the regex gives %v, the row says %v", got, tc.valid)
			}
			if got := native(tc.value); got != tc.valid {
				t.Errorf("native %s check gives %v on %q, the regex gives %v", tc.typ, got, tc.value, tc.valid)
			}
		})
	}
}

// TestCoreTypesHaveNativeChecks requires a native check for the regex of
// every R4 primitive type that has one in the core package, so that a
// change to nativeFormats' keys cannot quietly send a type back to the
// regex engine. boolean is left out because its values are JSON literals,
// never checked against its regex.
func TestCoreTypesHaveNativeChecks(t *testing.T) {
	v := shared(t)
	r := newRun(v)
	types := []string{"base64Binary", "canonical", "code", "date", "dateTime", "decimal", "id", "instant",
		"integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid"}
	for _, typ := range types {
		e := r.typeValueDef(typ)
		if e == nil || e.regex == "" {
			t.Errorf("%s: no value element with a regex in the core package", typ)
			continue
		}
		if e.format == nil {
			t.Errorf("%s: no native check for its regex %q", typ, e.regex)
		}
	}
}

// FuzzScannersMatchRegex compares every native check with the regex it
// replaces. The seeds cover the date, time and decimal edges.
func FuzzScannersMatchRegex(f *testing.F) {
	for _, tc := range scannerCases {
		f.Add(tc.value)
	}
	for _, s := range formatSeeds {
		f.Add(s)
	}
	type pair struct {
		re     *regexp.Regexp
		native func(string) bool
	}
	var pairs []pair
	for src, native := range nativeFormats {
		pairs = append(pairs, pair{regexp.MustCompile(`^(?:` + src + `)$`), native})
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range pairs {
			if got, want := p.native(s), p.re.MatchString(s); got != want {
				t.Fatalf("regex %.40q on %q: native %v, regex %v", p.re.String(), s, got, want)
			}
		}
	})
}

// TestRealDateMatchesTimeParse compares realDate with the time.Parse
// check it replaces on every month and day number of leap, common and
// century years, and on values that are not dates.
func TestRealDateMatchesTimeParse(t *testing.T) {
	var values []string
	for _, year := range []string{"0000", "0004", "1900", "2000", "2023", "2024", "2100", "9999"} {
		for month := 0; month <= 13; month++ {
			for day := 0; day <= 32; day++ {
				values = append(values, fmt.Sprintf("%s-%02d-%02d", year, month, day))
			}
		}
	}
	values = append(values, "2024-02-3x", "2024/02/28", "+024-02-28", "-024-02-28", "2024-2-28T", "2024-02-2 ", "２０２４-01-01",
		"2024-02-29T10:00:00Z", "2023-02-29T10:00:00Z", "2024-13-01")
	for _, v := range values {
		_, err := time.Parse("2006-01-02", v[:10])
		if got, want := realDate(v), err == nil; got != want {
			t.Errorf("realDate(%q) = %v, time.Parse says %v", v, got, want)
		}
	}
}
