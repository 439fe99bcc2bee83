package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// fakeEHR is a partner's FHIR API with its own SMART authorization server,
// built from Gatehouse's token service. Like an EHR vendor's payer
// platform, it requires mutual TLS, issues certificate-bound tokens to the
// payer's client and checks them on FHIR calls.
type fakeEHR struct {
	srv      *httptest.Server
	calls    atomic.Int64
	tokens   atomic.Int64
	lastAuth atomic.Value
	// last is a clone of the last request to the FHIR base.
	last atomic.Pointer[http.Request]
	// body is the body of the last request to the FHIR base.
	body atomic.Value
	// respond, when it holds an http.HandlerFunc, writes the response to
	// an authorized request at the FHIR base in place of the
	// CapabilityStatement.
	respond atomic.Value
}

// lastBody returns the body of the last request to the FHIR base.
func (f *fakeEHR) lastBody() string {
	body, _ := f.body.Load().(string)
	return body
}

func newFakeEHR(t *testing.T, ca *pki.CA, payerKey *jose.JSONWebKey) *fakeEHR {
	t.Helper()
	serverCert, err := ca.IssueServer(pki.ServerOptions{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := serverCert.TLSCertificate()
	conf, _ := tlspolicy.Server(tc, ca.CertPool())
	f := &fakeEHR{}
	f.srv = httptest.NewUnstartedServer(nil)
	f.srv.TLS = conf
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)

	signer, _ := pki.GenerateKey(pki.ECDSAP256)
	pub := payerKey.Public()
	ts, err := token.NewServer(token.ServerOptions{
		TokenURL: f.srv.URL + "/oauth2/token", Issuer: f.srv.URL, Audience: f.srv.URL + "/fhir",
		SigningKey: signer,
		Clients:    token.StaticClients{"payer-123": {ID: "payer-123", Keys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}}, Scopes: []string{"system/Task.cruds"}}},
		Replay:     mustReplay(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		f.tokens.Add(1)
		ts.ServeHTTP(w, r)
	})
	// A FHIR base below /redirect/ responds to every request with a redirect
	// to the cloud metadata address, which the egress guard must refuse.
	mux.HandleFunc("/redirect/", func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	fhirBase := func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		f.lastAuth.Store(r.Header.Get("Authorization"))
		f.last.Store(r.Clone(context.Background()))
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.body.Store(string(body))
		raw, err := token.BearerToken(r)
		if err == nil {
			_, err = ts.Verify(raw, r.TLS.VerifiedChains[0][0])
		}
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		if respond, ok := f.respond.Load().(http.HandlerFunc); ok {
			respond(w, r)
			return
		}
		w.Write([]byte(`{"resourceType":"CapabilityStatement","status":"active","date":"2026-12-01","kind":"instance",` +
			`"implementation":{"description":"Fake EHR payer platform"},"fhirVersion":"4.0.1","format":["json"],"rest":[{"mode":"server"}]}`))
	}
	// The base itself receives batches and transactions.
	mux.HandleFunc("/fhir", fhirBase)
	mux.HandleFunc("/fhir/", fhirBase)
	f.srv.Config.Handler = mux
	return f
}

// newPayerOutbound returns a dev configuration whose outbound listener
// presents the payer's client certificate and assertion key (written to a
// temporary folder), a fake partner EHR that trusts them, and the engine's
// certificate for calls to the outbound listener. The caller sets the
// partner's outbound endpoint and the egress allowlist.
func newPayerOutbound(t *testing.T) (*config.File, *devmode.Layout, *fakeEHR, *pki.Certificate) {
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

	payerKey := addPayerOutbound(t, cfg, layout, ca, dir)
	engineCert, err := ca.IssueEngine(pki.AdminOptions{Name: "iris"})
	if err != nil {
		t.Fatal(err)
	}
	ehr := newFakeEHR(t, ca, payerKey)
	return cfg, layout, ehr, engineCert
}

