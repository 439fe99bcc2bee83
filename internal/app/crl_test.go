package app_test

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// TestRevokedCertificateRefused configures a CRL that revokes one partner
// certificate: that certificate gets no TLS session, another one from the
// same CA still works.
func TestRevokedCertificateRefused(t *testing.T) {
	dir := t.TempDir()
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := ca.IssueClient(pki.ClientOptions{PartnerID: "demo-ehr"})
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: revoked.Leaf.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)},
		},
	}, ca.Certificate, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS.CRLFile = filepath.Join(dir, "crl.pem")
	if err := os.WriteFile(cfg.TLS.CRLFile, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl}), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, layout: layout, upstream: newCountingUpstream(t)}
	cfg.Upstream.URL = h.upstream.srv.URL
	cfg.Strict.Mode = "off"
	h.start(cfg)

	roots, _ := layout.CAPool()
	tc, _ := revoked.TLSCertificate()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tc)}}
	defer client.CloseIdleConnections()
	if resp, err := client.Get(h.rt.FHIRBase + "/metadata"); err == nil {
		resp.Body.Close()
		t.Fatalf("a revoked certificate got a response: status %d, want a failed handshake", resp.StatusCode)
	}
	// The development partner certificate is not on the CRL.
	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", http.Header{"Authorization": {"Bearer " + h.accessToken()}}, nil)
	if readBody(t, resp); resp.StatusCode != 200 {
		t.Errorf("unrevoked certificate: status %d", resp.StatusCode)
	}
}

