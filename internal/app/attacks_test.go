package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/policy/attackdata"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/scope"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// attackDir is the policy package's testdata directory, where attacks.json
// lives and against which its body_file paths are relative.
const attackDir = "../policy/testdata"

type attackFile struct{ *attackdata.File }

type attackCase = attackdata.Case

func loadAttackFile(t testing.TB) *attackFile {
	t.Helper()
	f, err := attackdata.Load(attackDir)
	if err != nil {
		t.Fatal(err)
	}
	return &attackFile{f}
}

func caseBody(t testing.TB, c *attackCase) []byte {
	t.Helper()
	body, err := c.RequestBody(attackDir)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// configID converts an identifier of the suite to the configuration's form.
func configID(id congruence.Identifier) config.Identifier {
	return config.Identifier{System: id.System, Value: id.Value}
}

// parse returns the case's request as the gateway's request model reads
// it, or an error when fhirreq rejects it.
func parseCase(t testing.TB, c *attackCase) (*fhirreq.Request, error) {
	t.Helper()
	body := caseBody(t, c)
	r := httptest.NewRequest(c.Method, "https://gateway.test"+c.Target, bytes.NewReader(body))
	for k, v := range c.Headers {
		r.Header.Set(k, v)
	}
	return fhirreq.ParseWithBody(r, "/fhir", body)
}

// caseInteractions returns the allowlist entries the case's request needs:
// its own, and for a search at the base each _type's search. It returns
// none when fhirreq rejects the request.
func caseInteractions(t testing.TB, c *attackCase) []string {
	t.Helper()
	req, err := parseCase(t, c)
	if err != nil {
		return nil
	}
	s := req.Describe()
	if _, err := fhirreq.ParsePattern(s); err != nil {
		return nil
	}
	out := []string{s}
	if req.Kind == fhirreq.SearchSystem {
		for _, typ := range req.Query.Types {
			out = append(out, typ+".search")
		}
	}
	return out
}

// grantedScopes computes what the token endpoint grants for the case's
// requested scopes, as docs/security.md describes the intersection.
func (f *attackFile) grantedScopes(c *attackCase) scope.Set {
	registered := scope.ParseGranted(f.Partners[c.Partner].Scopes)
	requested := scope.ParseRequested(strings.Fields(c.Scopes), scope.Options{AllowWildcard: registered.HasWildcard()})
	return scope.Intersect(requested, registered)
}

// earlierStage is the outcome of a case that the gateway refuses before the
// policy engine evaluates it, with the reason.
type earlierStage struct {
	rule   string
	status int
	reason string
}

// refusedBeforePolicy lists the attack cases that the full gateway refuses
// at an earlier stage than the policy level replay expects. Each is still
// refused, and the upstream still receives nothing.
var refusedBeforePolicy = map[string]earlierStage{
	// The payload stage checks the body's resourceType and id against the
	// URL before the policy does, with the same statuses.
	"create Observation with Claim body": {"payload.wrong-type", 422,
		"the payload stage compares the body's resourceType with the URL's type"},
	"update id differs": {"payload.id-mismatch", 400,
		"the payload stage compares the body's id with the URL's id"},
	// A JSON Patch body is an array, and the payload stage accepts only a
	// FHIR JSON object.
	"patch ClaimResponse": {"payload.json", 400,
		"the payload stage accepts only a JSON object body"},

	// The token endpoint issues a token to a client only over that
	// client's own certificate, so a token of another client can be
	// presented only over a certificate it is not bound to. The binding
	// check refuses it before the policy's congruence.client rule.
	"token of another client": {"token.certificate-mismatch", 401,
		"the token is bound to the other client's certificate"},
}

// refusedAtTokenEndpoint lists the cases whose requested scopes the token
// endpoint grants none of. The token endpoint grants the intersection of
// requested and registered scopes and returns invalid_scope when it is
// empty, so such a client never has a token to present. The policy level
// replay decides them with an empty scope set instead.
var refusedAtTokenEndpoint = map[string]string{
	"wildcard without registration": "a wildcard is granted only against a registered wildcard",
	"type in lower case":            "system/claim.rs does not parse",
	"permissions in upper case":     "system/Claim.RS does not parse",
	"prefix before context":         "xsystem/ is not a SMART context",
	"trailing characters":           "system/Claim.rsx does not parse",
	"empty restriction":             "system/Claim.rs? has an empty restriction",
	"patient context":               "only system/ scopes are accepted",
}

// attackPartnerCreds are one registered partner's assertion key and a
// client per certificate, keyed by the certificate's organisation URIs.
type attackPartnerCreds struct {
	key     *jose.JSONWebKey
	clients map[string]*http.Client
}

// attackGateway is one development gateway with every partner of
// attacks.json registered.
type attackGateway struct {
	*harness
	file   *attackFile
	ca     *pki.CA
	creds  map[string]*attackPartnerCreds
	tokens map[string]*token.Response // by partner, certificate and scopes
}

func newAttackGateway(t *testing.T, f *attackFile) *attackGateway {
	t.Helper()
	cfg, layout, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	g := &attackGateway{harness: &harness{t: t, layout: layout}, file: f, ca: ca,
		creds: map[string]*attackPartnerCreds{}, tokens: map[string]*token.Response{}}

	// The PAS 2.0.1 examples' insurer alias is dropped, so the payer is
	// known by payer_ids alone, as in the policy level replay.
	if len(f.PayerIDs) != 1 {
		t.Fatalf("attacks.json lists %d payer ids; the gateway configuration takes one", len(f.PayerIDs))
	}
	cfg.PayerID, cfg.PayerIDAliases = configID(f.PayerIDs[0]), nil
	cfg.Policy.MaxCount = f.MaxCount
	cfg.Policy.SubscriptionTopics = f.SubscriptionTopics

	interactions := map[string][]string{}
	for i := range f.Cases {
		c := &f.Cases[i]
		for _, s := range caseInteractions(t, c) {
			if !slices.Contains(interactions[c.Partner], s) {
				interactions[c.Partner] = append(interactions[c.Partner], s)
			}
		}
	}
	ids := make([]string, 0, len(f.Partners))
	for id := range f.Partners {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		cfg.Partners = append(cfg.Partners, g.register(id, f.Partners[id], interactions[id]))
	}
	// A case's token_client is registered as one more partner, with the
	// case partner's registration and its own key and certificate.
	for _, c := range f.Cases {
		if c.TokenClient != "" && g.creds[c.TokenClient] == nil {
			cfg.Partners = append(cfg.Partners, g.register(c.TokenClient, f.Partners[c.Partner], interactions[c.Partner]))
		}
	}

	// A partner with an outbound FHIR base needs the outbound listener
	// and the payer's credentials in the configuration, and its base's host
	// on egress.allow. Nothing connects to it: the cases run inbound only.
	for _, p := range cfg.Partners {
		if p.Outbound == nil {
			continue
		}
		if cfg.Outbound.Listen == "" {
			addPayerOutbound(t, cfg, layout, ca, t.TempDir())
		}
		u, err := url.Parse(p.Outbound.FHIRBase)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Egress.Allow = append(cfg.Egress.Allow, u.Host)
	}

	g.upstream = newCountingUpstream(t)
	cfg.Upstream.URL = g.upstream.srv.URL + "/fhir-engine"
	cfg.Upstream.Timeout = 5 * time.Second
	// The counting upstream returns bodies that are not PAS responses.
	cfg.Strict.Mode = "off"
	config.ApplyDefaults(cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("configuration: %v", err)
	}
	g.start(cfg)
	return g
}

// register writes partner id's public JWK set and returns its
// configuration.
func (g *attackGateway) register(id string, p attackdata.Partner, interactions []string) config.Partner {
	t := g.t
	key, err := token.GenerateKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(t.TempDir(), id+"-jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	g.creds[id] = &attackPartnerCreds{key: key, clients: map[string]*http.Client{}}

	wildcard := false
	for _, s := range p.Scopes {
		wildcard = wildcard || strings.HasPrefix(s, "system/*.")
	}
	var grants []config.Grant
	for _, gr := range p.Grants {
		grants = append(grants, config.Grant{Feature: gr.Feature, Reason: gr.Reason})
	}
	registration := config.Partner{
		ID:                  id,
		Organization:        configID(p.Organization),
		JWKSFile:            jwksFile,
		Scopes:              p.Scopes,
		AllowWildcardScopes: wildcard,
		Roles:               p.Roles,
		Grants:              grants,
		Interactions:        interactions,
	}
	if p.OutboundFHIRBase != "" {
		base, err := url.Parse(p.OutboundFHIRBase)
		if err != nil {
			t.Fatal(err)
		}
		registration.Outbound = &config.PartnerOutbound{
			FHIRBase: p.OutboundFHIRBase, TokenURL: base.Scheme + "://" + base.Host + "/oauth2/token",
			ClientID: "payer-123", Scopes: []string{"system/Task.cruds"},
		}
	}
	return registration
}

// client returns an mTLS client presenting a certificate of partner id
// whose organisation URI SANs name orgs.
func (g *attackGateway) client(t testing.TB, id string, orgs []config.Identifier) *http.Client {
	t.Helper()
	var uris []string
	for _, o := range orgs {
		if o.System != "http://hl7.org/fhir/sid/us-npi" {
			t.Fatalf("certificate organisation system %q: only NPIs go into certificates", o.System)
		}
		u, err := pki.NPIURI(o.Value)
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, u)
	}

	creds := g.creds[id]
	k := strings.Join(uris, " ")
	if c, ok := creds.clients[k]; ok {
		return c
	}

	cert, err := g.ca.IssueClient(pki.ClientOptions{PartnerID: id, OrganizationURIs: uris})
	if err != nil {
		t.Fatal(err)
	}
	tlsCert, err := cert.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := g.layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}

	tr := &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tlsCert)}
	g.t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	creds.clients[k] = c
	return c
}

