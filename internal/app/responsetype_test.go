package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// shippedClaim returns the Claim of the shipped PAS bundle with its id set
// to id, a resource that conforms to the R4 Claim definition.
func shippedClaim(t *testing.T, id string) []byte {
	t.Helper()
	var bundle struct {
		Entry []struct {
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(shippedBundle(t), &bundle); err != nil {
		t.Fatal(err)
	}
	for _, e := range bundle.Entry {
		if e.Resource["resourceType"] == "Claim" {
			e.Resource["id"] = id
			out, err := json.Marshal(e.Resource)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatal("the shipped bundle has no Claim")
	return nil
}

// TestStrictModeChecksResponseType lets an upstream respond to reads with a
// conforming resource of another type or id. Strict mode validates such a
// body against the core definition of the type it names, so without the
// type check a Patient sent in response to a Claim read reached a partner
// that holds only the claims read role. Each must become 502 with nothing of the body
// released, and a fitting response must still pass.
func TestStrictModeChecksResponseType(t *testing.T) {
	const patient = `{"resourceType":"Patient","id":"p2","active":true,"name":[{"family":"LEAKED"}]}`
	const capabilities = `{"resourceType":"CapabilityStatement","status":"active","date":"2024-01-01","kind":"instance",` +
		`"implementation":{"description":"test"},"fhirVersion":"4.0.1","format":["json"],"rest":[{"mode":"server"}]}`
	cases := []struct {
		name, path string
		upstream   []byte
		wantStatus int
		leak       string // text of the upstream body the partner must not see
	}{
		{"Patient for capabilities", "/fhir/metadata", []byte(patient), http.StatusBadGateway, "LEAKED"},
		{"Patient for a Claim read", "/fhir/Claim/abc", []byte(patient), http.StatusBadGateway, "LEAKED"},
		{"another Claim for a read", "/fhir/Claim/abc", shippedClaim(t, "other-claim"), http.StatusBadGateway, "other-claim"},
		{"the Claim read", "/fhir/Claim/abc", shippedClaim(t, "abc"), http.StatusOK, ""},
		{"capabilities", "/fhir/metadata", []byte(capabilities), http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/fhir+json")
				w.Write(tc.upstream)
			}))
			defer up.Close()
			h := newHarness(t, harnessOptions{strict: true, upstreamURL: up.URL, edit: func(cfg *config.File, _ *devmode.Layout) {
				cfg.Partners[0].Interactions = append(cfg.Partners[0].Interactions, "Claim.read")
			}})

			resp := h.send(h.ehr.HTTPClient(), "GET", tc.path, http.Header{"Authorization": {"Bearer " + h.accessToken()}}, nil)
			body := readBody(t, resp)

			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantStatus == http.StatusOK {
				return
			}
			checkResponseTypeRejected(t, h, resp, body, tc.leak)
		})
	}
}

// checkResponseTypeRejected checks that a response withheld by the
// strict.response-type rule has an exception OperationOutcome, contains
// nothing of the upstream's body marked by leak, and is recorded under
// that rule.
func checkResponseTypeRejected(t *testing.T, h *harness, resp *http.Response, body []byte, leak string) {
	t.Helper()
	if got := outcomeCode(t, body); got != "exception" {
		t.Errorf("OperationOutcome code = %q, want exception", got)
	}
	if strings.Contains(string(body), leak) {
		t.Errorf("the partner received the upstream's body: %.300s", body)
	}
	entries := h.entries(resp)
	if len(entries) == 0 {
		t.Fatal("no record entry for the rejected response")
	}
	if rule := entries[len(entries)-1].Rule; rule != "strict.response-type" {
		t.Errorf("last entry rule = %q, want strict.response-type", rule)
	}
}
