package posture

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// Token lifetime bounds: up to goodTokenLifetime passes, above
// maxTokenLifetime is high.
const (
	goodTokenLifetime = 5 * time.Minute
	maxTokenLifetime  = 15 * time.Minute
)

// maxJWKSBytes caps a partner JWK set file.
const maxJWKSBytes = 256 << 10

// assertionAlgorithms are the JWS algorithms the token service accepts for
// client assertions.
var assertionAlgorithms = []string{"ES256", "ES384", "RS384", "PS384"}

var tokenChecks = []Check{
	{
		ID: "GH-TOK-001", Control: "C2", Severity: High, Mode: ModeConfig,
		Title:       "Access tokens live 5 minutes or less",
		Rationale:   "A stolen token works until it expires; short lifetimes bound the damage and force the client back through mutual TLS and a signed assertion.",
		Remediation: "Set token.lifetime to 5m or less. Partners fetch a new token with a new assertion when it expires.",
		config:      checkTokenLifetime,
	},
	{
		ID: "GH-TOK-002", Control: "C2", Severity: High, Mode: ModeConfig,
		Title:       "Access tokens are bound to the client certificate",
		Rationale:   "A certificate-bound token (RFC 8705, cnf.x5t#S256) is useless on a connection that presents another certificate, so a leaked token cannot be replayed from elsewhere.",
		Remediation: "Deploy an unmodified build: the gateway binds every token and checks the binding on every request.",
		config:      checkTokenBinding,
	},
	{
		ID: "GH-TOK-003", Control: "C2", Severity: High, Mode: ModeConfig,
		Title:       "Partners authenticate with asymmetric keys only",
		Rationale:   "A shared secret sits on both sides and can leak from either; a public key registered with the gateway proves nothing to anyone who steals it. A private key in a registered set means the partner's secret has left the partner.",
		Remediation: "Register only public EC P-256/P-384 or RSA (2048 bits or more) keys for ES256, ES384, RS384 or PS384, each with a kid, in each partners[].jwks_file or at each partners[].jwks_url; ask the partner for a new key if a private one was shared.",
		config:      checkPartnerKeys,
	},
	{
		ID: "GH-TOK-004", Control: "C2", Severity: Medium, Mode: ModeConfig,
		Title:       "Partner keys come from a hosted JWKS URL over https",
		Rationale:   "A hosted JWK set lets a partner rotate or revoke a key without a change on the payer side, so a compromised key is replaced in minutes.",
		Remediation: "Set partners[].jwks_url to each partner's https JWKS URL in place of partners[].jwks_file, and add its host to egress.allow; until then, replace partners[].jwks_file promptly when a partner rotates keys.",
		config:      checkHostedJWKS,
	},
}

func checkTokenLifetime(t *Target) []result {
	d := t.Config.Token.Lifetime
	switch {
	case d > maxTokenLifetime:
		return []result{fail("token.lifetime", "access tokens live %s, more than %s", duration(d), duration(maxTokenLifetime))}
	case d > goodTokenLifetime:
		return []result{failAt(Medium, "token.lifetime", "access tokens live %s, more than %s", duration(d), duration(goodTokenLifetime))}
	}
	return []result{pass("token.lifetime", "access tokens live %s", duration(d))}
}

func checkTokenBinding(t *Target) []result {
	if !t.settings.tokenBinding {
		return []result{fail("", "access tokens are not bound to the client certificate")}
	}
	return []result{pass("", "access tokens carry cnf.x5t#S256 and the gateway checks it on every request")}
}

