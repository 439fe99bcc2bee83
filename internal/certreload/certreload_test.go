package certreload

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

func TestRotateServerCertificate(t *testing.T) {
	ca := newTestCA(t)
	h, err := New(ca.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, h)
	client := ca.clientConfig(ca.issueClient(t, "acme-ehr"), 0)

	before, err := connect(addr, client)
	if err != nil {
		t.Fatalf("first connection: %v", err)
	}
	rotated := ca.issueServer(t, 0)
	ca.writeServer(t, rotated)
	if changed, err := h.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v; want a new generation", changed, err)
	}
	after, err := connect(addr, client)
	if err != nil {
		t.Fatalf("connection after rotation: %v", err)
	}
	if got := after.PeerCertificates[0].SerialNumber; got.Cmp(rotated.Leaf.SerialNumber) != 0 {
		t.Errorf("server presented serial %x after rotation, want %x", got, rotated.Leaf.SerialNumber)
	}
	if before.PeerCertificates[0].SerialNumber.Cmp(rotated.Leaf.SerialNumber) == 0 {
		t.Error("the first connection already saw the rotated certificate")
	}
	if h.Generation() != 2 {
		t.Errorf("Generation = %d, want 2", h.Generation())
	}
	if !h.NotAfter().Equal(rotated.Leaf.NotAfter) {
		t.Errorf("NotAfter = %s, want the rotated certificate's %s", h.NotAfter(), rotated.Leaf.NotAfter)
	}
}

func TestReloadKeepsOldMaterialOnBadFiles(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, ca *testCA)
		want   string
	}{
		{"key of another certificate", func(t *testing.T, ca *testCA) {
			other := ca.issueServer(t, 0)
			writeFile(t, ca.certFile, pki.EncodeCertificatesPEM(other.Chain))
		}, "private key does not match"},
		{"garbage certificate", func(t *testing.T, ca *testCA) {
			writeFile(t, ca.certFile, []byte("not a certificate"))
		}, "server.pem"},
		{"missing key file", func(t *testing.T, ca *testCA) {
			os.Remove(ca.keyFile)
		}, "no such file"},
		{"CA bundle with a leaf", func(t *testing.T, ca *testCA) {
			writeFile(t, ca.caFile, pki.EncodeCertificatesPEM([][]byte{ca.issueServer(t, 0).Leaf.Raw}))
		}, "not a CA certificate"},
		{"CRL number goes back", func(t *testing.T, ca *testCA) {
			writeFile(t, ca.crlFile, ca.signCRL(t, 0, time.Now().Add(time.Hour)))
		}, "went back"},
		{"CRL file with a certificate", func(t *testing.T, ca *testCA) {
			writeFile(t, ca.crlFile, pki.EncodeCertificatesPEM([][]byte{ca.root.Certificate.Raw}))
		}, "want \"X509 CRL\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			var logs logBuffer
			h, err := New(ca.options(logs.logger()))
			if err != nil {
				t.Fatal(err)
			}
			addr := serve(t, h)
			before := h.current.Load().cert.Leaf.SerialNumber

			tt.break_(t, ca)
			changed, err := h.Reload()
			if changed || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Reload = %v, %v; want an error containing %q", changed, err, tt.want)
			}
			h.Reload() // the same broken content is not logged twice
			if n := strings.Count(logs.String(), "certificate reload rejected"); n != 1 {
				t.Errorf("rejection logged %d times, want 1:\n%s", n, logs.String())
			}
			state, err := connect(addr, ca.clientConfig(ca.issueClient(t, "acme-ehr"), 0))
			if err != nil {
				t.Fatalf("connection after a rejected reload: %v", err)
			}
			if state.PeerCertificates[0].SerialNumber.Cmp(before) != 0 {
				t.Error("the server no longer presents the previous certificate")
			}
		})
	}
}

func TestRunPollsFiles(t *testing.T) {
	ca := newTestCA(t)
	opts := ca.options(nil)
	opts.Interval = 10 * time.Millisecond
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)

	ca.writeServer(t, ca.issueServer(t, 0))
	deadline := time.Now().Add(5 * time.Second)
	for h.Generation() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick up the new certificate within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExpiryWarning(t *testing.T) {
	ca := newTestCA(t)
	ca.writeServer(t, ca.issueServer(t, 48*time.Hour))
	var got []Expiry
	opts := ca.options(nil)
	opts.ExpiryWarning = 72 * time.Hour
	opts.CRLExpiryWarning = 36 * time.Hour
	opts.OnExpiring = func(e Expiry) { got = append(got, e) }
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.Reload()
	// The certificate (48h) and the CRL (next update in 24h) are inside
	// the window; the CA certificates are not. Each is reported once.
	if len(got) != 2 || got[0].Item != "certificate" || got[1].Item != "crl" {
		t.Fatalf("OnExpiring got %+v, want the certificate and the CRL once each", got)
	}
	items := map[string]int{}
	for _, e := range h.Expiries() {
		items[e.Item]++
	}
	if items["certificate"] != 1 || items["client-ca"] != 1 || items["crl"] != 1 {
		t.Errorf("Expiries items = %v", items)
	}
}

func TestNewRejectsInvalidSet(t *testing.T) {
	ca := newTestCA(t)
	if _, err := New(Options{CertFile: ca.certFile}); err == nil {
		t.Error("New without KeyFile succeeded")
	}
	if _, err := New(Options{CertFile: ca.certFile, KeyFile: ca.keyFile, CRLFile: ca.crlFile}); err == nil {
		t.Error("New with CRLFile and no ClientCAFile succeeded")
	}
	expired := ca.issueServer(t, time.Minute)
	ca.writeServer(t, expired)
	opts := ca.options(nil)
	opts.Now = func() time.Time { return time.Now().Add(time.Hour) }
	if _, err := New(opts); err == nil || !strings.Contains(err.Error(), "not valid now") {
		t.Errorf("New with an expired certificate = %v, want a validity error", err)
	}
}

func TestClientCertificateHook(t *testing.T) {
	ca := newTestCA(t)
	h, err := New(Options{CertFile: ca.certFile, KeyFile: ca.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := h.GetClientCertificate(&tls.CertificateRequestInfo{})
	if cert == nil || cert.Leaf == nil {
		t.Fatal("GetClientCertificate returned no certificate")
	}
	if _, err := h.ServerConfig(); err == nil {
		t.Error("ServerConfig without ClientCAFile succeeded")
	}
	var noChain error = h.VerifyConnection(tls.ConnectionState{})
	if !errors.Is(noChain, errNoVerifiedChain) {
		t.Errorf("VerifyConnection without chains = %v", noChain)
	}
}

// TestReloadLogNamesChangedFiles publishes a new CRL only: the reload's
// log line must name the CRL file as changed, not the certificate.
func TestReloadLogNamesChangedFiles(t *testing.T) {
	ca := newTestCA(t)
	var logs bytes.Buffer
	h, err := New(ca.options(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ca.revoke(t, big.NewInt(42))
	if changed, err := h.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v; want a new generation", changed, err)
	}
	var line struct {
		Msg     string `json:"msg"`
		Changed string `json:"changed"`
	}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "certificates reloaded" {
			break
		}
	}
	if line.Msg != "certificates reloaded" {
		t.Fatalf("no reload line in the log:\n%s", logs.String())
	}
	if line.Changed != ca.crlFile {
		t.Errorf("changed = %q, want only the CRL file %q", line.Changed, ca.crlFile)
	}
}
