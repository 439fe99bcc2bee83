// Package config defines the Gatehouse configuration file, decodes it
// strictly and validates it.
//
// The lifecycle follows three steps. Load decodes YAML, rejecting unknown
// keys, and reports every problem with its key path and line
// (`partners[1].interactions[0] (line 14): ...`). Validate checks the values
// without side effects. The caller then compiles what it needs (certificate
// pools, keys, rule tables) once at start-up; nothing is parsed per request.
//
// Relative file paths are resolved against the directory of the
// configuration file.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/policy"
)

// File is the root of the configuration file.
type File struct {
	// Listen is the host:port of the inbound HTTPS listener for partners.
	Listen string `yaml:"listen"`
	// PublicURL is the https URL partners use to reach Listen. The FHIR base
	// is PublicURL + "/fhir" and the token endpoint PublicURL + "/oauth/token";
	// client assertions must name that token URL exactly as their audience.
	PublicURL string `yaml:"public_url"`
	// PayerID is this payer's verified identifier. Claim.insurer and
	// Coverage.payor in partners' payloads must carry it.
	PayerID Identifier `yaml:"payer_id"`
	// PayerIDAliases are other identifiers the payer is known by in
	// payloads, accepted like PayerID.
	PayerIDAliases []Identifier `yaml:"payer_id_aliases"`
	// MemberIDSystems are the identifier systems of this payer's member
	// ids, such as the subscriber id on a Coverage. An outbound payload
	// may carry an identifier of one of these systems, on a patient or
	// anywhere else in the body, only when the destination partner named
	// that identifier in an accepted request. With the built-in payer as
	// upstream, its system urn:gatehouse:payer:member-id is always
	// included.
	MemberIDSystems []string `yaml:"member_id_systems"`
	// Policy sets the limits of the policy engine and an optional shadow
	// candidate.
	Policy Policy `yaml:"policy"`

	TLS      TLS       `yaml:"tls"`
	Admin    Admin     `yaml:"admin"`
	Outbound Outbound  `yaml:"outbound"`
	Audit    Audit     `yaml:"audit"`
	Network  Network   `yaml:"network"`
	Strict   Strict    `yaml:"strict"`
	Egress   Egress    `yaml:"egress"`
	Token    Token     `yaml:"token"`
	Database Database  `yaml:"database"`
	Limits   Limits    `yaml:"limits"`
	Upstream Upstream  `yaml:"upstream"`
	Payer    Payer     `yaml:"payer"`
	Partners []Partner `yaml:"partners"`
	// Alerts tunes the anomaly alerts and lists canary members.
	Alerts Alerts `yaml:"alerts"`
	// Tracing sends OpenTelemetry spans to a collector; off by default.
	Tracing Tracing `yaml:"tracing"`

	// dir is the directory relative paths are resolved against.
	dir string
}

// Policy configures the policy engine.
type Policy struct {
	// MaxCount is the largest _count a search may ask for; larger is
	// refused, never lowered. A search without _count is forwarded with
	// _count=MaxCount. Default 100.
	MaxCount int `yaml:"max_count"`
	// PageTokenLifetime is how long the page links of a search response
	// stay valid, between MinPageTokenLifetime and MaxPageTokenLifetime.
	// Default DefaultPageTokenLifetime. Each page request is authorized
	// again, so the lifetime bounds how long the gateway honours a sealed
	// upstream link, not what the partner may read.
	PageTokenLifetime time.Duration `yaml:"page_token_lifetime"`
	// MaxBundleEntries caps the entries of a batch or transaction; default
	// 100.
	MaxBundleEntries int `yaml:"max_bundle_entries"`
	// SubscriptionTopics are the canonical URLs of SubscriptionTopics that
	// partners may subscribe to besides the Da Vinci PAS topic, which is
	// always allowed (policy.Options.SubscriptionTopics).
	SubscriptionTopics []string `yaml:"subscription_topics"`
	// Shadow, when set, is a candidate policy that decides every request
	// beside the enforced one without acting; disagreements are counted.
	Shadow *ShadowPolicy `yaml:"shadow"`
}

// ShadowPolicy is a candidate policy. Partners it does not list keep their
// enforced registration.
type ShadowPolicy struct {
	MaxCount         int `yaml:"max_count"`
	MaxBundleEntries int `yaml:"max_bundle_entries"`
	// SubscriptionTopics replaces the enforced policy's list, and the PAS
	// topic is allowed either way.
	SubscriptionTopics []string        `yaml:"subscription_topics"`
	Partners           []ShadowPartner `yaml:"partners"`
}

