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
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/egress"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/netguard"
	"github.com/gatehouse-health/gatehouse/internal/policy"
	"github.com/gatehouse-health/gatehouse/internal/scope"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/token"
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
	// checked against that profile. It applies to every partner.
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
}

// StrictOn reports whether strict mode applies to the partner.
func (f *File) StrictOn(p Partner) bool {
	return f.Strict.Mode != "off" && (p.Strict == nil || *p.Strict)
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
	DefaultMaxBodyBytes   = 10 << 20
	DefaultTokenLifetime  = 5 * time.Minute
	MaxTokenLifetime      = time.Hour
	DefaultUpstreamTimout = 30 * time.Second
	DefaultPartnerRate    = 200
	Builtin               = "builtin"

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
	// operators, metric scrapers and the CLI. A browser opens up to six
	// HTTP/1.1 connections to one host, so 16 per source leaves room for
	// the console and a scraper on one machine.
	DefaultAdminMaxConnections          = 64
	DefaultAdminMaxConnectionsPerSource = 16
	// MaxHTTP2ConcurrentStreams is the largest accepted
	// limits.http2_max_concurrent_streams.
	MaxHTTP2ConcurrentStreams = 1000
)

// Dir returns the directory relative paths are resolved against.
func (f *File) Dir() string { return f.dir }

// Resolve returns p made absolute against the configuration directory.
func (f *File) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.dir, p)
}

// DatabaseURL returns the URL to open the database with: database.url or
// database.path, a relative SQLite path resolved against the directory of
// the configuration file.
func (f *File) DatabaseURL() string {
	raw := f.Database.URL
	if raw == "" {
		raw = f.Database.Path
	}
	dialect, target, err := storage.ParseURL(raw)
	if err != nil || dialect != storage.SQLite {
		return raw
	}
	return "sqlite://" + f.Resolve(target)
}

// FHIRBase returns the public FHIR base URL.
func (f *File) FHIRBase() string { return strings.TrimRight(f.PublicURL, "/") + "/fhir" }

// TokenURL returns the public token endpoint URL.
func (f *File) TokenURL() string { return strings.TrimRight(f.PublicURL, "/") + "/oauth/token" }

// RevocationURL is the public URL of the token revocation endpoint (RFC
// 7009) on the inbound listener.
func (f *File) RevocationURL() string { return strings.TrimRight(f.PublicURL, "/") + "/oauth/revoke" }

// ApplyDefaults fills unset optional values of a File built in code.
func ApplyDefaults(f *File) { f.applyDefaults() }

