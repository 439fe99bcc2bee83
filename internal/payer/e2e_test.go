package payer_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// receivingEHR is a partner's FHIR API that receives notifications: it
// runs its own SMART token service for the payer's client, requires mutual
// TLS and a certificate-bound token on every call, and responds 503 while
// down.
type receivingEHR struct {
	srv      *httptest.Server
	down     atomic.Bool
	mu       sync.Mutex
	received [][]byte
	refused  atomic.Int64
}

func newReceivingEHR(t *testing.T, ca *pki.CA, payerKey *jose.JSONWebKey) *receivingEHR {
	t.Helper()
	cert, err := ca.IssueServer(pki.ServerOptions{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := cert.TLSCertificate()
	conf, _ := tlspolicy.Server(tc, ca.CertPool())
	e := &receivingEHR{srv: httptest.NewUnstartedServer(nil)}
	e.srv.TLS = conf
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)

	signer, _ := pki.GenerateKey(pki.ECDSAP256)
	replay, _ := token.NewMemoryReplayCache(1000, nil)
	ts, err := token.NewServer(token.ServerOptions{
		TokenURL: e.srv.URL + "/oauth2/token", Issuer: e.srv.URL, Audience: e.srv.URL + "/fhir",
		SigningKey: signer, Replay: replay,
		Clients: token.StaticClients{"payer-123": {ID: "payer-123", Keys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{payerKey.Public()}}, Scopes: []string{"system/Task.cruds"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/oauth2/token", ts)
	mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		raw, err := token.BearerToken(r)
		if err == nil {
			_, err = ts.Verify(raw, r.TLS.VerifiedChains[0][0])
		}
		if err != nil || r.Method != http.MethodPost || r.URL.Path != "/fhir/$subscription-hook" {
			e.refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if e.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.received = append(e.received, body)
		e.mu.Unlock()
	})
	e.srv.Config.Handler = mux
	return e
}

func (e *receivingEHR) notifications() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.received)
}

// swappableHandler lets the test start the upstream before it knows the
// gateway's addresses.
type swappableHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swappableHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

type gatewaySetup struct {
	rt     *app.Running
	layout *devmode.Layout
	ehr    *receivingEHR
	svc    *payer.Service
	client *ehrclient.Client
	// upstreamURL is the payer service's own base, behind the gateway.
	upstreamURL string
}

// startGateway starts a development gateway with an outbound listener
// whose partner demo-ehr is the receiving EHR, and the payer service as
// its upstream, delivering notifications through the outbound listener
// with an engine certificate.
func startGateway(t *testing.T) *gatewaySetup {
	t.Helper()
	dir := t.TempDir()
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	payerKey, _ := token.GenerateKey("ES384")
	keyJSON, _ := json.Marshal(payerKey)
	keyFile := filepath.Join(dir, "payer.jwk")
	os.WriteFile(keyFile, keyJSON, 0o600)
	payerCert, _ := ca.IssueClient(pki.ClientOptions{PartnerID: "payer-123"})
	payerCert.WriteFiles(filepath.Join(dir, "payer.pem"), filepath.Join(dir, "payer-key.pem"))
	engineCert, _ := ca.IssueEngine(pki.AdminOptions{Name: "payer-service"})

	ehr := newReceivingEHR(t, ca, payerKey)
	cfg.Outbound = config.Outbound{
		Listen: "127.0.0.1:0", ClientCAFile: layout.CACertFile,
		CertFile: filepath.Join(dir, "payer.pem"), KeyFile: filepath.Join(dir, "payer-key.pem"), AssertionKeyFile: keyFile,
	}
	cfg.Partners[0].Outbound = &config.PartnerOutbound{
		FHIRBase: ehr.srv.URL + "/fhir", TokenURL: ehr.srv.URL + "/oauth2/token", ClientID: "payer-123",
		Scopes: []string{"system/Task.cruds"}, CAFile: layout.CACertFile, Interactions: []string{"$subscription-hook"},
	}
	extra := []string{"Subscription.create", "Subscription.read", "Subscription/[id]/$status", "Subscription/[id]/$events", "ClaimResponse.search"}
	cfg.Partners[0].Interactions = append(cfg.Partners[0].Interactions, extra...)
	cfg.Partners[0].Scopes = append(cfg.Partners[0].Scopes, "system/Subscription.cruds")
	cfg.Partners[0].Roles["workflow"] = "write"

	// The receiving EHR listens on loopback, which the egress guard refuses
	// unless it is listed.
	cfg.Egress.Allow = []string{ehr.srv.Listener.Addr().String()}

	upstream := &swappableHandler{}
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	cfg.Upstream.URL = up.URL
	cfg.Upstream.Timeout = 10 * time.Second

	rt, err := app.Start(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })

	svc := startPayer(t, dir, rt, ehr, engineCert, layout)
	var h http.Handler = svc.Handler()
	upstream.h.Store(&h)
	return &gatewaySetup{rt: rt, layout: layout, ehr: ehr, svc: svc, client: partnerClient(t, rt, layout), upstreamURL: up.URL}
}

func startPayer(t *testing.T, dir string, rt *app.Running, ehr *receivingEHR, engineCert *pki.Certificate, layout *devmode.Layout) *payer.Service {
	t.Helper()
	db, err := storage.Open(context.Background(), filepath.Join(dir, "payer.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tc, _ := engineCert.TLSCertificate()
	roots, _ := layout.CAPool()
	engine := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tc)}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(engine.CloseIdleConnections)
	_, port, _ := net.SplitHostPort(rt.OutboundAddr.String())

	svc, err := payer.New(db, payer.Options{
		FHIRBase: rt.FHIRBase,
		Partners: map[string]subscriptions.Partner{
			app.DevPartner: {FHIRBase: ehr.srv.URL + "/fhir", OrganizationSystem: "http://hl7.org/fhir/sid/us-npi", OrganizationValue: devmode.PartnerNPI},
		},
		Delivery: &subscriptions.Delivery{Client: engine, OutboundURL: "https://localhost:" + port,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond},
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go svc.Run(ctx)
	return svc
}

func partnerClient(t *testing.T, rt *app.Running, layout *devmode.Layout) *ehrclient.Client {
	t.Helper()
	key, _ := layout.PartnerAssertionKey()
	cert, _ := layout.PartnerClientCertificate()
	roots, _ := layout.CAPool()
	c, err := ehrclient.New(ehrclient.Options{PublicURL: rt.PublicURL, ClientID: app.DevPartner, AssertionKey: key,
		Certificate: cert, Roots: roots, Scope: app.DevScopes + " system/Subscription.cruds"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdle)
	return c
}

func (g *gatewaySetup) do(t *testing.T, method, path string, body []byte) *ehrclient.Response {
	t.Helper()
	resp, err := g.client.Do(context.Background(), method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPendDecideNotifyThroughGateway runs the whole path: the EHR
// subscribes through the gateway, submits a request that is pended, an
// operator decides it while the EHR's endpoint is down, the notification
// reaches the EHR through the outbound listener once it recovers, and
// $inquire returns the final decision.
func TestPendDecideNotifyThroughGateway(t *testing.T) {
	g := startGateway(t)
	sub := g.do(t, http.MethodPost, "Subscription", []byte(strings.Replace(subscriptionJSON, "{{endpoint}}", g.ehr.srv.URL+"/fhir/$subscription-hook", 1)))
	if sub.Status != http.StatusCreated {
		t.Fatalf("create Subscription: status %d: %s", sub.Status, sub.Body)
	}
	var created struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(sub.Body, &created); err != nil || created.ID == "" || created.Status != "requested" {
		t.Fatalf("created Subscription %s (%v)", sub.Body, err)
	}
	subID := created.ID
	waitUntil(t, "the handshake", func() bool { return len(g.ehr.notifications()) == 1 })

	// The Homecare request: one item approved, one (B4184) pended.
	body, err := os.ReadFile("../demo/bundles/pas-2.2.1-HomecareAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	submitted := g.do(t, http.MethodPost, "Claim/$submit", body)
	first, err := pas.ParseResponse(submitted.Body)
	if submitted.Status != http.StatusOK || err != nil || len(first.Items) != 2 || first.Items[1].Action != pas.Pended {
		t.Fatalf("submit: status %d (%v): %s", submitted.Status, err, submitted.Body)
	}
	pended := first.Items[1].Sequence

	g.ehr.down.Store(true)
	res, err := g.svc.Decide(context.Background(), payer.ItemDecision{PreAuthRef: first.PreAuthRef, Sequence: pended, Action: pas.CertifiedInTotal, By: "operator:test"})
	if err != nil || res.Notified != 1 {
		t.Fatalf("Decide: %+v, %v", res, err)
	}
	waitUntil(t, "failed delivery attempts to be recorded", func() bool { return countOutbound(t, g.rt, 503) >= 2 })
	g.ehr.down.Store(false)
	waitUntil(t, "the event notification", func() bool { return len(g.ehr.notifications()) == 2 })

	got := g.ehr.notifications()
	if !strings.Contains(string(got[0]), `"handshake"`) {
		t.Errorf("first notification is not the handshake: %s", got[0])
	}
	event := string(got[1])
	for _, want := range []string{`"event-notification"`, `"event-number","valueString":"1"`, res.ClaimResponseID, `"outcome":"complete"`, g.rt.FHIRBase + "/Subscription/" + subID} {
		if !strings.Contains(event, want) {
			t.Errorf("event notification lacks %s: %s", want, event)
		}
	}
	if n := g.ehr.refused.Load(); n != 0 {
		t.Errorf("the EHR refused %d calls (token or path)", n)
	}

	t.Run("inquiry returns the final decision", func(t *testing.T) {
		inq, err := pas.BuildInquiry(mustParse(t, body), pas.InquiryParams{ClaimID: "inquiry-1",
			BundleIdentifier: pas.Identifier{System: "urn:ietf:rfc:3986", Value: "urn:uuid:00000000-0000-4000-8000-000000000001"}, Created: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		r := g.do(t, http.MethodPost, "Claim/$inquire", inq)
		answer, err := pas.ParseResponse(r.Body)
		if r.Status != http.StatusOK || err != nil {
			t.Fatalf("inquire: status %d (%v): %s", r.Status, err, r.Body)
		}
		if answer.Items[1].Action != pas.CertifiedInTotal || answer.Outcome != "complete" || answer.PreAuthRef != first.PreAuthRef {
			t.Errorf("inquiry answer %+v", answer)
		}
	})
	// NOTE: the gateway's policy engine does not yet allow the
	// Subscription $status and $events operations, so the catch-up goes to
	// the payer service directly, with the identity header the gateway sets.
	t.Run("status and events at the payer service", func(t *testing.T) {
		st := getAsPartner(t, g.upstreamURL+"/Subscription/"+subID+"/$status")
		if !strings.Contains(st, `"active"`) || !strings.Contains(st, `"events-since-subscription-start","valueString":"1"`) {
			t.Errorf("$status: %s", st)
		}
		ev := getAsPartner(t, g.upstreamURL+"/Subscription/"+subID+"/$events?eventsSinceNumber=1")
		if !strings.Contains(ev, res.ClaimResponseID) || !strings.Contains(ev, `"query-event"`) {
			t.Errorf("$events: %s", ev)
		}
	})
}

func getAsPartner(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(payer.PartnerHeader, app.DevPartner)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: status %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

// countOutbound counts the outbound response entries of the gateway's
// record with the given partner status, the attempts the gateway saw.
func countOutbound(t *testing.T, rt *app.Running, upstreamStatus int) int {
	t.Helper()
	list, err := rt.Records.(record.Reader).List(context.Background(), record.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list {
		if e.Direction == "outbound" && e.UpstreamState == upstreamStatus {
			n++
		}
	}
	return n
}

func mustParse(t *testing.T, body []byte) *pas.Request {
	t.Helper()
	req, err := pas.ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

const subscriptionJSON = `{"resourceType":"Subscription","status":"requested","reason":"PAS results",
 "criteria":"http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic",
 "_criteria":{"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria","valueString":"org-identifier=8189991234"}]},
 "channel":{"type":"rest-hook","endpoint":"{{endpoint}}","payload":"application/fhir+json",
  "_payload":{"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content","valueCode":"full-resource"}]}}}`
