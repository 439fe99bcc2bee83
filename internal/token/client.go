package token

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"
)

const (
	// clientAssertionLifetime is the exp - iat of assertions made by
	// NewAssertion, a minute inside the five minutes servers accept.
	clientAssertionLifetime = 4 * time.Minute

	// maxResponseBytes caps the token response Fetch reads.
	maxResponseBytes = 64 << 10

	// maxDescriptionBytes caps the error_description Fetch reports.
	maxDescriptionBytes = 256
)

// Response is a successful token response (RFC 6749 section 5.1).
type Response struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	// Header contains the HTTP response headers, such as the record headers
	// a Gatehouse token endpoint sets (X-Gatehouse-Record). It never
	// contains the token.
	Header http.Header `json:"-"`
}

// String describes the response with the access token replaced by its
// fingerprint, so that printing a Response never reveals the token.
func (r Response) String() string {
	return fmt.Sprintf("token.Response{access_token: %s, token_type: %s, expires_in: %d, scope: %q}",
		Fingerprint(r.AccessToken), r.TokenType, r.ExpiresIn, r.Scope)
}

// ResponseError is an error response from a token endpoint. Description is
// the server's error_description with characters outside the RFC 6749
// error_description set replaced by '?' and cut to 256 bytes.
type ResponseError struct {
	Status      int    // HTTP status
	Code        string // OAuth error code, empty if the body had none
	Description string
	Header      http.Header // HTTP response headers; nil when not built by Fetch
}

func (e *ResponseError) Error() string {
	msg := fmt.Sprintf("token: token endpoint returned HTTP %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// NewAssertion returns a client assertion (RFC 7523 section 2.2) for
// clientID at the token endpoint tokenURL, signed by key. The algorithm
// comes from the key (see GenerateKey), the kid header is key.KeyID, exp is
// now + 4 minutes and jti is 128 random bits.
func NewAssertion(clientID, tokenURL string, key *jose.JSONWebKey, now time.Time) (string, error) {
	if clientID == "" || tokenURL == "" {
		return "", errors.New("token: client id and token URL are required")
	}
	if key == nil || key.KeyID == "" {
		return "", errors.New("token: signing key must be a JWK with a kid")
	}
	alg, err := signingAlgorithm(key)
	if err != nil {
		return "", err
	}

	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), key.KeyID)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key.Key}, opts)
	if err != nil {
		return "", fmt.Errorf("token: signing key %q: %w", key.KeyID, err)
	}

	now = now.Truncate(time.Second)
	claims := map[string]any{
		"iss": clientID,
		"sub": clientID,
		"aud": tokenURL,
		"exp": now.Add(clientAssertionLifetime).Unix(),
		"iat": now.Unix(),
		"jti": randomID(),
	}
	payload, err := json.Marshal(claims, json.Deterministic(true))
	if err != nil {
		return "", fmt.Errorf("token: encoding assertion claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("token: signing assertion with key %q: %w", key.KeyID, err)
	}
	return jws.CompactSerialize()
}

// Fetch obtains an access token with the client_credentials grant and a
// client assertion made by NewAssertion at the current time. client must
// present the partner's TLS client certificate, because the token is bound
// to it. An error response from the endpoint is returned as a
// *ResponseError.
func Fetch(ctx context.Context, client *http.Client, tokenURL, clientID string, key *jose.JSONWebKey, scope string) (*Response, error) {
	return FetchForAudience(ctx, client, tokenURL, tokenURL, clientID, key, scope)
}

// FetchForAudience is Fetch with the client assertion's aud set to
// audience, while the request goes to tokenURL. The audience is the token
// endpoint URL that the server checks aud against. It differs from
// tokenURL when a client reaches the endpoint by another name than the
// server's public URL.
func FetchForAudience(ctx context.Context, client *http.Client, tokenURL, audience, clientID string, key *jose.JSONWebKey, scope string) (*Response, error) {
	if client == nil {
		return nil, errors.New("token: Fetch needs an http.Client that presents the partner's TLS client certificate")
	}
	assertion, err := NewAssertion(clientID, audience, key, time.Now())
	if err != nil {
		return nil, err
	}

	form := url.Values{
		"grant_type":            {grantClientCredentials},
		"client_assertion_type": {AssertionType},
		"client_assertion":      {assertion},
		"scope":                 {scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("token: building token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token: token request failed: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("token: reading token response: %w", err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("token: token response exceeds %d bytes", maxResponseBytes)
	}

	if resp.StatusCode != http.StatusOK {
		e := parseErrorResponse(resp.StatusCode, body)
		e.Header = resp.Header
		return nil, e
	}
	r, err := parseTokenResponse(body)
	if err != nil {
		return nil, err
	}
	r.Header = resp.Header
	return r, nil
}

func parseTokenResponse(body []byte) (*Response, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, errors.New("token: token response is not a valid JSON token response")
	}
	if r.AccessToken == "" {
		return nil, errors.New("token: token response has no access_token")
	}
	if !strings.EqualFold(r.TokenType, "Bearer") {
		return nil, fmt.Errorf("token: token_type is %q, expected Bearer", sanitizeDescription(r.TokenType))
	}
	return &r, nil
}

func parseErrorResponse(status int, body []byte) *ResponseError {
	var fields struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	e := &ResponseError{Status: status}
	if json.Unmarshal(body, &fields) == nil {
		e.Code = sanitizeDescription(fields.Error)
		e.Description = sanitizeDescription(fields.Description)
	}
	return e
}

// sanitizeDescription keeps the characters RFC 6749 allows in
// error_description (%x20-21 / %x23-5B / %x5D-7E), replacing others by '?',
// and cuts the result to maxDescriptionBytes.
func sanitizeDescription(s string) string {
	if len(s) > maxDescriptionBytes {
		s = s[:maxDescriptionBytes]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return string(b)
}
