package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestIssueSuccess(t *testing.T) {
	env := newTestEnv(t, testStart)
	gamma := env.partners["ehr-gamma"]

	tests := []struct {
		name    string
		partner string
		key     *jose.JSONWebKey
	}{
		{"ES256", "ehr-alpha", nil},
		{"ES384", "ehr-beta", nil},
		{"RS384", "ehr-gamma", nil},
		{"PS384", "ehr-gamma", withKeyID(gamma.key, "gamma-pss", "PS384")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := env.partners[tt.partner]
			key := p.key
			if tt.key != nil {
				key = tt.key
			}
			assertion, err := NewAssertion(p.id, env.tokenURL, key, env.clock.Now())
			if err != nil {
				t.Fatal(err)
			}

			got := env.postForm(p, tokenForm(assertion, "system/Claim.read"))
			if got.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", got.status, got.body)
			}
			checkNoStore(t, got.header)
			if got.fields["token_type"] != "Bearer" {
				t.Errorf("token_type = %v, want Bearer", got.fields["token_type"])
			}
			if got.fields["expires_in"] != float64(300) {
				t.Errorf("expires_in = %v, want 300", got.fields["expires_in"])
			}
			if got.fields["scope"] != "system/Claim.read" {
				t.Errorf("scope = %v, want system/Claim.read", got.fields["scope"])
			}

			accessToken, _ := got.fields["access_token"].(string)
			claims, err := env.server.Verify(accessToken, p.cert.Leaf)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if claims.ClientID != p.id {
				t.Errorf("ClientID = %q, want %q", claims.ClientID, p.id)
			}

			x, res := env.lastOutcome()
			if res == nil || !x.Authenticated || x.ClientID != p.id || x.ErrorCode != "" {
				t.Errorf("recorded exchange = %+v, want an authenticated success for %s", x, p.id)
			}
			if x.AssertionID != assertionJTI(t, assertion) {
				t.Errorf("recorded AssertionID = %q, want the assertion's jti", x.AssertionID)
			}
			if x.TokenID == "" || x.TokenID != claims.TokenID {
				t.Errorf("recorded TokenID = %q, want the token's jti %q", x.TokenID, claims.TokenID)
			}
			if strings.Contains(fmt.Sprintf("%+v", x), accessToken) {
				t.Error("recorded exchange contains the access token")
			}
		})
	}
}

func checkNoStore(t *testing.T, h http.Header) {
	t.Helper()
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := h.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
	if got := h.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
}

func assertionJTI(t *testing.T, assertion string) string {
	t.Helper()
	jws, e := parseJWS(assertion)
	if e != nil {
		t.Fatal(e)
	}
	claims, e := parseClaims(jws.payload)
	if e != nil {
		t.Fatal(e)
	}
	return claims.ID
}

func TestIssueGrantsRegisteredScopesOnly(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]

	scope := "system/Patient.read system/Coverage.read system/Claim.read system/Coverage.read"
	got := env.postForm(alpha, tokenForm(env.assertion("ehr-alpha"), scope))
	if got.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", got.status, got.body)
	}
	if got.fields["scope"] != "system/Coverage.read system/Claim.read" {
		t.Errorf("scope = %q, want the registered scopes in request order", got.fields["scope"])
	}
}

