package token

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Token request parameter names and values (RFC 6749, RFC 7523).
const (
	grantClientCredentials = "client_credentials"

	// AssertionType is the client_assertion_type of a JWT client assertion.
	AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

	// formOverhead is the room left in a request body for the parameters
	// other than client_assertion, scope included.
	formOverhead = 4 << 10
)

// tokenRequest is a token request whose parameters passed the syntax checks.
type tokenRequest struct {
	assertion string
	clientID  string // optional client_id parameter
	scopes    []string
}

// Issue authenticates the client of a token request and, if every check in
// the package documentation passes, issues an access token bound to the
// verified TLS client certificate. It writes nothing, so the caller can
// record the outcome before passing it to WriteResponse. Exactly one of the
// results is non-nil.
func (s *Server) Issue(ctx context.Context, r *http.Request) (*Result, *Error) {
	leaf, e := verifiedLeaf(r)
	if e != nil {
		return nil, e
	}
	form, e := s.readForm(r)
	if e != nil {
		return nil, e
	}
	req, e := s.parseTokenRequest(form)
	if e != nil {
		return nil, e
	}

	a, e := s.authenticate(ctx, req.assertion, req.clientID)
	if e != nil {
		return nil, e
	}
	if e := s.checkPeer(r, a); e != nil {
		return nil, a.annotate(e)
	}
	if e := s.useAssertion(ctx, a); e != nil {
		return nil, a.annotate(e)
	}

	granted := grantScopes(req.scopes, a.client.Scopes)
	if len(granted) == 0 {
		return nil, a.annotate(invalidScope("none of the requested scopes is registered for this client"))
	}

	res, err := s.mint(a, granted, leaf)
	if err != nil {
		return nil, a.annotate(serverError("access token could not be signed", err))
	}
	return res, nil
}

// verifiedLeaf returns the client certificate of r from a verified chain.
// PeerCertificates alone are never trusted, because they hold whatever the
// client sent.
func verifiedLeaf(r *http.Request) (*x509.Certificate, *Error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, invalidClient("a verified TLS client certificate is required")
	}
	return r.TLS.VerifiedChains[0][0], nil
}

// readForm checks the token request's method, headers and body, then
// parses the form.
func (s *Server) readForm(r *http.Request) (url.Values, *Error) {
	return readPostForm(r, "token requests", "a client assertion", int64(s.opts.MaxAssertionBytes+formOverhead))
}

// readPostForm checks that r is a POST of a form body of at most limit
// bytes, with no URL query and no Authorization header, then parses the
// form with every parameter appearing at most once. endpoint and
// credential name the request and its client authentication in errors.
func readPostForm(r *http.Request, endpoint, credential string, limit int64) (url.Values, *Error) {
	if r.Method != http.MethodPost {
		return nil, newError(http.StatusMethodNotAllowed, CodeInvalidRequest, endpoint+" must use POST")
	}
	if r.URL.RawQuery != "" {
		return nil, invalidRequest("parameters must be sent in the request body, not the URL")
	}
	if len(r.Header.Values("Authorization")) > 0 {
		return nil, invalidRequest("the Authorization header is not accepted; authenticate with " + credential + " only")
	}
	if e := checkContentType(r.Header.Values("Content-Type")); e != nil {
		return nil, e
	}
	if e := checkContentEncoding(r.Header.Values("Content-Encoding")); e != nil {
		return nil, e
	}

	body, e := readBody(r.Body, limit)
	if e != nil {
		return nil, e
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidRequest("request body is not valid form encoding")
	}
	for name, values := range form {
		if len(values) > 1 {
			return nil, invalidRequest(repeatedParameter(name))
		}
	}
	return form, nil
}

func checkContentType(values []string) *Error {
	const want = "application/x-www-form-urlencoded"
	if len(values) != 1 {
		return invalidRequest("Content-Type must be " + want)
	}
	mediaType, params, err := mime.ParseMediaType(values[0])
	if err != nil || mediaType != want {
		return invalidRequest("Content-Type must be " + want)
	}
	for name, value := range params {
		if name != "charset" || !strings.EqualFold(value, "utf-8") {
			return invalidRequest("Content-Type may carry only charset=utf-8")
		}
	}
	return nil
}

