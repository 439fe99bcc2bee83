package app_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
)

// The engine's batch to a partner is checked entry by entry against the
// outbound allowlist, as a partner's batch is inbound: batch-transaction
// alone does not let the engine read a Patient at the partner.
func TestOutboundBatchEntriesAllowlisted(t *testing.T) {
	batch := `{"resourceType":"Bundle","type":"batch","entry":[` +
		`{"request":{"method":"GET","url":"Task/1"}},{"request":{"method":"GET","url":"Patient/1"}}]}`
	requireOutboundBatchRefused(t, batch, true, "policy.not-allowed")
}

// An entry that is itself a batch (POST to the base) would carry its own
// entries past the allowlist and the kill switch's route cuts, which read
// only the outer entries. Strict mode rejects the empty entry URL such a
// batch needs, so the test turns it off to reach the allowlist check.
func TestOutboundNestedBatchRefused(t *testing.T) {
	batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"POST","url":""},"resource":` +
		`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1"}}]}}]}`
	requireOutboundBatchRefused(t, batch, false, "policy.bundle.nested")
}

// requireOutboundBatchRefused sends batch from the engine to a partner that
// allows batch-transaction and Task.read, and requires a 403 refusal
// recorded under rule, with nothing sent to the partner.
func requireOutboundBatchRefused(t *testing.T, batch string, strict bool, rule string) {
	t.Helper()
	h, ehr, engine, base := startOutbound(t, func(cfg *config.File) {
		if !strict {
			cfg.Strict.Mode = "off"
		}
	}, "batch-transaction", "Task.read")

	resp, err := engine.Post(base, "application/fhir+json", bytes.NewReader([]byte(batch)))
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status = %d, want 403: %s", resp.StatusCode, body)
	}
	if n := ehr.calls.Load(); n != 0 {
		t.Errorf("the partner received %d calls, want 0", n)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != rule || e[0].Direction != "outbound" {
		t.Errorf("entries = %+v, want one outbound %s refusal", e, rule)
	}
}