func TestIssueAcceptsOptionalForms(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	priv := alpha.key.Key.(*ecdsa.PrivateKey)
	header := map[string]any{"alg": "ES256", "kid": alpha.key.KeyID}

	arrayAud := claimsFor(alpha.id, env.tokenURL, env.clock.Now())
	arrayAud["aud"] = []string{env.tokenURL}
	withinSkew := claimsFor(alpha.id, env.tokenURL, env.clock.Now())
	withinSkew["exp"] = env.clock.Now().Add(-30 * time.Second).Unix()

	tests := []struct {
		name   string
		header map[string]any
		claims map[string]any
		form   func(url.Values)
	}{
		{"aud as one-element array", header, arrayAud, nil},
		{"exp passed within skew", header, withinSkew, nil},
		{"no typ header", header, claimsFor(alpha.id, env.tokenURL, env.clock.Now()), nil},
		{"matching client_id", header, claimsFor(alpha.id, env.tokenURL, env.clock.Now()),
			func(f url.Values) { f.Set("client_id", alpha.id) }},
		{"unknown parameter ignored", header, claimsFor(alpha.id, env.tokenURL, env.clock.Now()),
			func(f url.Values) { f.Set("audience", "ignored") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertion := signCompact(t, "ES256", priv, mustJSON(t, tt.header), mustJSON(t, tt.claims))
			form := tokenForm(assertion, "system/Claim.read")
			if tt.form != nil {
				tt.form(form)
			}
			got := env.postForm(alpha, form)
			if got.status != http.StatusOK {
				t.Errorf("status = %d, body %s", got.status, got.body)
			}
		})
	}
}

// attackRequest is one hostile token request.
type attackRequest struct {
	method        string // POST when empty
	contentType   string // form encoding when empty
	encoding      string // Content-Encoding, none when empty
	query         string // appended to the token URL
	authorization string
	body          string
}

func formRequest(f url.Values) attackRequest { return attackRequest{body: f.Encode()} }

// attackKit holds what the attack rows build on.
type attackKit struct {
	env      *testEnv
	alpha    *partner
	priv     *ecdsa.PrivateKey
	header   map[string]any
	tokenURL string
}

func (k attackKit) claims() map[string]any {
	return claimsFor(k.alpha.id, k.tokenURL, k.env.clock.Now())
}

// signed returns an ES256 assertion signed with ehr-alpha's key.
func (k attackKit) signed(t *testing.T, header, claims map[string]any) string {
	return signCompact(t, "ES256", k.priv, mustJSON(t, header), mustJSON(t, claims))
}

func with(m map[string]any, key string, value any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	if value == nil {
		delete(out, key)
	} else {
		out[key] = value
	}
	return out
}

