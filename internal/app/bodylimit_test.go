package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBodyTooLargeNamesLimit sends a body one byte over the default limit
// of 10 MiB to a FHIR operation and to the token endpoint. Both return 413
// with a message that names the limit, and the upstream sees nothing.
func TestBodyTooLargeNamesLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	body := bytes.Repeat([]byte(" "), 10<<20+1)
	const limit = "the request body exceeds the size limit of 10 MiB (10485760 bytes)"

	t.Run("FHIR", func(t *testing.T) {
		before := h.upstream.count.Load()
		resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
			http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, body)
		got := readBody(t, resp)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413: %s", resp.StatusCode, got)
		}
		if code := outcomeCode(t, got); code != "too-long" {
			t.Errorf("OperationOutcome code %q, want too-long", code)
		}
		var oo struct {
			Issue []struct {
				Diagnostics string `json:"diagnostics"`
			} `json:"issue"`
		}
		if err := json.Unmarshal(got, &oo); err != nil || len(oo.Issue) == 0 || oo.Issue[0].Diagnostics != limit {
			t.Errorf("diagnostics do not name the limit: %s", got)
		}
		if n := h.upstream.count.Load() - before; n != 0 {
			t.Errorf("upstream received %d requests, want 0", n)
		}
	})

	t.Run("token endpoint", func(t *testing.T) {
		resp := h.send(h.ehr.HTTPClient(), "POST", "/oauth/token",
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body)
		got := readBody(t, resp)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413: %s", resp.StatusCode, got)
		}
		if !strings.Contains(string(got), limit) {
			t.Errorf("error_description does not name the limit: %s", got)
		}
	})
}
