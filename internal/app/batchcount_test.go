package app_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

func batchCountHarness(t *testing.T) *harness {
	return newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		// The counting upstream responds with a collection, which strict
		// mode would not release for a batch. The forwarded request is what
		// these tests check.
		cfg.Strict.Mode = "off"
		cfg.Policy.MaxCount = 25
		p := &cfg.Partners[0]
		p.Interactions = append(p.Interactions, "batch-transaction", "Claim.search", "Claim.read")
	}})
}

// A search entry of a batch without _count gets _count=max_count, as a
// plain search does, and the request entry records the Bundle as it was
// forwarded. Only the URL strings that need it change.
func TestDefaultCountAddedInBatch(t *testing.T) {
	h := batchCountHarness(t)
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}

	tests := []struct {
		name, sent, wantForwarded string
	}{
		{"search entries",
			`{"resourceType":"Bundle","type":"batch","entry":[` +
				`{"request":{"method":"GET","url":"Claim?status=active"}},` +
				`{"request":{"method":"GET","url":"Claim"}},` +
				`{"request":{"method":"GET","url":"Claim?status=active&_count=10"}},` +
				`{"request":{"method":"GET","url":"Claim/abc"}}]}`,
			`{"resourceType":"Bundle","type":"batch","entry":[` +
				`{"request":{"method":"GET","url":"Claim?status=active&_count=25"}},` +
				`{"request":{"method":"GET","url":"Claim?_count=25"}},` +
				`{"request":{"method":"GET","url":"Claim?status=active&_count=10"}},` +
				`{"request":{"method":"GET","url":"Claim/abc"}}]}`},
		{"url written with escapes and spacing",
			"{\"resourceType\":\"Bundle\", \"type\":\"batch\",\n \"entry\":[{\"request\":{\"url\":\"Claim\\u003fstatus=active\" , \"method\":\"GET\"}}]}",
			"{\"resourceType\":\"Bundle\", \"type\":\"batch\",\n \"entry\":[{\"request\":{\"url\":\"Claim\\u003fstatus=active&_count=25\" , \"method\":\"GET\"}}]}"},
		{"no search entry",
			`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim/abc"}}]}`,
			`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim/abc"}}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.sendForwarded(t, "POST", "/fhir", header, []byte(tc.sent))

			h.upstream.mu.Lock()
			forwarded := string(h.upstream.body)
			h.upstream.mu.Unlock()
			if forwarded != tc.wantForwarded {
				t.Errorf("upstream body\n%s\nwant\n%s", forwarded, tc.wantForwarded)
			}

			_, bodies := h.openRecord(requestEntry(t, h.entries(resp)))
			if string(bodies.Request) != forwarded {
				t.Errorf("recorded request body\n%s\nbut the upstream received\n%s", bodies.Request, forwarded)
			}
		})
	}
}

// A signed Bundle cannot be changed without breaking its signature, so a
// search entry without _count in one is rejected, and nothing reaches
// the upstream.
func TestDefaultCountSignedBatchRejected(t *testing.T) {
	h := batchCountHarness(t)
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim/abc"}},` +
		`{"request":{"method":"GET","url":"Claim?status=active"}}],` +
		`"signature":{"type":[{"system":"urn:iso-astm:E1762-95:2013","code":"1.2.840.10065.1.12.1.1"}],` +
		`"when":"2026-12-01T10:00:00Z","who":{"reference":"Organization/acme"},"data":"c2lnbmF0dXJl"}}`

	before := h.upstream.count.Load()
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir", header, []byte(batch))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, body)
	}
	if code := outcomeCode(t, body); code != "invalid" {
		t.Errorf("OperationOutcome code = %q, want invalid", code)
	}
	if n := h.upstream.count.Load() - before; n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
	entries := h.entries(resp)
	last := entries[len(entries)-1]
	if last.Phase != record.PhaseRefusal {
		t.Errorf("recorded phase %s, want %s", last.Phase, record.PhaseRefusal)
	}
	if last.Rule != "policy.bundle.signed-count" {
		t.Errorf("rule %q, want policy.bundle.signed-count", last.Rule)
	}

	// The same signed Bundle with its own _count is forwarded unchanged.
	counted := []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim?status=active&_count=5"}}],` +
		`"signature":{"type":[{"system":"urn:iso-astm:E1762-95:2013","code":"1.2.840.10065.1.12.1.1"}],` +
		`"when":"2026-12-01T10:00:00Z","who":{"reference":"Organization/acme"},"data":"c2lnbmF0dXJl"}}`)
	h.sendForwarded(t, "POST", "/fhir", header, counted)
	h.upstream.mu.Lock()
	forwarded := string(h.upstream.body)
	h.upstream.mu.Unlock()
	if forwarded != string(counted) {
		t.Errorf("signed Bundle with _count forwarded as %s", forwarded)
	}
}
