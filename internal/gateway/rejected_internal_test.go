package gateway

import (
	"runtime"
	"strings"
	"testing"
)

func TestRejectedResponse(t *testing.T) {
	cases := []struct {
		name string
		body string
		want bool
	}{
		{"empty body", ``, false},
		{"not JSON", `<html/>`, true},
		{"not an object", `[1]`, true},
		{"ClaimResponse complete", `{"resourceType":"ClaimResponse","outcome":"complete"}`, false},
		{"ClaimResponse error", `{"resourceType":"ClaimResponse","outcome":"error"}`, true},
		{"eligibility error", `{"resourceType":"CoverageEligibilityResponse","outcome":"error"}`, true},
		{"other type with error outcome", `{"resourceType":"Task","outcome":"error"}`, false},
		{"Bundle of complete responses", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ClaimResponse","outcome":"complete"}},{"resource":{"resourceType":"Patient"}}]}`, false},
		{"Bundle with an error response", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient"}},{"resource":{"resourceType":"ClaimResponse","outcome":"error"}}]}`, true},
		{"Bundle entry without resource", `{"resourceType":"Bundle","entry":[{"fullUrl":"urn:uuid:1"}]}`, false},
		{"Bundle entry with null resource", `{"resourceType":"Bundle","entry":[{"resource":null}]}`, false},
		{"Bundle entry resource not an object", `{"resourceType":"Bundle","entry":[{"resource":"text"}]}`, true},
		{"Bundle entry outcome of wrong type", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ClaimResponse","outcome":5}}]}`, true},
		{"non-Bundle ignores entry resources", `{"resourceType":"List","entry":[{"resource":"text"}]}`, false},
		{"nested Bundle entry is not read", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle","entry":[{"resource":"text"}]}}]}`, false},
		{"nested Bundle entry of wrong shape", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle","entry":5}}]}`, true},
		{"duplicate member in an entry resource", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","resourceType":"Patient"}}]}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rejectedResponse([]byte(c.body)); got != c.want {
				t.Errorf("rejectedResponse(%s) = %v, want %v", c.body, got, c.want)
			}
		})
	}
}

// rejectedResponse reads two strings of each entry resource, so the
// bytes it allocates must not grow with the resources' size. A 64 KB
// resource that was copied before decoding would allocate at least 64 KB.
func TestRejectedResponseCopiesNoResource(t *testing.T) {
	large := strings.Repeat("x", 64<<10)
	body := []byte(`{"resourceType":"Bundle","entry":[` +
		`{"resource":{"resourceType":"ClaimResponse","outcome":"complete"}},` +
		`{"resource":{"resourceType":"Patient","text":{"div":"` + large + `"}}}]}`)
	if rejectedResponse(body) {
		t.Fatal("rejectedResponse = true, want false")
	}

	// With this many runs, a stray allocation by another goroutine during
	// the loop is unlikely to lift the average per call to the bound.
	const runs = 500
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		rejectedResponse(body)
	}
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / runs
	if perCall >= uint64(len(large)) {
		t.Errorf("rejectedResponse allocated %d bytes per call, want less than the %d-byte resource it need not copy", perCall, len(large))
	}
}
