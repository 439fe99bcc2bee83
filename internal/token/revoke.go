package token

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// controlFormBytes caps the body of a revocation or introspection request:
// the largest token Verify parses plus room for the other parameters.
const controlFormBytes = maxAccessTokenBytes + formOverhead

// RevocationScope is the set of tokens a caller of Server.Revoke may
// revoke. The zero value allows none.
type RevocationScope struct {
	any        bool
	thumbprint string
}

// AnyToken lets the caller revoke every token the server issued. It is for
// the payer's integration engine, which the caller must have authenticated.
func AnyToken() RevocationScope { return RevocationScope{any: true} }

// TokensBoundTo lets the caller revoke only the tokens whose cnf x5t#S256
// is cert's thumbprint: a partner revoking its own tokens over the
// connection that authenticated it. A nil cert allows none.
func TokensBoundTo(cert *x509.Certificate) RevocationScope {
	if cert == nil {
		return RevocationScope{}
	}
	return RevocationScope{thumbprint: CertificateThumbprint(cert)}
}

func (rs RevocationScope) allows(c *accessTokenClaims) bool {
	return rs.any || (rs.thumbprint != "" && c.boundTo(rs.thumbprint))
}

// Revocation is the outcome of a well-formed revocation request. The
// response is 200 whether or not a token was revoked (RFC 7009), so Revoked
// and Reason exist for the record only.
type Revocation struct {
	// Revoked reports whether a revocation was recorded, or was already.
	Revoked bool
	// TokenID and ClientID are the jti and client_id of a token that
	// passed the signature and lifetime checks, and are empty otherwise.
	TokenID  string
	ClientID string
	// Reason is the cause when nothing was revoked, such as "the token has
	// expired". It never contains token text.
	Reason string
}

// Revoke handles a revocation request (RFC 7009): a POST of a form with
// token and an optional token_type_hint, which is ignored because the
// server issues access tokens only. A token this server issued, that is
// unexpired and that scope allows, is recorded in ServerOptions.Revocations
// until its exp plus Skew, so Verify rejects it from then on. A token that
// is malformed, forged, expired or already revoked revokes nothing and
// still succeeds, as RFC 7009 section 2.2 requires. A token that scope does
// not allow fails with unauthorized_client.
//
// The caller authenticates the client before calling Revoke and records
// the outcome before passing it to WriteRevocation. Exactly one of the
// results is non-nil.
func (s *Server) Revoke(ctx context.Context, r *http.Request, scope RevocationScope) (*Revocation, *Error) {
	raw, e := readControlRequest(r, "revocation requests")
	if e != nil {
		return nil, e
	}
	if s.opts.Revocations == nil {
		return nil, newError(http.StatusBadRequest, CodeUnsupportedTokenType, "this server does not revoke access tokens")
	}

	claims, err := s.checkToken(raw)
	if err != nil {
		return &Revocation{Reason: inactiveReason(err)}, nil
	}
	res := &Revocation{TokenID: claims.ID, ClientID: claims.ClientID}
	if !scope.allows(claims) {
		return nil, newError(http.StatusBadRequest, CodeUnauthorizedClient, "the token is bound to another client certificate")
	}

	// The record outlives exp by Skew, because Verify tolerates that much.
	expires := time.Unix(claims.Expiry, 0).Add(s.opts.Skew)
	if err := s.opts.Revocations.Revoke(ctx, claims.ID, expires); err != nil {
		return nil, unavailable("revocation store is unavailable", err)
	}
	res.Revoked = true
	return res, nil
}

// WriteRevocation sends the outcome of Revoke: 200 with an empty body for
// a Revocation, whether or not it revoked anything, or the RFC 6749
// section 5.2 error response for an Error. Both carry Cache-Control:
// no-store.
func (s *Server) WriteRevocation(w http.ResponseWriter, res *Revocation, e *Error) {
	setNoStore(w.Header())
	if res != nil && e == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	s.writeError(w, e)
}

// readControlRequest reads a revocation or introspection request and
// returns its token parameter.
func readControlRequest(r *http.Request, endpoint string) (string, *Error) {
	form, e := readPostForm(r, endpoint, "the TLS client certificate", controlFormBytes)
	if e != nil {
		return "", e
	}
	return controlToken(form)
}

// controlToken returns the token parameter. An empty token is missing (RFC
// 6749 section 3.2). A token too long to be one this server issued is
// returned as is, because it then fails checkToken like any foreign token.
func controlToken(form url.Values) (string, *Error) {
	raw := form.Get("token")
	if raw == "" {
		return "", invalidRequest("token is missing")
	}
	return raw, nil
}

// inactiveReason names, for the record, why checkToken rejected a token.
func inactiveReason(err error) string {
	switch {
	case errors.Is(err, ErrExpiredToken):
		return "the token has expired"
	case errors.Is(err, ErrRevokedToken):
		return "the token has been revoked"
	default:
		return "the token is not a valid token of this server"
	}
}