// token returns an access token for partner id, fetched over client with
// the requested scopes, from a cache.
func (g *attackGateway) token(t testing.TB, id string, client *http.Client, orgs []config.Identifier, scopes string) (*token.Response, error) {
	t.Helper()
	k := id + "\x00" + orgKey(orgs) + "\x00" + scopes
	if resp, ok := g.tokens[k]; ok {
		return resp, nil
	}
	resp, err := token.Fetch(context.Background(), client, g.rt.TokenURL, id, g.creds[id].key, scopes)
	if err != nil {
		return nil, err
	}
	g.tokens[k] = resp
	return resp, nil
}

func orgKey(orgs []config.Identifier) string {
	var b strings.Builder
	for _, o := range orgs {
		b.WriteString(o.System + "|" + o.Value + " ")
	}
	return b.String()
}

// request sends the case's request with tok over client.
func (g *attackGateway) request(t testing.TB, client *http.Client, c *attackCase, tok string) (*http.Response, []byte) {
	t.Helper()
	body := caseBody(t, c)
	req, err := http.NewRequest(c.Method, g.rt.PublicURL+c.Target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.Method, c.Target, err)
	}
	return resp, readBody(t, resp)
}

// TestAttackSuiteThroughGateway replays every case of the policy attack
// suite through a running gateway: each partner with its own key and
// client certificate, a token from the token endpoint for the case's
// requested scopes, and the request over TLS. Allowed cases must reach the
// upstream once. Refused ones must get the expected status, an
// OperationOutcome and a refusal record with the expected rule, and the
// upstream must receive nothing.
func TestAttackSuiteThroughGateway(t *testing.T) {
	f := loadAttackFile(t)
	g := newAttackGateway(t, f)

	allowed := map[string]bool{}
	for i := range f.Cases {
		c := &f.Cases[i]
		allowed[c.Name] = c.Allow
		t.Run(c.Class+"/"+c.Name, func(t *testing.T) { g.replay(t, c) })
	}

	// Both lists must name refused cases of the file, so they stay true
	// when attacks.json changes.
	for name := range refusedBeforePolicy {
		if allow, ok := allowed[name]; !ok || allow {
			t.Errorf("refusedBeforePolicy names %q, which is not a refused case of attacks.json", name)
		}
	}
	for name := range refusedAtTokenEndpoint {
		if allow, ok := allowed[name]; !ok || allow {
			t.Errorf("refusedAtTokenEndpoint names %q, which is not a refused case of attacks.json", name)
		}
	}
}

