package token

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Introspection is the outcome of a well-formed introspection request
// (RFC 7662). It contains claims of the token but never the token text.
type Introspection struct {
	// Active reports whether the token is one this server issued, with a
	// valid signature, unexpired and not revoked. When false, only
	// {"active":false} is sent and the other fields are for the record.
	Active bool
	// Reason is the cause of an inactive result. It is recorded, never
	// sent.
	Reason string

	TokenID    string    // jti
	ClientID   string    // client_id, also the sub
	Issuer     string    // iss
	Audience   string    // aud: the FHIR base URL
	Scopes     []string  // granted scopes
	IssuedAt   time.Time // iat
	Expiry     time.Time // exp
	Thumbprint string    // cnf x5t#S256 of the certificate the token is bound to
}

// Deactivate marks the introspection inactive for reason, as when a kill
// switch revoked the token's client after the token was issued.
func (in *Introspection) Deactivate(reason string) {
	in.Active = false
	in.Reason = reason
}

// introspectionBody is the RFC 7662 section 2.2 response.
type introspectionBody struct {
	Active       bool          `json:"active"`
	Scope        string        `json:"scope,omitempty"`
	ClientID     string        `json:"client_id,omitempty"`
	TokenType    string        `json:"token_type,omitempty"`
	Expiry       int64         `json:"exp,omitzero"`
	IssuedAt     int64         `json:"iat,omitzero"`
	Subject      string        `json:"sub,omitempty"`
	Audience     string        `json:"aud,omitempty"`
	Issuer       string        `json:"iss,omitempty"`
	ID           string        `json:"jti,omitempty"`
	Confirmation *confirmation `json:"cnf,omitempty"`
}

// Introspect handles an introspection request (RFC 7662): a POST of a
// form with token and an optional token_type_hint, which is ignored. The
// token is active only if Verify would accept it over the certificate it
// is bound to. The binding itself is not checked, because the caller
// presents no certificate of the partner. The response carries cnf, so the
// caller can compare it with the certificate presented to it. An outage of
// ServerOptions.Revocations fails with 503 rather than report a token
// active that may have been revoked.
//
// Only the payer's integration engine may introspect, and the caller
// authenticates it before calling Introspect. Exactly one of the results
// is non-nil.
func (s *Server) Introspect(ctx context.Context, r *http.Request) (*Introspection, *Error) {
	raw, e := readControlRequest(r, "introspection requests")
	if e != nil {
		return nil, e
	}

	claims, err := s.checkToken(raw)
	if err == nil {
		err = s.checkRevoked(ctx, claims.ID)
	}
	switch {
	case errors.Is(err, ErrRevocationUnavailable):
		return nil, unavailable("revocation store is unavailable", err)
	case err != nil:
		return &Introspection{Reason: inactiveReason(err)}, nil
	}

	in := &Introspection{
		Active:     true,
		TokenID:    claims.ID,
		ClientID:   claims.ClientID,
		Issuer:     claims.Issuer,
		Audience:   claims.Audience,
		Scopes:     strings.Fields(claims.Scope),
		IssuedAt:   time.Unix(claims.IssuedAt, 0),
		Expiry:     time.Unix(claims.Expiry, 0),
		Thumbprint: claims.Confirmation.CertificateThumbprint,
	}
	return in, nil
}

// WriteIntrospection sends the outcome of Introspect: the RFC 7662
// section 2.2 response for an Introspection, or the RFC 6749 section 5.2
// error response for an Error. Both carry Cache-Control: no-store.
func (s *Server) WriteIntrospection(w http.ResponseWriter, in *Introspection, e *Error) {
	setNoStore(w.Header())
	if in == nil || e != nil {
		s.writeError(w, e)
		return
	}

	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if !in.Active {
		writeJSON(w, http.StatusOK, introspectionBody{Active: false})
		return
	}
	writeJSON(w, http.StatusOK, introspectionBody{
		Active:       true,
		Scope:        strings.Join(in.Scopes, " "),
		ClientID:     in.ClientID,
		TokenType:    "Bearer",
		Expiry:       in.Expiry.Unix(),
		IssuedAt:     in.IssuedAt.Unix(),
		Subject:      in.ClientID,
		Audience:     in.Audience,
		Issuer:       in.Issuer,
		ID:           in.TokenID,
		Confirmation: &confirmation{CertificateThumbprint: in.Thumbprint},
	})
}
