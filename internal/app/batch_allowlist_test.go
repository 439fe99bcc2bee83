package app_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// A batch entry is an interaction of its own. A partner whose allowlist
// names batch-transaction but not ClaimResponse.read gets 403 for
// GET /fhir/ClaimResponse/1, so the same read inside a batch must be
// refused too, before anything reaches the upstream. Otherwise the
// batch-transaction entry silently widens every per-type entry.
func TestBatchEntryOutsideAllowlist(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		p := &cfg.Partners[0]
		p.Interactions = append(p.Interactions, "batch-transaction")
	}})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}

	direct := h.send(h.ehr.HTTPClient(), "GET", "/fhir/ClaimResponse/1", http.Header{"Authorization": header["Authorization"]}, nil)
	readBody(t, direct)
	if direct.StatusCode != http.StatusForbidden {
		t.Fatalf("direct read: status = %d, want 403", direct.StatusCode)
	}

	before := h.upstream.count.Load()
	batch := []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"ClaimResponse/1"}}]}`)
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir", header, batch)
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("batch: status = %d, want 403; body %s", resp.StatusCode, body)
	}
	if n := h.upstream.count.Load() - before; n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
}