// ShadowPartner is a candidate registration of one partner.
type ShadowPartner struct {
	ID     string            `yaml:"id"`
	Roles  map[string]string `yaml:"roles"`
	Grants []Grant           `yaml:"grants"`
}

// Grant gives one partner a feature that is refused by default, such as
// history or $everything, with the reason it needs it.
type Grant struct {
	Feature string `yaml:"feature"`
	Reason  string `yaml:"reason"`
}

// IssuingCA names the CA that issues one partner's client certificates.
// Set CertFile, SHA256 or both; with both, SHA256 must be the fingerprint
// of a certificate in CertFile and only that certificate is accepted.
type IssuingCA struct {
	// CertFile is a PEM file of the CA certificate (several during a CA
	// rotation). Its certificates join tls.client_ca_file's in the trust
	// pool and reload with it.
	CertFile string `yaml:"cert_file"`
	// SHA256 is the SHA-256 fingerprint of the CA certificate's DER
	// encoding: 64 hex digits, optionally in colon-separated pairs as
	// `openssl x509 -fingerprint -sha256` prints them. Without CertFile
	// the certificate must be in tls.client_ca_file or another partner's
	// issuing_ca.cert_file.
	SHA256 string `yaml:"sha256"`
}

var errBadFingerprint = errors.New("a SHA-256 fingerprint is 64 hex digits, or 32 hex pairs separated by ':'")

// ParseFingerprint decodes a SHA-256 certificate fingerprint written as
// 64 hex digits, or as 32 colon-separated hex pairs, in either case.
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	if len(s) == 3*sha256.Size-1 {
		for i := 2; i < len(s); i += 3 {
			if s[i] != ':' {
				return fp, errBadFingerprint
			}
		}
		s = strings.ReplaceAll(s, ":", "")
	}
	if len(s) != 2*sha256.Size {
		return fp, errBadFingerprint
	}
	if _, err := hex.Decode(fp[:], []byte(s)); err != nil {
		return fp, errBadFingerprint
	}
	return fp, nil
}

// Identifier is a FHIR identifier (system and value).
type Identifier struct {
	System string `yaml:"system"`
	Value  string `yaml:"value"`
}

// TLS holds the inbound listener's certificate and the private CA partners'
// client certificates must chain to.
type TLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
	// CRLFile contains the CRLs of the partner CA (as written by gatehouse
	// pki). When set, revoked client certificates are refused, and so is
	// every certificate whose issuer has no current CRL in the file.
	CRLFile string `yaml:"crl_file"`
	// ReloadInterval is how often certificate, key, CA and CRL files are
	// checked for changes; default 30s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Strict configures strict mode: FHIR validation of every body in both
// directions.
type Strict struct {
	// Mode is "enforce" (the default) or "off".
	Mode string `yaml:"mode"`
	// PASVersions are the Da Vinci PAS versions accepted; a PAS body must
	// conform to one of them. Default 2.0.1 and 2.2.1.
	PASVersions []string `yaml:"pas_versions"`
	// Skip lists interactions, in allowlist syntax, exempt from strict mode
	// for every partner.
	Skip []string `yaml:"skip"`
	// UnknownProfiles is the action strict mode takes on a body whose
	// meta.profile names a profile Gatehouse has not loaded, "reject" (the
	// default) or "warn". With "warn" the body is forwarded without being
	// checked against that profile. A partner's strict_unknown_profiles
	// replaces it for that partner.
	UnknownProfiles string `yaml:"unknown_profiles"`
}

// Network restricts where inbound connections may come from.
type Network struct {
	// AllowSources lists the CIDRs (IPv4 and IPv6) a connection may come
	// from, checked before the TLS handshake. Required; list 0.0.0.0/0 and
	// ::/0 explicitly to accept any source.
	AllowSources []string `yaml:"allow_sources"`
	// TrustedProxies lists the load balancers whose PROXY protocol header
	// is believed. Forwarded / X-Forwarded-For headers are believed only
	// on requests that did not arrive over TLS the gateway terminated,
	// which excludes the partner listener.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ProxyProtocol expects a PROXY protocol v2 header from trusted proxies.
	ProxyProtocol bool `yaml:"proxy_protocol"`
}

