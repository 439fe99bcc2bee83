package token

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors returned by BearerToken.
var (
	ErrNoToken          = errors.New("token: request carries no bearer token")
	ErrMalformedRequest = errors.New("token: malformed bearer token request")
)

// BearerToken returns the access token from the request's Authorization
// header (RFC 6750 section 2.1). A token in the URL query fails with
// ErrMalformedRequest, because URLs end up in access logs. A token in a form
// body (RFC 6750 section 2.3) is never read.
func BearerToken(r *http.Request) (string, error) {
	if r.URL != nil && r.URL.Query().Has("access_token") {
		return "", fmt.Errorf("%w: access_token must not be sent in the URL", ErrMalformedRequest)
	}
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", fmt.Errorf("%w: more than one Authorization header", ErrMalformedRequest)
	}

	scheme, tok, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: Authorization scheme must be Bearer", ErrMalformedRequest)
	}
	if !validB64Token(tok) {
		return "", fmt.Errorf("%w: bearer token has invalid syntax", ErrMalformedRequest)
	}
	return tok, nil
}

// validB64Token reports whether s matches the b64token rule of RFC 6750
// section 2.1: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func validB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// BearerChallenge returns the HTTP status and WWW-Authenticate value that a
// resource request failing BearerToken or Server.Verify gets (RFC 6750
// section 3). A request without a token gets a challenge without an error
// code, a malformed request gets invalid_request, an unavailable revocation
// store gets 503 with no challenge, and every other failure gets
// invalid_token. The description names the failure and never contains the
// token.
func BearerChallenge(err error) (status int, challenge string) {
	switch {
	case errors.Is(err, ErrRevocationUnavailable):
		return http.StatusServiceUnavailable, ""
	case errors.Is(err, ErrNoToken):
		return http.StatusUnauthorized, "Bearer"
	case errors.Is(err, ErrMalformedRequest):
		return http.StatusBadRequest, `Bearer error="invalid_request"`
	case errors.Is(err, ErrExpiredToken):
		return http.StatusUnauthorized, `Bearer error="invalid_token", error_description="the access token has expired"`
	case errors.Is(err, ErrRevokedToken):
		return http.StatusUnauthorized, `Bearer error="invalid_token", error_description="the access token has been revoked"`
	case errors.Is(err, ErrCertificateMismatch):
		return http.StatusUnauthorized, `Bearer error="invalid_token", error_description="the access token is bound to another client certificate"`
	default:
		return http.StatusUnauthorized, `Bearer error="invalid_token", error_description="the access token is invalid"`
	}
}