func TestIssueRejectsAttacks(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	kit := attackKit{
		env:      env,
		alpha:    alpha,
		priv:     alpha.key.Key.(*ecdsa.PrivateKey),
		header:   map[string]any{"alg": "ES256", "kid": alpha.key.KeyID, "typ": "JWT"},
		tokenURL: env.tokenURL,
	}
	scope := "system/Claim.read"
	valid := func(t *testing.T) url.Values { return tokenForm(env.assertion("ehr-alpha"), scope) }
	signedForm := func(t *testing.T, header, claims map[string]any) attackRequest {
		return formRequest(tokenForm(kit.signed(t, header, claims), scope))
	}
	now := env.clock.Now()

	tests := []struct {
		name    string
		partner string // sender's certificate; ehr-alpha when empty
		replay  bool   // send the request once, successfully, before the attack
		build   func(t *testing.T) attackRequest
		status  int
		code    string
		desc    string // expected part of error_description
	}{
		{
			name: "unknown client",
			build: func(t *testing.T) attackRequest {
				stranger := mustGenerateKey(t, "ES256")
				a, err := NewAssertion("ehr-unknown", env.tokenURL, stranger, now)
				if err != nil {
					t.Fatal(err)
				}
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "not registered",
		},
		{
			name: "bad signature",
			build: func(t *testing.T) attackRequest {
				other := mustECKey(t, elliptic.P256())
				a := signCompact(t, "ES256", other, mustJSON(t, kit.header), mustJSON(t, kit.claims()))
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "signature is invalid",
		},
		{
			name: "payload swapped after signing",
			build: func(t *testing.T) attackRequest {
				parts := strings.Split(env.assertion("ehr-alpha"), ".")
				forged := kit.claims()
				forged["jti"] = "forged"
				parts[1] = b64(mustJSON(t, forged))
				return formRequest(tokenForm(strings.Join(parts, "."), scope))
			},
			status: 401, code: CodeInvalidClient, desc: "signature is invalid",
		},
		{
			name: "alg none without signature",
			build: func(t *testing.T) attackRequest {
				a := signCompact(t, "none", nil, mustJSON(t, with(kit.header, "alg", "none")), mustJSON(t, kit.claims()))
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "not signed",
		},
		{
			name: "alg none with signature",
			build: func(t *testing.T) attackRequest {
				a := signCompact(t, "none", nil, mustJSON(t, with(kit.header, "alg", "none")), mustJSON(t, kit.claims()))
				return formRequest(tokenForm(a+"c2lnbmF0dXJl", scope))
			},
			status: 401, code: CodeInvalidClient, desc: "alg must be one of",
		},
		{
			name:    "HS256 keyed with the RSA public key",
			partner: "ehr-gamma",
			build: func(t *testing.T) attackRequest {
				gamma := env.partners["ehr-gamma"]
				der, err := x509.MarshalPKIXPublicKey(gamma.key.Public().Key)
				if err != nil {
					t.Fatal(err)
				}
				pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				header := map[string]any{"alg": "HS256", "kid": gamma.key.KeyID}
				a := signCompact(t, "HS256", pemKey, mustJSON(t, header), mustJSON(t, claimsFor(gamma.id, env.tokenURL, now)))
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "alg must be one of",
		},
		{
			name: "key embedded in jwk header",
			build: func(t *testing.T) attackRequest {
				attacker := mustECKey(t, elliptic.P256())
				jwk := jose.JSONWebKey{Key: &attacker.PublicKey}
				header := with(kit.header, "jwk", jwk)
				a := signCompact(t, "ES256", attacker, mustJSON(t, header), mustJSON(t, kit.claims()))
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "must not carry jwk",
		},
		{
			name: "key location in jku header",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, with(kit.header, "jku", "https://attacker.example/jwks.json"), kit.claims())
			},
			status: 401, code: CodeInvalidClient, desc: "must not carry jku",
		},
		{
			name: "certificate chain in x5c header",
			build: func(t *testing.T) attackRequest {
				chain := []string{base64.StdEncoding.EncodeToString(alpha.cert.Leaf.Raw)}
				return signedForm(t, with(kit.header, "x5c", chain), kit.claims())
			},
			status: 401, code: CodeInvalidClient, desc: "must not carry x5c",
		},
		{
			name: "certificate location in x5u header",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, with(kit.header, "x5u", "https://attacker.example/cert.pem"), kit.claims())
			},
			status: 401, code: CodeInvalidClient, desc: "must not carry x5u",
		},
		{
			name: "crit header",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, with(kit.header, "crit", []string{"exp"}), kit.claims())
			},
			status: 401, code: CodeInvalidClient, desc: "must not carry crit",
		},
		{
			name: "kid not registered",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, with(kit.header, "kid", "not-registered"), kit.claims())
			},
			status: 401, code: CodeInvalidClient, desc: "kid does not match",
		},
		{
			name: "kid missing",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, with(kit.header, "kid", nil), kit.claims())
			},
			status: 401, code: CodeInvalidClient, desc: "must carry a kid",
		},
		{
			name: "ES384 against a P-256 key",
			build: func(t *testing.T) attackRequest {
				p384 := mustECKey(t, elliptic.P384())
				a := signCompact(t, "ES384", p384, mustJSON(t, with(kit.header, "alg", "ES384")), mustJSON(t, kit.claims()))
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "does not fit alg ES384",
		},
		{
			name: "RS384 against an EC key",
			build: func(t *testing.T) attackRequest {
				rsaKey := env.partners["ehr-gamma"].key.Key.(*rsa.PrivateKey)
				a := signCompact(t, "RS384", rsaKey, mustJSON(t, with(kit.header, "alg", "RS384")), mustJSON(t, kit.claims()))
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "does not fit alg RS384",
		},
		{
			name:    "PS384 against a key registered for RS384",
			partner: "ehr-gamma",
			build: func(t *testing.T) attackRequest {
				gamma := env.partners["ehr-gamma"]
				header := map[string]any{"alg": "PS384", "kid": gamma.key.KeyID}
				a := signCompact(t, "PS384", gamma.key.Key, mustJSON(t, header), mustJSON(t, claimsFor(gamma.id, env.tokenURL, now)))
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "does not fit alg PS384",
		},
		{
			name: "duplicate header member",
			build: func(t *testing.T) attackRequest {
				header := fmt.Sprintf(`{"alg":"ES256","kid":%q,"alg":"none"}`, alpha.key.KeyID)
				a := signCompact(t, "ES256", kit.priv, header, mustJSON(t, kit.claims()))
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "without duplicate members",
		},
		{
			name: "typ of an access token",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, with(kit.header, "typ", "at+jwt"), kit.claims())
			},
			status: 401, code: CodeInvalidClient, desc: "typ must be JWT",
		},
		{
			name: "padded base64 segment",
			build: func(t *testing.T) attackRequest {
				parts := strings.Split(env.assertion("ehr-alpha"), ".")
				parts[2] += "=="
				return formRequest(tokenForm(strings.Join(parts, "."), scope))
			},
			status: 401, code: CodeInvalidClient, desc: "unpadded base64url",
		},
		{
			name: "JWS JSON serialization",
			build: func(t *testing.T) attackRequest {
				parts := strings.Split(env.assertion("ehr-alpha"), ".")
				flat := fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, parts[0], parts[1], parts[2])
				return formRequest(tokenForm(flat, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "compact serialization",
		},
		{
			name: "wrong aud",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, kit.header, with(kit.claims(), "aud", testAudience))
			},
			status: 401, code: CodeInvalidClient, desc: "aud",
		},
		{
			name: "aud array with another audience",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, kit.header, with(kit.claims(), "aud", []string{env.tokenURL, "https://other.example/token"}))
			},
			status: 401, code: CodeInvalidClient, desc: "aud",
		},
		{
			name:   "exp missing",
			build:  func(t *testing.T) attackRequest { return signedForm(t, kit.header, with(kit.claims(), "exp", nil)) },
			status: 401, code: CodeInvalidClient, desc: "must carry exp",
		},
		{
			name: "exp passed",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, kit.header, with(kit.claims(), "exp", now.Add(-2*time.Minute).Unix()))
			},
			status: 401, code: CodeInvalidClient, desc: "expired",
		},
		{
			name: "exp far in the future",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, kit.header, with(kit.claims(), "exp", now.Add(10*time.Minute).Unix()))
			},
			status: 401, code: CodeInvalidClient, desc: "at most 5 minutes",
		},
		{
			name: "exp as a string",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, kit.header, with(kit.claims(), "exp", "1772443800"))
			},
			status: 401, code: CodeInvalidClient, desc: "claims must be a JSON object",
		},
		{
			name: "iat in the future",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, kit.header, with(kit.claims(), "iat", now.Add(3*time.Minute).Unix()))
			},
			status: 401, code: CodeInvalidClient, desc: "iat is in the future",
		},
		{
			name: "nbf in the future",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, kit.header, with(kit.claims(), "nbf", now.Add(3*time.Minute).Unix()))
			},
			status: 401, code: CodeInvalidClient, desc: "not valid yet",
		},
		{
			name:   "jti missing",
			build:  func(t *testing.T) attackRequest { return signedForm(t, kit.header, with(kit.claims(), "jti", nil)) },
			status: 401, code: CodeInvalidClient, desc: "jti",
		},
		{
			name:   "replayed jti",
			replay: true,
			build:  func(t *testing.T) attackRequest { return formRequest(valid(t)) },
			status: 401, code: CodeInvalidClient, desc: "already been used",
		},
		{
			name: "iss differs from sub",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, kit.header, with(kit.claims(), "sub", "ehr-beta"))
			},
			status: 401, code: CodeInvalidClient, desc: "iss and sub",
		},
		{
			name: "duplicate claim",
			build: func(t *testing.T) attackRequest {
				claims := strings.TrimSuffix(mustJSON(t, kit.claims()), "}") + `,"sub":"ehr-beta"}`
				a := signCompact(t, "ES256", kit.priv, mustJSON(t, kit.header), claims)
				return formRequest(tokenForm(a, scope))
			},
			status: 401, code: CodeInvalidClient, desc: "claims must be a JSON object",
		},
		{
			name: "client_id parameter names another client",
			build: func(t *testing.T) attackRequest {
				f := valid(t)
				f.Set("client_id", "ehr-beta")
				return formRequest(f)
			},
			status: 401, code: CodeInvalidClient, desc: "client_id does not match",
		},
		{
			name: "oversize assertion",
			build: func(t *testing.T) attackRequest {
				return signedForm(t, kit.header, with(kit.claims(), "pad", strings.Repeat("A", 7000)))
			},
			status: 401, code: CodeInvalidClient, desc: "exceeds 8192 bytes",
		},
		{
			name: "oversize body",
			build: func(t *testing.T) attackRequest {
				f := valid(t)
				f.Set("padding", strings.Repeat("A", 20000))
				return formRequest(f)
			},
			status: 400, code: CodeInvalidRequest, desc: "request body exceeds",
		},
		{
			name: "client_secret present",
			build: func(t *testing.T) attackRequest {
				f := valid(t)
				f.Set("client_secret", "s3cret")
				return formRequest(f)
			},
			status: 400, code: CodeInvalidRequest, desc: "client_secret",
		},
		{
			name: "Authorization header present",
			build: func(t *testing.T) attackRequest {
				r := formRequest(valid(t))
				r.authorization = "Basic ZWhyLWFscGhhOnMzY3JldA=="
				return r
			},
			status: 400, code: CodeInvalidRequest, desc: "Authorization header",
		},
		{
			name: "authorization_code grant",
			build: func(t *testing.T) attackRequest {
				f := valid(t)
				f.Set("grant_type", "authorization_code")
				return formRequest(f)
			},
			status: 400, code: CodeUnsupportedGrantType, desc: "client_credentials",
		},
		{
			name: "grant_type missing",
			build: func(t *testing.T) attackRequest {
				f := valid(t)
				f.Del("grant_type")
				return formRequest(f)
			},
			status: 400, code: CodeInvalidRequest, desc: "grant_type",
		},
		{
			name: "JSON content type",
			build: func(t *testing.T) attackRequest {
				r := formRequest(valid(t))
				r.contentType = "application/json"
				return r
			},
			status: 400, code: CodeInvalidRequest, desc: "Content-Type",
		},
		{
			name: "form content type with another charset",
			build: func(t *testing.T) attackRequest {
				r := formRequest(valid(t))
				r.contentType = "application/x-www-form-urlencoded; charset=iso-8859-1"
				return r
			},
			status: 400, code: CodeInvalidRequest, desc: "charset",
		},
		{
			name: "gzip content encoding",
			build: func(t *testing.T) attackRequest {
				r := formRequest(valid(t))
				r.encoding = "gzip"
				return r
			},
			status: 400, code: CodeInvalidRequest, desc: "Content-Encoding",
		},
		{
			name: "scope repeated",
			build: func(t *testing.T) attackRequest {
				f := valid(t)
				f.Add("scope", "system/Claim.write")
				return formRequest(f)
			},
			status: 400, code: CodeInvalidRequest, desc: "scope must not be repeated",
		},
		{
			name: "client_assertion repeated",
			build: func(t *testing.T) attackRequest {
				f := valid(t)
				f.Add("client_assertion", env.assertion("ehr-alpha"))
				return formRequest(f)
			},
			status: 400, code: CodeInvalidRequest, desc: "client_assertion must not be repeated",
		},
		{
			name: "parameters in the URL",
			build: func(t *testing.T) attackRequest {
				return attackRequest{query: valid(t).Encode()}
			},
			status: 400, code: CodeInvalidRequest, desc: "not the URL",
		},
		{
			name: "GET method",
			build: func(t *testing.T) attackRequest {
				return attackRequest{method: http.MethodGet}
			},
			status: 405, code: CodeInvalidRequest, desc: "POST",
		},
		{
			name: "client_assertion_type missing",
			build: func(t *testing.T) attackRequest {
				f := valid(t)
				f.Del("client_assertion_type")
				return formRequest(f)
			},
			status: 401, code: CodeInvalidClient, desc: "client authentication is missing",
		},
		{
			name: "SAML client_assertion_type",
			build: func(t *testing.T) attackRequest {
				f := valid(t)
				f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
				return formRequest(f)
			},
			status: 401, code: CodeInvalidClient, desc: "client_assertion_type must be",
		},
		{
			name: "scope outside the registration",
			build: func(t *testing.T) attackRequest {
				return formRequest(tokenForm(env.assertion("ehr-alpha"), "system/Patient.read system/*.read"))
			},
			status: 400, code: CodeInvalidScope, desc: "none of the requested scopes",
		},
		{
			name: "scope missing",
			build: func(t *testing.T) attackRequest {
				return formRequest(tokenForm(env.assertion("ehr-alpha"), ""))
			},
			status: 400, code: CodeInvalidScope, desc: "scope is missing",
		},
		{
			name: "scope with double space",
			build: func(t *testing.T) attackRequest {
				return formRequest(tokenForm(env.assertion("ehr-alpha"), "system/Claim.read  system/Coverage.read"))
			},
			status: 400, code: CodeInvalidScope, desc: "single spaces",
		},
		{
			name:    "peer certificate of another partner",
			partner: "ehr-beta",
			build:   func(t *testing.T) attackRequest { return formRequest(valid(t)) },
			status:  401, code: CodeInvalidClient, desc: "certificate does not belong",
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender := alpha
			if tt.partner != "" {
				sender = env.partners[tt.partner]
			}
			req := tt.build(t)
			if tt.replay {
				first := env.sendAttack(t, sender, req)
				if first.status != http.StatusOK {
					t.Fatalf("first use: status = %d, body %s", first.status, first.body)
				}
			}

			got := env.sendAttack(t, sender, req)
			if got.status != tt.status {
				t.Errorf("status = %d, want %d (body %s)", got.status, tt.status, got.body)
			}
			if got.fields["error"] != tt.code {
				t.Errorf("error = %v, want %s", got.fields["error"], tt.code)
			}
			desc, _ := got.fields["error_description"].(string)
			if !strings.Contains(desc, tt.desc) {
				t.Errorf("error_description = %q, want it to mention %q", desc, tt.desc)
			}
			if _, ok := got.fields["access_token"]; ok {
				t.Error("response carries an access_token")
			}
			if tt.status == http.StatusUnauthorized && got.header.Get("WWW-Authenticate") == "" {
				t.Error("401 response has no WWW-Authenticate header")
			}
			checkNoStore(t, got.header)
			checkNoEcho(t, got.body, req)

			x, res := env.lastOutcome()
			if res != nil || x.TokenID != "" {
				t.Errorf("a token was issued: recorded exchange %+v", x)
			}
			if x.ErrorCode != tt.code || x.Status != tt.status {
				t.Errorf("recorded error = %s/%d, want %s/%d", x.ErrorCode, x.Status, tt.code, tt.status)
			}
		})
	}
}