// addPayerOutbound issues the payer's client certificate from ca, writes
// it and a new assertion key to dir, and sets cfg's outbound listener to
// present them. It returns the assertion key.
func addPayerOutbound(t *testing.T, cfg *config.File, layout *devmode.Layout, ca *pki.CA, dir string) *jose.JSONWebKey {
	t.Helper()
	payerKey, err := token.GenerateKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	keyJSON, err := json.Marshal(payerKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "payer.jwk")
	if err := os.WriteFile(keyFile, keyJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	payerCert, err := ca.IssueClient(pki.ClientOptions{PartnerID: "payer-123"})
	if err != nil {
		t.Fatal(err)
	}
	if err := payerCert.WriteFiles(filepath.Join(dir, "payer.pem"), filepath.Join(dir, "payer-key.pem")); err != nil {
		t.Fatal(err)
	}
	cfg.Outbound = config.Outbound{
		Listen: "127.0.0.1:0", ClientCAFile: layout.CACertFile,
		CertFile: filepath.Join(dir, "payer.pem"), KeyFile: filepath.Join(dir, "payer-key.pem"), AssertionKeyFile: keyFile,
	}
	return payerKey
}

// partnerOutbound is the demo partner's outbound endpoint at the fake
// EHR, allowing the given interactions.
func partnerOutbound(layout *devmode.Layout, ehr *fakeEHR, interactions ...string) *config.PartnerOutbound {
	return &config.PartnerOutbound{
		FHIRBase: ehr.srv.URL + "/fhir", TokenURL: ehr.srv.URL + "/oauth2/token", ClientID: "payer-123",
		Scopes: []string{"system/Task.cruds"}, CAFile: layout.CACertFile, Interactions: interactions,
	}
}

// engineClient is the integration engine's mutual-TLS client for the
// outbound listener.
func engineClient(t *testing.T, layout *devmode.Layout, engineCert *pki.Certificate) *http.Client {
	t.Helper()
	tc, err := engineCert.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	engine := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tc)}}
	t.Cleanup(engine.CloseIdleConnections)
	return engine
}

// startOutbound starts a gateway whose outbound listener reaches the fake
// EHR as the demo partner's endpoint, allowing interactions. edit, if not
// nil, changes the configuration first. It returns the engine's client and
// the demo partner's base URL on the outbound listener.
func startOutbound(t *testing.T, edit func(cfg *config.File), interactions ...string) (*harness, *fakeEHR, *http.Client, string) {
	t.Helper()
	cfg, layout, ehr, engineCert := newPayerOutbound(t)
	cfg.Partners[0].Outbound = partnerOutbound(layout, ehr, interactions...)
	cfg.Egress.Allow = []string{ehr.srv.Listener.Addr().String()}
	if edit != nil {
		edit(cfg)
	}
	h := &harness{t: t, layout: layout}
	h.start(cfg)

	engine := engineClient(t, layout, engineCert)
	base := "https://localhost:" + portOf(h.rt.OutboundAddr.String()) + "/partners/demo-ehr/fhir"
	return h, ehr, engine, base
}

// outboundMetadata reads the demo partner's CapabilityStatement through
// the outbound listener with the engine's client.
func (h *harness) outboundMetadata(engine *http.Client) (*http.Response, []byte) {
	h.t.Helper()
	resp, err := engine.Get("https://localhost:" + portOf(h.rt.OutboundAddr.String()) + "/partners/demo-ehr/fhir/metadata")
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, readBody(h.t, resp)
}