// replay sends one case and checks the gateway's response, record and
// upstream traffic.
func (g *attackGateway) replay(t *testing.T, c *attackCase) {
	partner, ok := g.file.Partners[c.Partner]
	if !ok {
		t.Fatalf("case names unknown partner %q", c.Partner)
	}
	certOrgs := []config.Identifier{configID(partner.Organization)}
	if c.CertOrganizations != nil {
		certOrgs = certOrgs[:0]
		for _, id := range c.CertOrganizations {
			certOrgs = append(certOrgs, configID(id))
		}
	}
	client := g.client(t, c.Partner, certOrgs)
	before := g.upstream.count.Load()

	tok, ok := g.caseToken(t, c, client, certOrgs)
	if !ok {
		return
	}
	resp, body := g.request(t, client, c, tok)
	if c.Allow {
		g.checkAllowed(t, c, resp, body, before)
		return
	}
	g.checkRefused(t, c, resp, body, before)
}

// caseToken returns the access token the case presents. It reports false
// when the case ends at the token endpoint, after checking that refusal.
func (g *attackGateway) caseToken(t *testing.T, c *attackCase, client *http.Client, certOrgs []config.Identifier) (string, bool) {
	t.Helper()
	if c.TokenClient != "" {
		return g.otherClientToken(t, c, client), true
	}
	want := g.file.grantedScopes(c)

	resp, err := g.token(t, c.Partner, client, certOrgs, c.Scopes)
	if reason, listed := refusedAtTokenEndpoint[c.Name]; listed {
		var re *token.ResponseError
		if !errors.As(err, &re) || re.Code != "invalid_scope" || re.Status != http.StatusBadRequest {
			t.Fatalf("token request: err = %v; want 400 invalid_scope (%s)", err, reason)
		}
		if want.Len() != 0 {
			t.Errorf("token endpoint granted nothing, but the intersection is %q", want)
		}
		return "", false
	}
	if err != nil {
		t.Fatalf("token request for %q: %v", c.Scopes, err)
	}
	if resp.Scope != "" && resp.Scope != want.String() {
		t.Errorf("granted scope = %q, want %q as the policy level replay computes it", resp.Scope, want)
	}
	return resp.AccessToken, true
}

