package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/token"
)

// During a kill-switch cut, the token and revocation endpoints respond as
// OAuth servers do (RFC 6749 section 5.2). They send 503
// temporarily_unavailable in application/json with Retry-After, never an
// OperationOutcome, and the refusal is recorded.
func TestOAuthEndpointsDuringCut(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()
	id := h.engage(`{"mode":"full","scope":"partner:demo-ehr","reason":"suspected credential theft"}`)
	defer h.release(id)

	_, err := h.ehr.Token(context.Background())
	var re *token.ResponseError
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.Code != token.CodeTemporarilyUnavailable {
		t.Fatalf("token during the cut: err = %v, want 503 temporarily_unavailable", err)
	}

	key, _ := h.layout.PartnerAssertionKey()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Claim.rs"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {h.assertion("demo-ehr", h.rt.TokenURL, key, time.Now())}}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/oauth/token",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode()))
	checkOAuthError(t, h, resp, http.StatusServiceUnavailable, token.CodeTemporarilyUnavailable)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	e := h.entries(resp)
	if len(e) != 1 {
		t.Fatalf("entries = %+v, want one kill-switch refusal", e)
	}
	if !strings.HasPrefix(e[0].Rule, "killswitch.cut-") {
		t.Errorf("rule = %q, want killswitch.cut-*", e[0].Rule)
	}
	if e[0].Status != http.StatusServiceUnavailable {
		t.Errorf("recorded status = %d, want 503", e[0].Status)
	}

	// Revocation is not cut, and still responds in OAuth form.
	resp = h.send(h.ehr.HTTPClient(), "POST", "/oauth/revoke",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("token="+tok+"&token="+tok))
	checkOAuthError(t, h, resp, http.StatusBadRequest, token.CodeInvalidRequest)
}

func checkOAuthError(t *testing.T, h *harness, resp *http.Response, status int, code string) {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error != code || e.Description == "" {
		t.Errorf("body = %s, want an OAuth error %q with a description", body, code)
	}
}
