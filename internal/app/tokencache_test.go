package app_test

import (
	"net/http"
	"testing"
)

// TestCachedTokenOverAnotherCertificate uses a token once, so that the
// gateway's verified-token cache contains it, then presents it over another
// certificate of the same partner: the binding is still checked.
func TestCachedTokenOverAnotherCertificate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()
	if resp, body := h.metadata(h.ehr.HTTPClient(), tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: status %d: %s", resp.StatusCode, body)
	}

	resp, body := h.metadata(h.secondPartnerClient(), tok)
	if resp.StatusCode != http.StatusUnauthorized || outcomeCode(t, body) != "login" {
		t.Fatalf("cached token over another certificate: status %d: %s; want 401 login", resp.StatusCode, body)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "token.certificate-mismatch" {
		t.Errorf("entries = %+v, want one token.certificate-mismatch refusal", e)
	}
	if resp, body := h.metadata(h.ehr.HTTPClient(), tok); resp.StatusCode != http.StatusOK {
		t.Errorf("the token over its own certificate afterwards: status %d: %s", resp.StatusCode, body)
	}
}
