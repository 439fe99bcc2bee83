package payer_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/ehrsim"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// swappableHandler lets the test start the upstream before it has the
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
	ehr    *ehrsim.Sim
	svc    *payer.Service
}

// startGateway starts a development gateway with an outbound listener
// whose partner demo-ehr is the EHR simulator, and the payer service as
// its upstream, delivering notifications through the outbound listener
// with an engine certificate.
func startGateway(t *testing.T) *gatewaySetup {
	t.Helper()
	return startGatewayDropping(t, nil, 0)
}

// startGatewayDropping is startGateway with an EHR that loses the events
// drop names after acknowledging them, and a payer whose $events page size
// is perQuery (zero for the default).
func startGatewayDropping(t *testing.T, drop func(string, int64) bool, perQuery int) *gatewaySetup {
	t.Helper()
	dir := t.TempDir()
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	kit, err := ehrsim.PrepareDev(cfg, layout, filepath.Join(dir, "kit"))
	if err != nil {
		t.Fatal(err)
	}
	kit.Options.Drop = drop
	ehr, err := ehrsim.Start(kit.Options)
	if err != nil {
		t.Fatal(err)
	}
	if err := kit.Attach(cfg, ehr.Endpoints()); err != nil {
		t.Fatal(err)
	}
	cfg.Partners[0].Interactions = append(cfg.Partners[0].Interactions, "ClaimResponse.search")

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
	// Closed before the gateway, so that the gateway's shutdown does not
	// wait for the simulator's connections to it.
	t.Cleanup(func() { ehr.Close(context.Background()) })
	if err := ehr.Connect(rt.PublicURL); err != nil {
		t.Fatal(err)
	}

	svc := startPayer(t, dir, rt, ehr, kit, layout, perQuery)
	var h http.Handler = svc.Handler()
	upstream.h.Store(&h)
	return &gatewaySetup{rt: rt, layout: layout, ehr: ehr, svc: svc}
}

func startPayer(t *testing.T, dir string, rt *app.Running, ehr *ehrsim.Sim, kit *ehrsim.DevKit, layout *devmode.Layout, perQuery int) *payer.Service {
	t.Helper()
	db, err := storage.Open(context.Background(), filepath.Join(dir, "payer.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tc, err := pki.LoadTLSCertificate(kit.EngineCertFile, kit.EngineKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := layout.CAPool()
	engine := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tc)}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(engine.CloseIdleConnections)
	_, port, _ := net.SplitHostPort(rt.OutboundAddr.String())

	svc, err := payer.New(db, payer.Options{
		FHIRBase: rt.FHIRBase,
		Partners: map[string]subscriptions.Partner{
			app.DevPartner: {FHIRBase: ehr.FHIRBase(), OrganizationSystem: "http://hl7.org/fhir/sid/us-npi", OrganizationValue: devmode.PartnerNPI},
		},
		Delivery: &subscriptions.Delivery{Client: engine, OutboundURL: "https://localhost:" + port,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond},
		PollInterval:   10 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
		EventsPerQuery: perQuery,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	member, err := os.ReadFile("../demo/bundles/pas-2.2.1-HomecareAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Members().AddRequestPatient(context.Background(), member); err != nil {
		t.Fatal(err)
	}
	// The cleanup waits for Run to return, so no delivery still writes
	// when the test database is dropped after it.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the payer service's Run did not return within 10 s of its cancellation")
		}
	})
	return svc
}