// applyDefaults fills unset optional values.
func (f *File) applyDefaults() {
	if f.Limits.MaxBodyBytes == 0 {
		f.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if f.Limits.MaxBufferedBodyBytes == 0 {
		f.Limits.MaxBufferedBodyBytes = DefaultBufferedBodies * f.Limits.MaxBodyBytes
	}
	if f.Limits.MaxConnections == 0 {
		f.Limits.MaxConnections = DefaultMaxConnections
	}
	if f.Limits.MaxConnectionsPerSource == 0 {
		f.Limits.MaxConnectionsPerSource = min(DefaultMaxConnectionsPerSource, f.Limits.MaxConnections)
	}
	if f.Limits.HTTP2MaxConcurrentStreams == 0 {
		f.Limits.HTTP2MaxConcurrentStreams = DefaultHTTP2MaxConcurrentStreams
	}
	if f.Token.Lifetime == 0 {
		f.Token.Lifetime = DefaultTokenLifetime
	}
	if f.Policy.PageTokenLifetime == 0 {
		f.Policy.PageTokenLifetime = DefaultPageTokenLifetime
	}
	if f.Upstream.URL == "" {
		f.Upstream.URL = Builtin
	}
	if f.Upstream.Timeout == 0 {
		f.Upstream.Timeout = DefaultUpstreamTimout
	}
	if f.Payer.Listen == "" {
		f.Payer.Listen = "127.0.0.1:0"
	}
	if f.Admin.ClientCAFile == "" {
		f.Admin.ClientCAFile = f.TLS.ClientCAFile
	}
	if f.Admin.MaxConnections == 0 {
		f.Admin.MaxConnections = DefaultAdminMaxConnections
	}
	if f.Admin.MaxConnectionsPerSource == 0 {
		f.Admin.MaxConnectionsPerSource = min(DefaultAdminMaxConnectionsPerSource, f.Admin.MaxConnections)
	}
	if f.Outbound.ClientCAFile == "" {
		f.Outbound.ClientCAFile = f.TLS.ClientCAFile
	}
	f.Alerts.applyDefaults()
	f.Tracing.applyDefaults()
	for i := range f.Partners {
		rl := &f.Partners[i].RateLimit
		if rl.RequestsPerSecond == 0 {
			rl.RequestsPerSecond = DefaultPartnerRate
		}
		if rl.Burst == 0 {
			rl.Burst = int(2 * rl.RequestsPerSecond)
		}
	}
}

// Validate checks every value and returns all problems found, joined. It has
// no side effects: files are checked by the caller when it loads them.
func (f *File) Validate() error {
	var v validator
	v.hostPort("listen", f.Listen)
	v.httpsURL("public_url", f.PublicURL)
	for i, system := range f.MemberIDSystems {
		if system == "" || strings.TrimSpace(system) != system {
			v.addf(fmt.Sprintf("member_id_systems[%d]", i), "%q is not an identifier system: use the exact URI of the member ids, such as urn:oid:2.16.840.1.113883.3.9999", system)
		}
	}

	v.required("tls.cert_file", f.TLS.CertFile)
	v.required("tls.key_file", f.TLS.KeyFile)
	v.required("tls.client_ca_file", f.TLS.ClientCAFile)
	if f.TLS.ReloadInterval < 0 {
		v.addf("tls.reload_interval", "%s is negative: use a duration such as 30s, or leave it out for 30s", f.TLS.ReloadInterval)
	}
	v.required("token.signing_key_file", f.Token.SigningKeyFile)
	if f.Admin.Listen != "" {
		v.hostPort("admin.listen", f.Admin.Listen)
	}

	if a := f.Token.JWKSMaxKeyAge; a != 0 && (a < time.Minute || a > 720*time.Hour) {
		v.addf("token.jwks_max_key_age", "%s is out of range: use a duration between 1m and 720h, or leave it out for 24h", a)
	}
	if c := f.Token.VerifiedCacheTTL; c != nil && (*c < 0 || *c > token.MaxVerifiedCacheTTL) {
		v.addf("token.verified_cache_ttl", "%s is out of range: use a duration between 0s (no cache) and %s, or leave it out for %s", *c, token.MaxVerifiedCacheTTL, token.DefaultVerifiedCacheTTL)
	}
	if f.Token.Lifetime < 0 || f.Token.Lifetime > MaxTokenLifetime {
		v.addf("token.lifetime", "%s is out of range: use a duration between 1s and %s", f.Token.Lifetime, MaxTokenLifetime)
	}
	if l := f.Policy.PageTokenLifetime; l != 0 && (l < MinPageTokenLifetime || l > MaxPageTokenLifetime) {
		v.addf("policy.page_token_lifetime", "%s is out of range: use a duration between %s and %s, or leave it out for %s",
			l, MinPageTokenLifetime, MaxPageTokenLifetime, DefaultPageTokenLifetime)
	}

	f.validateDatabase(&v)
	v.required("audit.origin", f.Audit.Origin)
	v.required("audit.signing_key_file", f.Audit.SigningKeyFile)
	v.required("audit.recipients_file", f.Audit.RecipientsFile)
	if f.Audit.Retention < 0 || (f.Audit.Retention > 0 && f.Audit.Retention < 24*time.Hour) {
		v.addf("audit.retention", "%s is out of range: use 0 to keep bodies forever, or at least 24h", f.Audit.Retention)
	}
	f.validateWitnesses(&v)

	if f.Limits.MaxBodyBytes < 1024 || f.Limits.MaxBodyBytes > 1<<30 {
		v.addf("limits.max_body_bytes", "%d is out of range: use a size between 1024 and 1073741824 bytes", f.Limits.MaxBodyBytes)
	}
	// A body at the full limit takes max_body_bytes+1 bytes of the budget,
	// because the reader needs one more byte to see that the body ends.
	if f.Limits.MaxBufferedBodyBytes <= f.Limits.MaxBodyBytes {
		v.addf("limits.max_buffered_body_bytes", "%d is too small: use more than limits.max_body_bytes (%d)",
			f.Limits.MaxBufferedBodyBytes, f.Limits.MaxBodyBytes)
	}
	v.connectionCaps("limits", f.Limits.MaxConnections, f.Limits.MaxConnectionsPerSource)
	v.connectionCaps("admin", f.Admin.MaxConnections, f.Admin.MaxConnectionsPerSource)
	if f.Limits.HTTP2MaxConcurrentStreams < 1 || f.Limits.HTTP2MaxConcurrentStreams > MaxHTTP2ConcurrentStreams {
		v.addf("limits.http2_max_concurrent_streams", "%d is out of range: use a count between 1 and %d",
			f.Limits.HTTP2MaxConcurrentStreams, MaxHTTP2ConcurrentStreams)
	}

	f.validatePolicy(&v)
	f.validateUpstream(&v)
	f.validatePartners(&v)
	f.validateOutbound(&v)
	f.validateNetwork(&v)
	f.validateStrict(&v)
	f.validateAlerts(&v)
	f.validateTracing(&v)
	return v.err()
}

// connectionCaps checks the max_connections and max_connections_per_source
// keys of section.
func (v *validator) connectionCaps(section string, total, perSource int) {
	if total < 1 || total > 1<<20 {
		v.addf(section+".max_connections", "%d is out of range: use a count between 1 and 1048576", total)
	}
	if perSource < 1 || perSource > total {
		v.addf(section+".max_connections_per_source", "%d is out of range: use a count between 1 and %s.max_connections (%d)",
			perSource, section, total)
	}
}

// validatePolicy checks the keys of the policy section that the engine
// would otherwise reject only at start-up, without naming the key.
func (f *File) validatePolicy(v *validator) {
	validateTopics(v, "policy.subscription_topics", f.Policy.SubscriptionTopics)
	if f.Policy.Shadow != nil {
		validateTopics(v, "policy.shadow.subscription_topics", f.Policy.Shadow.SubscriptionTopics)
	}
}

func validateTopics(v *validator, path string, topics []string) {
	for i, t := range topics {
		if err := policy.CheckSubscriptionTopic(t); err != nil {
			v.addf(fmt.Sprintf("%s[%d]", path, i), "invalid value %q: %v", t, err)
		}
	}
}

func (f *File) validateDatabase(v *validator) {
	d := f.Database
	switch {
	case d.URL != "" && d.Path != "":
		v.addf("database.url", "set database.url or database.path, not both")
	case d.URL == "" && d.Path == "":
		v.addf("database.url", "missing: set database.url, or database.path for a SQLite file")
	case d.URL != "":
		if _, _, err := storage.ParseURL(d.URL); err != nil {
			v.addf("database.url", "%v", err)
		}
	}
}

func (f *File) validateStrict(v *validator) {
	switch f.Strict.Mode {
	case "", "enforce", "off":
	default:
		v.addf("strict.mode", "invalid value %q: use enforce or off", f.Strict.Mode)
	}
	switch f.Strict.UnknownProfiles {
	case "", "reject", "warn":
	default:
		v.addf("strict.unknown_profiles", "invalid value %q: use reject or warn", f.Strict.UnknownProfiles)
	}
	for i, ver := range f.Strict.PASVersions {
		if ver != "2.0.1" && ver != "2.2.1" {
			v.addf(fmt.Sprintf("strict.pas_versions[%d]", i), "invalid value %q: the shipped PAS versions are 2.0.1 and 2.2.1", ver)
		}
	}
	check := func(path string, list []string) {
		for i, s := range list {
			if _, err := fhirreq.ParsePattern(s); err != nil {
				v.addf(fmt.Sprintf("%s[%d]", path, i), "%v", err)
			}
		}
	}
	check("strict.skip", f.Strict.Skip)
	for i, p := range f.Partners {
		check(fmt.Sprintf("partners[%d].strict_skip", i), p.StrictSkip)
		checkSkipAllowed(v, i, p)
	}
}

// checkSkipAllowed rejects a partner's strict_skip entry for an
// interaction the partner may not perform: the exemption would never apply,
// and it usually means the entry has a typo or names another partner's
// workflow.
func checkSkipAllowed(v *validator, i int, p Partner) {
	allowed := map[fhirreq.Pattern]bool{}
	for _, s := range p.Interactions {
		ps, _ := fhirreq.ParsePattern(s)
		for _, pat := range ps {
			allowed[pat] = true
		}
	}
	for j, s := range p.StrictSkip {
		ps, err := fhirreq.ParsePattern(s)
		if err != nil {
			continue
		}
		for _, pat := range ps {
			if !allowed[pat] {
				v.addf(fmt.Sprintf("partners[%d].strict_skip[%d]", i, j),
					"%q is not in partners[%d].interactions, so the exemption never applies: remove the entry, or correct it to one of the partner's interactions", s, i)
				break
			}
		}
	}
}

func (f *File) validateNetwork(v *validator) {
	if len(f.Network.AllowSources) == 0 {
		v.addf("network.allow_sources", "missing: list the partner networks (CIDRs); list 0.0.0.0/0 and ::/0 to accept any source")
	}
	v.allowlist("network.allow_sources", f.Network.AllowSources)
	v.allowlist("network.trusted_proxies", f.Network.TrustedProxies)
	for i, p := range f.Partners {
		v.allowlist(fmt.Sprintf("partners[%d].sources", i), p.Sources)
	}
	if _, err := egress.New(egress.Options{Allow: f.Egress.Allow}); err != nil {
		var ee *egress.EntryError
		if errors.As(err, &ee) {
			v.addf(fmt.Sprintf("egress.allow[%d]", ee.Index), "%v", ee.Err)
		} else {
			v.addf("egress.allow", "%v", err)
		}
	}
	if f.Egress.ForwardProxy.Listen != "" {
		v.hostPort("egress.forward_proxy.listen", f.Egress.ForwardProxy.Listen)
		if len(f.Egress.ForwardProxy.AllowClients) == 0 {
			v.addf("egress.forward_proxy.allow_clients", "missing: list the integration engine's addresses")
		}
		v.allowlist("egress.forward_proxy.allow_clients", f.Egress.ForwardProxy.AllowClients)
	}
}

func (f *File) validateOutbound(v *validator) {
	anyPartner := false
	for i, p := range f.Partners {
		if p.Outbound == nil {
			continue
		}
		anyPartner = true
		at := fmt.Sprintf("partners[%d].outbound", i)
		f.outboundEndpoint(v, at+".fhir_base", p.Outbound.FHIRBase)
		f.outboundEndpoint(v, at+".token_url", p.Outbound.TokenURL)
		v.required(at+".client_id", p.Outbound.ClientID)
		if len(p.Outbound.Scopes) == 0 {
			v.addf(at+".scopes", "missing: list the scopes to request from the partner")
		}
		for k, s := range p.Outbound.Interactions {
			if _, err := fhirreq.ParsePattern(s); err != nil {
				v.addf(fmt.Sprintf("%s.interactions[%d]", at, k), "%v", err)
			}
		}
	}
	if f.Outbound.Listen == "" {
		if anyPartner {
			v.addf("outbound.listen", "missing: partners have an outbound section, so the outbound listener needs an address")
		}
		return
	}
	v.hostPort("outbound.listen", f.Outbound.Listen)
	v.required("outbound.cert_file", f.Outbound.CertFile)
	v.required("outbound.key_file", f.Outbound.KeyFile)
	v.required("outbound.assertion_key_file", f.Outbound.AssertionKeyFile)
}

func (f *File) validateUpstream(v *validator) {
	if f.Upstream.URL != Builtin {
		u, err := url.Parse(f.Upstream.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			v.addf("upstream.url", "invalid value %q: use \"builtin\" or an http(s) FHIR base URL without query", f.Upstream.URL)
		}
	}
	if f.Upstream.Timeout < 0 {
		v.addf("upstream.timeout", "%s is negative", f.Upstream.Timeout)
	}
	v.hostPort("payer.listen", f.Payer.Listen)
}

func (f *File) validatePartners(v *validator) {
	seen := map[string]int{}
	for i, p := range f.Partners {
		at := fmt.Sprintf("partners[%d]", i)
		if !validPartnerID(p.ID) {
			v.addf(at+".id", "invalid value %q: use 1-63 lower-case letters, digits, '-' or '.'", p.ID)
		} else if j, dup := seen[p.ID]; dup {
			v.addf(at+".id", "%q is already used by partners[%d]", p.ID, j)
		}
		seen[p.ID] = i
		f.validatePartnerKeys(v, at, p)
		validateIssuingCA(v, at+".issuing_ca", p.IssuingCA)
		if _, err := scope.ParseSet(p.Scopes, scope.Options{AllowWildcard: p.AllowWildcardScopes}); err != nil {
			v.addf(at+".scopes", "%v", err)
		}
		if _, err := policy.NewPartner(partnerPolicyConfig(p)); err != nil {
			v.addf(at, "%v", err)
		}
		if p.RateLimit.RequestsPerSecond < 0 || p.RateLimit.Burst < 1 {
			v.addf(at+".rate_limit", "requests_per_second must be positive and burst at least 1")
		}
		for k, s := range p.Interactions {
			if _, err := fhirreq.ParsePattern(s); err != nil {
				v.addf(fmt.Sprintf("%s.interactions[%d]", at, k), "%v", err)
			}
		}
	}
}

// validatePartnerKeys checks that a partner registers its keys in exactly
// one way, and that a JWKS URL is https and reachable through the egress
// allowlist.
func (f *File) validatePartnerKeys(v *validator, at string, p Partner) {
	set := 0
	for _, s := range []string{p.JWKSFile, p.JWKS, p.JWKSURL} {
		if s != "" {
			set++
		}
	}
	switch {
	case set == 0:
		v.addf(at+".jwks_file", "missing: set jwks_file, jwks or jwks_url to register the partner's public keys")
		return
	case set > 1:
		v.addf(at+".jwks_url", "set only one of jwks_file, jwks and jwks_url")
		return
	case p.JWKS != "":
		if _, err := token.ParsePublicJWKS([]byte(p.JWKS)); err != nil {
			v.addf(at+".jwks", "%v", err)
		}
		if p.JWKSCAFile != "" {
			v.addf(at+".jwks_ca_file", "is only used with jwks_url; remove it or register the keys by URL")
		}
		return
	case p.JWKSFile != "":
		if p.JWKSCAFile != "" {
			v.addf(at+".jwks_ca_file", "is only used with jwks_url; remove it or register the keys by URL")
		}
		return
	}

	u, err := url.Parse(p.JWKSURL)
	port := uint64(443)
	if err == nil && u.Port() != "" {
		port, err = strconv.ParseUint(u.Port(), 10, 16)
	}
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || port == 0 || u.User != nil || u.Fragment != "" {
		v.addf(at+".jwks_url", "invalid value %q: use an https URL without user information or fragment", p.JWKSURL)
		return
	}
	guard, err := egress.New(egress.Options{Allow: f.Egress.Allow})
	if err != nil {
		return // validateNetwork reports the bad egress.allow entry
	}
	if err := guard.CheckHost(u.Hostname(), uint16(port)); err != nil {
		v.addf(at+".jwks_url", "the gateway may not connect to %s: add it to egress.allow", u.Host)
	}
}

// validateIssuingCA checks the form of a partner's issuing CA. Whether the
// file contains CA certificates, and the fingerprint names one, is checked
// when the gateway starts, because validation reads no files.
func validateIssuingCA(v *validator, at string, ca *IssuingCA) {
	if ca == nil {
		return
	}
	if ca.CertFile == "" && ca.SHA256 == "" {
		v.addf(at, "set cert_file, sha256 or both to name the CA that issues this partner's certificates")
		return
	}
	if ca.SHA256 != "" {
		if _, err := ParseFingerprint(ca.SHA256); err != nil {
			v.addf(at+".sha256", "invalid value %q: %v", ca.SHA256, err)
		}
	}
}

// validPartnerID reports whether id is a partner id: 1-63 characters of
// lower-case letters, digits, '-' and '.', starting with a letter or digit.
func validPartnerID(id string) bool {
	if len(id) == 0 || len(id) > 63 {
		return false
	}
	for i, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

// validator collects problems, each tagged with its key path.
type validator struct{ errs []error }

// Error is one configuration problem at a key path.
type Error struct {
	Path string
	Line int // 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

func (v *validator) addf(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) required(path, value string) {
	if strings.TrimSpace(value) == "" {
		v.addf(path, "missing: this key is required")
	}
}

func (v *validator) hostPort(path, value string) {
	_, port, err := net.SplitHostPort(value)
	if err != nil {
		v.addf(path, "invalid value %q: use host:port, such as 127.0.0.1:8443", value)
		return
	}
	// Port 0 is allowed, because it requests a free port from the system.
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.addf(path, "invalid port %q in %q: use a number from 0 to 65535", port, value)
	}
}

func (v *validator) httpsURL(path, value string) {
	u, err := url.Parse(value)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		v.addf(path, "invalid value %q: use an https URL with no path, such as https://gateway.example.org:8443", value)
	}
}

// allowlist checks a CIDR list, naming the bad entry's index.
func (v *validator) allowlist(path string, entries []string) {
	if _, err := netguard.ParseAllowlist(entries); err != nil {
		var ee *netguard.EntryError
		if errors.As(err, &ee) {
			v.addf(fmt.Sprintf("%s[%d]", path, ee.Index), "%v", ee.Err)
			return
		}
		v.addf(path, "%v", err)
	}
}

// outboundEndpoint adds the CheckOutboundEndpoint error of value, if any,
// under path.
func (f *File) outboundEndpoint(v *validator, path, value string) {
	if err := f.CheckOutboundEndpoint(value); err != nil {
		v.addf(path, "%v", err)
	}
}

// CheckOutboundEndpoint checks a partner URL the engine's requests go to
// (partners[].outbound.fhir_base and token_url). It must be an https URL
// without user name, query or fragment, and whose host and port
// egress.allow permits. A "." or ".." path segment is rejected, because
// the URL would name another path than it shows once normalised. The
// error names the problem but not the key, and never quotes a URL that
// carries a password.
func (f *File) CheckOutboundEndpoint(value string) error {
	u, err := url.Parse(value)
	switch {
	case err != nil:
		return errors.New("invalid value: not a URL; use an https URL without query or fragment")
	case u.User != nil:
		return errors.New("the URL carries a user name or password: remove it; the gateway authenticates with its certificate and token")
	case u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("invalid value %q: use an https URL without query or fragment", value)
	case hasDotSegment(u.EscapedPath()):
		return fmt.Errorf("invalid value %q: the path has a \".\" or \"..\" segment; write the path it resolves to", value)
	}
	return f.checkEgressHost(u)
}

// hasDotSegment reports whether an escaped URL path has a "." or ".."
// segment, written plainly or percent-encoded.
func hasDotSegment(escaped string) bool {
	for _, seg := range strings.Split(escaped, "/") {
		switch strings.ToLower(seg) {
		case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
			return true
		}
	}
	return false
}

func (v *validator) err() error { return errors.Join(v.errs...) }

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
