package app_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

var formHeader = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

// tokenForm returns a revocation or introspection body for tok.
func tokenForm(tok string) []byte {
	return []byte(url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode())
}

// metadata sends GET /fhir/metadata with tok over client.
func (h *harness) metadata(client *http.Client, tok string) (*http.Response, []byte) {
	h.t.Helper()
	resp := h.send(client, "GET", "/fhir/metadata", http.Header{"Authorization": {"Bearer " + tok}}, nil)
	return resp, readBody(h.t, resp)
}

// secondPartnerClient returns a client presenting another certificate of
// the demo partner.
func (h *harness) secondPartnerClient() *http.Client {
	h.t.Helper()
	ca, err := pki.LoadCA(h.layout.CACertFile, h.layout.CAKeyFile)
	if err != nil {
		h.t.Fatal(err)
	}
	second, err := ca.IssueClient(pki.ClientOptions{PartnerID: app.DevPartner})
	if err != nil {
		h.t.Fatal(err)
	}
	tlsCert, err := second.TLSCertificate()
	if err != nil {
		h.t.Fatal(err)
	}
	roots, _ := h.layout.CAPool()
	tr := &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tlsCert)}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestPartnerRevokesOwnToken revokes a token over the partner's own
// connection, then presents it on a FHIR request, which is refused as
// revoked.
func TestPartnerRevokesOwnToken(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	revoked, other := h.accessToken(), h.accessToken()
	if resp, body := h.metadata(h.ehr.HTTPClient(), revoked); resp.StatusCode != http.StatusOK {
		t.Fatalf("request before revocation: status %d: %s", resp.StatusCode, body)
	}

	resp := h.send(h.ehr.HTTPClient(), "POST", "/oauth/revoke", formHeader, tokenForm(revoked))
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("revocation: status %d: %s; want 200 with an empty body", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("revocation Cache-Control = %q, want no-store", got)
	}
	entries := h.entries(resp)
	if len(entries) != 1 || entries[0].Rule != "revocation.revoked" || entries[0].Partner != app.DevPartner || entries[0].TokenID == "" {
		t.Fatalf("revocation entries = %+v", entries)
	}
	if strings.Contains(string(entries[0].RequestBody), revoked) {
		t.Error("the record holds the revoked token")
	}

	before := h.upstream.count.Load()
	resp, body := h.metadata(h.ehr.HTTPClient(), revoked)
	if resp.StatusCode != http.StatusUnauthorized || outcomeCode(t, body) != "login" {
		t.Fatalf("revoked token: status %d: %s; want 401 login", resp.StatusCode, body)
	}
	if challenge := resp.Header.Get("WWW-Authenticate"); !strings.Contains(challenge, "revoked") {
		t.Errorf("WWW-Authenticate = %q, want it to say the token was revoked", challenge)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "token.revoked" {
		t.Errorf("entries = %+v, want one token.revoked refusal", e)
	}
	if h.upstream.count.Load() != before {
		t.Error("the upstream received a request with a revoked token")
	}

	if resp, body := h.metadata(h.ehr.HTTPClient(), other); resp.StatusCode != http.StatusOK {
		t.Errorf("another token of the partner: status %d: %s; want 200", resp.StatusCode, body)
	}
}

// TestPartnerCannotRevokeOtherCertificatesToken presents, over a second
// certificate of the same partner, a token bound to the first.
func TestPartnerCannotRevokeOtherCertificatesToken(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()

	resp := h.send(h.secondPartnerClient(), "POST", "/oauth/revoke", formHeader, tokenForm(tok))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), token.CodeUnauthorizedClient) {
		t.Fatalf("revocation over another certificate: status %d: %s; want 400 unauthorized_client", resp.StatusCode, body)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "revocation.unauthorized_client" || e[0].Decision != record.Deny {
		t.Errorf("entries = %+v", e)
	}
	if resp, body := h.metadata(h.ehr.HTTPClient(), tok); resp.StatusCode != http.StatusOK {
		t.Errorf("token after the refused revocation: status %d: %s; want 200", resp.StatusCode, body)
	}
}

// TestPartnerCannotIntrospect checks that introspection is not served on
// the inbound listener.
func TestPartnerCannotIntrospect(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	resp := h.send(h.ehr.HTTPClient(), "POST", "/oauth/introspect", formHeader, tokenForm(h.accessToken()))
	if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Errorf("introspection on the inbound listener: status %d: %s; want 404", resp.StatusCode, body)
	}
}

