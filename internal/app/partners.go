package app

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/policy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// loadPartners compiles the partner registrations once: allowlists parsed,
// key sets loaded and checked.
func loadPartners(cfg *config.File) (map[string]*gateway.Partner, token.StaticClients, error) {
	partners := map[string]*gateway.Partner{}
	clients := token.StaticClients{}
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
		keys, err := loadJWKS(cfg.Resolve(p.JWKSFile))
		if err != nil {
			return nil, nil, fmt.Errorf("%s.jwks_file: %w", at, err)
		}
		pol, err := policy.NewPartner(config.PartnerPolicy(p))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", at, err)
		}
		skip := map[string]bool{}
		for _, s := range append(append([]string{}, cfg.Strict.Skip...), p.StrictSkip...) {
			skip[s] = true
		}
		partners[p.ID] = &gateway.Partner{
			ID:         p.ID,
			Allowed:    allowed,
			Limiter:    gateway.NewRateLimiter(p.RateLimit.RequestsPerSecond, p.RateLimit.Burst),
			Policy:     pol,
			Strict:     cfg.StrictOn(p),
			StrictSkip: skip,
		}
		clients[p.ID] = &token.Client{ID: p.ID, Keys: keys, Scopes: p.Scopes}
	}
	return partners, clients, nil
}

// loadJWKS reads a public JWK set. Private keys are rejected: the gateway
// must never hold a partner's signing key.
func loadJWKS(path string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	data, err := os.ReadFile(path)
	if err != nil {
		return set, err
	}
	if err := fhirjson.CheckObject(data, fhirjson.Limits{MaxBytes: 1 << 20, MaxDepth: 16}); err != nil {
		return set, fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return set, fmt.Errorf("%s: not a JWK set: %w", path, err)
	}
	if len(set.Keys) == 0 {
		return set, fmt.Errorf("%s: the JWK set has no keys", path)
	}
	for i, k := range set.Keys {
		if !k.IsPublic() {
			return set, fmt.Errorf("%s: keys[%d] is a private key; register only the public key", path, i)
		}
		if k.KeyID == "" {
			return set, fmt.Errorf("%s: keys[%d] has no kid", path, i)
		}
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

// newPolicies builds the enforced policy engine and, when configured, the
// shadow candidate.
func newPolicies(cfg *config.File) (enforced, shadow policy.Decider, err error) {
	payerIDs := []congruence.Identifier{{System: cfg.PayerID.System, Value: cfg.PayerID.Value}}
	for _, a := range cfg.PayerIDAliases {
		payerIDs = append(payerIDs, congruence.Identifier{System: a.System, Value: a.Value})
	}
	eng, err := policy.New(policy.Options{MaxCount: cfg.Policy.MaxCount, MaxBundleEntries: cfg.Policy.MaxBundleEntries, PayerIDs: payerIDs})
	if err != nil {
		return nil, nil, fmt.Errorf("policy: %w", err)
	}
	sh := cfg.Policy.Shadow
	if sh == nil {
		return eng, nil, nil
	}
	cand, err := policy.New(policy.Options{MaxCount: sh.MaxCount, MaxBundleEntries: sh.MaxBundleEntries, PayerIDs: payerIDs})
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
