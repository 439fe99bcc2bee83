package app_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// TestNarrowedRegistrationLimitsOldToken checks that the registration caps
// the scopes of tokens issued before it changed. After the payer removes
// Claim.$submit and restarts, a token issued earlier gets 403 on
// Claim/$submit, the refusal is recorded, and the upstream receives nothing.
func TestNarrowedRegistrationLimitsOldToken(t *testing.T) {
	var cfg *config.File
	h := newHarness(t, harnessOptions{edit: func(c *config.File, _ *devmode.Layout) { cfg = c }})
	old := h.accessToken()

	// Restart on the same address, so the issuer and audience of the old
	// token stay valid, with Claim.$submit removed from the registration.
	u, err := url.Parse(h.rt.PublicURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.Listen = net.JoinHostPort("127.0.0.1", u.Port())
	cfg.Partners[0].Scopes = []string{"system/Claim.rs", "system/ClaimResponse.rs", "system/Claim.$inquire"}
	h.start(cfg)

	before := h.upstream.count.Load()
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + old}}, shippedBundle(t))
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status = %d, want 403: %s", resp.StatusCode, body)
	}
	if code := outcomeCode(t, body); code != "forbidden" {
		t.Errorf("OperationOutcome code = %q, want forbidden", code)
	}
	if n := h.upstream.count.Load() - before; n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
	entries := h.entries(resp)
	if len(entries) != 1 {
		t.Fatalf("entries = %+v, want one refusal", entries)
	}
	if entries[0].Rule != "policy.scope" {
		t.Errorf("rule = %q, want policy.scope", entries[0].Rule)
	}
	// The old token holds the scope, so the reason must name the
	// registration as a place the scope can be missing from.
	const reason = "the access token's scopes, within the partner's registration, do not include system/Claim.$submit"
	if !strings.Contains(string(body), reason) {
		t.Errorf("OperationOutcome %s, want the reason %q", body, reason)
	}
	if !strings.Contains(entries[0].Reason, reason) {
		t.Errorf("recorded reason %q, want %q", entries[0].Reason, reason)
	}
}
