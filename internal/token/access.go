package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"
)

// Errors returned, wrapped, by Server.Verify.
var (
	ErrInvalidToken        = errors.New("token: invalid access token")
	ErrExpiredToken        = errors.New("token: access token has expired")
	ErrCertificateMismatch = errors.New("token: access token is bound to another client certificate")
	ErrRevokedToken        = errors.New("token: access token has been revoked")

	// ErrRevocationUnavailable means that the Revocations store failed, so
	// the token is rejected because it may have been revoked.
	ErrRevocationUnavailable = errors.New("token: revocation state is unavailable")
)

const (
	// accessTokenType is the typ header of access tokens (RFC 9068).
	accessTokenType = "at+jwt"

	// maxAccessTokenBytes caps what Verify parses. Issued tokens are about
	// 700 bytes.
	maxAccessTokenBytes = 4 << 10
)

// AccessClaims are the verified contents of an access token.
type AccessClaims struct {
	ClientID string
	Scopes   []string
	TokenID  string
	IssuedAt time.Time
	Expiry   time.Time
}

// accessTokenClaims is the JSON claims set of an access token.
type accessTokenClaims struct {
	Issuer       string       `json:"iss"`
	Subject      string       `json:"sub"`
	Audience     string       `json:"aud"`
	Expiry       int64        `json:"exp"`
	IssuedAt     int64        `json:"iat"`
	ID           string       `json:"jti"`
	Scope        string       `json:"scope"`
	ClientID     string       `json:"client_id"`
	Confirmation confirmation `json:"cnf"`
}

type confirmation struct {
	CertificateThumbprint string `json:"x5t#S256"`
}

// CertificateThumbprint returns the RFC 8705 x5t#S256 value of cert: the
// unpadded base64url SHA-256 of its DER encoding.
func CertificateThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// mint signs an access token for an authenticated client, bound to leaf.
func (s *Server) mint(a *authenticatedClient, scopes []string, leaf *x509.Certificate) (*Result, error) {
	now := s.opts.Now().Truncate(time.Second)
	expiry := now.Add(s.opts.Lifetime)
	if certExpiry := leaf.NotAfter.Truncate(time.Second); certExpiry.Before(expiry) {
		expiry = certExpiry
	}

	res := &Result{
		ClientID:    a.client.ID,
		AssertionID: a.jti,
		TokenID:     randomID(),
		Scopes:      scopes,
		IssuedAt:    now,
		Expiry:      expiry,
		Thumbprint:  CertificateThumbprint(leaf),
	}
	claims := accessTokenClaims{
		Issuer:       s.opts.Issuer,
		Subject:      res.ClientID,
		Audience:     s.opts.Audience,
		Expiry:       expiry.Unix(),
		IssuedAt:     now.Unix(),
		ID:           res.TokenID,
		Scope:        strings.Join(scopes, " "),
		ClientID:     res.ClientID,
		Confirmation: confirmation{CertificateThumbprint: res.Thumbprint},
	}

	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	jws, err := s.signer.Sign(payload)
	if err != nil {
		return nil, err
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return nil, err
	}
	if res.accessToken, err = lowS(compact); err != nil {
		return nil, err
	}
	return res, nil
}

// randomID returns 128 random bits, base64url encoded.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Verify calls VerifyContext with a background context.
func (s *Server) Verify(raw string, peer *x509.Certificate) (*AccessClaims, error) {
	return s.VerifyContext(context.Background(), raw, peer)
}

// VerifyContext checks an access token this server issued, presented over
// a TLS connection whose verified client certificate is peer. It checks the
// ES256 signature (low-s) with the server's own key and that the header
// contains only alg, typ and kid. It checks iss, aud, exp and iat (with
// Skew), and that exp - iat is at most Lifetime + Skew. It checks that cnf
// x5t#S256 is peer's thumbprint and, when ServerOptions.Revocations is set,
// that the token id is not revoked.
// Errors wrap ErrInvalidToken, ErrExpiredToken, ErrCertificateMismatch,
// ErrRevokedToken or ErrRevocationUnavailable.
func (s *Server) VerifyContext(ctx context.Context, raw string, peer *x509.Certificate) (*AccessClaims, error) {
	claims, err := s.checkToken(raw)
	if err != nil {
		return nil, err
	}

	if peer == nil {
		return nil, fmt.Errorf("%w: no client certificate", ErrCertificateMismatch)
	}
	if !claims.boundTo(CertificateThumbprint(peer)) {
		return nil, ErrCertificateMismatch
	}

	// The store is asked last, so that forged and expired tokens cost no
	// database query.
	if err := s.checkRevoked(ctx, claims.ID); err != nil {
		return nil, err
	}
	return claims.accessClaims(), nil
}