func checkPartnerKeys(t *Target) []result {
	var out []result
	for i, p := range t.Config.Partners {
		if p.JWKSURL != "" {
			// The gateway checks a fetched set itself and rejects the
			// whole set if any key is private or symmetric.
			out = append(out, pass(fmt.Sprintf("partners[%d].jwks_url", i),
				"partner %q: keys come from its JWKS URL, where the gateway accepts only public asymmetric keys", p.ID))
			continue
		}
		key := fmt.Sprintf("partners[%d].jwks_file", i)
		var set *jose.JSONWebKeySet
		var err error
		if p.JWKS != "" {
			key = fmt.Sprintf("partners[%d].jwks", i)
			set, err = parseJWKS([]byte(p.JWKS))
		} else {
			set, err = loadJWKS(t.Config.Resolve(p.JWKSFile))
		}
		if err != nil {
			out = append(out, fail(key, "partner %q: %v", p.ID, err))
			continue
		}
		if len(set.Keys) == 0 {
			out = append(out, fail(key, "partner %q: the JWK set is empty", p.ID))
			continue
		}
		problems := keyProblems(set)
		if len(problems) > 0 {
			out = append(out, fail(key, "partner %q: %s", p.ID, strings.Join(problems, "; ")))
			continue
		}
		out = append(out, pass(key, "partner %q registers %d public asymmetric key(s)", p.ID, len(set.Keys)))
	}
	return out
}

func loadJWKS(path string) (*jose.JSONWebKeySet, error) {
	// ReadCapped neither blocks on a FIFO nor reads a device without end.
	data, err := safefile.ReadCapped(path, maxJWKSBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot read the JWK set: %w", err)
	}
	set, err := parseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// parseJWKS decodes a JWK set without judging its keys; keyProblems does.
func parseJWKS(data []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		// The error text could quote key material, so it is left out.
		return nil, fmt.Errorf("not a valid JWK set")
	}
	return &set, nil
}

// keyProblems describes every key of set that is symmetric, private, too
// weak or unusable for a client assertion.
func keyProblems(set *jose.JSONWebKeySet) []string {
	var out []string
	for i, k := range set.Keys {
		name := fmt.Sprintf("key %d (kid %q)", i, k.KeyID)
		if _, symmetric := k.Key.([]byte); symmetric {
			out = append(out, name+" is a symmetric secret")
			continue
		}
		if !k.IsPublic() {
			out = append(out, name+" contains private key material")
			continue
		}
		if msg := publicKeyProblem(k.Key); msg != "" {
			out = append(out, name+" "+msg)
			continue
		}
		if k.Algorithm != "" && !slices.Contains(assertionAlgorithms, k.Algorithm) {
			out = append(out, fmt.Sprintf("%s names alg %q, which the token service does not accept", name, k.Algorithm))
		}
		// The gateway refuses to start with such a set (token.ParsePublicJWKS).
		if k.KeyID == "" {
			out = append(out, fmt.Sprintf("key %d has no kid, so the gateway does not start", i))
		}
	}
	return out
}

func publicKeyProblem(key any) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return "is on curve " + k.Curve.Params().Name + "; use P-256 or P-384"
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Sprintf("is RSA with %d bits; use 2048 or more", k.N.BitLen())
		}
	case ed25519.PublicKey:
		return "is Ed25519, which the token service does not accept"
	default:
		return fmt.Sprintf("has unsupported type %T", key)
	}
	return ""
}

func checkHostedJWKS(t *Target) []result {
	var out []result
	for i, p := range t.Config.Partners {
		key := fmt.Sprintf("partners[%d]", i)
		u, hosted := t.settings.jwksURLs[i]
		switch {
		case !hosted:
			out = append(out, failAt(Low, key+".jwks_file",
				"partner %q: keys come from a local file; set %s.jwks_url to the partner's hosted JWKS URL", p.ID, key))
		case !strings.HasPrefix(u, "https://"):
			out = append(out, failAt(High, key, "partner %q: the JWKS URL %q is not https", p.ID, u))
		default:
			out = append(out, pass(key, "partner %q: keys come from %s", p.ID, u))
		}
	}
	return out
}

// duration formats d without zero units: 5m rather than 5m0s.
func duration(d time.Duration) string {
	s := d.String()
	s, _ = strings.CutSuffix(s, "m0s")
	if s != d.String() {
		s += "m"
	}
	s, _ = strings.CutSuffix(s, "h0m")
	if strings.HasSuffix(d.String(), "h0m0s") {
		s += "h"
	}
	return s
}
