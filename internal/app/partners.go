package app

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/certreload"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/egress"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/policy"
	"github.com/gatehouse-health/gatehouse/internal/scope"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// loadPartners compiles the partner registrations once: allowlists parsed,
// key files loaded and checked, and JWKS URLs set up for fetching through
// the egress guard.
func loadPartners(cfg *config.File, eg *egress.Guard, certs *certreload.Holder, log *slog.Logger, now func() time.Time, counter func(partner, outcome string)) (map[string]*gateway.Partner, token.ClientStore, error) {
	partners := map[string]*gateway.Partner{}
	clients := token.StaticClients{}
	sources := map[string]token.JWKSSource{}
	for i, p := range cfg.Partners {
		at := fmt.Sprintf("partners[%d]", i)
		var allowed []fhirreq.Pattern
		for _, s := range p.Interactions {
			pats, err := fhirreq.ParsePattern(s)
			if err != nil {
				return nil, nil, fmt.Errorf("%s.interactions: %w", at, err)
			}
			allowed = append(allowed, pats...)
		}
		// A partner registered by URL starts without keys: RemoteKeys
		// fetches them on first use.
		var keys jose.JSONWebKeySet
		if p.JWKSURL != "" {
			src, err := jwksSource(cfg, eg, p)
			if err != nil {
				return nil, nil, fmt.Errorf("%s.jwks_ca_file: %w", at, err)
			}
			sources[p.ID] = src
		} else if p.JWKS != "" {
			var err error
			if keys, err = token.ParsePublicJWKS([]byte(p.JWKS)); err != nil {
				return nil, nil, fmt.Errorf("%s.jwks: %w", at, err)
			}
		} else {
			var err error
			if keys, err = loadJWKS(cfg.Resolve(p.JWKSFile)); err != nil {
				return nil, nil, fmt.Errorf("%s.jwks_file: %w", at, err)
			}
		}
		pol, err := policy.NewPartner(config.PartnerPolicy(p))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", at, err)
		}
		issuers, err := issuingCAs(cfg, p, certs)
		if err != nil {
			return nil, nil, fmt.Errorf("%s.issuing_ca.sha256: %w", at, err)
		}
		skip := map[string]bool{}
		for _, s := range append(append([]string{}, cfg.Strict.Skip...), p.StrictSkip...) {
			skip[s] = true
		}
		registered := scope.ParseGranted(p.Scopes)
		partners[p.ID] = &gateway.Partner{
			ID:         p.ID,
			Scopes:     &registered,
			Allowed:    allowed,
			Limiter:    gateway.NewRateLimiter(p.RateLimit.RequestsPerSecond, p.RateLimit.Burst),
			Policy:     pol,
			MaxCount:   cfg.Policy.MaxCount,
			Strict:     cfg.StrictOn(p),
			StrictSkip: skip,
			IssuingCAs: issuers,
		}
		clients[p.ID] = &token.Client{ID: p.ID, Keys: keys, Scopes: p.Scopes}
	}
	if len(sources) == 0 {
		return partners, clients, nil
	}
	remote, err := token.NewRemoteKeys(clients, sources, token.RemoteKeyOptions{Now: now, OnFetch: logJWKSFetch(log, counter),
		MaxKeyAge: cfg.Token.JWKSMaxKeyAge})
	if err != nil {
		return nil, nil, err
	}
	return partners, remote, nil
}

// jwksSource returns where partner p publishes its keys, with a client
// that connects only through the egress guard and follows no redirects.
func jwksSource(cfg *config.File, eg *egress.Guard, p config.Partner) (token.JWKSSource, error) {
	var roots *x509.CertPool // nil: the system roots
	if p.JWKSCAFile != "" {
		pool, err := pki.LoadCertPool(cfg.Resolve(p.JWKSCAFile))
		if err != nil {
			return token.JWKSSource{}, err
		}
		roots = pool
	}
	client := eg.HTTPClient(egress.ClientOptions{RootCAs: roots, Timeout: jwksFetchTimeout})
	return token.JWKSSource{URL: p.JWKSURL, HTTPClient: client}, nil
}

// jwksFetchTimeout bounds one fetch of a partner's JWK set.
const jwksFetchTimeout = 10 * time.Second

