package token

import (
	"context"
	"crypto/elliptic"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// memRevocations is an in-memory Revocations whose backend can be made to
// fail.
type memRevocations struct {
	mu      sync.Mutex
	expires map[string]time.Time
	failing bool
}

func (m *memRevocations) Revoke(_ context.Context, jti string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return errors.New("connection refused")
	}
	if m.expires == nil {
		m.expires = map[string]time.Time{}
	}
	m.expires[jti] = expires
	return nil
}

func (m *memRevocations) Revoked(_ context.Context, jti string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return false, errors.New("connection refused")
	}
	_, ok := m.expires[jti]
	return ok, nil
}

func (m *memRevocations) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.expires)
}

func (m *memRevocations) setFailing(f bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failing = f
}

// revocableServer returns a server like env.server with an in-memory
// revocation store.
func (env *testEnv) revocableServer(t *testing.T) (*Server, *memRevocations) {
	t.Helper()
	store := &memRevocations{}
	srv := env.serverVariant(t, func(o *ServerOptions) { o.Revocations = store })
	return srv, store
}

// controlRequest returns a revocation or introspection request with form
// as its body, over a connection authenticated by p's certificate.
func (env *testEnv) controlRequest(p *partner, form url.Values) *http.Request {
	return verifiedRequest(form.Encode(), p.cert.Leaf, env.ca.cert)
}

func tokenParam(tok string) url.Values { return url.Values{"token": {tok}} }

func TestRevokeThenVerify(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, store := env.revocableServer(t)
	alpha := env.partners["ehr-alpha"]
	revoked := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")
	other := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")

	r := env.controlRequest(alpha, url.Values{"token": {revoked}, "token_type_hint": {"access_token"}})
	res, e := srv.Revoke(r.Context(), r, AnyToken())
	if e != nil {
		t.Fatalf("Revoke: %v", e)
	}
	if !res.Revoked || res.ClientID != alpha.id || res.TokenID == "" {
		t.Errorf("Revocation = %+v, want alpha's token revoked", res)
	}
	if store.len() != 1 {
		t.Errorf("store holds %d revocations, want 1", store.len())
	}

	if _, err := srv.Verify(revoked, alpha.cert.Leaf); !errors.Is(err, ErrRevokedToken) {
		t.Errorf("Verify(revoked token) error = %v, want ErrRevokedToken", err)
	}
	if _, err := srv.Verify(other, alpha.cert.Leaf); err != nil {
		t.Errorf("Verify(other token of the same client) = %v, want success", err)
	}

	rec := httptest.NewRecorder()
	srv.WriteRevocation(rec, res, nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("WriteRevocation = %d %q, want 200 with an empty body", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func TestRevokeStoredUntilExpiryPlusSkew(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, store := env.revocableServer(t)
	alpha := env.partners["ehr-alpha"]
	tok := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")

	r := env.controlRequest(alpha, tokenParam(tok))
	if _, e := srv.Revoke(r.Context(), r, AnyToken()); e != nil {
		t.Fatal(e)
	}
	claims, _ := srv.checkToken(tok)
	want := time.Unix(claims.Expiry, 0).Add(DefaultSkew)
	if got := store.expires[claims.ID]; !got.Equal(want) {
		t.Errorf("revocation expires %v, want exp + skew = %v", got, want)
	}
}

// TestRevokeOnlyOwnCertificate checks that a partner revoking over its own
// connection can revoke only the tokens bound to its certificate.
func TestRevokeOnlyOwnCertificate(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, store := env.revocableServer(t)
	alpha, beta := env.partners["ehr-alpha"], env.partners["ehr-beta"]
	alphaToken := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")

	tests := []struct {
		name  string
		scope RevocationScope
	}{
		{"another partner's certificate", TokensBoundTo(beta.cert.Leaf)},
		{"no certificate", TokensBoundTo(nil)},
		{"zero scope", RevocationScope{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.controlRequest(beta, tokenParam(alphaToken))
			res, e := srv.Revoke(r.Context(), r, tt.scope)
			if res != nil || e == nil {
				t.Fatalf("Revoke = %+v, %v; want an error", res, e)
			}
			if e.Code != CodeUnauthorizedClient || e.Status != http.StatusBadRequest {
				t.Errorf("error = %s/%d, want unauthorized_client/400", e.Code, e.Status)
			}
			if store.len() != 0 {
				t.Error("the store recorded a revocation")
			}
			if _, err := srv.Verify(alphaToken, alpha.cert.Leaf); err != nil {
				t.Errorf("Verify after the refused revocation = %v, want success", err)
			}
		})
	}

	r := env.controlRequest(alpha, tokenParam(alphaToken))
	res, e := srv.Revoke(r.Context(), r, TokensBoundTo(alpha.cert.Leaf))
	if e != nil || !res.Revoked {
		t.Fatalf("Revoke over the bound certificate = %+v, %v; want revoked", res, e)
	}
	if _, err := srv.Verify(alphaToken, alpha.cert.Leaf); !errors.Is(err, ErrRevokedToken) {
		t.Errorf("Verify after revocation = %v, want ErrRevokedToken", err)
	}
}

// TestRevokeAcceptsUnknownTokens checks RFC 7009 section 2.2: a token that
// is not a live token of this server gets 200 and revokes nothing.
func TestRevokeAcceptsUnknownTokens(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, store := env.revocableServer(t)
	alpha := env.partners["ehr-alpha"]
	foreign := env.serverVariant(t, func(o *ServerOptions) { o.SigningKey = mustECKey(t, elliptic.P256()) })

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		advance time.Duration
		reason  string
	}{
		{"garbage", func(*testing.T) string { return "not-a-token" }, 0, "not a valid token"},
		{"oversize", func(*testing.T) string { return strings.Repeat("a", maxAccessTokenBytes+1) }, 0, "not a valid token"},
		{"signed by another server", func(t *testing.T) string { return env.issueDirect(t, foreign, "ehr-alpha", "system/Claim.read") },
			0, "not a valid token"},
		{"expired", func(t *testing.T) string { return env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read") },
			10 * time.Minute, "has expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token(t)
			env.clock.Advance(tt.advance)
			defer env.clock.Advance(-tt.advance)

			r := env.controlRequest(alpha, tokenParam(tok))
			res, e := srv.Revoke(r.Context(), r, TokensBoundTo(alpha.cert.Leaf))
			if e != nil {
				t.Fatalf("Revoke error = %v, want success", e)
			}
			if res.Revoked || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("Revocation = %+v, want not revoked because the token %s", res, tt.reason)
			}
			if store.len() != 0 {
				t.Error("the store recorded a revocation")
			}
		})
	}
}

func TestRevokeRejectsMalformedRequests(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, _ := env.revocableServer(t)
	alpha := env.partners["ehr-alpha"]
	tok := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")

	tests := []struct {
		name   string
		change func(r *http.Request)
		body   string
		status int
	}{
		{"missing token", nil, "token_type_hint=access_token", 400},
		{"empty token", nil, "token=", 400},
		{"repeated token", nil, "token=" + tok + "&token=" + tok, 400},
		{"GET", func(r *http.Request) { r.Method = http.MethodGet }, "token=" + tok, 405},
		{"token in the URL", func(r *http.Request) { r.URL.RawQuery = "token=" + tok }, "", 400},
		{"Authorization header", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, "token=" + tok, 400},
		{"JSON body", func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, `{"token":"` + tok + `"}`, 400},
		{"oversize body", nil, "token=" + strings.Repeat("a", controlFormBytes), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := verifiedRequest(tt.body, alpha.cert.Leaf, env.ca.cert)
			if tt.change != nil {
				tt.change(r)
			}
			res, e := srv.Revoke(r.Context(), r, AnyToken())
			if res != nil || e == nil {
				t.Fatalf("Revoke = %+v, %v; want an error", res, e)
			}
			if e.Status != tt.status || e.Code != CodeInvalidRequest {
				t.Errorf("error = %s/%d, want invalid_request/%d", e.Code, e.Status, tt.status)
			}
			if strings.Contains(e.Description, tok) {
				t.Error("the error description contains the token")
			}
		})
	}
}

