package validate

import (
	"regexp"
	"strings"
	"testing"
)

// BenchmarkNarrative checks the R4 examples' narratives that the quick
// scan accepts, with the scan and with the XML decoder it saves; ns/op
// is per narrative.
func BenchmarkNarrative(b *testing.B) {
	var divs []string
	for _, d := range corpusNarratives(b) {
		if quickXHTML(d) {
			divs = append(divs, d)
		}
	}
	b.Run("quick", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			quickXHTML(divs[i%len(divs)])
			i++
		}
	})
	b.Run("decoder", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = checkXHTML(divs[i%len(divs)])
			i++
		}
	})
}

// primitiveSamples are typical values of the primitive types with a
// native format, as senders write them.
var primitiveSamples = []struct{ regex, value string }{
	{dateRegex, "2024-02-29"},
	{dateTimeRegex, "2024-02-29T13:45:10.123-05:00"},
	{instantRegex, "2024-02-29T13:45:10Z"},
	{`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, "-1234.50"},
	{`[A-Za-z0-9\-\.]{1,64}`, "f8a1c3e2-4b5d-4e6f-8a7b-9c0d1e2f3a4b"},
	{`[^\s]+(\s[^\s]+)*`, "active"},
	{`\S*`, "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claim"},
	{`[ \r\n\t\S]+`, "Prior authorization for outpatient physical therapy"},
	{`urn:oid:[0-2](\.(0|[1-9][0-9]*))+`, "urn:oid:2.16.840.1.113883.4.642.3.1"},
	{`urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`, "urn:uuid:f8a1c3e2-4b5d-4e6f-8a7b-9c0d1e2f3a4b"},
}

// BenchmarkPrimitiveFormats compares the native format checks with the
// regex engine on the same values; ns/op covers all the samples that
// have a native check.
func BenchmarkPrimitiveFormats(b *testing.B) {
	b.Run("native", func(b *testing.B) {
		type check struct {
			format func(string) bool
			value  string
		}
		var checks []check
		for _, s := range primitiveSamples {
			if f := nativeFormats[s.regex]; f != nil {
				checks = append(checks, check{f, s.value})
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, c := range checks {
				c.format(c.value)
			}
		}
	})
	b.Run("regex", func(b *testing.B) {
		var res []*regexp.Regexp
		for _, s := range primitiveSamples {
			res = append(res, regexp.MustCompile(`^(?:`+s.regex+`)$`))
		}
		b.ReportAllocs()
		for b.Loop() {
			for i, re := range res {
				re.MatchString(primitiveSamples[i].value)
			}
		}
	})
}

// BenchmarkControlCharacters scans a 4 KB narrative with line breaks,
// the longest string most instances carry.
func BenchmarkControlCharacters(b *testing.B) {
	text := strings.Repeat("<p>Outpatient physical therapy, 12 visits.</p>\n", 4096/48)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if hasControlCharacter(text) {
			b.Fatal("no control characters expected")
		}
	}
}

// BenchmarkBase64Text checks a 64 KB attachment written in 76-character
// lines, the MIME layout.
func BenchmarkBase64Text(b *testing.B) {
	line := strings.Repeat("QUJD", 19)
	text := strings.Repeat(line+"\r\n", 65536/len(line))
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if !isBase64Text(text) {
			b.Fatal("valid base64 rejected")
		}
	}
}