func (g *gatewaySetup) do(t *testing.T, method, path string, body []byte) *ehrclient.Response {
	t.Helper()
	resp, err := g.ehr.Do(context.Background(), method, path, body)
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
	sub, subID, err := g.ehr.Subscribe(context.Background())
	if err != nil {
		t.Fatalf("create Subscription: %v", err)
	}
	if sub.Status != http.StatusCreated {
		t.Fatalf("create Subscription: status %d, want 201: %s", sub.Status, sub.Body)
	}
	var created struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(sub.Body, &created); err != nil {
		t.Fatalf("created Subscription %s: %v", sub.Body, err)
	}
	if created.Status != "requested" {
		t.Fatalf("created Subscription status %q, want requested", created.Status)
	}
	waitFor(t, g.ehr, "the handshake", func(s *ehrsim.Snapshot) bool { return len(s.Notifications) == 1 })

	// The Homecare request: one item approved, one (B4184) pended.
	body, err := os.ReadFile("../demo/bundles/pas-2.2.1-HomecareAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	submitted := g.do(t, http.MethodPost, "Claim/$submit", body)
	if submitted.Status != http.StatusOK {
		t.Fatalf("submit: status %d: %s", submitted.Status, submitted.Body)
	}
	first, err := pas.ParseResponse(submitted.Body)
	if err != nil {
		t.Fatalf("submit: %v: %s", err, submitted.Body)
	}
	if len(first.Items) != 2 {
		t.Fatalf("submit: %d items, want 2: %s", len(first.Items), submitted.Body)
	}
	if first.Items[1].Action != pas.Pended {
		t.Fatalf("submit: item 2 action %q, want pended", first.Items[1].Action)
	}
	pended := first.Items[1].Sequence

	g.ehr.SetDown(true)
	res, err := g.svc.Decide(context.Background(), payer.ItemDecision{PreAuthRef: first.PreAuthRef, Sequence: pended, Action: pas.CertifiedInTotal, By: "operator:test"})
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if res.Notified != 1 {
		t.Fatalf("Decide notified %d Subscriptions, want 1", res.Notified)
	}
	waitUntil(t, "failed delivery attempts to be recorded", func() bool { return countOutbound(t, g.rt, 503) >= 2 })
	g.ehr.SetDown(false)
	snap := waitFor(t, g.ehr, "the event notification", func(s *ehrsim.Snapshot) bool { return len(s.Notifications) == 2 })

	got := snap.Notifications
	if got[0].Type != ehrsim.TypeHandshake {
		t.Errorf("first notification type %q, want a handshake", got[0].Type)
	}
	if !got[0].Accepted {
		t.Errorf("handshake not accepted: %+v", got[0])
	}
	event := got[1]
	if event.Type != ehrsim.TypeEvent {
		t.Errorf("second notification type %q, want an event notification", event.Type)
	}
	if !event.Accepted {
		t.Errorf("event notification not accepted: %+v", event)
	}
	if !event.Strict {
		t.Errorf("event notification did not pass strict mode: %+v", event)
	}
	if event.Subscription != subID {
		t.Errorf("event notification for Subscription %q, want %q", event.Subscription, subID)
	}
	if len(event.Events) != 1 {
		t.Fatalf("event notification events %+v, want one", event.Events)
	}
	if event.Events[0].Number != 1 {
		t.Errorf("event number %d, want 1", event.Events[0].Number)
	}
	if !strings.HasSuffix(event.Events[0].Focus, res.ClaimResponseID) {
		t.Errorf("event focus %q, want ClaimResponse %s", event.Events[0].Focus, res.ClaimResponseID)
	}
	if snap.Rejected != 0 {
		t.Errorf("the EHR rejected %d calls (token or path)", snap.Rejected)
	}

	t.Run("inquiry returns the final decision", func(t *testing.T) {
		inq, err := pas.BuildInquiry(mustParse(t, body), pas.InquiryParams{ClaimID: "inquiry-1",
			BundleIdentifier: pas.Identifier{System: "urn:ietf:rfc:3986", Value: "urn:uuid:00000000-0000-4000-8000-000000000001"}, Created: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		r := g.do(t, http.MethodPost, "Claim/$inquire", inq)
		if r.Status != http.StatusOK {
			t.Fatalf("inquire: status %d: %s", r.Status, r.Body)
		}
		final, err := pas.ParseResponse(r.Body)
		if err != nil {
			t.Fatalf("inquire: %v: %s", err, r.Body)
		}
		if len(final.Items) != 2 {
			t.Fatalf("inquiry response has %d items, want 2", len(final.Items))
		}
		if final.Items[1].Action != pas.CertifiedInTotal {
			t.Errorf("inquiry item 2 action %q, want certified in total", final.Items[1].Action)
		}
		if final.Outcome != "complete" {
			t.Errorf("inquiry outcome %q, want complete", final.Outcome)
		}
		if final.PreAuthRef != first.PreAuthRef {
			t.Errorf("inquiry preAuthRef %q, want %q", final.PreAuthRef, first.PreAuthRef)
		}
	})
	t.Run("status and events through the gateway", func(t *testing.T) {
		counter, code, _, err := g.ehr.Status(context.Background(), subID)
		if err != nil {
			t.Fatalf("$status: %v", err)
		}
		if counter != 1 {
			t.Errorf("$status: counter %d, want 1", counter)
		}
		if code != "active" {
			t.Errorf("$status: status %q, want active", code)
		}

		events, _, err := g.ehr.Events(context.Background(), subID, 1, 1)
		if err != nil {
			t.Fatalf("$events: %v", err)
		}
		if len(events) != 1 {
			t.Fatalf("$events: %+v, want one event", events)
		}
		if !strings.HasSuffix(events[0].Focus, res.ClaimResponseID) {
			t.Errorf("$events: focus %q, want ClaimResponse %s", events[0].Focus, res.ClaimResponseID)
		}
	})
}

// TestCatchUpAfterLostEvent loses the first event inside the EHR. The
// counter of $status reveals the gap, and $events through the gateway
// recovers the event.
func TestCatchUpAfterLostEvent(t *testing.T) {
	g := startGatewayDropping(t, func(_ string, n int64) bool { return n == 1 }, 0)
	_, subID, err := g.ehr.Subscribe(context.Background())
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if subID == "" {
		t.Fatal("Subscribe returned no Subscription id")
	}
	body, err := os.ReadFile("../demo/bundles/pas-2.2.1-HomecareAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	first, err := pas.ParseResponse(g.do(t, http.MethodPost, "Claim/$submit", body).Body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.svc.Decide(context.Background(), payer.ItemDecision{PreAuthRef: first.PreAuthRef, Sequence: 2, Action: pas.NotCertified, By: "operator:test"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, g.ehr, "the dropped event notification", func(s *ehrsim.Snapshot) bool {
		return len(s.Notifications) == 2 && len(s.Notifications[1].Dropped) == 1
	})

	gap, err := g.ehr.CheckStatus(context.Background(), subID)
	if err != nil {
		t.Fatalf("CheckStatus: %v", err)
	}
	if !slices.Equal(gap, []int64{1}) {
		t.Fatalf("CheckStatus: gap %v, want [1]", gap)
	}
	st, _ := g.ehr.Snapshot().Subscription(subID)
	if !slices.Equal(st.CaughtUp, []int64{1}) {
		t.Errorf("caught up %v, want [1]", st.CaughtUp)
	}
	if !slices.Equal(st.Received, []int64{1}) {
		t.Errorf("received %v, want [1]", st.Received)
	}
	if len(st.Missing) != 0 {
		t.Errorf("still missing %v after catch-up", st.Missing)
	}
}

// waitFor waits for a condition on the simulator's state, ten seconds at
// most.
func waitFor(t *testing.T, sim *ehrsim.Sim, what string, cond func(*ehrsim.Snapshot) bool) *ehrsim.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := sim.Wait(ctx, what, cond)
	if err != nil {
		t.Fatal(err)
	}
	return snap
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
