package posture_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/posture"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// startDevGateway starts a development-mode gateway on loopback and
// returns it with live options that probe it as the demo partner.
func startDevGateway(t *testing.T) (*app.Running, posture.LiveOptions) {
	t.Helper()
	cfg, layout, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatalf("DevConfig: %v", err)
	}
	rt, err := app.Start(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })

	cert, err := layout.PartnerClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	key, err := layout.PartnerAssertionKey()
	if err != nil {
		t.Fatal(err)
	}
	ehr, err := ehrclient.New(ehrclient.Options{PublicURL: rt.PublicURL, ClientID: app.DevPartner,
		AssertionKey: key, Certificate: cert, Roots: roots, Scope: app.DevScopes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ehr.CloseIdle)

	return rt, posture.LiveOptions{
		URL: rt.PublicURL, Roots: roots, Certificate: cert,
		Token: func(ctx context.Context) (string, error) {
			resp, err := ehr.Token(ctx)
			if err != nil {
				return "", err
			}
			return resp.AccessToken, nil
		},
	}
}

// TestProbeDevGateway probes a real development-mode gateway on loopback:
// every probe must pass.
func TestProbeDevGateway(t *testing.T) {
	_, opts := startDevGateway(t)
	r, err := posture.Probe(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range r.Findings {
		seen[f.Check] = true
		if f.Status != posture.Pass {
			t.Errorf("%s: %s: %s", f.Check, f.Status, f.Message)
		}
	}
	for _, c := range r.Checks {
		if !seen[c.ID] {
			t.Errorf("%s produced no finding", c.ID)
		}
	}
	if len(r.Checks) < 9 {
		t.Errorf("%d live checks ran, want 9 or more", len(r.Checks))
	}
}

// TestProbeKillSwitchEngaged probes a real gateway whose kill switch cuts
// every partner. The 503 rejections show nothing about the token check or
// the policy, so no probe may pass or fail on them. Each must report an
// error that names the kill switch.
func TestProbeKillSwitchEngaged(t *testing.T) {
	rt, opts := startDevGateway(t)
	cut := &killswitch.Cut{Mode: killswitch.Full, Scope: "all", Direction: killswitch.Both,
		Reason: "posture probe test", EngagedBy: "test"}
	if err := rt.KillSwitch.Engage(context.Background(), cut); err != nil {
		t.Fatalf("Engage: %v", err)
	}

	r, err := posture.Probe(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Check == "GH-LIVE-006" && f.Status == posture.Fail {
			t.Errorf("GH-LIVE-006 failed on the kill switch's 503: %s", f.Message)
		}
	}
	for _, id := range []string{"GH-LIVE-006", "GH-LIVE-007", "GH-LIVE-008", "GH-LIVE-009"} {
		f := findingOf(t, r, id)
		if f.Status != posture.Error {
			t.Errorf("%s: status %s, want error: %s", id, f.Status, f.Message)
		}
		if !strings.Contains(f.Message, "kill switch") && !strings.Contains(f.Message, "kill-switch") {
			t.Errorf("%s: message does not name the kill switch: %s", id, f.Message)
		}
	}
	if !r.FailsAt(posture.High) {
		t.Error("a run whose probes could not complete passes at threshold high")
	}
	if !r.KillSwitchEngaged {
		t.Error("KillSwitchEngaged = false after the kill switch's 503s")
	}
	var table strings.Builder
	if err := posture.WriteTable(&table, r, posture.Medium); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "because a kill-switch cut covers the probing partner") {
		t.Errorf("the table's advice does not name the kill switch:\n%s", table.String())
	}
	if !strings.Contains(table.String(), "'gatehouse killswitch release ID' for the audit") {
		t.Errorf("the table's advice does not say how to release the cut:\n%s", table.String())
	}
	if strings.Contains(table.String(), "fix the errors above (the URL, --ca, --cert and --key)") {
		t.Errorf("the table blames the URL and credentials for the kill switch's 503s:\n%s", table.String())
	}
}

