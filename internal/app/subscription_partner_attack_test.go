package app_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/demo"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrsim"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// otherPartnerID is the second partner of TestSubscriptionsOfOtherPartnerHidden.
const otherPartnerID = "other-ehr"

// startTwoPartnerGateway starts the hardened gateway with the EHR
// simulator as its first partner and a second simulator as the partner
// otherPartnerID, with its own client certificate, JWKS listener and
// rest-hook endpoint. It returns the gateway and the second simulator.
func startTwoPartnerGateway(t *testing.T) (*hardenedGateway, *ehrsim.Sim) {
	t.Helper()
	cfg, layout, kit := hardenedConfig(t, nil)
	sim := startSim(t, cfg, kit)
	t.Cleanup(func() { sim.Close(context.Background()) })

	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	npi, err := pki.NPIURI(devmode.PartnerNPI)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueClient(pki.ClientOptions{PartnerID: otherPartnerID, OrganizationURIs: []string{npi}})
	if err != nil {
		t.Fatal(err)
	}
	otherOpts := kit.Options
	otherOpts.PartnerID = otherPartnerID
	if otherOpts.ClientCertificate, err = cert.TLSCertificate(); err != nil {
		t.Fatal(err)
	}
	other, err := ehrsim.Start(otherOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(context.Background()) })

	// The second partner is the first one's copy, with the second
	// simulator's keys and endpoints.
	endpoints := other.Endpoints()
	second := cfg.Partners[0]
	second.ID = otherPartnerID
	second.JWKSURL = endpoints.JWKSURL
	outbound := *second.Outbound
	outbound.FHIRBase, outbound.TokenURL = endpoints.FHIRBase, endpoints.TokenURL
	second.Outbound = &outbound
	cfg.Partners = append(cfg.Partners, second)
	cfg.Egress.Allow = append(cfg.Egress.Allow, other.Addrs()...)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	g := &hardenedGateway{sim: sim, logs: &logBuffer{}}
	seed, err := demo.ShippedBundles()
	if err != nil {
		t.Fatal(err)
	}
	g.rt, err = app.Start(context.Background(), cfg, app.Options{Logger: slog.New(slog.NewTextHandler(g.logs, nil)),
		NotificationPoll: 20 * time.Millisecond, PayerMembers: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.rt.Close(context.Background()) })
	certFile, keyFile := app.DevAdminFiles(layout.Dir)
	g.admin = hardenedAdminClient(t, layout.CACertFile, certFile, keyFile)
	g.adminURL = "https://" + g.rt.AdminAddr.String()

	// Both simulators verify the public host name and reach the inbound
	// listener by its address.
	inbound := g.rt.Addr.String()
	for _, s := range []*ehrsim.Sim{sim, other} {
		if err := s.Connect(g.rt.PublicURL); err != nil {
			t.Fatal(err)
		}
		dialer := &net.Dialer{}
		s.Client().HTTPClient().Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, inbound)
		}
	}
	return g, other
}

// Every Subscription belongs to the partner that created it. Through a
// running gateway over mutual TLS, a second partner with its own
// certificate and token must not read, update, delete or query the first
// partner's Subscription. It must get no notification of it either. Each
// request gets a 4xx OperationOutcome, the Subscription stays active, and
// the second partner's endpoint receives only its own handshake. Reads
// reach the payer service, which responds 404 as for an unknown id. The
// development policy grants no Subscription update or delete, so those
// get 403 from the gateway before they reach the payer service.
func TestSubscriptionsOfOtherPartnerHidden(t *testing.T) {
	g, other := startTwoPartnerGateway(t)
	ctx := context.Background()
	subID, _ := g.subscribe(t)

	created, otherSubID, err := other.Subscribe(ctx)
	if err != nil {
		t.Fatalf("the second partner's own Subscription: %v", err)
	}
	if created.Status != http.StatusCreated {
		t.Fatalf("the second partner's own Subscription: status %d: %s", created.Status, created.Body)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := other.Wait(waitCtx, "the second partner's handshake", func(s *ehrsim.Snapshot) bool { return len(s.Notifications) >= 1 }); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, method, path string
		body               []byte
		want               int
	}{
		{"read", http.MethodGet, "Subscription/" + subID, nil, http.StatusNotFound},
		{"status", http.MethodGet, "Subscription/" + subID + "/$status", nil, http.StatusNotFound},
		{"events", http.MethodGet, "Subscription/" + subID + "/$events?eventsSinceNumber=1", nil, http.StatusNotFound},
		{"delete", http.MethodDelete, "Subscription/" + subID, nil, http.StatusForbidden},
		{"update", http.MethodPut, "Subscription/" + subID, []byte(`{"resourceType":"Subscription","id":"` + subID + `","status":"off","reason":"x","criteria":"` +
			"http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic" + `","channel":{"type":"rest-hook"}}`), http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := other.Do(ctx, c.method, c.path, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != c.want {
				t.Errorf("status %d, want %d: %s", resp.Status, c.want, resp.Body)
			}
			if !strings.Contains(string(resp.Body), `"resourceType":"OperationOutcome"`) {
				t.Errorf("body %s is not an OperationOutcome", resp.Body)
			}
			if strings.Contains(string(resp.Body), g.sim.HookURL()) {
				t.Errorf("the response quotes the first partner's endpoint: %s", resp.Body)
			}
		})
	}

	// The first partner's Subscription is untouched and still gets its
	// event, and the second partner's endpoint gets none of it.
	g.requireActive(t, "the first partner's Subscription", subID)
	preAuthRef, item := g.submitPended(t)
	g.decide(t, preAuthRef, item)
	g.wait(t, "the first partner's event notification", func(s *ehrsim.Snapshot) bool {
		return slices.ContainsFunc(s.Notifications, func(n ehrsim.Notification) bool { return n.Type == ehrsim.TypeEvent })
	})

	snap := other.Snapshot()
	if len(snap.Notifications) != 1 {
		t.Errorf("the second partner's endpoint received %d notifications, want its handshake only: %+v", len(snap.Notifications), snap.Notifications)
	}
	for _, n := range snap.Notifications {
		if n.Subscription != otherSubID {
			t.Errorf("the second partner's endpoint received a %s notification for Subscription %q", n.Type, n.Subscription)
		}
	}
}
