package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/demo"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrsim"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// Host names and addresses of the hardened deployment in
// TestNotificationsLeaveHardenedDeployment. Linux routes all of
// 127.0.0.0/8 to the loopback interface, so 127.0.0.7 is an address of
// its own that neither 127.0.0.1 nor localhost reaches.
const (
	hardenedPublicHost   = "gatehouse.payer.test"
	hardenedOutboundHost = "127.0.0.7"
)

// hardenedGateway is a gateway with the built-in payer service, deployed
// as the posture checks recommend. The outbound listener is on one internal
// address and the server certificate names only public_url's host. Its
// partner is the EHR simulator.
type hardenedGateway struct {
	rt       *app.Running
	sim      *ehrsim.Sim
	logs     *logBuffer
	admin    *http.Client
	adminURL string
}

// hardenedConfig returns a development configuration with the EHR
// simulator's kit, changed to the hardened deployment. serverCA issues
// the server certificate, nil meaning the development CA.
func hardenedConfig(t *testing.T, serverCA *pki.CA) (*config.File, *devmode.Layout, *ehrsim.DevKit) {
	t.Helper()
	dir := t.TempDir()
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kit, err := ehrsim.PrepareDev(cfg, layout, filepath.Join(dir, "kit"))
	if err != nil {
		t.Fatal(err)
	}

	// The server certificate that the inbound, admin and outbound
	// listeners present names neither localhost nor a loopback address.
	if serverCA == nil {
		if serverCA, err = pki.LoadCA(layout.CACertFile, layout.CAKeyFile); err != nil {
			t.Fatal(err)
		}
	}
	server, err := serverCA.IssueServer(pki.ServerOptions{DNSNames: []string{hardenedPublicHost}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS.CertFile, cfg.TLS.KeyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := server.WriteFiles(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
		t.Fatal(err)
	}
	cfg.PublicURL = "https://" + hardenedPublicHost + ":0"
	cfg.Outbound.Listen = net.JoinHostPort(hardenedOutboundHost, "0")
	return cfg, layout, kit
}

// startSim starts the EHR simulator and completes cfg for it.
func startSim(t *testing.T, cfg *config.File, kit *ehrsim.DevKit) *ehrsim.Sim {
	t.Helper()
	sim, err := ehrsim.Start(kit.Options)
	if err != nil {
		t.Fatal(err)
	}
	if err := kit.Attach(cfg, sim.Endpoints()); err != nil {
		sim.Close(context.Background())
		t.Fatal(err)
	}
	return sim
}

// startHardenedGateway starts the EHR simulator and a gateway on the
// hardened configuration, after edit, when given, has changed it.
func startHardenedGateway(t *testing.T, edit ...func(*config.File)) *hardenedGateway {
	t.Helper()
	cfg, layout, kit := hardenedConfig(t, nil)
	for _, e := range edit {
		e(cfg)
	}
	sim := startSim(t, cfg, kit)
	g := &hardenedGateway{sim: sim, logs: &logBuffer{}}
	// The shipped bundles' patient replaces the members an operator
	// would load with 'gatehouse payer load'.
	seed, err := demo.ShippedBundles()
	if err != nil {
		t.Fatal(err)
	}
	g.rt, err = app.Start(context.Background(), cfg, app.Options{Logger: slog.New(slog.NewTextHandler(g.logs, nil)),
		NotificationPoll: 20 * time.Millisecond, PayerMembers: seed})
	if err != nil {
		sim.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() { g.rt.Close(context.Background()) })
	// Closed before the gateway, so that the gateway's shutdown does not
	// wait for the simulator's connections to it.
	t.Cleanup(func() { sim.Close(context.Background()) })

	// The EHR verifies the public host name but reaches the inbound
	// listener by its address, as a DNS entry for the host would.
	if err := sim.Connect(g.rt.PublicURL); err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{}
	inbound := g.rt.Addr.String()
	sim.Client().HTTPClient().Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, inbound)
	}

	certFile, keyFile := app.DevAdminFiles(layout.Dir)
	g.admin = hardenedAdminClient(t, layout.CACertFile, certFile, keyFile)
	g.adminURL = "https://" + g.rt.AdminAddr.String()
	return g
}