// Egress restricts every outbound connection the gateway makes.
type Egress struct {
	// Allow lists the host names (exact or *.domain), addresses and CIDRs,
	// each optionally with :port, outbound connections may reach. Private,
	// loopback, link-local and metadata addresses are refused unless an
	// entry inside that range lists them.
	Allow []string `yaml:"allow"`
	// ForwardProxy is an HTTP CONNECT proxy that forces the integration
	// engine's own egress through the same allowlist.
	ForwardProxy ForwardProxy `yaml:"forward_proxy"`
}

// ForwardProxy configures the CONNECT proxy listener.
type ForwardProxy struct {
	// Listen is the host:port of the proxy; empty disables it.
	Listen string `yaml:"listen"`
	// AllowClients lists the CIDRs that may use the proxy.
	AllowClients []string `yaml:"allow_clients"`
}

// Admin configures the administrators' listener (metrics, health, kill
// switch). It requires client certificates with an urn:gatehouse:admin: URI
// SAN.
type Admin struct {
	// Listen is the host:port of the admin listener; empty disables it.
	Listen string `yaml:"listen"`
	// ClientCAFile is the CA bundle administrator certificates must chain
	// to; default tls.client_ca_file.
	ClientCAFile string `yaml:"client_ca_file"`
	// MaxConnections is the maximum number of connections the admin
	// listener keeps open at once. One more is closed before its TLS
	// handshake. Default DefaultAdminMaxConnections.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerSource is the maximum number of connections one
	// source address keeps open on the admin listener. Default
	// DefaultAdminMaxConnectionsPerSource.
	MaxConnectionsPerSource int `yaml:"max_connections_per_source"`
}

// Outbound configures the payer-to-partner path: a listener on the payer's
// network where the integration engine sends requests addressed to a
// partner, and the payer's own credentials toward partners.
type Outbound struct {
	// Listen is the host:port of the outbound listener; empty disables the
	// outbound path.
	Listen string `yaml:"listen"`
	// ClientCAFile is the CA bundle the engine's certificate (with an
	// urn:gatehouse:engine: URI SAN) must chain to; default
	// tls.client_ca_file.
	ClientCAFile string `yaml:"client_ca_file"`
	// CertFile and KeyFile are the payer's client certificate presented to
	// partners.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// AssertionKeyFile is the payer's private JWK that signs client
	// assertions to partners' authorization servers. Its public half is
	// served at <public_url>/.well-known/jwks.json.
	AssertionKeyFile string `yaml:"assertion_key_file"`
}

// PartnerOutbound is the payer's route to one partner.
type PartnerOutbound struct {
	// FHIRBase is the partner's FHIR base URL (https).
	FHIRBase string `yaml:"fhir_base"`
	// TokenURL is the partner's SMART token endpoint.
	TokenURL string `yaml:"token_url"`
	// ClientID is the payer's client id at the partner.
	ClientID string `yaml:"client_id"`
	// Scopes requested from the partner.
	Scopes []string `yaml:"scopes"`
	// CAFile verifies the partner's server certificates; default the
	// system roots.
	CAFile string `yaml:"ca_file"`
	// Interactions lists what the engine may do at the partner.
	Interactions []string `yaml:"interactions"`
}

// Audit configures the tamper-evident exchange log: a Merkle tree over
// every record entry, signed checkpoints, and bodies encrypted to the
// security team.
type Audit struct {
	// Origin names the log; it is the first line of every checkpoint and
	// never changes for a database, e.g. "payer.example/gatehouse-audit".
	Origin string `yaml:"origin"`
	// SigningKeyFile contains the checkpoint signing key (a signed-note
	// private key whose name is Origin).
	SigningKeyFile string `yaml:"signing_key_file"`
	// RecipientsFile lists the age recipients (public keys) of the
	// security team. Every entry's bodies are encrypted to all of them, so
	// the gateway host alone cannot read past bodies. Required.
	RecipientsFile string `yaml:"recipients_file"`
	// RetiredVerifierKeysFile, when set, lists the verifier keys of the
	// checkpoint signing keys this log used before SigningKeyFile, one per
	// line, oldest first ('gatehouse audit rotate-signing-key' prints the
	// line to add). Start-up then accepts a CheckpointFile signed by one of
	// them when a stored handover checkpoint covers it, and the console's
	// verification checks the checkpoints of every key.
	RetiredVerifierKeysFile string `yaml:"retired_verifier_keys_file"`
	// CheckpointFile, when set, receives each new signed checkpoint.
	CheckpointFile string `yaml:"checkpoint_file"`
	// CheckpointEvery signs a checkpoint after this many entries; default 1000.
	CheckpointEvery int64 `yaml:"checkpoint_every"`
	// CheckpointInterval is the longest an entry waits for a checkpoint;
	// default 10s.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// Retention, when set, destroys the wrapped body keys of entries older
	// than this, once a day; proofs stay valid.
	Retention time.Duration `yaml:"retention"`
	// Witnesses cosign each new checkpoint. A witness outside the payer's
	// control rejects a checkpoint inconsistent with one it cosigned, so a
	// rewrite of the log by the holder of the signing key is caught.
	Witnesses []Witness `yaml:"witnesses"`
}

