package app_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestStrictModeRefusesHiddenScriptInNarrative sends PAS $submit
// requests whose Claim narrative is well-formed XHTML but runs script in
// a browser. In some, a tab or line break splits a javascript: scheme,
// and URL parsing removes both. In others, markup sits inside a CDATA
// section or a comment that an HTML parser ends early. Strict mode must
// reject each with 422 before the upstream receives it.
func TestStrictModeRefusesHiddenScriptInNarrative(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	const link = `<a href=\"Patient-SubscriberExample.html\">JOE SMITH`
	cases := map[string]string{
		"tab in scheme":                `<a href=\"java\tscript:alert(1)\">JOE SMITH`,
		"tab reference in scheme":      `<a href=\"java&#9;script:alert(1)\">JOE SMITH`,
		"line feed in scheme":          `<a href=\"java&#10;script:alert(1)\">JOE SMITH`,
		"carriage return in scheme":    `<a href=\"javas&#13;cript:alert(1)\">JOE SMITH`,
		"CDATA closed early by HTML":   `<![CDATA[ x><img src=\"x\" onerror=\"alert(1)\"> ]]><a href=\"x\">JOE SMITH`,
		"comment closed early by HTML": `<!--><img src=\"x\" onerror=\"alert(1)\">--><a href=\"x\">JOE SMITH`,
		"comment closed by --->":       `<!---><img src=\"x\" onerror=\"alert(1)\">--><a href=\"x\">JOE SMITH`,
	}
	for name, div := range cases {
		t.Run(name, func(t *testing.T) {
			bundle := strings.Replace(string(shippedBundle(t)), link, div, 1)
			if bundle == string(shippedBundle(t)) {
				t.Fatal("the shipped bundle no longer has the link this test replaces")
			}
			before := h.upstream.count.Load()

			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
				http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, []byte(bundle))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusUnprocessableEntity || outcomeCode(t, body) != "invalid" {
				t.Fatalf("status %d, want 422: %.300s", resp.StatusCode, body)
			}
			if !strings.Contains(string(body), "invalid narrative") {
				t.Errorf("the OperationOutcome does not name the narrative: %.300s", body)
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
		})
	}
}
