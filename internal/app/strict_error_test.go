package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// TestStrictModeChecksErrorBodies lets the upstream respond to a conforming
// $submit with an error status and a body that is not a conforming
// OperationOutcome. Strict mode covers every resource that crosses the
// link, so the partner must get 502 with the gateway's OperationOutcome,
// and the record must keep the upstream's original body.
func TestStrictModeChecksErrorBodies(t *testing.T) {
	cases := map[string]struct {
		status int
		body   string
	}{
		"patient on 400": {http.StatusBadRequest,
			`{"resourceType":"Patient","id":"p1","name":[{"family":"LEAKED-NAME"}],"birthDate":"1970-01-01"}`},
		"bundle on 404": {http.StatusNotFound,
			`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","name":[{"family":"LEAKED-NAME"}]}}]}`},
		"invalid outcome on 422": {http.StatusUnprocessableEntity,
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"LEAKED-NAME"}]}`},
		"unreferenced contained patient on 400": {http.StatusBadRequest,
			`{"resourceType":"OperationOutcome","contained":[{"resourceType":"Patient","name":[{"family":"LEAKED-NAME"}]}],"issue":[{"severity":"error","code":"invalid"}]}`},
		"unknown element on 500": {http.StatusInternalServerError,
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}],"leak":"LEAKED-NAME"}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/fhir+json")
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer up.Close()
			h := newHarness(t, harnessOptions{strict: true, upstreamURL: up.URL})

			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
				http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, shippedBundle(t))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %.300s", resp.StatusCode, body)
			}
			if code := outcomeCode(t, body); code != "exception" {
				t.Errorf("issue code %q, want exception", code)
			}
			if strings.Contains(string(body), "LEAKED-NAME") {
				t.Errorf("the upstream's body reached the partner: %.300s", body)
			}
			entries := h.entries(resp)
			if len(entries) != 3 || entries[1].Phase != record.PhaseResponse || entries[2].Rule != "strict.response" {
				t.Fatalf("entries = %+v, want request, response, strict.response refusal", entries)
			}
			if _, original := h.bodies(entries[1]); !strings.Contains(string(original), "LEAKED-NAME") {
				t.Errorf("the record lost the upstream's original body: %s", original)
			}
		})
	}
}

// TestStrictModeReleasesConformingError checks that an error response whose
// body is a conforming OperationOutcome still reaches the partner.
func TestStrictModeReleasesConformingError(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"conflict","diagnostics":"identifier in use"}]}`))
	}))
	defer up.Close()
	h := newHarness(t, harnessOptions{strict: true, upstreamURL: up.URL})

	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, shippedBundle(t))
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("status %d, want 409: %.300s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "identifier in use") {
		t.Errorf("the upstream's OperationOutcome did not reach the partner: %.300s", body)
	}
}

// TestUpstreamCharsetChecked lets the upstream label a UTF-8 body with
// another charset. The gateway reads the body as UTF-8, so a partner that
// decodes it by its label (UTF-7 turns "+ACI-" into a quote) would read
// something the gateway never checked: 502 instead.
func TestUpstreamCharsetChecked(t *testing.T) {
	for _, contentType := range []string{
		"application/fhir+json; charset=utf-7",
		"application/fhir+json; charset=utf-16",
		"application/json;charset=iso-8859-1",
	} {
		t.Run(contentType, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", contentType)
				_, _ = w.Write([]byte(`{"resourceType":"CapabilityStatement","description":"+ACIAfQ-"}`))
			}))
			defer up.Close()
			h := newHarness(t, harnessOptions{upstreamURL: up.URL})

			resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", http.Header{"Authorization": {"Bearer " + h.accessToken()}}, nil)
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %.300s", resp.StatusCode, body)
			}
			if strings.Contains(string(body), "+ACIAfQ-") {
				t.Errorf("the upstream's body reached the partner: %.300s", body)
			}
		})
	}
}