func (env *testEnv) sendAttack(t *testing.T, p *partner, a attackRequest) httpResult {
	t.Helper()
	method := a.method
	if method == "" {
		method = http.MethodPost
	}
	target := env.tokenURL
	if a.query != "" {
		target += "?" + a.query
	}
	req, err := http.NewRequest(method, target, strings.NewReader(a.body))
	if err != nil {
		t.Fatal(err)
	}
	contentType := a.contentType
	if contentType == "" {
		contentType = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", contentType)
	if a.encoding != "" {
		req.Header.Set("Content-Encoding", a.encoding)
	}
	if a.authorization != "" {
		req.Header.Set("Authorization", a.authorization)
	}
	return env.do(p, req)
}

// checkNoEcho fails if the response repeats any part of the assertion.
func checkNoEcho(t *testing.T, body []byte, a attackRequest) {
	t.Helper()
	form, err := url.ParseQuery(a.body)
	if err != nil {
		return
	}
	for _, assertion := range form["client_assertion"] {
		for _, part := range strings.Split(assertion, ".") {
			if len(part) >= 16 && strings.Contains(string(body), part) {
				t.Errorf("response echoes part of the assertion: %s", body)
			}
		}
	}
}

// verifiedRequest returns a token request carrying a TLS state whose
// verified chain is leaf and the CA, as the TLS stack builds it.
func verifiedRequest(body string, leaf, ca *x509.Certificate) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://gatehouse.test/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.TLS = &tls.ConnectionState{
		PeerCertificates: []*x509.Certificate{leaf},
		VerifiedChains:   [][]*x509.Certificate{{leaf, ca}},
	}
	return r
}

