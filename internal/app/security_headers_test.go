package app_test

import (
	"context"
	"net/http"
	"testing"
)

// securityHeaders are the headers every response the gateway releases
// carries, successes and refusals alike.
var securityHeaders = map[string]string{
	"X-Content-Type-Options": "nosniff",
	"Cache-Control":          "no-store",
}

func checkSecurityHeaders(t *testing.T, name string, status, wantStatus int, header http.Header) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d", name, status, wantStatus)
	}
	for k, want := range securityHeaders {
		if got := header.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", name, k, got, want)
		}
	}
}

// TestSecurityHeadersInbound requires the security headers of refusals on
// the inbound listener's successful responses too: a forwarded FHIR
// response, a document the gateway serves itself and the token endpoint.
func TestSecurityHeadersInbound(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true})
	client := h.ehr.HTTPClient()

	tok, err := h.ehr.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSecurityHeaders(t, "token endpoint", http.StatusOK, http.StatusOK, tok.Header)

	resp, _ := h.metadata(client, tok.AccessToken)
	checkSecurityHeaders(t, "forwarded metadata", resp.StatusCode, http.StatusOK, resp.Header)

	resp = h.send(client, "GET", "/fhir/.well-known/smart-configuration", nil, nil)
	readBody(t, resp)
	checkSecurityHeaders(t, "smart-configuration", resp.StatusCode, http.StatusOK, resp.Header)

	resp, _ = h.metadata(client, "not-a-token")
	checkSecurityHeaders(t, "refusal", resp.StatusCode, http.StatusUnauthorized, resp.Header)
}

// TestSecurityHeadersOutbound requires the security headers on a response
// the outbound listener releases to the payer's engine, whatever headers
// the partner's server sent.
func TestSecurityHeadersOutbound(t *testing.T) {
	h, _, engine, _ := startOutbound(t, nil, "capabilities")
	resp, _ := h.outboundMetadata(engine)
	checkSecurityHeaders(t, "outbound metadata", resp.StatusCode, http.StatusOK, resp.Header)
}
