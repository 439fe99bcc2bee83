package app_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// TestStrictModeRefusesRequest sends a PAS bundle that refers to resources
// it does not contain: 422 with the location, nothing forwarded.
func TestStrictModeRefusesRequest(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	bundle, err := os.ReadFile("../demo/nonconformant/pas-2.2.1-SurgicalRequestBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, bundle)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || outcomeCode(t, body) != "invalid" {
		t.Fatalf("status %d: %.300s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), `"Bundle.entry[6].resource.practitioner"`) {
		t.Error("the OperationOutcome does not locate the dangling reference")
	}
	if h.upstream.count.Load() != 0 {
		t.Error("the non-conformant bundle reached the upstream")
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "strict.request" {
		t.Errorf("entries = %+v", e)
	}
}

// TestStrictModeRefusesResponse lets a test upstream respond to $submit with a
// Bundle that is not a PAS response: the partner gets 502, and the record
// keeps the upstream's original response.
func TestStrictModeRefusesResponse(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadGateway || outcomeCode(t, body) != "exception" {
		t.Fatalf("status %d: %.300s", resp.StatusCode, body)
	}
	entries := h.entries(resp)
	if len(entries) != 3 || entries[1].Phase != record.PhaseResponse || entries[2].Rule != "strict.response" {
		t.Fatalf("entries = %+v, want request, response, refusal", entries)
	}
	_, original := h.bodies(entries[1])
	if !strings.Contains(string(original), `"ClaimResponse"`) || entries[1].UpstreamState != 200 {
		t.Errorf("the record lost the upstream's original response: %s", original)
	}
}

// TestUpstreamAnswersChecked checks that an upstream redirect or an HTML
// error page is not released to the partner.
func TestUpstreamAnswersChecked(t *testing.T) {
	cases := map[string]http.HandlerFunc{
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://engine.payer.internal:9000/secret", http.StatusFound)
		},
		"html page": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(500)
			w.Write([]byte("<html>stack trace at node-7</html>"))
		},
	}
	for name, handler := range cases {
		t.Run(name, func(t *testing.T) {
			up := httptest.NewServer(handler)
			defer up.Close()
			h := newHarness(t, harnessOptions{upstreamURL: up.URL})
			resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", http.Header{"Authorization": {"Bearer " + h.accessToken()}}, nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Location") != "" || strings.Contains(string(body), "node-7") {
				t.Errorf("status %d, Location %q, body %s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
		})
	}
}

// A control character written as a JSON \u escape decodes to the character
// itself, which FHIR strings forbid. Strict mode must refuse it before the
// upstream, where a NUL can truncate a C string or a text column.
func TestStrictModeRefusesEscapedControl(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	for _, escape := range []string{`\u0000`, `\u0001`, `\u001b`} {
		t.Run(escape, func(t *testing.T) {
			bundle := strings.Replace(string(shippedBundle(t)), `"family":"SMITH"`, `"family":"SMI`+escape+`TH"`, 1)
			before := h.upstream.count.Load()

			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
				http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, []byte(bundle))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %.300s", resp.StatusCode, body)
			}
			if !strings.Contains(string(body), ".name[0].family") {
				t.Errorf("the OperationOutcome does not locate the family name: %.300s", body)
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			if e := h.entries(resp); len(e) != 1 || e[0].Rule != "strict.request" {
				t.Errorf("entries = %+v, want one strict.request refusal", e)
			}
		})
	}
}

// An upstream that replies to $submit with 200 and no body has not sent the
// PAS response Bundle the profile requires. Strict mode turns the reply
// into 502 instead of releasing an empty success.
func TestStrictModeRefusesEmptyOperationResponse(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	h := newHarness(t, harnessOptions{strict: true, upstreamURL: up.URL})

	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, shippedBundle(t))
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %.300s", resp.StatusCode, body)
	}
	if got := outcomeCode(t, body); got != "exception" {
		t.Errorf("OperationOutcome code = %q, want exception", got)
	}
	if !strings.Contains(string(body), "with no body") {
		t.Errorf("the OperationOutcome does not report the missing body: %.300s", body)
	}
	entries := h.entries(resp)
	if n := len(entries); n == 0 || entries[n-1].Rule != "strict.response" {
		t.Errorf("entries = %+v, want the refusal recorded under strict.response", entries)
	}
}