// engineHarness starts a development gateway with the outbound listener on
// and returns a client presenting an integration engine certificate, with
// the outbound listener's base URL.
func engineHarness(t *testing.T) (*harness, *http.Client, string) {
	t.Helper()
	dir := t.TempDir()
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	payerKey, err := token.GenerateKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	keyJSON, _ := json.Marshal(payerKey)
	if err := os.WriteFile(filepath.Join(dir, "payer.jwk"), keyJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	payerCert, _ := ca.IssueClient(pki.ClientOptions{PartnerID: "payer-123"})
	if err := payerCert.WriteFiles(filepath.Join(dir, "payer.pem"), filepath.Join(dir, "payer-key.pem")); err != nil {
		t.Fatal(err)
	}
	engineCert, err := ca.IssueEngine(pki.AdminOptions{Name: "iris"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Outbound = config.Outbound{Listen: "127.0.0.1:0", ClientCAFile: layout.CACertFile, CertFile: filepath.Join(dir, "payer.pem"),
		KeyFile: filepath.Join(dir, "payer-key.pem"), AssertionKeyFile: filepath.Join(dir, "payer.jwk")}

	h := &harness{t: t, layout: layout}
	h.upstream = newCountingUpstream(t)
	cfg.Upstream.URL = h.upstream.srv.URL + "/fhir-engine"
	cfg.Strict.Mode = "off"
	h.start(cfg)

	tc, _ := engineCert.TLSCertificate()
	roots, _ := layout.CAPool()
	tr := &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tc)}
	t.Cleanup(tr.CloseIdleConnections)
	return h, &http.Client{Transport: tr}, "https://localhost:" + portOf(h.rt.OutboundAddr.String())
}

// introspect posts an introspection request for tok to the outbound
// listener and returns the decoded response.
func introspect(t *testing.T, client *http.Client, base, tok string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := client.Post(base+"/oauth/introspect", "application/x-www-form-urlencoded", strings.NewReader(string(tokenForm(tok))))
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if strings.Contains(string(body), tok) {
		t.Error("the introspection response contains the token")
	}
	var fields map[string]any
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatalf("introspection response is not JSON: %s", body)
		}
	}
	return resp, fields
}

// TestEngineIntrospectsAndRevokes runs the integration engine's side: it
// introspects a partner's token, revokes it, and finds it inactive, while
// the partner's next FHIR request with it is refused.
func TestEngineIntrospectsAndRevokes(t *testing.T) {
	h, engine, base := engineHarness(t)
	tok := h.accessToken()

	resp, fields := introspect(t, engine, base, tok)
	if resp.StatusCode != http.StatusOK || fields["active"] != true {
		t.Fatalf("introspection of a live token: status %d: %v", resp.StatusCode, fields)
	}
	if fields["client_id"] != app.DevPartner || fields["token_type"] != "Bearer" || fields["aud"] != h.rt.FHIRBase {
		t.Errorf("introspection = %v", fields)
	}
	if cnf, _ := fields["cnf"].(map[string]any); cnf["x5t#S256"] == "" || cnf["x5t#S256"] == nil {
		t.Errorf("introspection cnf = %v, want the certificate thumbprint", fields["cnf"])
	}
	e := h.entries(resp)
	if len(e) != 1 || e[0].Rule != "introspection.active" || e[0].Direction != "outbound" || !strings.Contains(e[0].Source, "engine:iris") {
		t.Errorf("introspection entries = %+v", e)
	}
	if strings.Contains(string(e[0].RequestBody), tok) || strings.Contains(string(e[0].ResponseBody), tok) {
		t.Error("the record holds the token")
	}

	resp, err := engine.Post(base+"/oauth/revoke", "application/x-www-form-urlencoded", strings.NewReader(string(tokenForm(tok))))
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("engine revocation: status %d: %s", resp.StatusCode, body)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "revocation.revoked" || e[0].Partner != app.DevPartner {
		t.Errorf("revocation entries = %+v", e)
	}

	if resp, fields := introspect(t, engine, base, tok); resp.StatusCode != http.StatusOK || fields["active"] != false || len(fields) != 1 {
		t.Errorf("introspection after revocation: status %d: %v; want only active false", resp.StatusCode, fields)
	}
	if resp, body := h.metadata(h.ehr.HTTPClient(), tok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("FHIR request with the revoked token: status %d: %s; want 401", resp.StatusCode, body)
	}

	for name, garbage := range map[string]string{"garbage": "not-a-token", "unsigned": "eyJhbGciOiJub25lIn0.e30."} {
		if resp, fields := introspect(t, engine, base, garbage); resp.StatusCode != http.StatusOK || fields["active"] != false {
			t.Errorf("introspection of a %s token: status %d: %v; want inactive", name, resp.StatusCode, fields)
		}
	}
}