// checkContentEncoding rejects an encoded form. The body is never
// decoded, so a compressed form would otherwise be parsed as form text and
// fail later with a misleading client error. FHIR requests on the same
// listener are rejected with 415 for the same header.
func checkContentEncoding(values []string) *Error {
	if len(values) == 0 {
		return nil
	}
	if len(values) == 1 && strings.EqualFold(strings.TrimSpace(values[0]), "identity") {
		return nil
	}
	return invalidRequest("Content-Encoding is not accepted: send the form uncompressed, without Content-Encoding")
}

func readBody(body io.Reader, limit int64) ([]byte, *Error) {
	if body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, invalidRequest("request body could not be read")
	}
	if int64(len(data)) > limit {
		return nil, invalidRequest(fmt.Sprintf("request body exceeds %d bytes", limit))
	}
	return data, nil
}

// repeatedParameter names a repeated parameter only if it is one this
// endpoint defines, so that no client-chosen text is echoed.
func repeatedParameter(name string) string {
	switch name {
	case "grant_type", "client_assertion_type", "client_assertion", "client_id", "client_secret", "scope",
		"token", "token_type_hint":
		return "parameter " + name + " must not be repeated"
	}
	return "a parameter is repeated"
}

// parseTokenRequest checks the grant type, the client authentication
// parameters and the scope syntax. Empty parameters count as absent (RFC 6749
// section 3.2) and unknown ones are ignored.
func (s *Server) parseTokenRequest(form url.Values) (*tokenRequest, *Error) {
	switch form.Get("grant_type") {
	case "":
		return nil, invalidRequest("grant_type is missing")
	case grantClientCredentials:
	default:
		return nil, newError(http.StatusBadRequest, CodeUnsupportedGrantType, "only the client_credentials grant is supported")
	}
	if form.Get("client_secret") != "" {
		return nil, invalidRequest("client_secret is not accepted; authenticate with a private_key_jwt client assertion only")
	}

	switch form.Get("client_assertion_type") {
	case "":
		return nil, invalidClient("client authentication is missing: send client_assertion_type and client_assertion")
	case AssertionType:
	default:
		return nil, invalidClient("client_assertion_type must be " + AssertionType)
	}
	assertion := form.Get("client_assertion")
	if assertion == "" {
		return nil, invalidClient("client_assertion is missing")
	}
	if len(assertion) > s.opts.MaxAssertionBytes {
		return nil, invalidClient(fmt.Sprintf("client_assertion exceeds %d bytes", s.opts.MaxAssertionBytes))
	}

	scope := form.Get("scope")
	if scope == "" {
		return nil, invalidScope("scope is missing")
	}
	scopes, err := parseScope(scope)
	if err != nil {
		return nil, invalidScope(err.Error())
	}

	req := &tokenRequest{assertion: assertion, clientID: form.Get("client_id"), scopes: scopes}
	return req, nil
}

// checkPeer rejects an assertion presented over another partner's
// certificate.
func (s *Server) checkPeer(r *http.Request, a *authenticatedClient) *Error {
	if s.opts.PeerClient == nil {
		return nil
	}
	peerID, ok := s.opts.PeerClient(r)
	if ok && peerID != a.client.ID {
		return invalidClient("the TLS client certificate does not belong to the asserted client")
	}
	return nil
}

// useAssertion records the assertion's jti so that it is accepted once. The
// record outlives exp by Skew, because the exp check tolerates that much.
func (s *Server) useAssertion(ctx context.Context, a *authenticatedClient) *Error {
	err := s.opts.Replay.Use(ctx, a.client.ID, a.jti, a.expiry.Add(s.opts.Skew))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrReplay):
		return invalidClient("assertion jti has already been used")
	default:
		return unavailable("replay cache is unavailable", err)
	}
}