// submitRejectedByStrictMode posts bundle to $submit and requires the
// strict.request rejection: 422 with an invalid OperationOutcome, nothing
// sent upstream and one audit entry. It returns the OperationOutcome.
func submitRejectedByStrictMode(t *testing.T, h *harness, bundle []byte) []byte {
	t.Helper()
	before := h.upstream.count.Load()

	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, bundle)
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %.300s", resp.StatusCode, body)
	}
	if got := outcomeCode(t, body); got != "invalid" {
		t.Errorf("OperationOutcome code = %q, want invalid", got)
	}
	if n := h.upstream.count.Load() - before; n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "strict.request" {
		t.Errorf("entries = %+v, want one strict.request rejection", e)
	}
	return body
}

// An extension with a relative url matches no definition, so its content
// would be forwarded unverified. In modifierExtension it also changes the
// meaning of the Claim for a receiver that acts on it. Strict mode must
// reject both before the upstream.
func TestStrictModeRefusesRelativeExtensionURL(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	cases := []struct{ name, old, new string }{
		{"modifier on the Claim", `"resourceType":"Claim","id":"ReferralAuthorizationExample",`,
			`"resourceType":"Claim","id":"ReferralAuthorizationExample","modifierExtension":[{"url":"approved","valueBoolean":true}],`},
		{"on the family name", `"family":"SMITH"`,
			`"family":"SMITH","_family":{"extension":[{"url":"note","valueString":"smuggled"}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bundle := strings.Replace(string(shippedBundle(t)), tc.old, tc.new, 1)
			if !strings.Contains(bundle, tc.new) {
				t.Fatal("the shipped bundle no longer contains the text the test replaces")
			}

			body := submitRejectedByStrictMode(t, h, []byte(bundle))

			if !strings.Contains(string(body), "Extension.url must be an absolute URL") {
				t.Errorf("the OperationOutcome does not name the relative url: %.600s", body)
			}
		})
	}
}

// TestStrictModeRejectsEmptyPrimitiveExtension sends a PAS bundle whose
// patient has a "_" half that contains no id and no extension: an empty
// object, an array of nulls or an empty array item. FHIR JSON allows none
// of them, so the bundle gets 422 at the primitive and is not forwarded.
func TestStrictModeRejectsEmptyPrimitiveExtension(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	cases := []struct{ name, old, new, location string }{
		{"empty object", `"family":"SMITH"`, `"family":"SMITH","_family":{}`, ".name[0].family"},
		{"array of nulls", `"given":["JOE"]`, `"given":["JOE"],"_given":[null]`, ".name[0]._given"},
		{"empty array item", `"given":["JOE"]`, `"given":["JOE"],"_given":[{}]`, ".name[0].given[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bundle := strings.Replace(string(shippedBundle(t)), tc.old, tc.new, 1)
			if !strings.Contains(bundle, tc.new) {
				t.Fatal("the shipped bundle no longer contains the text the test replaces")
			}

			body := submitRejectedByStrictMode(t, h, []byte(bundle))

			if !strings.Contains(string(body), tc.location+`"`) {
				t.Errorf("the OperationOutcome does not locate %s: %.600s", tc.location, body)
			}
		})
	}
}

// TestStrictModeNamesUndefinedExtension extends the patient's given name
// with an extension no loaded package defines. Strict mode rejects it,
// because an undefined extension cannot be checked, and the
// OperationOutcome names the extension itself and the patient entry that
// fails the beneficiary profile, not only the profile.
func TestStrictModeNamesUndefinedExtension(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	old := `"given":["JOE"]`
	bundle := strings.Replace(string(shippedBundle(t)), old,
		old+`,"_given":[{"extension":[{"url":"http://acme.example.org/fhir/StructureDefinition/nickname","valueString":"Joey"}]}]`, 1)
	if !strings.Contains(bundle, "nickname") {
		t.Fatal("the shipped bundle no longer contains the text the test replaces")
	}

	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, []byte(bundle))
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %.300s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), `.name[0].given[0].extension[0]"`) {
		t.Errorf("the OperationOutcome does not locate the undefined extension: %.600s", body)
	}
	if !strings.Contains(string(body), `the referenced Patient, Bundle.entry[`) {
		t.Errorf("the OperationOutcome does not name the patient entry that fails the profile: %.600s", body)
	}
	if n := h.upstream.count.Load(); n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
}