// hardenedAdminClient returns the development administrator's client,
// which verifies the public host name because the server certificate
// names no loopback address.
func hardenedAdminClient(t *testing.T, caFile, certFile, keyFile string) *http.Client {
	t.Helper()
	roots, err := pki.LoadCertPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.LoadTLSCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	conf := tlspolicy.Client(roots, &cert)
	conf.ServerName = hardenedPublicHost
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// wait waits for cond on the simulator's state and fails the test with
// the notification sender's log lines when it does not hold in time.
func (g *hardenedGateway) wait(t *testing.T, what string, cond func(*ehrsim.Snapshot) bool) *ehrsim.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	snap, err := g.sim.Wait(ctx, what, cond)
	if err != nil {
		t.Fatalf("%v; notification sender log:\n%s", err, grep(g.logs.String(), "component=notifications"))
	}
	return snap
}

// decide approves a pended item through the admin listener and returns
// the new ClaimResponse's id.
func (g *hardenedGateway) decide(t *testing.T, preAuthRef string, item int) string {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"claim": preAuthRef, "item": item, "decision": "approve"})
	resp, err := g.admin.Post(g.adminURL+"/payer/decisions", "application/json", bytes.NewReader(in))
	if err != nil {
		t.Fatalf("decide: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decide: status %d: %s", resp.StatusCode, body)
	}
	var out struct {
		ClaimResponse string `json:"claimResponse"`
		Notified      int    `json:"notified"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decide: %v: %s", err, body)
	}
	if out.Notified != 1 {
		t.Fatalf("decide queued notifications for %d Subscriptions, want 1", out.Notified)
	}
	return out.ClaimResponse
}

// submitPended submits the Homecare request, which has one item approved
// and one pended, and returns its pre-authorization reference and the
// pended item's sequence number.
func (g *hardenedGateway) submitPended(t *testing.T) (string, int) {
	t.Helper()
	bundle, err := os.ReadFile(filepath.Join("..", "demo", "bundles", "pas-2.2.1-HomecareAuthorizationBundleExample.json"))
	if err != nil {
		t.Fatal(err)
	}
	submitted, err := g.sim.Do(context.Background(), http.MethodPost, "Claim/$submit", bundle)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if submitted.Status != http.StatusOK {
		t.Fatalf("submit: status %d: %s", submitted.Status, submitted.Body)
	}
	first, err := pas.ParseResponse(submitted.Body)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	pended := slices.IndexFunc(first.Items, func(it pas.ItemDecision) bool { return it.Action == pas.Pended })
	if pended < 0 {
		t.Fatalf("submit: no item pended in %+v", first.Items)
	}
	return first.PreAuthRef, first.Items[pended].Sequence
}

// requireActive requires $status of the Subscription subID to report
// active. The label names the Subscription in the failure message.
func (g *hardenedGateway) requireActive(t *testing.T, label, subID string) {
	t.Helper()
	_, code, resp, err := g.sim.Status(context.Background(), subID)
	if err != nil {
		t.Fatalf("$status: %v", err)
	}
	if code != "active" {
		t.Errorf("%s status %q, want active: %s", label, code, resp.Body)
	}
}

// subscribe creates the simulator's Subscription and waits for its
// handshake, which must be the first notification, name the Subscription
// and be accepted. It returns the Subscription's id and the handshake.
func (g *hardenedGateway) subscribe(t *testing.T) (string, ehrsim.Notification) {
	t.Helper()
	sub, subID, err := g.sim.Subscribe(context.Background())
	if err != nil {
		t.Fatalf("create Subscription: %v", err)
	}
	if sub.Status != http.StatusCreated {
		t.Fatalf("create Subscription: status %d, want 201: %s", sub.Status, sub.Body)
	}
	snap := g.wait(t, "the handshake", func(s *ehrsim.Snapshot) bool { return len(s.Notifications) >= 1 })
	handshake := snap.Notifications[0]
	if handshake.Type != ehrsim.TypeHandshake {
		t.Errorf("first notification type %q, want a handshake", handshake.Type)
	}
	if !handshake.Accepted {
		t.Errorf("handshake not accepted: %+v", handshake)
	}
	if handshake.Subscription != subID {
		t.Errorf("handshake for Subscription %q, want %q", handshake.Subscription, subID)
	}
	return subID, handshake
}

// A deployment binds outbound.listen to one internal address and serves a
// certificate for public_url's host only. The built-in payer service's
// notifications must still cross the outbound listener and reach the
// partner's rest-hook endpoint, and the Subscription must stay active.
func TestNotificationsLeaveHardenedDeployment(t *testing.T) {
	g := startHardenedGateway(t)
	if host, _, _ := net.SplitHostPort(g.rt.OutboundAddr.String()); host != hardenedOutboundHost {
		t.Fatalf("outbound listener on %s, want host %s", g.rt.OutboundAddr, hardenedOutboundHost)
	}

	subID, handshake := g.subscribe(t)
	// The gateway sets the exchange id on the outbound path only.
	if handshake.ExchangeID == "" {
		t.Error("the handshake carries no X-Request-Id, so it did not cross the outbound listener")
	}

	preAuthRef, item := g.submitPended(t)
	claimResponse := g.decide(t, preAuthRef, item)

	snap := g.wait(t, "the event notification", func(s *ehrsim.Snapshot) bool {
		return slices.ContainsFunc(s.Notifications, func(n ehrsim.Notification) bool { return n.Type == ehrsim.TypeEvent })
	})
	i := slices.IndexFunc(snap.Notifications, func(n ehrsim.Notification) bool { return n.Type == ehrsim.TypeEvent })
	event := snap.Notifications[i]
	if !event.Accepted {
		t.Errorf("event notification not accepted: %+v", event)
	}
	if event.Subscription != subID {
		t.Errorf("event notification for Subscription %q, want %q", event.Subscription, subID)
	}
	if len(event.Events) != 1 {
		t.Errorf("event notification events %+v, want one for ClaimResponse %s", event.Events, claimResponse)
	} else if !strings.HasSuffix(event.Events[0].Focus, "/ClaimResponse/"+claimResponse) {
		t.Errorf("event notification focus %q, want ClaimResponse %s", event.Events[0].Focus, claimResponse)
	}
	if snap.Rejected != 0 {
		t.Errorf("the EHR rejected %d calls (token or path)", snap.Rejected)
	}

	g.requireActive(t, "Subscription", subID)
}

// A server certificate from a CA that payer.notifications.ca_file does not
// contain, such as a public CA beside the default tls.client_ca_file,
// would fail every notification. The gateway does not start with it.
func TestNotificationsRequireTrustedServerCertificate(t *testing.T) {
	public, err := pki.NewRoot(pki.RootOptions{CommonName: "Public Web Root CA"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, kit := hardenedConfig(t, public)
	sim := startSim(t, cfg, kit)
	t.Cleanup(func() { sim.Close(context.Background()) })

	rt, err := app.Start(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		rt.Close(context.Background())
		t.Fatal("Start succeeded with a server certificate that the notification sender cannot verify")
	}
	for _, want := range []string{"payer.notifications.ca_file", "tls.cert_file", hardenedPublicHost} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// A server certificate rotated at run time to one from a CA that the
// notification sender does not trust would fail every notification. The
// reload is rejected, the previous certificate stays in use, and
// notifications keep arriving.
func TestNotificationTrustOnReload(t *testing.T) {
	var certFile, keyFile string
	g := startHardenedGateway(t, func(cfg *config.File) {
		cfg.TLS.ReloadInterval = 10 * time.Millisecond
		certFile, keyFile = cfg.TLS.CertFile, cfg.TLS.KeyFile
	})

	public, err := pki.NewRoot(pki.RootOptions{CommonName: "Public Web Root CA"})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := public.IssueServer(pki.ServerOptions{DNSNames: []string{hardenedPublicHost}})
	if err != nil {
		t.Fatal(err)
	}
	staging := t.TempDir()
	newCert, newKey := filepath.Join(staging, "server.pem"), filepath.Join(staging, "server-key.pem")
	if err := rotated.WriteFiles(newCert, newKey); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(newKey, keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(newCert, certFile); err != nil {
		t.Fatal(err)
	}

	// A tick between the two renames rejects a key that does not match the
	// certificate, so wait for the rejection that names the trust setting.
	g.waitLog(t, "certificate reload rejected", "payer.notifications.ca_file")

	g.subscribe(t)
}

// TestNotificationsTrustIntermediateChain issues the server certificate
// from an intermediate CA and sets payer.notifications.ca_file to the
// root only. The sender can then verify the certificate only through the
// intermediate that tls.cert_file serves after the leaf.
func TestNotificationsTrustIntermediateChain(t *testing.T) {
	root, err := pki.NewRoot(pki.RootOptions{CommonName: "Payer Web Root CA", PathLen: 1})
	if err != nil {
		t.Fatal(err)
	}
	intermediate, err := root.NewIntermediate(pki.IntermediateOptions{CommonName: "Payer Web Issuing CA"})
	if err != nil {
		t.Fatal(err)
	}

	start := func(t *testing.T, serveIntermediate bool) error {
		cfg, _, kit := hardenedConfig(t, intermediate)
		if !serveIntermediate {
			server, err := pki.LoadTLSCertificate(cfg.TLS.CertFile, cfg.TLS.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			if len(server.Certificate) != 2 {
				t.Fatalf("tls.cert_file contains %d certificates, want the leaf and the intermediate", len(server.Certificate))
			}
			cfg.TLS.CertFile = filepath.Join(t.TempDir(), "server-leaf-only.pem")
			if err := pki.WriteCertificateFile(cfg.TLS.CertFile, server.Certificate[:1]); err != nil {
				t.Fatal(err)
			}
		}
		cfg.Payer.Notifications.CAFile = filepath.Join(t.TempDir(), "web-root.pem")
		if err := pki.WriteCertificateFile(cfg.Payer.Notifications.CAFile, [][]byte{root.Certificate.Raw}); err != nil {
			t.Fatal(err)
		}
		sim := startSim(t, cfg, kit)
		t.Cleanup(func() { sim.Close(context.Background()) })
		rt, err := app.Start(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			rt.Close(context.Background())
		}
		return err
	}

	t.Run("chain served", func(t *testing.T) {
		if err := start(t, true); err != nil {
			t.Fatalf("Start with the intermediate served: %v", err)
		}
	})
	t.Run("intermediate missing", func(t *testing.T) {
		err := start(t, false)
		if err == nil {
			t.Fatal("Start succeeded although tls.cert_file lacks the intermediate that ca_file needs")
		}
		for _, want := range []string{"payer.notifications.ca_file", "tls.cert_file", hardenedPublicHost} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})
}

// TestNotificationCAFileReloads checks that payer.notifications.ca_file
// reloads with the certificates: a new bundle that does not verify the
// server certificate is rejected and logged, the sender keeps the bundle
// in use, and a valid change is installed without a restart.
func TestNotificationCAFileReloads(t *testing.T) {
	var caFile string
	var devRoot []byte
	g := startHardenedGateway(t, func(cfg *config.File) {
		cfg.TLS.ReloadInterval = 10 * time.Millisecond
		var err error
		if devRoot, err = os.ReadFile(cfg.Resolve(cfg.TLS.ClientCAFile)); err != nil {
			t.Fatal(err)
		}
		caFile = filepath.Join(t.TempDir(), "notification-roots.pem")
		if err := os.WriteFile(caFile, devRoot, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Payer.Notifications.CAFile = caFile
	})

	public, err := pki.NewRoot(pki.RootOptions{CommonName: "Public Web Root CA"})
	if err != nil {
		t.Fatal(err)
	}
	publicRoot := filepath.Join(t.TempDir(), "public-root.pem")
	if err := pki.WriteCertificateFile(publicRoot, [][]byte{public.Certificate.Raw}); err != nil {
		t.Fatal(err)
	}
	publicPEM, err := os.ReadFile(publicRoot)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, publicRoot, caFile)
	rejected := g.waitLog(t, "certificate reload rejected", caFile)
	if !strings.Contains(rejected, "payer.notifications.ca_file") {
		t.Errorf("rejection %q does not name payer.notifications.ca_file", rejected)
	}

	// The sender still trusts the previous bundle.
	g.subscribe(t)

	// Both roots verify the server certificate, so the change is installed.
	both := filepath.Join(t.TempDir(), "both.pem")
	if err := os.WriteFile(both, append(append([]byte{}, devRoot...), publicPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, both, caFile)
	g.waitLog(t, "certificates reloaded", caFile)
}

// replaceFile renames src over dst, so that a reload reads either file
// whole.
func replaceFile(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits for a log line that contains both msg and detail, such
// as a file name or a configuration key, and returns it.
func (g *hardenedGateway) waitLog(t *testing.T, msg, detail string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for line := range strings.SplitSeq(g.logs.String(), "\n") {
			if strings.Contains(line, msg) && strings.Contains(line, detail) {
				return line
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line with %q naming %s:\n%s", msg, detail, g.logs.String())
	return ""
}
