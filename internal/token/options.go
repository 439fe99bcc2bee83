package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Defaults and limits for ServerOptions.
const (
	DefaultLifetime          = 5 * time.Minute
	MaxLifetime              = time.Hour
	DefaultMaxAssertionBytes = 8 << 10
	DefaultSkew              = 60 * time.Second

	minAssertionBytes = 1 << 10
	maxAssertionBytes = 64 << 10
	maxSkew           = 5 * time.Minute

	// maxAssertionLifetime is how far ahead an assertion's exp may be, as
	// SMART Backend Services requires.
	maxAssertionLifetime = 5 * time.Minute
)

// ServerOptions configures a Server. NewServer fills the defaults and
// validates the options, and an invalid option yields an error naming it.
type ServerOptions struct {
	// TokenURL is the token endpoint's URL exactly as partners address it.
	// Assertions must carry it as aud. It must be an absolute https URL.
	TokenURL string

	// Issuer is the iss of access tokens, normally the gateway's base URL.
	Issuer string

	// Audience is the aud of access tokens: the FHIR base URL they grant
	// access to.
	Audience string

	// SigningKey signs access tokens with ES256, so its public key must be
	// ECDSA on P-256. It may be a hardware-backed crypto.Signer.
	SigningKey crypto.Signer

	// KeyID is the kid of access tokens. When empty, it is the RFC 7638
	// thumbprint of the signing key's public JWK.
	KeyID string

	// Lifetime is how long access tokens are valid: DefaultLifetime when
	// zero, at most MaxLifetime.
	Lifetime time.Duration

	// Clients looks up partner registrations. Required.
	Clients ClientStore

	// Replay records used assertion ids. Required. Replicas must share one
	// cache, so a MemoryReplayCache fits a single instance only.
	Replay ReplayCache

	// Revocations records revoked access token ids. When nil, no token can
	// be revoked: Revoke returns unsupported_token_type and Verify skips
	// the check. Replicas must share one store, so that a token revoked
	// through one of them is rejected by all.
	Revocations Revocations

	// Now returns the current time. When nil, time.Now is used.
	Now func() time.Time

	// MaxAssertionBytes caps the client_assertion parameter, checked before
	// the assertion is parsed: DefaultMaxAssertionBytes when zero, between
	// 1 KiB and 64 KiB.
	MaxAssertionBytes int

	// Skew is the clock difference tolerated in exp, iat and nbf checks:
	// DefaultSkew when zero, at most 5 minutes.
	Skew time.Duration

	// PeerClient returns the partner id that the verified client
	// certificate of r maps to. When it returns ok and that id differs from
	// the assertion's client, the request fails with invalid_client. When
	// nil, or when it returns !ok, no such check is made, so the gateway
	// must reject certificates that map to no partner before they reach the
	// token endpoint.
	PeerClient func(r *http.Request) (clientID string, ok bool)

	// VerifiedCacheTTL is how long the signature check of an access token
	// is reused for the same token text, within the token's lifetime:
	// DefaultVerifiedCacheTTL when zero, at most 5 minutes, and no cache
	// when negative. The claims, the certificate binding and the
	// revocation state are checked on every request whatever it is.
	VerifiedCacheTTL time.Duration
}

// withDefaults returns a copy of o with zero values replaced by defaults.
func (o ServerOptions) withDefaults() ServerOptions {
	if o.Lifetime == 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.MaxAssertionBytes == 0 {
		o.MaxAssertionBytes = DefaultMaxAssertionBytes
	}
	if o.Skew == 0 {
		o.Skew = DefaultSkew
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.VerifiedCacheTTL == 0 {
		o.VerifiedCacheTTL = DefaultVerifiedCacheTTL
	}
	return o
}

// validate checks options that withDefaults has already completed.
func (o ServerOptions) validate() error {
	if err := checkHTTPSURL(o.TokenURL); err != nil {
		return optionError("TokenURL", err.Error())
	}
	if o.Issuer == "" {
		return optionError("Issuer", "is required")
	}
	if o.Audience == "" {
		return optionError("Audience", "is required")
	}
	if err := checkSigningKey(o.SigningKey); err != nil {
		return optionError("SigningKey", err.Error())
	}
	if o.Lifetime < 0 || o.Lifetime > MaxLifetime {
		return optionError("Lifetime", fmt.Sprintf("must be between 0 and %v, got %v", MaxLifetime, o.Lifetime))
	}
	if o.Clients == nil {
		return optionError("Clients", "is required")
	}
	if o.Replay == nil {
		return optionError("Replay", "is required")
	}
	if o.MaxAssertionBytes < minAssertionBytes || o.MaxAssertionBytes > maxAssertionBytes {
		return optionError("MaxAssertionBytes", fmt.Sprintf("must be between %d and %d, got %d",
			minAssertionBytes, maxAssertionBytes, o.MaxAssertionBytes))
	}
	if o.Skew < 0 || o.Skew > maxSkew {
		return optionError("Skew", fmt.Sprintf("must be between 0 and %v, got %v", maxSkew, o.Skew))
	}
	if o.VerifiedCacheTTL > MaxVerifiedCacheTTL {
		return optionError("VerifiedCacheTTL", fmt.Sprintf("must be at most %v, got %v", MaxVerifiedCacheTTL, o.VerifiedCacheTTL))
	}
	return nil
}

func optionError(name, problem string) error {
	return fmt.Errorf("token: ServerOptions.%s %s", name, problem)
}

func checkHTTPSURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must be an absolute https URL without query or fragment, got %q", raw)
	}
	return nil
}

func checkSigningKey(key crypto.Signer) error {
	if key == nil {
		return errors.New("is required")
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return fmt.Errorf("must be an ECDSA P-256 key for ES256, got %T", key.Public())
	}
	return nil
}