func TestRevokeWithoutRevocationStore(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	tok := env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read")

	r := env.controlRequest(alpha, tokenParam(tok))
	res, e := env.server.Revoke(r.Context(), r, AnyToken())
	if res != nil || e == nil || e.Code != CodeUnsupportedTokenType {
		t.Fatalf("Revoke = %+v, %v; want unsupported_token_type", res, e)
	}
	rec := httptest.NewRecorder()
	env.server.WriteRevocation(rec, res, e)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), CodeUnsupportedTokenType) {
		t.Errorf("WriteRevocation = %d %s", rec.Code, rec.Body)
	}
	checkNoStore(t, rec.Header())
}

// TestRevocationStoreDown checks that an outage of the store fails closed
// on every path: revocation returns 503, Verify rejects the token, and
// introspection returns 503.
func TestRevocationStoreDown(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, store := env.revocableServer(t)
	alpha := env.partners["ehr-alpha"]
	tok := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")
	store.setFailing(true)

	r := env.controlRequest(alpha, tokenParam(tok))
	if res, e := srv.Revoke(r.Context(), r, AnyToken()); res != nil || e == nil || e.Status != http.StatusServiceUnavailable {
		t.Errorf("Revoke = %+v, %v; want 503", res, e)
	}
	if _, err := srv.Verify(tok, alpha.cert.Leaf); !errors.Is(err, ErrRevocationUnavailable) {
		t.Errorf("Verify error = %v, want ErrRevocationUnavailable", err)
	}
	r = env.controlRequest(alpha, tokenParam(tok))
	if in, e := srv.Introspect(r.Context(), r); in != nil || e == nil || e.Status != http.StatusServiceUnavailable {
		t.Errorf("Introspect = %+v, %v; want 503", in, e)
	}
}