// otherClientToken returns a token issued to the case's token_client,
// which can only be fetched over that client's own certificate: the token
// endpoint refuses its assertion over the case partner's certificate.
func (g *attackGateway) otherClientToken(t *testing.T, c *attackCase, partnerClient *http.Client) string {
	t.Helper()
	_, err := token.Fetch(context.Background(), partnerClient, g.rt.TokenURL, c.TokenClient, g.creds[c.TokenClient].key, c.Scopes)
	var re *token.ResponseError
	if !errors.As(err, &re) || re.Code != "invalid_client" {
		t.Errorf("token for %s over %s's certificate: err = %v; want invalid_client", c.TokenClient, c.Partner, err)
	}

	orgs := []config.Identifier{configID(g.file.Partners[c.Partner].Organization)}
	own := g.client(t, c.TokenClient, orgs)
	resp, err := g.token(t, c.TokenClient, own, orgs, c.Scopes)
	if err != nil {
		t.Fatalf("token for %s over its own certificate: %v", c.TokenClient, err)
	}
	return resp.AccessToken
}

func (g *attackGateway) checkAllowed(t *testing.T, c *attackCase, resp *http.Response, body []byte, before int64) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (%s); body %s", resp.StatusCode, c.Rule, body)
	}
	if n := g.upstream.count.Load() - before; n != 1 {
		t.Errorf("upstream received %d requests, want 1", n)
	}
	g.upstream.mu.Lock()
	got, gotBody := g.upstream.last, g.upstream.body
	g.upstream.mu.Unlock()
	path, _, _ := strings.Cut(c.Target, "?")
	wantPath := "/fhir-engine" + strings.TrimPrefix(path, "/fhir")
	if got.Method != c.Method || got.URL.Path != wantPath {
		t.Errorf("upstream request = %s %s, want %s %s", got.Method, got.URL.Path, c.Method, wantPath)
	}
	// The upstream must see the query in the canonical form the policy
	// decided on, and the body and conditional criteria unchanged.
	parsed, err := parseCase(t, c)
	if err != nil {
		t.Fatalf("an allowed case does not parse: %v", err)
	}
	// A search without _count is forwarded with the maximum count.
	searches := parsed.Kind == fhirreq.SearchType || parsed.Kind == fhirreq.SearchSystem
	if searches && parsed.Query.Count < 0 {
		parsed.Query.Count = g.file.MaxCount
	}
	wantQuery, wantBody := parsed.Query.Encode(), caseBody(t, c)
	if c.Method == http.MethodPost && strings.HasSuffix(path, "/_search") {
		// A POST _search reaches the upstream with its URL and form
		// parameters merged into the form, each once.
		wantQuery, wantBody = "", []byte(parsed.Query.Encode())
		if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("upstream Content-Type = %q, want application/x-www-form-urlencoded", ct)
		}
	}
	if got.URL.RawQuery != wantQuery {
		t.Errorf("upstream query = %q, want %q", got.URL.RawQuery, wantQuery)
	}
	if !bytes.Equal(gotBody, wantBody) {
		t.Errorf("upstream body = %q, want %q", gotBody, wantBody)
	}
	if want := c.Headers["If-None-Exist"]; got.Header.Get("If-None-Exist") != want {
		t.Errorf("upstream If-None-Exist = %q, want %q", got.Header.Get("If-None-Exist"), want)
	}

	entries := g.entriesOf(t, resp)
	if len(entries) != 2 {
		t.Fatalf("recorded %d entries, want request and response", len(entries))
	}
	if e := entries[0]; e.Phase != record.PhaseRequest || e.Decision != record.Allow || e.Rule != c.Rule {
		t.Errorf("request entry = phase %s decision %s rule %q; want request allow %q", e.Phase, e.Decision, e.Rule, c.Rule)
	}
}

