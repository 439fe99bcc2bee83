package gateway

import (
	"net/http"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/token"
)

// oauthRetryAfter is the Retry-After, in seconds, of a 503 on the OAuth
// endpoints when the refusal does not set one. A kill-switch cut has no known
// end, so the client should wait a minute before it retries.
const oauthRetryAfter = "60"

// oauthRefusal returns the status and RFC 6749 section 5.2 JSON error body of
// a refusal on the token, revocation and introspection endpoints.
func oauthRefusal(ref *Refusal) (int, []byte) {
	status, code := oauthStatus(ref)
	body, err := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, ref.Message})
	if err != nil {
		// Two strings always marshal, so this fixed body is only a safeguard.
		body = []byte(`{"error":"server_error"}`)
	}
	return status, body
}

// oauthStatus maps a gateway refusal to an HTTP status and OAuth error code.
// An identity.* refusal (a client certificate that does not identify a
// registered partner) is invalid_client with 401, as a bad assertion is. A
// 503 or 429 keeps its status with temporarily_unavailable, and any other 5xx
// is server_error. Every other refusal is invalid_request with its own status.
func oauthStatus(ref *Refusal) (int, string) {
	switch {
	case strings.HasPrefix(ref.Rule, "identity."):
		return http.StatusUnauthorized, token.CodeInvalidClient
	case ref.Status == http.StatusServiceUnavailable || ref.Status == http.StatusTooManyRequests:
		return ref.Status, token.CodeTemporarilyUnavailable
	case ref.Status >= 500:
		return ref.Status, token.CodeServerError
	}
	return ref.Status, token.CodeInvalidRequest
}

// writeOAuth sends an OAuth error body with no-cache headers (RFC 6749
// section 5.1), WWW-Authenticate with a 401, and Retry-After with a 503.
func (g *Gateway) writeOAuth(w http.ResponseWriter, ex *exchange, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	setSecurityHeaders(h)
	h.Set("Pragma", "no-cache")
	h.Set("X-Request-Id", ex.entry.ExchangeID)
	switch status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `private_key_jwt realm="gatehouse"`)
	case http.StatusServiceUnavailable:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", oauthRetryAfter)
		}
	}
	setRecordHeaders(h, ex)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
