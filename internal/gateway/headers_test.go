package gateway

import (
	"net/url"
	"testing"
)

// The canonical encoding of each header parses again to itself, so the
// target of a forwarded request cannot tell two encodings of one value
// apart, and a sender cannot choose between them to send data.
func FuzzCanonicalHeaders(f *testing.F) {
	for _, seed := range []string{
		`W/"1"`, `W/"3" ,W/"a-1.b", W/"3"`, `*`, `"strong"`,
		"Sat, 05 Dec 2026 10:00:00 GMT", "Saturday, 05-Dec-26 10:00:00 GMT", "Sat Dec  5 10:00:00 2026",
		"EN-us;Q=0.800,de-latn-ch;q=1 , es-419;q=0, en-US", "zh-Hant-TW, *;q=0.1", "en;q=0.",
	} {
		f.Add(seed)
	}
	parsers := map[string]func([]string) (string, bool){
		"If-Match":          func(l []string) (string, bool) { return canonicalETags(l, false) },
		"If-None-Match":     func(l []string) (string, bool) { return canonicalETags(l, true) },
		"ETag":              canonicalETag,
		"If-Modified-Since": canonicalHTTPDate,
		"Accept-Language":   canonicalAcceptLanguage,
		"Content-Language":  canonicalContentLanguage,
	}
	f.Fuzz(func(t *testing.T, value string) {
		for name, parse := range parsers {
			canonical, ok := parse([]string{value})
			if !ok {
				continue
			}
			again, ok := parse([]string{canonical})
			if !ok {
				t.Fatalf("%s: canonical form %q of %q does not parse", name, canonical, value)
			}
			if again != canonical {
				t.Fatalf("%s: canonical form %q of %q re-encodes as %q", name, canonical, value, again)
			}
		}
	})
}

func TestCanonicalAcceptLanguage(t *testing.T) {
	tests := []struct {
		name, value, want string
		ok                bool
	}{
		{"case and weights", "EN-us;Q=0.800,de-latn-ch;q=1 , es-419;q=0", "en-US;q=0.8, de-Latn-CH, es-419;q=0", true},
		{"point without decimals", "en;q=0.", "en;q=0", true},
		{"duplicate dropped", "en, fr, en;q=0.5", "en, fr", true},
		{"wildcard", "*;q=0.1", "*;q=0.1", true},
		{"one-letter language", "e", "", false},
		{"four-letter language", "engl", "", false},
		{"variant", "de-CH-1901", "", false},
		{"private use", "en-x-abc", "", false},
		{"weight above 1", "en;q=1.001", "", false},
		{"four decimals", "en;q=0.1234", "", false},
		{"other parameter", "en;level=1", "", false},
		{"space around equals", "en;q = 0.5", "", false},
		{"empty element", "en,,fr", "", false},
		{"nine ranges", "aa,ab,ac,ad,ae,af,ag,ah,ai", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := canonicalAcceptLanguage([]string{tt.value})
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (canonical %q)", ok, tt.ok, got)
			}
			if got != tt.want {
				t.Errorf("canonical = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRewriteLocation(t *testing.T) {
	base, err := url.Parse("https://engine.example/fhir-engine/")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{base: base, prefix: "/fhir"}
	tests := []struct {
		name, location, want string
	}{
		{"resource", "https://engine.example/fhir-engine/Claim/1", "/fhir/Claim/1"},
		{"version", "https://engine.example/fhir-engine/Claim/1/_history/2", "/fhir/Claim/1/_history/2"},
		{"path only", "/fhir-engine/Task/a.b-c", "/fhir/Task/a.b-c"},
		{"query", "https://engine.example/fhir-engine/Claim/1?x=1", ""},
		{"empty query", "https://engine.example/fhir-engine/Claim/1?", ""},
		{"fragment", "https://engine.example/fhir-engine/Claim/1#x", ""},
		{"extra segment", "https://engine.example/fhir-engine/Claim/1/_history/2/x", ""},
		{"not history", "https://engine.example/fhir-engine/Claim/1/_hist/2", ""},
		{"unknown type", "https://engine.example/fhir-engine/Claimx/1", ""},
		{"long id", "https://engine.example/fhir-engine/Claim/0123456789012345678901234567890123456789012345678901234567890123456789", ""},
		{"other host", "https://other.example/fhir-engine/Claim/1", ""},
		{"outside base", "https://engine.example/other/Claim/1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rewriteLocation(tt.location, tg); got != tt.want {
				t.Errorf("rewriteLocation(%q) = %q, want %q", tt.location, got, tt.want)
			}
		})
	}
}