// checkToken checks everything about a token except its binding and its
// revocation: signature, header, iss, aud, the ids, exp and iat.
func (s *Server) checkToken(raw string) (*accessTokenClaims, error) {
	claims, err := s.verifySignedCached(raw)
	if err != nil {
		return nil, err
	}

	now := s.opts.Now()
	expiry := time.Unix(claims.Expiry, 0)
	switch {
	case claims.Issuer != s.opts.Issuer:
		return nil, fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	case claims.Audience != s.opts.Audience:
		return nil, fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	case claims.ClientID == "" || claims.Subject != claims.ClientID || claims.ID == "":
		return nil, fmt.Errorf("%w: client_id, sub or jti missing", ErrInvalidToken)
	case !now.Before(expiry.Add(s.opts.Skew)):
		return nil, ErrExpiredToken
	case time.Unix(claims.IssuedAt, 0).After(now.Add(s.opts.Skew)):
		return nil, fmt.Errorf("%w: issued in the future", ErrInvalidToken)
	}
	if err := s.checkLifetime(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// checkRevoked returns ErrRevokedToken when the Revocations store contains
// jti, and fails closed when the lookup fails.
func (s *Server) checkRevoked(ctx context.Context, jti string) error {
	if s.opts.Revocations == nil {
		return nil
	}
	revoked, err := s.opts.Revocations.Revoked(ctx, jti)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrRevocationUnavailable, err)
	case revoked:
		return ErrRevokedToken
	}
	return nil
}

// boundTo reports whether the token's cnf x5t#S256 is thumbprint, in
// constant time.
func (c *accessTokenClaims) boundTo(thumbprint string) bool {
	return subtle.ConstantTimeCompare([]byte(c.Confirmation.CertificateThumbprint), []byte(thumbprint)) == 1
}

func (c *accessTokenClaims) accessClaims() *AccessClaims {
	return &AccessClaims{
		ClientID: c.ClientID,
		Scopes:   strings.Fields(c.Scope),
		TokenID:  c.ID,
		IssuedAt: time.Unix(c.IssuedAt, 0),
		Expiry:   time.Unix(c.Expiry, 0),
	}
}

// verifySignedCached is verifySigned with the verified-token cache: a token
// whose text was verified before, and is still cached, is not verified
// again. Only successes are cached.
func (s *Server) verifySignedCached(raw string) (*accessTokenClaims, error) {
	if s.verified == nil || len(raw) > maxAccessTokenBytes {
		return s.verifySigned(raw)
	}
	key := sha256.Sum256([]byte(raw))
	now := s.opts.Now()
	if claims, ok := s.verified.get(key, now); ok {
		return claims, nil
	}
	claims, err := s.verifySigned(raw)
	if err != nil {
		return nil, err
	}
	s.verified.put(key, claims, now)
	return claims, nil
}

// verifySigned checks the JWS structure, header and signature and decodes
// the claims.
func (s *Server) verifySigned(raw string) (*accessTokenClaims, error) {
	s.signatureChecks.Add(1)
	if len(raw) > maxAccessTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxAccessTokenBytes)
	}
	if err := checkAccessHeader(raw); err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("%w: not an ES256 JWS in compact serialization", ErrInvalidToken)
	}
	if err := checkLowS(jws.Signatures[0].Signature); err != nil {
		return nil, err
	}

	header := jws.Signatures[0].Protected
	typ, _ := header.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
		return nil, fmt.Errorf("%w: typ is not %s", ErrInvalidToken, accessTokenType)
	}
	if header.KeyID != s.keyID {
		return nil, fmt.Errorf("%w: unknown kid", ErrInvalidToken)
	}

	payload, err := jws.Verify(s.publicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is invalid", ErrInvalidToken)
	}
	var claims accessTokenClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("%w: claims are malformed", ErrInvalidToken)
	}
	return &claims, nil
}
