package validate

import (
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// bundleCases are Bundles for the native checks of bdl-3, bdl-4 and bdl-7,
// with whether each check may decide that the invariant is true.
var bundleCases = []struct {
	name                   string
	doc                    string
	request, response, ver bool
}{
	{"transaction", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","request":{"method":"POST","url":"Patient"}},{"fullUrl":"urn:uuid:2","request":{"method":"POST","url":"Patient"}}]}`, true, true, true},
	{"transaction without request", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","request":{"method":"POST","url":"Patient"}},{"fullUrl":"urn:uuid:2"}]}`, false, true, true},
	{"collection with request", `{"resourceType":"Bundle","type":"collection","entry":[{"request":{"method":"POST","url":"Patient"}}]}`, false, true, true},
	{"batch-response", `{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"200"}}]}`, true, true, true},
	{"batch-response without response", `{"resourceType":"Bundle","type":"batch-response","entry":[{}]}`, true, false, true},
	{"no type", `{"resourceType":"Bundle","entry":[{}]}`, false, false, true},
	{"same fullUrl and version", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","meta":{"versionId":"1"}}},{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","meta":{"versionId":"1"}}}]}`, true, true, false},
	{"same fullUrl, other version", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","meta":{"versionId":"1"}}},{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","meta":{"versionId":"2"}}}]}`, true, true, true},
	{"same fullUrl, no versions", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1"},{"fullUrl":"urn:uuid:1"}]}`, true, true, false},
	{"fullUrl without value", `{"resourceType":"Bundle","type":"collection","entry":[{"_fullUrl":{"id":"u"}}]}`, true, true, false},
}

func TestBundleChecksDecide(t *testing.T) {
	checks := []struct {
		name  string
		check func(*fhirpath.Node) bool
		want  func(i int) bool
	}{
		{"bdl-3", entriesMatchType("request", "batch", "transaction", "history"), func(i int) bool { return bundleCases[i].request }},
		{"bdl-4", entriesMatchType("response", "batch-response", "transaction-response", "history"), func(i int) bool { return bundleCases[i].response }},
		{"bdl-7", entryVersionsDistinct, func(i int) bool { return bundleCases[i].ver }},
	}
	for i, tc := range bundleCases {
		fp, err := fhirpath.ParseJSON([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, c := range checks {
			if got := c.check(fp); got != c.want(i) {
				t.Errorf("%s on %s = %v, want %v", c.name, tc.name, got, c.want(i))
			}
		}
	}
}

// TestBundleChecksAgree validates each Bundle with and without the
// shortcuts, and checks that broken Bundles still get their issue.
func TestBundleChecksAgree(t *testing.T) {
	fast, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	slow.noShortcuts = true
	for _, tc := range bundleCases {
		compareShortcuts(t, fast, slow, tc.name, []byte(tc.doc), nil)
		res, err := fast.Validate([]byte(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		for key, satisfied := range map[string]bool{"bdl-3": tc.request, "bdl-4": tc.response, "bdl-7": tc.ver} {
			if !satisfied && !strings.Contains(issueText(res), key) {
				t.Errorf("%s: no %s issue in %s", tc.name, key, issueText(res))
			}
		}
	}
}

func issueText(res *Result) string {
	var b strings.Builder
	for _, is := range res.Issues {
		b.WriteString(is.Diagnostics)
		b.WriteString("\n")
	}
	return b.String()
}

func TestLastIndexOfStep(t *testing.T) {
	tests := []struct {
		url, typ, id string
		want         int
	}{
		{"http://x.test/fhir/Patient/1", "Patient", "1", len("http://x.test/fhir/")},
		{"http://x.test/Patient/12/fhir/Patient/1", "Patient", "1", len("http://x.test/Patient/12/fhir/")},
		{"http://x.test/fhir/Patient/1/_history/2", "Patient", "1", len("http://x.test/fhir/")},
		{"Patient/1", "Patient", "1", 0},
		{"http://x.test/fhir/Patient/2", "Patient", "1", -1},
	}
	for _, tc := range tests {
		if got := lastIndexOfStep(tc.url, tc.typ, tc.id); got != tc.want {
			t.Errorf("lastIndexOfStep(%q, %q, %q) = %d, want %d", tc.url, tc.typ, tc.id, got, tc.want)
		}
	}
}