func (g *attackGateway) checkRefused(t *testing.T, c *attackCase, resp *http.Response, body []byte, before int64) {
	t.Helper()
	rule, status, reason := c.Rule, c.Status, "policy decision"
	stage, early := refusedBeforePolicy[c.Name]
	if early {
		rule, status, reason = stage.rule, stage.status, stage.reason
	}
	if n := g.upstream.count.Load() - before; n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (%s: %s); body %s", resp.StatusCode, status, rule, reason, body)
	}
	if code := outcomeCode(t, body); !early && c.Code != "" && code != c.Code {
		t.Errorf("issue code = %q, want %q", code, c.Code)
	}

	entries := g.entriesOf(t, resp)
	if len(entries) != 1 {
		t.Fatalf("recorded %d entries, want 1 refusal", len(entries))
	}
	e := entries[0]
	if e.Phase != record.PhaseRefusal || e.Decision != record.Deny || e.Status != status || e.Rule != rule {
		t.Errorf("record = phase %s decision %s status %d rule %q; want refusal deny %d %q",
			e.Phase, e.Decision, e.Status, e.Rule, status, rule)
	}
	if !early && c.ReasonContains != "" && !strings.Contains(e.Reason, c.ReasonContains) {
		t.Errorf("recorded reason = %q, want it to contain %q", e.Reason, c.ReasonContains)
	}
}

// entriesOf returns the exchange record entries of the response's exchange.
func (g *attackGateway) entriesOf(t testing.TB, resp *http.Response) []record.Entry {
	t.Helper()
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("response has no X-Request-Id")
	}
	list, err := g.rt.Records.(record.Reader).List(context.Background(), record.Filter{ExchangeID: id})
	if err != nil {
		t.Fatal(err)
	}
	return list
}