// TestProbeUnavailableServer probes a server that returns 503 and an
// OperationOutcome for every request while TLS and the token work. The
// request probes report errors, not failures.
func TestProbeUnavailableServer(t *testing.T) {
	opts := strictTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","diagnostics":"overloaded"}]}`)
	}))
	r, err := posture.Probe(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"GH-LIVE-006", "GH-LIVE-007", "GH-LIVE-008", "GH-LIVE-009"} {
		f := findingOf(t, r, id)
		if f.Status != posture.Error {
			t.Errorf("%s: status %s, want error: %s", id, f.Status, f.Message)
		}
		if !strings.Contains(f.Message, "HTTP 503") {
			t.Errorf("%s: message does not name the 503: %s", id, f.Message)
		}
	}
	if r.KillSwitchEngaged {
		t.Error("KillSwitchEngaged = true for a 503 that does not name the kill switch")
	}
}

// TestProbeAdminRoutesOnPartnerPort probes a server with Gatehouse's TLS
// policy that forwards /killswitch and /metrics to an admin handler and
// refuses everything else as the gateway would.
func TestProbeAdminRoutesOnPartnerPort(t *testing.T) {
	opts := strictTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/killswitch":
			io.WriteString(w, `{"cuts":[]}`)
		case "/metrics":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	r, err := posture.Probe(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	bySeverity := map[posture.Severity]string{}
	for _, f := range r.Findings {
		if f.Check != "GH-LIVE-009" {
			continue
		}
		if f.Status != posture.Fail {
			t.Errorf("GH-LIVE-009: status %s, want fail: %s", f.Status, f.Message)
		}
		bySeverity[f.Severity] = f.Message
	}
	if !strings.Contains(bySeverity[posture.High], "/killswitch") {
		t.Errorf("no high finding for /killswitch answered with 200: %v", bySeverity)
	}
	if !strings.Contains(bySeverity[posture.Medium], "/metrics") {
		t.Errorf("no medium finding for /metrics answered with 403: %v", bySeverity)
	}
}

// issueProbeCerts creates a root named caName and issues a loopback server
// certificate with serverKey (empty means the pki default) and a client
// certificate for partner "probe".
func issueProbeCerts(t *testing.T, caName string, serverKey pki.KeyType) (*pki.CA, tls.Certificate, tls.Certificate) {
	t.Helper()
	ca, err := pki.NewRoot(pki.RootOptions{CommonName: caName})
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer(pki.ServerOptions{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: serverKey})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient(pki.ClientOptions{PartnerID: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	serverCert, _ := server.TLSCertificate()
	clientCert, _ := client.TLSCertificate()
	return ca, serverCert, clientCert
}

// strictTLSServer serves h on loopback with Gatehouse's server TLS policy
// and returns live options that reach it with a valid client certificate
// and a token that the handler never checks.
func strictTLSServer(t *testing.T, h http.Handler) posture.LiveOptions {
	t.Helper()
	ca, serverCert, clientCert := issueProbeCerts(t, "Probe Test CA", "")

	conf, err := tlspolicy.Server(serverCert, ca.CertPool())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return posture.LiveOptions{
		URL: "https://localhost:" + port, Roots: ca.CertPool(), Certificate: clientCert,
		Token: func(context.Context) (string, error) { return "not-a-real-token", nil },
	}
}

// findingOf returns the first finding of check id.
func findingOf(t *testing.T, r *posture.Report, id string) posture.Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Check == id {
			return f
		}
	}
	t.Fatalf("%s produced no finding", id)
	return posture.Finding{}
}

// TestProbePermissiveServer probes a deliberately weak TLS server on
// loopback: TLS 1.0, CBC and RSA key exchange allowed, client certificates
// optional, and status 200 for every request. Every probe must fail.
func TestProbePermissiveServer(t *testing.T) {
	ca, serverCert, clientCert := issueProbeCerts(t, "Weak Test CA", pki.RSA3072)

	var suites []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		suites = append(suites, s.ID)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion: tls.VersionTLS10, CipherSuites: suites, Certificates: []tls.Certificate{serverCert},
		ClientAuth: tls.RequestClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		json.NewEncoder(w).Encode(map[string]string{"resourceType": "Patient", "id": "1"})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	_, port, _ := net.SplitHostPort(ln.Addr().String())
	r, err := posture.Probe(context.Background(), posture.LiveOptions{
		URL: "https://localhost:" + port, Roots: ca.CertPool(), Certificate: clientCert,
		Token: func(context.Context) (string, error) { return "not-a-real-token", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	wantFail := []string{"GH-LIVE-001", "GH-LIVE-002", "GH-LIVE-003", "GH-LIVE-005", "GH-LIVE-006", "GH-LIVE-007", "GH-LIVE-008", "GH-LIVE-009"}
	for _, id := range wantFail {
		failed := false
		for _, f := range r.Findings {
			if f.Check == id && f.Status == posture.Fail {
				failed = true
			}
		}
		if !failed {
			t.Errorf("%s did not fail", id)
		}
	}
	for _, f := range r.Findings {
		if f.Check == "GH-LIVE-004" && f.Status != posture.Pass {
			t.Errorf("GH-LIVE-004: %s: %s", f.Status, f.Message)
		}
	}
}

// TestProbeNoServer reports every probe as an error when nothing listens.
func TestProbeNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ca, _ := pki.NewRoot(pki.RootOptions{CommonName: "Unused CA"})
	client, _ := ca.IssueClient(pki.ClientOptions{PartnerID: "probe"})
	cert, _ := client.TLSCertificate()
	r, err := posture.Probe(context.Background(), posture.LiveOptions{
		URL: "https://" + addr, Roots: ca.CertPool(), Certificate: cert, Timeout: 2 * time.Second,
		Token: func(context.Context) (string, error) { return "x", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Status != posture.Error {
			t.Errorf("%s: status %s (%s), want error", f.Check, f.Status, f.Message)
		}
	}
	requireNotPassed(t, r)
}

// requireNotPassed checks that a report whose probes could not complete
// fails at every threshold and gives the reason in the table.
func requireNotPassed(t *testing.T, r *posture.Report) {
	t.Helper()
	if r.Incomplete() == 0 {
		t.Error("Incomplete() = 0, want the probes that could not complete")
	}
	if !r.FailsAt(posture.High) {
		t.Error("FailsAt(High) = false for probes that could not complete")
	}
	var table strings.Builder
	if err := posture.WriteTable(&table, r, posture.Medium); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "Result: FAIL") || !strings.Contains(table.String(), "could not complete") {
		t.Errorf("table does not report the incomplete run:\n%s", table.String())
	}
}

// TestProbeUntrustedServer probes a TLS server whose certificate the
// probe's roots do not verify: no probe may pass.
func TestProbeUntrustedServer(t *testing.T) {
	other, err := pki.NewRoot(pki.RootOptions{CommonName: "Other Test CA"})
	if err != nil {
		t.Fatal(err)
	}
	server, err := other.IssueServer(pki.ServerOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	serverCert, _ := server.TLSCertificate()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAnyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	r := probeWithUnrelatedCA(t, ln.Addr().String())
	for _, f := range r.Findings {
		if f.Status == posture.Pass {
			t.Errorf("%s passed against an unverified server: %s", f.Check, f.Message)
		}
	}
	requireNotPassed(t, r)
}

// TestProbePlainServer probes a port that serves plain HTTP: no probe may
// pass.
func TestProbePlainServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	r := probeWithUnrelatedCA(t, ln.Addr().String())
	for _, f := range r.Findings {
		if f.Status == posture.Pass {
			t.Errorf("%s passed against a plain HTTP server: %s", f.Check, f.Message)
		}
	}
	requireNotPassed(t, r)
}

// probeWithUnrelatedCA probes addr with the roots and client certificate
// of a fresh CA that issued no certificate to the server.
func probeWithUnrelatedCA(t *testing.T, addr string) *posture.Report {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	ca, err := pki.NewRoot(pki.RootOptions{CommonName: "Probe Test CA"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient(pki.ClientOptions{PartnerID: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := client.TLSCertificate()
	r, err := posture.Probe(context.Background(), posture.LiveOptions{
		URL: "https://localhost:" + port, Roots: ca.CertPool(), Certificate: cert,
		Token: func(context.Context) (string, error) { return "x", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