// logJWKSFetch logs and counts each fetch of a partner's JWK set.
// RemoteKeys retries a failed fetch after 1s, doubling up to once a
// minute, so the failure lines are bounded too. A set past
// token.jwks_max_key_age gets an error line: the partner is rejected.
func logJWKSFetch(log *slog.Logger, count func(partner, outcome string)) func(token.JWKSFetch) {
	return func(ev token.JWKSFetch) {
		switch {
		case ev.Err == nil:
			count(ev.ClientID, "fetched")
			log.Info("partner JWKS fetched", "partner", ev.ClientID, "url", ev.URL, "keys", ev.Keys, "max_age", ev.MaxAge)
		case ev.Expired:
			count(ev.ClientID, "expired")
			log.Error("partner JWKS fetch failed and the last good set is older than token.jwks_max_key_age; the partner's token requests are rejected",
				"partner", ev.ClientID, "url", ev.URL, "retry_in", ev.RetryIn, "error", ev.Err)
		default:
			count(ev.ClientID, "failed")
			log.Warn("partner JWKS fetch failed", "partner", ev.ClientID, "url", ev.URL,
				"serving_last_good_set", ev.Stale, "retry_in", ev.RetryIn, "error", ev.Err)
		}
	}
}

// loadJWKS reads a public JWK set file.
func loadJWKS(path string) (jose.JSONWebKeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set, err := token.ParsePublicJWKS(data)
	if err != nil {
		return set, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// allScopes is the union of the partners' registered scopes, advertised in
// the SMART configuration.
func allScopes(cfg *config.File) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range cfg.Partners {
		for _, s := range p.Scopes {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// payerIdentifiers returns payer_id and its aliases, the identifiers this
// payer is named by in payloads.
func payerIdentifiers(cfg *config.File) []congruence.Identifier {
	ids := []congruence.Identifier{{System: cfg.PayerID.System, Value: cfg.PayerID.Value}}
	for _, a := range cfg.PayerIDAliases {
		ids = append(ids, congruence.Identifier{System: a.System, Value: a.Value})
	}
	return ids
}

// memberIDSystems returns member_id_systems and, with the built-in payer
// as upstream, the system of its member ids.
func memberIDSystems(cfg *config.File) []string {
	systems := slices.Clone(cfg.MemberIDSystems)
	if cfg.Upstream.URL == config.Builtin && !slices.Contains(systems, payer.DefaultMemberSystem) {
		systems = append(systems, payer.DefaultMemberSystem)
	}
	return systems
}

// newPolicies builds the enforced policy engine and, when configured, the
// shadow candidate.
func newPolicies(cfg *config.File) (enforced, shadow policy.Decider, err error) {
	payerIDs := payerIdentifiers(cfg)
	eng, err := policy.New(policy.Options{MaxCount: cfg.Policy.MaxCount, MaxBundleEntries: cfg.Policy.MaxBundleEntries, PayerIDs: payerIDs,
		SubscriptionTopics: cfg.Policy.SubscriptionTopics})
	if err != nil {
		return nil, nil, fmt.Errorf("policy: %w", err)
	}
	sh := cfg.Policy.Shadow
	if sh == nil {
		return eng, nil, nil
	}
	cand, err := policy.New(policy.Options{MaxCount: sh.MaxCount, MaxBundleEntries: sh.MaxBundleEntries, PayerIDs: payerIDs,
		SubscriptionTopics: sh.SubscriptionTopics})
	if err != nil {
		return nil, nil, fmt.Errorf("policy.shadow: %w", err)
	}
	partners := map[string]*policy.Partner{}
	for i, sp := range sh.Partners {
		var base config.Partner
		for _, p := range cfg.Partners {
			if p.ID == sp.ID {
				base = p
			}
		}
		if base.ID == "" {
			return nil, nil, fmt.Errorf("policy.shadow.partners[%d].id: %q is not a registered partner", i, sp.ID)
		}
		base.Roles, base.Grants = sp.Roles, sp.Grants
		if partners[sp.ID], err = policy.NewPartner(config.PartnerPolicy(base)); err != nil {
			return nil, nil, fmt.Errorf("policy.shadow.partners[%d]: %w", i, err)
		}
	}
	return eng, policy.WithPartners(cand, partners), nil
}