// TestIntrospectionHonoursKillSwitch checks that a token a full cut
// revoked is reported inactive.
func TestIntrospectionHonoursKillSwitch(t *testing.T) {
	h, engine, base := engineHarness(t)
	tok := h.accessToken()
	h.engage(`{"mode":"full","scope":"partner:demo-ehr","reason":"suspected credential theft"}`)

	resp, fields := introspect(t, engine, base, tok)
	if resp.StatusCode != http.StatusOK || fields["active"] != false {
		t.Fatalf("introspection during a full cut: status %d: %v; want inactive", resp.StatusCode, fields)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "introspection.inactive" || !strings.Contains(e[0].Reason, "kill switch") {
		t.Errorf("entries = %+v", e)
	}
}

// TestEngineEndpointsRefusePartners checks that a partner certificate gets
// neither endpoint on the outbound listener.
func TestEngineEndpointsRefusePartners(t *testing.T) {
	h, _, base := engineHarness(t)
	tok := h.accessToken()
	for _, path := range []string{"/oauth/revoke", "/oauth/introspect"} {
		resp, err := h.ehr.HTTPClient().Post(base+path, "application/x-www-form-urlencoded", strings.NewReader(string(tokenForm(tok))))
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"error":"invalid_client"`) {
			t.Errorf("%s with a partner certificate: status %d: %s; want 401 invalid_client", path, resp.StatusCode, body)
		}
	}
	if resp, body := h.metadata(h.ehr.HTTPClient(), tok); resp.StatusCode != http.StatusOK {
		t.Errorf("token after the refused calls: status %d: %s; want 200", resp.StatusCode, body)
	}
}

// jwksEndpoint serves the demo partner's public JWK set over TLS on
// loopback, as a partner's key server would, and counts the fetches.
type jwksEndpoint struct {
	srv    *httptest.Server
	hits   atomic.Int64
	caFile string // PEM of the server's certificate, for jwks_ca_file
}

func newJWKSEndpoint(t *testing.T, jwks []byte) *jwksEndpoint {
	t.Helper()
	e := &jwksEndpoint{}
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write(jwks)
	}))
	t.Cleanup(e.srv.Close)
	e.caFile = filepath.Join(t.TempDir(), "jwks-ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	if err := os.WriteFile(e.caFile, block, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// jwksURLHarness starts a development gateway whose demo partner registers
// its keys by the URL of endpoint, with allow as the egress allowlist.
func jwksURLHarness(t *testing.T, allow func(e *jwksEndpoint) []string) (*harness, *jwksEndpoint) {
	t.Helper()
	cfg, layout, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := os.ReadFile(layout.JWKSFile)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := newJWKSEndpoint(t, jwks)
	p := &cfg.Partners[0]
	p.JWKSFile, p.JWKSURL, p.JWKSCAFile = "", endpoint.srv.URL+"/jwks.json", endpoint.caFile
	cfg.Egress.Allow = allow(endpoint)

	h := &harness{t: t, layout: layout}
	h.upstream = newCountingUpstream(t)
	cfg.Upstream.URL = h.upstream.srv.URL + "/fhir-engine"
	cfg.Strict.Mode = "off"
	h.start(cfg)
	return h, endpoint
}

// TestPartnerKeysFromJWKSURL registers the demo partner's keys by URL on a
// loopback TLS server that the egress allowlist names, and checks that the
// partner authenticates with them.
func TestPartnerKeysFromJWKSURL(t *testing.T) {
	h, endpoint := jwksURLHarness(t, func(e *jwksEndpoint) []string { return []string{e.srv.Listener.Addr().String()} })

	tok := h.accessToken()
	if resp, body := h.metadata(h.ehr.HTTPClient(), tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("FHIR request with a token issued against URL keys: status %d: %s", resp.StatusCode, body)
	}
	h.accessToken()
	if n := endpoint.hits.Load(); n != 1 {
		t.Errorf("the JWKS URL was fetched %d times, want 1 (cached for its max-age)", n)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "partner JWKS fetched") || !strings.Contains(logs, "max_age=10m0s") {
		t.Errorf("no log line for the fetch in:\n%s", grep(logs, "JWKS"))
	}
}

// TestPartnerJWKSURLOutsideEgressAllowlist checks that a JWKS URL the
// egress allowlist does not name is never fetched, so the partner cannot
// authenticate, and that the failure is logged.
func TestPartnerJWKSURLOutsideEgressAllowlist(t *testing.T) {
	h, endpoint := jwksURLHarness(t, func(*jwksEndpoint) []string { return []string{"jwks.partner.example:443"} })

	_, err := h.ehr.Token(context.Background())
	var re *token.ResponseError
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.Code != token.CodeTemporarilyUnavailable {
		t.Fatalf("token request = %v, want 503 temporarily_unavailable", err)
	}
	if n := endpoint.hits.Load(); n != 0 {
		t.Errorf("the JWKS URL outside the egress allowlist was fetched %d times", n)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "partner JWKS fetch failed") || !strings.Contains(logs, "egress refused") {
		t.Errorf("no log lines for the refused fetch in:\n%s", grep(logs, "JWKS"))
	}
}
