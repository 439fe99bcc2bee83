package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/egress"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/netguard"
	"github.com/gatehouse-health/gatehouse/internal/policy"
	"github.com/gatehouse-health/gatehouse/internal/scope"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

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
		switch p.StrictUnknownProfiles {
		case "", "reject", "warn":
		default:
			v.addf(fmt.Sprintf("partners[%d].strict_unknown_profiles", i),
				"invalid value %q: use reject or warn, or leave it out for strict.unknown_profiles", p.StrictUnknownProfiles)
		}
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
	if r := f.Payer.SubscriptionRetention; r != 0 && r < MinSubscriptionRetention {
		v.addf("payer.subscription_retention", "%s is out of range: use at least %s, or leave it out for %s",
			r, MinSubscriptionRetention, subscriptions.DefaultRetention)
	}
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