// Token configures the SMART Backend Services token endpoint.
type Token struct {
	// SigningKeyFile is a PEM ECDSA P-256 private key that signs access tokens.
	SigningKeyFile string `yaml:"signing_key_file"`
	// Lifetime of access tokens; default 5m, at most 1h.
	Lifetime time.Duration `yaml:"lifetime"`
	// JWKSMaxKeyAge is how long after its last successful fetch a
	// partner's JWK set (partners[].jwks_url) stays trusted while it
	// cannot be fetched again. Past it the partner's token requests are
	// rejected until a fetch succeeds. Default 24h; 1m to 720h.
	JWKSMaxKeyAge time.Duration `yaml:"jwks_max_key_age"`
	// VerifiedCacheTTL is how long the signature check of an access token
	// is reused for the same token text: unset for 30s, 0s to verify the
	// signature on every request, at most 5m. Claims, the certificate
	// binding and revocation are checked on every request either way.
	VerifiedCacheTTL *time.Duration `yaml:"verified_cache_ttl"`
}

// VerifiedCacheOption returns token.verified_cache_ttl in the form
// token.ServerOptions takes: zero for the default, negative for no cache.
func (t Token) VerifiedCacheOption() time.Duration {
	switch {
	case t.VerifiedCacheTTL == nil:
		return 0
	case *t.VerifiedCacheTTL == 0:
		return -1
	default:
		return *t.VerifiedCacheTTL
	}
}

// Database selects where exchange records and payer data are kept. Set
// one of URL and Path.
type Database struct {
	// URL names the database: a SQLite file as a path or sqlite:///path,
	// or a PostgreSQL database as
	// postgres://user@host:5432/database?sslmode=verify-full, which gateway
	// replicas share. A relative SQLite path is relative to this file.
	// Leave the password out of the URL: the PostgreSQL driver reads
	// PGPASSWORD and ~/.pgpass.
	URL string `yaml:"url"`
	// Path of the SQLite database file, the older form of URL.
	Path string `yaml:"path"`
}

// Limits caps request sizes.
type Limits struct {
	// MaxBodyBytes is the largest accepted request body; default 10 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxBufferedBodyBytes is the maximum memory that request bodies take
	// at once, across every connection and HTTP/2 stream of the inbound and
	// outbound listeners. A request past it gets 503. The default is
	// DefaultBufferedBodies times MaxBodyBytes.
	MaxBufferedBodyBytes int64 `yaml:"max_buffered_body_bytes"`
	// MaxConnections is the maximum number of connections each of the
	// inbound and outbound listeners keeps open at once. One more is
	// closed before its TLS handshake. Default DefaultMaxConnections.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerSource is the maximum number of connections one
	// source address keeps open on each of those listeners. A trusted proxy
	// that sends PROXY protocol headers is exempt. Default
	// DefaultMaxConnectionsPerSource.
	MaxConnectionsPerSource int `yaml:"max_connections_per_source"`
	// HTTP2MaxConcurrentStreams is the maximum number of HTTP/2 streams a
	// client may have open on one connection. Default
	// DefaultHTTP2MaxConcurrentStreams.
	HTTP2MaxConcurrentStreams int `yaml:"http2_max_concurrent_streams"`
}

// Upstream is the payer's FHIR server requests are forwarded to.
type Upstream struct {
	// URL is the upstream FHIR base URL, or "builtin" (the default) for the
	// built-in payer service.
	URL string `yaml:"url"`
	// Timeout bounds one forwarded exchange; default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// CAFile verifies an https upstream; empty means the system roots.
	CAFile string `yaml:"ca_file"`
}