// introspectionFields decodes a written introspection response.
func introspectionFields(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &fields); err != nil {
		t.Fatalf("introspection response is not a JSON object: %v: %s", err, rec.Body)
	}
	return fields
}

func TestIntrospectActiveToken(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, _ := env.revocableServer(t)
	alpha := env.partners["ehr-alpha"]
	tok := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read system/Coverage.read")

	r := env.controlRequest(alpha, url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}})
	in, e := srv.Introspect(r.Context(), r)
	if e != nil {
		t.Fatalf("Introspect: %v", e)
	}
	rec := httptest.NewRecorder()
	srv.WriteIntrospection(rec, in, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	checkNoStore(t, rec.Header())
	if strings.Contains(rec.Body.String(), tok) {
		t.Error("the introspection response contains the token")
	}

	fields := introspectionFields(t, rec)
	want := map[string]any{
		"active":     true,
		"scope":      "system/Claim.read system/Coverage.read",
		"client_id":  alpha.id,
		"sub":        alpha.id,
		"token_type": "Bearer",
		"iss":        testIssuer,
		"aud":        testAudience,
		"jti":        in.TokenID,
		"iat":        float64(testStart.Unix()),
		"exp":        float64(testStart.Add(DefaultLifetime).Unix()),
	}
	for name, value := range want {
		if fields[name] != value {
			t.Errorf("%s = %v, want %v", name, fields[name], value)
		}
	}
	cnf, _ := fields["cnf"].(map[string]any)
	if cnf["x5t#S256"] != CertificateThumbprint(alpha.cert.Leaf) {
		t.Errorf("cnf = %v, want the thumbprint of alpha's certificate", fields["cnf"])
	}
}

func TestIntrospectInactiveTokens(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, _ := env.revocableServer(t)
	alpha := env.partners["ehr-alpha"]
	revoked := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")
	r := env.controlRequest(alpha, tokenParam(revoked))
	if _, e := srv.Revoke(r.Context(), r, AnyToken()); e != nil {
		t.Fatal(e)
	}

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		advance time.Duration
		reason  string
	}{
		{"expired", func(t *testing.T) string { return env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read") },
			10 * time.Minute, "has expired"},
		{"revoked", func(*testing.T) string { return revoked }, 0, "has been revoked"},
		{"garbage", func(*testing.T) string { return "eyJhbGciOiJub25lIn0.e30." }, 0, "not a valid token"},
		{"tampered", func(t *testing.T) string {
			return tamperPayload(t, env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read"), "system/Claim.read", "system/Claim.write")
		}, 0, "not a valid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token(t)
			env.clock.Advance(tt.advance)
			defer env.clock.Advance(-tt.advance)

			r := env.controlRequest(alpha, tokenParam(tok))
			in, e := srv.Introspect(r.Context(), r)
			if e != nil {
				t.Fatalf("Introspect error = %v, want an inactive result", e)
			}
			if in.Active || !strings.Contains(in.Reason, tt.reason) {
				t.Errorf("Introspection = %+v, want inactive because the token %s", in, tt.reason)
			}
			rec := httptest.NewRecorder()
			srv.WriteIntrospection(rec, in, nil)
			if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"active":false}` {
				t.Errorf("response = %d %s, want 200 {\"active\":false}", rec.Code, rec.Body)
			}
		})
	}
}

func TestIntrospectionDeactivate(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, _ := env.revocableServer(t)
	alpha := env.partners["ehr-alpha"]
	tok := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")

	r := env.controlRequest(alpha, tokenParam(tok))
	in, e := srv.Introspect(r.Context(), r)
	if e != nil || !in.Active {
		t.Fatalf("Introspect = %+v, %v; want active", in, e)
	}
	in.Deactivate("revoked by the kill switch")
	rec := httptest.NewRecorder()
	srv.WriteIntrospection(rec, in, nil)
	if strings.TrimSpace(rec.Body.String()) != `{"active":false}` {
		t.Errorf("response after Deactivate = %s, want {\"active\":false}", rec.Body)
	}
}

func TestRedactFormHidesControlToken(t *testing.T) {
	body := []byte("token=eyJhbGciOiJFUzI1NiJ9.e30.c2ln&token_type_hint=access_token")
	got := string(RedactForm(body))
	if strings.Contains(got, "eyJhbGciOiJFUzI1NiJ9") {
		t.Errorf("RedactForm kept the token: %s", got)
	}
	if !strings.Contains(got, "token=sha256:") || !strings.Contains(got, "token_type_hint=access_token") {
		t.Errorf("RedactForm = %s, want the token fingerprinted and the hint kept", got)
	}
}
