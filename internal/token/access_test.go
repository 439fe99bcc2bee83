package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// issueDirect issues a token to partner id through Issue, without the
// network, and returns the token text.
func (env *testEnv) issueDirect(t *testing.T, srv *Server, id, scope string) string {
	t.Helper()
	p := env.partners[id]
	body := tokenForm(env.assertion(id), scope).Encode()
	r := verifiedRequest(body, p.cert.Leaf, env.ca.cert)
	res, e := srv.Issue(r.Context(), r)
	if e != nil {
		t.Fatal(e)
	}
	return res.accessToken
}

// serverVariant returns a server sharing env's clients, clock and replay
// cache, with options changed by change.
func (env *testEnv) serverVariant(t testing.TB, change func(*ServerOptions)) *Server {
	t.Helper()
	opts := env.server.opts
	change(&opts)
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestVerify(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha, beta := env.partners["ehr-alpha"], env.partners["ehr-beta"]
	serverKey := env.server.opts.SigningKey.(*ecdsa.PrivateKey)

	otherKeySameKid := env.serverVariant(t, func(o *ServerOptions) {
		o.SigningKey = mustECKey(t, elliptic.P256())
		o.KeyID = env.server.KeyID()
	})
	otherKey := env.serverVariant(t, func(o *ServerOptions) { o.SigningKey = mustECKey(t, elliptic.P256()) })
	otherIssuer := env.serverVariant(t, func(o *ServerOptions) { o.Issuer = "https://elsewhere.test/" })
	otherAudience := env.serverVariant(t, func(o *ServerOptions) { o.Audience = "https://elsewhere.test/fhir" })

	// manual signs claims with the server's own key under a chosen header.
	manual := func(t *testing.T, header map[string]any, change func(map[string]any)) string {
		claims := map[string]any{
			"iss": testIssuer, "sub": alpha.id, "aud": testAudience, "client_id": alpha.id,
			"exp": testStart.Add(5 * time.Minute).Unix(), "iat": testStart.Unix(), "jti": "manual",
			"scope": "system/Claim.read",
			"cnf":   map[string]string{"x5t#S256": CertificateThumbprint(alpha.cert.Leaf)},
		}
		if change != nil {
			change(claims)
		}
		return lowSForm(t, signCompact(t, "ES256", serverKey, mustJSON(t, header), mustJSON(t, claims)))
	}
	goodHeader := map[string]any{"alg": "ES256", "kid": env.server.KeyID(), "typ": "at+jwt"}

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		peer    *x509.Certificate
		advance time.Duration
		want    error // nil for success
	}{
		{"valid", func(t *testing.T) string { return env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read") },
			alpha.cert.Leaf, 0, nil},
		{"valid within skew after exp", func(t *testing.T) string { return env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read") },
			alpha.cert.Leaf, 5*time.Minute + 30*time.Second, nil},
		{"expired", func(t *testing.T) string { return env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read") },
			alpha.cert.Leaf, 6 * time.Minute, ErrExpiredToken},
		{"tampered scope", func(t *testing.T) string {
			tok := env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read")
			return tamperPayload(t, tok, "system/Claim.read", "system/Claim.write")
		}, alpha.cert.Leaf, 0, ErrInvalidToken},
		{"another partner's certificate", func(t *testing.T) string { return env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read") },
			beta.cert.Leaf, 0, ErrCertificateMismatch},
		{"no certificate", func(t *testing.T) string { return env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read") },
			nil, 0, ErrCertificateMismatch},
		{"signed by another key under the same kid", func(t *testing.T) string {
			return env.issueDirect(t, otherKeySameKid, "ehr-alpha", "system/Claim.read")
		}, alpha.cert.Leaf, 0, ErrInvalidToken},
		{"signed by another key", func(t *testing.T) string { return env.issueDirect(t, otherKey, "ehr-alpha", "system/Claim.read") },
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"another issuer", func(t *testing.T) string { return env.issueDirect(t, otherIssuer, "ehr-alpha", "system/Claim.read") },
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"another audience", func(t *testing.T) string { return env.issueDirect(t, otherAudience, "ehr-alpha", "system/Claim.read") },
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"manual token with the right header", func(t *testing.T) string { return manual(t, goodHeader, nil) },
			alpha.cert.Leaf, 0, nil},
		{"typ JWT", func(t *testing.T) string { return manual(t, with(goodHeader, "typ", "JWT"), nil) },
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"sub differs from client_id", func(t *testing.T) string {
			return manual(t, goodHeader, func(c map[string]any) { c["sub"] = beta.id })
		}, alpha.cert.Leaf, 0, ErrInvalidToken},
		{"issued in the future", func(t *testing.T) string {
			return manual(t, goodHeader, func(c map[string]any) { c["iat"] = testStart.Add(3 * time.Minute).Unix() })
		}, alpha.cert.Leaf, 0, ErrInvalidToken},
		{"ten-year lifetime", func(t *testing.T) string {
			return manual(t, goodHeader, func(c map[string]any) { c["exp"] = testStart.AddDate(10, 0, 0).Unix() })
		}, alpha.cert.Leaf, 0, ErrInvalidToken},
		{"lifetime one second above lifetime and skew", func(t *testing.T) string {
			return manual(t, goodHeader, func(c map[string]any) { c["exp"] = testStart.Add(6*time.Minute + time.Second).Unix() })
		}, alpha.cert.Leaf, 0, ErrInvalidToken},
		{"exp before iat", func(t *testing.T) string {
			return manual(t, goodHeader, func(c map[string]any) { c["iat"] = testStart.Unix(); c["exp"] = testStart.Unix() - 1 })
		}, alpha.cert.Leaf, 0, ErrInvalidToken},
		{"jku header", func(t *testing.T) string {
			return manual(t, with(goodHeader, "jku", "https://attacker.test/jwks"), nil)
		},
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"x5u header", func(t *testing.T) string {
			return manual(t, with(goodHeader, "x5u", "https://attacker.test/cert"), nil)
		},
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"jwk header", func(t *testing.T) string {
			return manual(t, with(goodHeader, "jwk", map[string]string{"kty": "EC", "crv": "P-256"}), nil)
		}, alpha.cert.Leaf, 0, ErrInvalidToken},
		{"x5c header", func(t *testing.T) string { return manual(t, with(goodHeader, "x5c", []string{"MIIB"}), nil) },
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"crit header", func(t *testing.T) string { return manual(t, with(goodHeader, "crit", []string{"exp"}), nil) },
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"high-s twin of a valid token", func(t *testing.T) string { return highS(t, manual(t, goodHeader, nil)) },
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"alg none", func(t *testing.T) string { return unsigned(t, goodHeader) },
			alpha.cert.Leaf, 0, ErrInvalidToken},
		{"empty", func(t *testing.T) string { return "" }, alpha.cert.Leaf, 0, ErrInvalidToken},
		{"oversize", func(t *testing.T) string { return strings.Repeat("a", maxAccessTokenBytes+1) }, alpha.cert.Leaf, 0, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token(t)
			env.clock.Advance(tt.advance)
			defer env.clock.Advance(-tt.advance)

			claims, err := env.server.Verify(tok, tt.peer)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if claims.ClientID != alpha.id || !slices.Equal(claims.Scopes, []string{"system/Claim.read"}) || claims.TokenID == "" {
					t.Errorf("claims = %+v", claims)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify error = %v, want %v", err, tt.want)
			}
			if claims != nil {
				t.Errorf("claims = %+v, want nil on error", claims)
			}
			if tok != "" && strings.Contains(err.Error(), tok) {
				t.Error("error text contains the token")
			}
		})
	}
}

// unsigned returns an alg-none JWT with valid-looking claims.
func unsigned(t *testing.T, header map[string]any) string {
	return signCompact(t, "none", nil, mustJSON(t, with(header, "alg", "none")), `{"iss":"x"}`)
}

// tamperPayload replaces old by new inside the token's decoded claims and
// re-encodes them, keeping the original signature.
func tamperPayload(t *testing.T, tok, old, new string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64URL.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(payload), old, new, 1)
	if changed == string(payload) {
		t.Fatalf("payload does not contain %q", old)
	}
	parts[1] = b64(changed)
	return strings.Join(parts, ".")
}

func TestAccessTokenFormat(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	tok := env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read system/Coverage.read")

	parts := strings.Split(tok, ".")
	var header map[string]any
	var claims map[string]any
	decodeSegment(t, parts[0], &header)
	decodeSegment(t, parts[1], &claims)

	wantHeader := map[string]any{"alg": "ES256", "kid": env.server.KeyID(), "typ": "at+jwt"}
	for k, v := range wantHeader {
		if header[k] != v {
			t.Errorf("header %s = %v, want %v", k, header[k], v)
		}
	}
	wantClaims := map[string]any{
		"iss": testIssuer, "sub": alpha.id, "aud": testAudience, "client_id": alpha.id,
		"scope": "system/Claim.read system/Coverage.read",
		"iat":   float64(testStart.Unix()), "exp": float64(testStart.Add(DefaultLifetime).Unix()),
	}
	for k, v := range wantClaims {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	cnf, _ := claims["cnf"].(map[string]any)
	if cnf["x5t#S256"] != CertificateThumbprint(alpha.cert.Leaf) {
		t.Errorf("cnf = %v, want x5t#S256 of the client certificate", claims["cnf"])
	}
	jti, _ := claims["jti"].(string)
	if raw, err := base64URL.DecodeString(jti); err != nil || len(raw) != 16 {
		t.Errorf("jti %q is not 128 bits of base64url", jti)
	}
}

func decodeSegment(t *testing.T, seg string, out any) {
	t.Helper()
	raw, err := base64URL.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		target  string
		want    string
		err     error
	}{
		{"valid", []string{"Bearer abc.def-ghi_jkl"}, "/fhir/Claim", "abc.def-ghi_jkl", nil},
		{"scheme case-insensitive", []string{"bearer abc=="}, "/fhir/Claim", "abc==", nil},
		{"missing", nil, "/fhir/Claim", "", ErrNoToken},
		{"basic scheme", []string{"Basic YTpi"}, "/fhir/Claim", "", ErrMalformedRequest},
		{"two headers", []string{"Bearer a", "Bearer b"}, "/fhir/Claim", "", ErrMalformedRequest},
		{"invalid characters", []string{"Bearer a b"}, "/fhir/Claim", "", ErrMalformedRequest},
		{"padding only", []string{"Bearer =="}, "/fhir/Claim", "", ErrMalformedRequest},
		{"token in query", []string{"Bearer abc"}, "/fhir/Claim?access_token=abc", "", ErrMalformedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://gatehouse.test"+tt.target, nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := BearerToken(r)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("BearerToken = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestBearerChallenge(t *testing.T) {
	tests := []struct {
		err    error
		status int
		want   string
	}{
		{ErrNoToken, 401, "Bearer"},
		{ErrMalformedRequest, 400, `error="invalid_request"`},
		{ErrExpiredToken, 401, `error="invalid_token"`},
		{ErrCertificateMismatch, 401, "another client certificate"},
		{ErrInvalidToken, 401, `error="invalid_token"`},
		{ErrRevokedToken, 401, "has been revoked"},
	}
	for _, tt := range tests {
		status, challenge := BearerChallenge(tt.err)
		if status != tt.status || !strings.HasPrefix(challenge, "Bearer") || !strings.Contains(challenge, tt.want) {
			t.Errorf("BearerChallenge(%v) = %d, %q; want %d and %q", tt.err, status, challenge, tt.status, tt.want)
		}
	}
	if status, challenge := BearerChallenge(ErrRevocationUnavailable); status != 503 || challenge != "" {
		t.Errorf("BearerChallenge(ErrRevocationUnavailable) = %d, %q; want 503 without a challenge", status, challenge)
	}
}

// lowSForm puts an ES256 token's signature in low-s form, as mint does.
func lowSForm(t testing.TB, tok string) string {
	t.Helper()
	out, err := lowS(tok)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// highS returns the other valid signature (r, n-s) of a low-s token.
func highS(t testing.TB, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64URL.DecodeString(tok[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("not an ES256 token: %v", err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	return tok[:i+1] + base64URL.EncodeToString(sig)
}

// Every token mint issues is in low-s form, and its high-s twin, which
// the signature check alone accepts, is rejected even after the original
// is in the verified-token cache.
func TestAccessTokenHasOneString(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	for i := range 16 {
		tok := env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read")
		if _, err := env.server.Verify(tok, alpha.cert.Leaf); err != nil {
			t.Fatalf("token %d: Verify: %v", i, err)
		}
		twin := highS(t, tok)
		if _, err := env.server.Verify(twin, alpha.cert.Leaf); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("token %d: high-s twin: err = %v, want ErrInvalidToken", i, err)
		}
		if _, err := env.server.Verify(tok, alpha.cert.Leaf); err != nil {
			t.Errorf("token %d: cached original: %v", i, err)
		}
	}
}