// Payer configures the built-in payer service.
type Payer struct {
	// Listen is the loopback host:port the payer service listens on when it is
	// the upstream; default 127.0.0.1:0 (an ephemeral port).
	Listen string `yaml:"listen"`
	// RulesFile replaces the built-in decision rule table.
	RulesFile string `yaml:"rules_file"`
	// Notifications lets the payer service send Subscription notifications
	// to partners through the outbound listener, as an integration engine.
	Notifications Notifications `yaml:"notifications"`
	// SubscriptionRetention is how long a Subscription stays readable,
	// with its stored events, after it was deleted or its end passed, so
	// that the partner can read its final $status and fetch missed events.
	// Zero means subscriptions.DefaultRetention (720h, 30 days). Any other
	// value must be at least MinSubscriptionRetention.
	SubscriptionRetention time.Duration `yaml:"subscription_retention"`
}

// Notifications contains the payer service's engine credentials toward the
// outbound listener.
type Notifications struct {
	// CertFile and KeyFile are an engine certificate (urn:gatehouse:engine:
	// URI SAN) that the outbound listener accepts; empty disables sending.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile verifies the outbound listener's certificate; default
	// tls.client_ca_file.
	CAFile string `yaml:"ca_file"`
}

// Partner is one EHR organisation allowed to connect.
type Partner struct {
	// ID is the partner's OAuth client id and the id in its certificate's
	// urn:gatehouse:partner: URI SAN.
	ID string `yaml:"id"`
	// Organization identifies the partner's organisation, such as an NPI.
	Organization Identifier `yaml:"organization"`
	// IssuingCA, when set, is the only CA whose certificates may speak for
	// this partner: the verified chain of the partner's client certificate
	// must pass through it, on FHIR requests and at the token endpoint.
	// Nil accepts a chain to any client CA the listener trusts.
	IssuingCA *IssuingCA `yaml:"issuing_ca"`
	// JWKSFile holds the public keys that verify the partner's client
	// assertions. Set exactly one of JWKSFile, JWKS and JWKSURL.
	JWKSFile string `yaml:"jwks_file"`
	// JWKS is the partner's public JWK set inline, as JSON text (a YAML
	// block scalar: `jwks: |` followed by the JSON).
	JWKS string `yaml:"jwks"`
	// JWKSURL is the https URL of the partner's published JWK set, fetched
	// through the egress guard, so its host must be on egress.allow. The
	// set is cached for its Cache-Control max-age (1m to 24h, default 1h).
	// It is fetched on demand, at most once a minute after a successful
	// fetch. After a failed fetch the next one is allowed after 1s, and the
	// wait doubles with each further failure up to a minute (see
	// docs/security.md).
	JWKSURL string `yaml:"jwks_url"`
	// JWKSCAFile verifies the JWKS URL's server certificate; default the
	// system roots. Only with JWKSURL.
	JWKSCAFile string `yaml:"jwks_ca_file"`
	// Scopes is the maximum set of SMART scopes the partner may be granted,
	// in SMART v1 or v2 syntax plus Gatehouse's operation scopes (see
	// docs/security.md).
	Scopes []string `yaml:"scopes"`
	// AllowWildcardScopes permits a "*" resource type in Scopes.
	AllowWildcardScopes bool `yaml:"allow_wildcard_scopes"`
	// Roles gives the partner read or write access per data class (claims,
	// coverage, clinical, member, ...); classes not listed get no access.
	Roles map[string]string `yaml:"roles"`
	// Grants are the refused-by-default features this partner may use.
	Grants []Grant `yaml:"grants"`
	// Interactions lists the FHIR interactions the partner may perform, such
	// as "Claim/$submit" or "capabilities". Everything else is denied.
	Interactions []string `yaml:"interactions"`
	// RateLimit caps the partner's request rate; above it requests get 429.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Outbound, when set, lets the payer's engine call this partner.
	Outbound *PartnerOutbound `yaml:"outbound"`
	// Sources narrows, for this partner, the networks its certificate may
	// be presented from; empty means network.allow_sources alone.
	Sources []string `yaml:"sources"`
	// Strict turns strict mode off for this partner when false; default on.
	Strict *bool `yaml:"strict"`
	// StrictSkip lists interactions exempt from strict mode for this
	// partner only.
	StrictSkip []string `yaml:"strict_skip"`
	// StrictUnknownProfiles replaces strict.unknown_profiles for this
	// partner, in both directions: "reject" or "warn". Empty means
	// strict.unknown_profiles.
	StrictUnknownProfiles string `yaml:"strict_unknown_profiles"`
}