func mustReplay(t *testing.T) token.ReplayCache {
	c, err := token.NewMemoryReplayCache(1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOutboundPath sends requests from the payer's engine through the
// outbound listener to a partner. The gateway must obtain a token with the
// payer's key, present the payer's certificate and record both phases. It
// must refuse what the allowlist or the kill switch does not permit.
func TestOutboundPath(t *testing.T) {
	cfg, layout, ehr, engineCert := newPayerOutbound(t)
	cfg.Partners[0].Outbound = partnerOutbound(layout, ehr, "capabilities")
	// The fake EHR listens on loopback, which the egress guard refuses
	// unless listed.
	cfg.Egress.Allow = []string{ehr.srv.Listener.Addr().String()}
	h := &harness{t: t, layout: layout}
	h.start(cfg)

	engine := engineClient(t, layout, engineCert)
	base := "https://localhost:" + portOf(h.rt.OutboundAddr.String()) + "/partners/demo-ehr/fhir"

	get := func(client *http.Client, url string) (*http.Response, []byte) {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		return resp, readBody(t, resp)
	}

	resp, body := get(engine, base+"/metadata")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "CapabilityStatement") {
		t.Fatalf("outbound metadata: status %d: %s", resp.StatusCode, body)
	}
	if auth, _ := ehr.lastAuth.Load().(string); !strings.HasPrefix(auth, "Bearer ") {
		t.Errorf("the partner received Authorization %q", auth)
	}
	get(engine, base+"/metadata")
	if n := ehr.tokens.Load(); n != 1 {
		t.Errorf("the gateway fetched %d tokens for two calls, want 1 (cached)", n)
	}
	entries := h.entries(resp)
	if len(entries) != 2 || entries[1].Direction != "outbound" || entries[1].Partner != "demo-ehr" || !strings.Contains(entries[1].Source, "engine:iris") {
		t.Errorf("outbound entries = %+v", entries)
	}

	calls := ehr.calls.Load()
	resp, body = get(engine, base+"/Patient/1")
	if resp.StatusCode != 403 || outcomeCode(t, body) != "forbidden" {
		t.Errorf("interaction outside the outbound allowlist: status %d: %s", resp.StatusCode, body)
	}
	resp, _ = get(engine, "https://localhost:"+portOf(h.rt.OutboundAddr.String())+"/partners/unknown/fhir/metadata")
	if resp.StatusCode != 404 {
		t.Errorf("unknown partner: status %d, want 404", resp.StatusCode)
	}
	// A partner certificate is not an engine certificate.
	resp, _ = get(h.ehr.HTTPClient(), base+"/metadata")
	if resp.StatusCode != 403 {
		t.Errorf("partner certificate on the outbound listener: status %d, want 403", resp.StatusCode)
	}
	h.engage(`{"mode":"full","direction":"outbound","reason":"contain the engine"}`)
	resp, _ = get(engine, base+"/metadata")
	if resp.StatusCode != 503 {
		t.Errorf("outbound during an outbound cut: status %d, want 503", resp.StatusCode)
	}
	if n := ehr.calls.Load(); n != calls {
		t.Errorf("the partner received %d refused calls", n-calls)
	}
	// The inbound direction is not cut.
	resp, _ = get(h.ehr.HTTPClient(), h.rt.FHIRBase+"/.well-known/smart-configuration")
	if resp.StatusCode != 200 {
		t.Errorf("inbound during an outbound cut: status %d", resp.StatusCode)
	}

	// The payer's public key is published for the partner.
	resp, body = get(h.ehr.HTTPClient(), h.rt.PublicURL+"/.well-known/jwks.json")
	var set jose.JSONWebKeySet
	if resp.StatusCode != 200 || json.Unmarshal(body, &set) != nil || len(set.Keys) != 1 || !set.Keys[0].IsPublic() {
		t.Errorf("jwks: status %d: %s", resp.StatusCode, body)
	}
}

// TestOutboundRedirectRefused forwards to a partner endpoint that
// redirects to the cloud metadata address. The gateway must not follow the
// redirect, and the egress refusal must be recorded under its rule.
func TestOutboundRedirectRefused(t *testing.T) {
	cfg, layout, ehr, engineCert := newPayerOutbound(t)
	cfg.Partners[0].Outbound = partnerOutbound(layout, ehr, "capabilities")
	cfg.Partners[0].Outbound.FHIRBase = ehr.srv.URL + "/redirect/fhir"
	cfg.Egress.Allow = []string{ehr.srv.Listener.Addr().String()}
	h := &harness{t: t, layout: layout}
	h.start(cfg)

	engine := engineClient(t, layout, engineCert)
	resp, body := h.outboundMetadata(engine)
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502: %s", resp.StatusCode, body)
	}
	if n := ehr.calls.Load(); n != 1 {
		t.Errorf("the partner received %d requests, want 1", n)
	}
	all, err := h.rt.Records.(record.Reader).List(context.Background(), record.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var egressEntries []record.Entry
	for _, e := range all {
		if e.Direction == "egress" {
			egressEntries = append(egressEntries, e)
		}
	}
	if len(egressEntries) != 1 {
		t.Fatalf("%d egress entries, want 1: %+v", len(egressEntries), egressEntries)
	}
	if egressEntries[0].Rule != "egress.redirect" {
		t.Errorf("egress entry rule = %q, want egress.redirect", egressEntries[0].Rule)
	}
	if egressEntries[0].Target != "169.254.169.254:80" {
		t.Errorf("egress entry target = %q, want 169.254.169.254:80", egressEntries[0].Target)
	}
	if egressEntries[0].Decision != record.Deny {
		t.Errorf("egress entry decision = %q, want deny", egressEntries[0].Decision)
	}
}

// TestOutboundEgressRefused checks that a partner endpoint outside the
// egress allowlist is never connected to.
func TestOutboundEgressRefused(t *testing.T) {
	cfg, layout, ehr, engineCert := newPayerOutbound(t)
	cfg.Partners[0].Outbound = partnerOutbound(layout, ehr, "capabilities")
	cfg.Egress.Allow = []string{"ehr.vendor.example:443"} // not the fake EHR
	h := &harness{t: t, layout: layout}
	h.start(cfg)

	engine := engineClient(t, layout, engineCert)
	resp, body := h.outboundMetadata(engine)
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502: %s", resp.StatusCode, body)
	}
	if n := ehr.tokens.Load() + ehr.calls.Load(); n != 0 {
		t.Errorf("the partner outside the egress allowlist received %d requests", n)
	}
	// The refused connection is in the audit log, not only in the logs.
	all, err := h.rt.Records.(record.Reader).List(context.Background(), record.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range all {
		found = found || (e.Direction == "egress" && e.Decision == record.Deny && strings.HasPrefix(e.Rule, "egress."))
	}
	if !found {
		t.Error("the refused egress attempt is not in the audit log")
	}
}

// outboundRefusal is the expected result of an outbound request that the
// gateway rejects.
type outboundRefusal struct {
	status int
	code   string // OperationOutcome issue code
	rule   string
}

// requireOutboundRefusal checks that resp rejects an outbound request with
// the expected status and OperationOutcome code, that the partner received
// no request after callsBefore, and that the gateway recorded one outbound
// refusal under the expected rule.
func requireOutboundRefusal(t *testing.T, h *harness, ehr *fakeEHR, callsBefore int64, resp *http.Response, body []byte, want outboundRefusal) {
	t.Helper()
	if resp.StatusCode != want.status {
		t.Errorf("status = %d, want %d: %s", resp.StatusCode, want.status, body)
	}
	if code := outcomeCode(t, body); code != want.code {
		t.Errorf("OperationOutcome code = %q, want %s", code, want.code)
	}
	if n := ehr.calls.Load() - callsBefore; n != 0 {
		t.Errorf("the partner received %d requests, want 0", n)
	}

	entries := h.entries(resp)
	if len(entries) != 1 {
		t.Fatalf("recorded %d entries, want 1: %+v", len(entries), entries)
	}
	if entries[0].Direction != "outbound" {
		t.Errorf("recorded direction = %q, want outbound", entries[0].Direction)
	}
	if entries[0].Phase != record.PhaseRefusal {
		t.Errorf("recorded phase = %q, want %s", entries[0].Phase, record.PhaseRefusal)
	}
	if entries[0].Rule != want.rule {
		t.Errorf("recorded rule = %q, want %s", entries[0].Rule, want.rule)
	}
}

// sendOutbound sends the engine's request to url on the outbound listener,
// with header copied as given and body, and returns the response and its
// body. An empty body is sent as none, as http.NewRequest does.
func sendOutbound(t *testing.T, engine *http.Client, method, url string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := engine.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

// postOutbound posts body as FHIR JSON to url on the outbound listener
// and returns the response and its body.
func postOutbound(t *testing.T, engine *http.Client, url, body string) (*http.Response, []byte) {
	t.Helper()
	return sendOutbound(t, engine, http.MethodPost, url, http.Header{"Content-Type": {"application/fhir+json"}}, body)
}
