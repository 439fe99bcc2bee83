package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// TestStrictModeChecksResponseBundleType lets an upstream respond to a
// search and to a batch with a Bundle of a type that interaction does not
// return. Each Bundle conforms to R4, so only the type check stops it: a
// batch-response to a search carries results of other requests, which the
// search's policy decision never covered. Each must become 502 with
// nothing of the body released, and the fitting type must still pass.
func TestStrictModeChecksResponseBundleType(t *testing.T) {
	const batch = `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim?_id=abc"}}]}`
	const transaction = `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"Claim?_id=abc"}}]}`
	bundle := func(typ string) []byte {
		entry := `{"response":{"status":"200","etag":"LEAKED"}}`
		if typ == "searchset" || typ == "collection" || typ == "history" {
			entry = `{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001","resource":{"resourceType":"Basic","code":{"text":"LEAKED"}}}`
		}
		if typ == "history" {
			entry = `{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001","request":{"method":"PUT","url":"Basic/1"},"response":{"status":"200","etag":"LEAKED"}}`
		}
		if typ == "searchset-empty" {
			return []byte(`{"resourceType":"Bundle","type":"searchset","total":0}`)
		}
		return []byte(`{"resourceType":"Bundle","type":"` + typ + `","entry":[` + entry + `]}`)
	}
	cases := []struct {
		name, method, path, body string
		upstream                 []byte
		wantStatus               int
	}{
		{"batch-response to a search", "GET", "/fhir/Claim?_id=abc", "", bundle("batch-response"), http.StatusBadGateway},
		{"collection to a search", "GET", "/fhir/Claim?_id=abc", "", bundle("collection"), http.StatusBadGateway},
		{"history to a search", "GET", "/fhir/Claim?_id=abc", "", bundle("history"), http.StatusBadGateway},
		{"searchset to a search", "GET", "/fhir/Claim?_id=abc", "", bundle("searchset-empty"), http.StatusOK},
		{"transaction-response to a batch", "POST", "/fhir", batch, bundle("transaction-response"), http.StatusBadGateway},
		{"searchset to a batch", "POST", "/fhir", batch, bundle("searchset-empty"), http.StatusBadGateway},
		{"batch-response to a batch", "POST", "/fhir", batch, bundle("batch-response"), http.StatusOK},
		{"batch-response to a transaction", "POST", "/fhir", transaction, bundle("batch-response"), http.StatusBadGateway},
		{"transaction-response to a transaction", "POST", "/fhir", transaction, bundle("transaction-response"), http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/fhir+json")
				w.Write(tc.upstream)
			}))
			defer up.Close()
			h := newHarness(t, harnessOptions{strict: true, upstreamURL: up.URL, edit: func(cfg *config.File, _ *devmode.Layout) {
				cfg.Partners[0].Interactions = append(cfg.Partners[0].Interactions, "Claim.search", "batch-transaction")
			}})
			header := http.Header{"Authorization": {"Bearer " + h.accessToken()}}
			var body []byte
			if tc.body != "" {
				header.Set("Content-Type", "application/fhir+json")
				body = []byte(tc.body)
			}

			resp := h.send(h.ehr.HTTPClient(), tc.method, tc.path, header, body)
			out := readBody(t, resp)

			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %.400s", resp.StatusCode, tc.wantStatus, out)
			}
			if tc.wantStatus == http.StatusOK {
				return
			}
			checkResponseTypeRejected(t, h, resp, out, "LEAKED")
			if !strings.Contains(string(out), "with a Bundle of type") {
				t.Errorf("the OperationOutcome does not name the Bundle type: %.400s", out)
			}
		})
	}
}