func TestIssueRequiresVerifiedChain(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	body := tokenForm(env.assertion("ehr-alpha"), "system/Claim.read").Encode()

	noTLS := verifiedRequest(body, alpha.cert.Leaf, env.ca.cert)
	noTLS.TLS = nil
	unverified := verifiedRequest(body, alpha.cert.Leaf, env.ca.cert)
	unverified.TLS.VerifiedChains = nil

	for name, r := range map[string]*http.Request{"no TLS": noTLS, "peer certificates only": unverified} {
		t.Run(name, func(t *testing.T) {
			res, e := env.server.Issue(r.Context(), r)
			if res != nil || e == nil {
				t.Fatalf("Issue = %v, %v; want an error", res, e)
			}
			if e.Code != CodeInvalidClient || e.Status != http.StatusUnauthorized {
				t.Errorf("error = %s/%d, want invalid_client/401", e.Code, e.Status)
			}
		})
	}
}

func TestIssueExpiryCappedByCertificate(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	notAfter := testStart.Add(2 * time.Minute)
	short := env.ca.issue(t, alpha.id, true, notAfter)

	body := tokenForm(env.assertion("ehr-alpha"), "system/Claim.read").Encode()
	r := verifiedRequest(body, short.Leaf, env.ca.cert)
	res, e := env.server.Issue(r.Context(), r)
	if e != nil {
		t.Fatal(e)
	}
	if !res.Expiry.Equal(notAfter) {
		t.Errorf("Expiry = %v, want the certificate's NotAfter %v", res.Expiry, notAfter)
	}

	rec := httptest.NewRecorder()
	env.server.WriteResponse(rec, res, nil)
	if !strings.Contains(rec.Body.String(), `"expires_in":120`) {
		t.Errorf("response %s, want expires_in 120", rec.Body)
	}
}