// TestRevokedAdminAndEngineCertificatesRefused revokes an administrator
// and an engine certificate in tls.crl_file. The admin and outbound
// listeners, which take their clients from the same CA, must refuse them,
// while an administrator certificate that is not on the CRL still works.
func TestRevokedAdminAndEngineCertificatesRefused(t *testing.T) {
	cfg, layout, _, engineCert := newPayerOutbound(t)
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	revokedAdmin, err := ca.IssueAdmin(pki.AdminOptions{Name: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	goodAdmin, err := ca.IssueAdmin(pki.AdminOptions{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS.CRLFile = filepath.Join(t.TempDir(), "crl.pem")
	writeCRL(t, ca, cfg.TLS.CRLFile, 1, revokedAdmin.Leaf.SerialNumber, engineCert.Leaf.SerialNumber)
	h := &harness{t: t, layout: layout}
	h.start(cfg)

	roots, err := layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	if refusedHandshake(t, h.rt.AdminAddr.String(), roots, goodAdmin, 200*time.Millisecond) {
		t.Fatal("admin listener refused an administrator certificate that is not revoked")
	}
	if !refusedHandshake(t, h.rt.AdminAddr.String(), roots, revokedAdmin, 10*time.Second) {
		t.Error("admin listener: a revoked administrator certificate got a session")
	}
	if !refusedHandshake(t, h.rt.OutboundAddr.String(), roots, engineCert, 10*time.Second) {
		t.Error("outbound listener: a revoked engine certificate got a session")
	}
}

// writeCRL writes a CRL of ca, numbered number, that revokes serials.
func writeCRL(t *testing.T, ca *pki.CA, path string, number int64, serials ...*big.Int) {
	t.Helper()
	now := time.Now()
	list := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(24 * time.Hour)}
	for _, s := range serials {
		list.RevokedCertificateEntries = append(list.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: now.Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, list, ca.Certificate, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	// Write and rename, so the reloading holder never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// heldConn is one client connection that sends HTTP/1.1 requests one after
// another, so that every request uses the same TLS session.
type heldConn struct {
	t    *testing.T
	conn *tls.Conn
	br   *bufio.Reader
}

func dialHeld(t *testing.T, addr string, roots *x509.CertPool, cert *pki.Certificate) *heldConn {
	t.Helper()
	tc, err := cert.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	conf := tlspolicy.Client(roots, &tc)
	conf.ServerName = "localhost"
	conf.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &heldConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// do sends req on the held connection and returns the status and body.
func (c *heldConn) do(req *http.Request) (int, []byte) {
	c.t.Helper()
	if err := req.Write(c.conn); err != nil {
		c.t.Fatalf("%s %s on the open connection: %v", req.Method, req.URL.Path, err)
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		c.t.Fatalf("%s %s on the open connection: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, readBody(c.t, resp)
}

// refusedHandshake reports whether a new connection with cert is refused,
// waiting up to wait for the server's verdict, which TLS 1.3 sends after
// the client's handshake has completed.
func refusedHandshake(t *testing.T, addr string, roots *x509.CertPool, cert *pki.Certificate, wait time.Duration) bool {
	t.Helper()
	tc, err := cert.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	conf := tlspolicy.Client(roots, &tc)
	conf.ServerName = "localhost"
	conn, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return true
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(wait))
	_, err = conn.Read(make([]byte, 1))
	ne, ok := err.(net.Error)
	return !ok || !ne.Timeout()
}

// TestRevokedCertificateOnOpenConnection revokes certificates while each
// still has an open connection: a partner's on the inbound listener, an
// administrator's and an engine's on theirs. Once a new handshake with
// the revoked certificate fails, every further request on the open
// connection must be refused too: no FHIR request reaches the upstream, no
// new token is issued, no cut is engaged.
func TestRevokedCertificateOnOpenConnection(t *testing.T) {
	cfg, layout, _, engineCert := newPayerOutbound(t)
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	partnerCert, err := ca.IssueClient(pki.ClientOptions{PartnerID: app.DevPartner})
	if err != nil {
		t.Fatal(err)
	}
	adminCert, err := ca.IssueAdmin(pki.AdminOptions{Name: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS.CRLFile = filepath.Join(t.TempDir(), "crl.pem")
	cfg.TLS.ReloadInterval = 10 * time.Millisecond
	writeCRL(t, ca, cfg.TLS.CRLFile, 1)
	h := &harness{t: t, layout: layout, upstream: newCountingUpstream(t)}
	cfg.Upstream.URL = h.upstream.srv.URL
	cfg.Strict.Mode = "off"
	h.start(cfg)

	roots, err := layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	key, err := layout.PartnerAssertionKey()
	if err != nil {
		t.Fatal(err)
	}
	partner := dialHeld(t, h.rt.Addr.String(), roots, partnerCert)
	admin := dialHeld(t, h.rt.AdminAddr.String(), roots, adminCert)
	engine := dialHeld(t, h.rt.OutboundAddr.String(), roots, engineCert)

	tokenRequest := func() *http.Request {
		assertion, err := token.NewAssertion(app.DevPartner, h.rt.TokenURL, key, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {token.AssertionType},
			"client_assertion": {assertion}, "scope": {"system/Claim.rs"}}
		req, _ := http.NewRequest(http.MethodPost, h.rt.TokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	metadata := func(accessToken string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, h.rt.FHIRBase+"/metadata", nil)
		req.Header.Set("Authorization", "Bearer "+accessToken)
		return req
	}
	engage := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "https://"+h.rt.AdminAddr.String()+"/killswitch",
			strings.NewReader(`{"mode":"full","scope":"all","reason":"engaged over a revoked certificate"}`))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	enginePath := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, "https://"+h.rt.OutboundAddr.String()+"/partners/nobody/fhir/metadata", nil)
		return req
	}
	listCuts := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, "https://"+h.rt.AdminAddr.String()+"/killswitch", nil)
		return req
	}

	// Before the revocation each connection works.
	status, body := partner.do(tokenRequest())
	if status != http.StatusOK {
		t.Fatalf("token before the revocation: status %d: %s", status, body)
	}
	var tok token.Response
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	if status, body := partner.do(metadata(tok.AccessToken)); status != http.StatusOK {
		t.Fatalf("FHIR request before the revocation: status %d: %s", status, body)
	}
	if status, body := admin.do(listCuts()); status != http.StatusOK {
		t.Fatalf("admin request before the revocation: status %d: %s", status, body)
	}
	if status, body := engine.do(enginePath()); status != http.StatusNotFound {
		t.Fatalf("engine request before the revocation: status %d, want 404 for an unknown partner: %s", status, body)
	}
	forwarded := h.upstream.count.Load()

	writeCRL(t, ca, cfg.TLS.CRLFile, 2, partnerCert.Leaf.SerialNumber, adminCert.Leaf.SerialNumber, engineCert.Leaf.SerialNumber)
	// The holder reloads on its own schedule; the deadline only bounds a
	// broken reload.
	deadline := time.Now().Add(30 * time.Second)
	for !refusedHandshake(t, h.rt.Addr.String(), roots, partnerCert, 200*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a new handshake with the revoked certificate still succeeds")
		}
	}

	status, body = partner.do(metadata(tok.AccessToken))
	if status != http.StatusForbidden {
		t.Errorf("FHIR request over the revoked certificate: status %d, want 403: %s", status, body)
	}
	if code := outcomeCode(t, body); code != "security" {
		t.Errorf("FHIR request over the revoked certificate: issue code %q, want security", code)
	}
	if n := h.upstream.count.Load() - forwarded; n != 0 {
		t.Errorf("upstream received %d requests over the revoked certificate, want 0", n)
	}
	status, body = partner.do(tokenRequest())
	if status != http.StatusUnauthorized || !strings.Contains(string(body), `"invalid_client"`) {
		t.Errorf("token request over the revoked certificate: status %d, want 401 invalid_client: %s", status, body)
	}

	if status, body := admin.do(engage()); status != http.StatusForbidden {
		t.Errorf("engage over the revoked administrator certificate: status %d, want 403: %s", status, body)
	}
	if cuts := h.rt.KillSwitch.Cuts(); len(cuts) != 0 {
		t.Errorf("a revoked administrator engaged %d cuts", len(cuts))
	}
	status, body = engine.do(enginePath())
	if status != http.StatusForbidden {
		t.Errorf("engine request over the revoked certificate: status %d, want 403: %s", status, body)
	}
	if code := outcomeCode(t, body); code != "security" {
		t.Errorf("engine request over the revoked certificate: issue code %q, want security", code)
	}
}