// StrictOn reports whether strict mode applies to the partner.
func (f *File) StrictOn(p Partner) bool {
	return f.Strict.Mode != "off" && (p.Strict == nil || *p.Strict)
}

// WarnUnknownProfiles reports whether strict mode forwards the partner's
// bodies that declare a profile Gatehouse has not loaded, unchecked
// against it, rather than rejecting them. The partner's
// strict_unknown_profiles decides when set, otherwise strict.unknown_profiles.
func (f *File) WarnUnknownProfiles(p Partner) bool {
	if p.StrictUnknownProfiles != "" {
		return p.StrictUnknownProfiles == "warn"
	}
	return f.Strict.UnknownProfiles == "warn"
}

// RateLimit is a token bucket: a sustained rate and a burst size.
type RateLimit struct {
	// RequestsPerSecond is the sustained rate; default 200. Each replica
	// enforces it on its own, so N replicas admit up to N times the rate.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Burst is how many requests may arrive at once; default twice the rate.
	Burst int `yaml:"burst"`
}

// Defaults.
const (
	DefaultMaxBodyBytes    = 10 << 20
	DefaultTokenLifetime   = 5 * time.Minute
	MaxTokenLifetime       = time.Hour
	DefaultUpstreamTimeout = 30 * time.Second
	DefaultPartnerRate     = 200
	Builtin                = "builtin"

	// DefaultPageTokenLifetime, MinPageTokenLifetime and
	// MaxPageTokenLifetime bound policy.page_token_lifetime. Below a
	// minute a partner may not fetch a page before its next link expires.
	// Past a day the upstream's own paging state is likely gone: the HAPI
	// FHIR JPA server drops a search's results after one hour by default
	// (DaoConfig.setExpireSearchResultsAfterMillis).
	DefaultPageTokenLifetime = gateway.DefaultPageLifetime
	MinPageTokenLifetime     = time.Minute
	MaxPageTokenLifetime     = 24 * time.Hour

	// DefaultBufferedBodies is the number of bodies of
	// limits.max_body_bytes that fit in the default
	// limits.max_buffered_body_bytes.
	DefaultBufferedBodies = 32

	// DefaultMaxConnections, DefaultMaxConnectionsPerSource and
	// DefaultHTTP2MaxConcurrentStreams are the defaults of
	// limits.max_connections, limits.max_connections_per_source and
	// limits.http2_max_concurrent_streams. With HTTP/2, one partner
	// connection carries many concurrent requests, so a few connections
	// per source suffice.
	DefaultMaxConnections            = 1024
	DefaultMaxConnectionsPerSource   = 64
	DefaultHTTP2MaxConcurrentStreams = 100
	// DefaultAdminMaxConnections and DefaultAdminMaxConnectionsPerSource
	// are the defaults of admin.max_connections and
	// admin.max_connections_per_source. The admin listener serves a few
	// operators, metric scrapers and the CLI. A browser opens several
	// HTTP/1.1 connections to one host (about six, an estimate), so 16 per
	// source leaves room for the console and a scraper on one machine.
	DefaultAdminMaxConnections          = 64
	DefaultAdminMaxConnectionsPerSource = 16
	// MinSubscriptionRetention is the smallest accepted
	// payer.subscription_retention. A partner that polls once a day can
	// still read a Subscription's final $status and its missed events.
	MinSubscriptionRetention = 24 * time.Hour
	// MaxHTTP2ConcurrentStreams is the largest accepted
	// limits.http2_max_concurrent_streams.
	MaxHTTP2ConcurrentStreams = 1000
)

// PartnerPolicy returns the policy registration of a partner.
func PartnerPolicy(p Partner) policy.PartnerConfig { return partnerPolicyConfig(p) }

func partnerPolicyConfig(p Partner) policy.PartnerConfig {
	cfg := policy.PartnerConfig{
		ID:           p.ID,
		Organization: congruence.Identifier{System: p.Organization.System, Value: p.Organization.Value},
		Roles:        p.Roles,
		Grants:       grantConfigs(p.Grants),
	}
	if p.Outbound != nil {
		cfg.OutboundFHIRBase = p.Outbound.FHIRBase
	}
	return cfg
}

func grantConfigs(gs []Grant) []policy.GrantConfig {
	out := make([]policy.GrantConfig, len(gs))
	for i, g := range gs {
		out[i] = policy.GrantConfig{Feature: g.Feature, Reason: g.Reason}
	}
	return out
}
