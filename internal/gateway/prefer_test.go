package gateway

import (
	"runtime"
	"strings"
	"testing"
)

func TestForwardedPrefer(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		search bool
		want   string
	}{
		{"none on a read", nil, false, ""},
		{"strict alone on a search", nil, true, "handling=strict"},
		{"lenient replaced on a search", []string{"handling=lenient"}, true, "handling=strict"},
		{"lenient removed on a read", []string{"handling=lenient"}, false, ""},
		{"other preferences kept", []string{"return=representation, handling=lenient, respond-async"}, true,
			"handling=strict, return=representation, respond-async"},
		{"name in upper case", []string{"HANDLING=lenient, Return=minimal"}, true, "handling=strict, return=minimal"},
		{"spaces around equals", []string{"handling = lenient ,return = minimal"}, true, "handling=strict, return=minimal"},
		{"quoted lenient", []string{`handling="lenient", return=minimal`}, true, "handling=strict, return=minimal"},
		{"partner strict removed then added once", []string{"handling=strict"}, true, "handling=strict"},
		{"several lines", []string{"return=minimal", "handling=lenient", "respond-async"}, true,
			"handling=strict, return=minimal, respond-async"},
		{"handling as a parameter", []string{"return=minimal; handling=lenient"}, true, "handling=strict, return=minimal"},
		{"handling parameter in upper case", []string{"respond-async;HANDLING=lenient;wait=10"}, false, "respond-async"},
		{"parameters dropped", []string{"respond-async; wait=10"}, false, "respond-async"},
		{"wait kept", []string{"respond-async, wait=10"}, false, "respond-async, wait=10"},
		{"unknown preference dropped", []string{"x-c2VjcmV0=abc, return=minimal"}, false, "return=minimal"},
		{"return value outside FHIR dropped", []string{"return=c2VjcmV0"}, false, ""},
		{"long wait dropped", []string{"wait=1234567"}, false, ""},
		{"empty elements and parameters", []string{" , return=minimal;; , "}, false, "return=minimal"},
		{"quoted token value unquoted", []string{`return="minimal"`}, false, "return=minimal"},
		{"empty quoted value", []string{`respond-async=""`}, false, "respond-async"},
		{"quoted comma hides lenient", []string{`return="x,handling=lenient", respond-async`}, true,
			"handling=strict, respond-async"},
		{"quoted semicolon hides lenient", []string{`return=minimal; note="a;handling=lenient"`}, true, "handling=strict"},
		{"escaped quote", []string{`x="a\"b", return=minimal`}, false, "return=minimal"},
		{"first duplicate wins", []string{"return=minimal, return=representation"}, false, "return=minimal"},
		{"unterminated quote drops the line", []string{`return=minimal, x="handling=lenient`, "respond-async"}, true,
			"handling=strict, respond-async"},
		{"empty value", []string{"return=, handling=lenient; x=, respond-async=;wait=1"}, true,
			"handling=strict, respond-async"},
		{"garbage after a value drops the line", []string{"return=minimal handling=lenient"}, true, "handling=strict"},
		{"equals inside a value drops the line", []string{"x=handling=lenient"}, true, "handling=strict"},
		{"control character drops the line", []string{"return=minimal,\x00handling=lenient"}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := forwardedPrefer(tc.lines, tc.search); got != tc.want {
				t.Errorf("forwardedPrefer(%q, %v) = %q, want %q", tc.lines, tc.search, got, tc.want)
			}
		})
	}
}

// A partner controls the Prefer field, up to the 64 KiB header limit, so
// rewriting it must cost memory in proportion to its length. Building the
// text by string concatenation allocated about 1.7 GB for this field, and
// a linear rewrite allocates well under 1 MiB.
func TestForwardedPreferLinear(t *testing.T) {
	line := "respond-async" + strings.Repeat(";a", 32<<10)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := forwardedPrefer([]string{line}, true)
	runtime.ReadMemStats(&after)

	if want := "handling=strict, respond-async"; out != want {
		t.Fatalf("forwardedPrefer = %.40q..., want %q", out, want)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 16<<20 {
		t.Errorf("rewriting a %d-byte field allocated %d bytes, want at most 16 MiB", len(line), allocated)
	}
}