// failingStore is a ClientStore whose backend is down.
type failingStore struct{}

func (failingStore) Client(context.Context, string) (*Client, error) {
	return nil, errors.New("connection refused")
}

// failingReplay is a ReplayCache whose backend is down.
type failingReplay struct{}

func (failingReplay) Use(context.Context, string, string, time.Time) error {
	return errors.New("connection refused")
}

func TestIssueFailsClosedOnOutage(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	opts := env.server.opts

	tests := []struct {
		name   string
		change func(*ServerOptions)
	}{
		{"client store down", func(o *ServerOptions) { o.Clients = failingStore{} }},
		{"replay cache down", func(o *ServerOptions) { o.Replay = failingReplay{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			tt.change(&o)
			srv, err := NewServer(o)
			if err != nil {
				t.Fatal(err)
			}
			body := tokenForm(env.assertion("ehr-alpha"), "system/Claim.read").Encode()
			r := verifiedRequest(body, alpha.cert.Leaf, env.ca.cert)
			res, e := srv.Issue(r.Context(), r)
			if res != nil || e == nil {
				t.Fatalf("Issue = %v, %v; want an error", res, e)
			}
			if e.Code != CodeTemporarilyUnavailable || e.Status != http.StatusServiceUnavailable {
				t.Errorf("error = %s/%d, want temporarily_unavailable/503", e.Code, e.Status)
			}
			if strings.Contains(e.Description, "connection refused") {
				t.Errorf("description %q exposes the backend error", e.Description)
			}
			if !strings.Contains(e.Error(), "connection refused") {
				t.Errorf("Error() = %q, want the cause for server logs", e.Error())
			}
		})
	}
}

func TestWriteResponseWithoutOutcome(t *testing.T) {
	env := newTestEnv(t, testStart)
	rec := httptest.NewRecorder()
	env.server.WriteResponse(rec, nil, nil)
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
	if x := Summarize(nil, nil); x.ErrorCode != CodeServerError {
		t.Errorf("Summarize(nil, nil).ErrorCode = %q, want server_error", x.ErrorCode)
	}
}

func TestScopeParsing(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"system/Claim.read", []string{"system/Claim.read"}, true},
		{"a b a", []string{"a", "b"}, true},
		{"a  b", nil, false},
		{" a", nil, false},
		{"a\tb", nil, false},
		{`a"b`, nil, false},
		{"é", nil, false},
		{strings.Repeat("s ", maxScopeTokens) + "s", nil, false},
	}
	for _, tt := range tests {
		got, err := parseScope(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("parseScope(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestIssueRecordsClaimedIDs(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	priv := alpha.key.Key.(*ecdsa.PrivateKey)
	header := mustJSON(t, map[string]any{"alg": "ES256", "kid": "not-registered"})

	tests := []struct {
		name          string
		iss, jti      string
		wantID, wantJ string
	}{
		{"printable ids kept", alpha.id, "jti-1", alpha.id, "jti-1"},
		{"control characters dropped", "ehr-alpha\n", "jti\x1b[2", "", ""},
		{"long jti dropped", alpha.id, strings.Repeat("j", 300), alpha.id, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := claimsFor(tt.iss, env.tokenURL, testStart)
			claims["jti"] = tt.jti
			assertion := signCompact(t, "ES256", priv, header, mustJSON(t, claims))
			r := verifiedRequest(tokenForm(assertion, "system/Claim.read").Encode(), alpha.cert.Leaf, env.ca.cert)

			_, e := env.server.Issue(r.Context(), r)
			if e == nil {
				t.Fatal("Issue succeeded")
			}
			x := Summarize(nil, e)
			if x.ClientID != tt.wantID || x.AssertionID != tt.wantJ || x.Authenticated {
				t.Errorf("recorded client=%q jti=%q authenticated=%v; want %q, %q, false",
					x.ClientID, x.AssertionID, x.Authenticated, tt.wantID, tt.wantJ)
			}
		})
	}
}

func TestIssueConcurrent(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	bodies := make([]string, 16)
	for i := range bodies {
		bodies[i] = tokenForm(env.assertion("ehr-alpha"), "system/Claim.read").Encode()
	}

	tokens := make([]string, len(bodies))
	errs := make([]*Error, len(bodies))
	var wg sync.WaitGroup
	for i, body := range bodies {
		wg.Go(func() {
			r := verifiedRequest(body, alpha.cert.Leaf, env.ca.cert)
			res, e := env.server.Issue(r.Context(), r)
			errs[i] = e
			if res != nil {
				tokens[i] = res.accessToken
			}
		})
	}
	wg.Wait()

	for i := range bodies {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
			continue
		}
		if _, err := env.server.Verify(tokens[i], alpha.cert.Leaf); err != nil {
			t.Errorf("token %d: %v", i, err)
		}
	}
}
