package cli

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// hardenedExample copies examples/posture/hardened.yaml into a temporary
// directory and creates the files it names.
func hardenedExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile("../../examples/posture/hardened.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hardened.yaml")
	write := func(rel string, b []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("hardened.yaml", data)
	var partnerCA *pki.CA
	var crls []byte
	for _, name := range []string{"partner", "admin", "engine"} {
		ca, err := pki.NewRoot(pki.RootOptions{CommonName: name + " CA"})
		if err != nil {
			t.Fatal(err)
		}
		write("pki/"+name+"-ca.pem", pki.EncodeCertificatesPEM([][]byte{ca.Certificate.Raw}))
		if name == "partner" {
			partnerCA = ca
		}
		// tls.crl_file covers the CAs of the two listeners the example
		// opens: inbound (partner) and admin.
		if name != "engine" {
			der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
				Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(7 * 24 * time.Hour),
			}, ca.Certificate, ca.Key)
			if err != nil {
				t.Fatal(err)
			}
			crls = append(crls, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})...)
		}
	}
	write("pki/crl.pem", crls)
	server, err := partnerCA.IssueServer(pki.ServerOptions{DNSNames: []string{"gatehouse.payer.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.WriteFiles(filepath.Join(dir, "pki/server.pem"), filepath.Join(dir, "pki/server-key.pem")); err != nil {
		t.Fatal(err)
	}
	key, _ := pki.GenerateKey(pki.ECDSAP256)
	if err := pki.WritePrivateKeyFile(filepath.Join(dir, "pki/token-signing-key.pem"), key); err != nil {
		t.Fatal(err)
	}
	skey, _, _ := note.GenerateKey(rand.Reader, "gatehouse.payer.example/audit")
	write("pki/checkpoint.key", []byte(skey+"\n"))
	write("pki/audit-recipients.txt", []byte("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n"))
	jwk, _ := token.GenerateKey("ES256")
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	write("partners/epic-payer-platform.jwks.json", set)
	return path
}

func TestPostureExitCodes(t *testing.T) {
	hardened := hardenedExample(t)
	unknownKey := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(unknownKey, []byte("listen: 127.0.0.1:8443\nlisten_typo: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout, or stderr for usage errors
	}{
		{"hardened passes", []string{"posture", "--config", hardened, "--fail-on", "medium"}, 0, "Result: PASS at threshold medium."},
		{"hardened low", []string{"posture", "--config", hardened, "--fail-on", "low"}, 1, "GH-TOK-004"},
		{"missing files", []string{"posture", "--config", "../../examples/posture/weak.yaml"}, 1, "Result: FAIL"},
		{"bad format", []string{"posture", "--format", "xml"}, 2, `invalid --format "xml"`},
		{"bad threshold", []string{"posture", "--fail-on", "severe"}, 2, `invalid --fail-on "severe"`},
		{"both modes", []string{"posture", "--config", hardened, "--live", "https://127.0.0.1:1"}, 2, "cannot be combined"},
		{"no data", []string{"posture", "--data", "/nonexistent/data"}, 2, "is not a development data directory"},
		{"missing config", []string{"posture", "--config", "/nonexistent/gatehouse.yaml"}, 2, "gatehouse: error: configuration file /nonexistent/gatehouse.yaml not found"},
		{"bad config", []string{"posture", "--config", unknownKey}, 2, `unknown key "listen_typo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d; stderr %s", code, tt.code, stderr)
			}
			if !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("output lacks %q:\n%s%s", tt.want, stdout, stderr)
			}
		})
	}
}

func TestPostureSARIF(t *testing.T) {
	code, stdout, _ := run(t, context.Background(), "posture", "--config", "../../examples/posture/weak.yaml", "--format", "sarif")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	var log struct {
		Version string
		Runs    []struct {
			Results []struct {
				RuleID    string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) == 0 {
		t.Fatalf("SARIF version %q runs %d", log.Version, len(log.Runs))
	}
	loc := log.Runs[0].Results[0].Locations[0].PhysicalLocation
	if loc.ArtifactLocation.URI != "../../examples/posture/weak.yaml" {
		t.Errorf("artifact URI %q", loc.ArtifactLocation.URI)
	}
}

// TestPostureDevAndLive audits a development data directory, then probes
// the development gateway running on it.
func TestPostureDevAndLive(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg, _, _, err := app.DevConfig(data, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, context.Background(), "posture", "--data", data, "--format", "json")
	if code != 1 || !strings.Contains(stderr, "no --config given: auditing the development configuration") {
		t.Errorf("dev audit: code %d, stderr %s", code, stderr)
	}
	if !strings.Contains(stdout, `"GH-DEV-002"`) || !strings.Contains(stdout, `"GH-DEV-003"`) {
		t.Errorf("dev audit does not flag the development setup:\n%s", stdout)
	}

	rt, err := app.Start(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	code, stdout, stderr = run(t, context.Background(), "posture", "--live", rt.PublicURL, "--data", data, "--fail-on", "low")
	if code != 0 {
		t.Errorf("live: exit code %d\n%s%s", code, stdout, stderr)
	}
}

func TestDFDCommand(t *testing.T) {
	tests := []struct {
		format, prefix string
	}{
		{"mermaid", "---\ntitle:"},
		{"dot", "digraph gatehouse {"},
		{"svg", "<svg "},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), "dfd", "--config", "../../examples/gatehouse.yaml", "--format", tt.format)
			if code != 0 || !strings.HasPrefix(stdout, tt.prefix) {
				t.Errorf("code %d, output starts %q; stderr %s", code, stdout[:min(len(stdout), 40)], stderr)
			}
		})
	}
	if code, _, stderr := run(t, context.Background(), "dfd", "--format", "png"); code != 2 || !strings.Contains(stderr, `invalid --format "png"`) {
		t.Errorf("bad format: code %d stderr %s", code, stderr)
	}
}

// TestPostureLiveWithCredentials probes a development gateway with the
// partner credentials given as options, as against a production gateway,
// then with a CA that does not verify the gateway.
func TestPostureLiveWithCredentials(t *testing.T) {
	dir := t.TempDir()
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := app.Start(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	creds := func(ca string) []string {
		return []string{"posture", "--live", rt.PublicURL, "--data", filepath.Join(dir, "no-such-dir"),
			"--cert", layout.ClientCertFile, "--key", layout.ClientKeyFile, "--ca", ca,
			"--client-id", app.DevPartner, "--assertion-key", layout.AssertionKeyFile, "--fail-on", "low"}
	}

	code, stdout, stderr := run(t, context.Background(), creds(layout.CACertFile)...)
	if code != 0 {
		t.Errorf("trusted CA: exit code %d\n%s%s", code, stdout, stderr)
	}

	other, err := pki.NewRoot(pki.RootOptions{CommonName: "Unrelated CA"})
	if err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(dir, "other-ca.pem")
	if err := pki.WriteCertificateFile(otherCA, [][]byte{other.Certificate.Raw}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run(t, context.Background(), creds(otherCA)...)
	if code != 1 {
		t.Errorf("unrelated CA: exit code %d, want 1\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "Result: FAIL") || !strings.Contains(stdout, "could not complete") || !strings.Contains(stdout, "did not verify") {
		t.Errorf("unrelated CA: the report does not say the probes could not complete:\n%s", stdout)
	}

	code, _, stderr = run(t, context.Background(), "posture", "--live", rt.PublicURL, "--cert", layout.ClientCertFile)
	if code != 2 || !strings.Contains(stderr, "missing --key") {
		t.Errorf("partial credentials: exit code %d, stderr %s", code, stderr)
	}
}

// TestPostureLiveLoopbackAddress probes the development gateway, whose
// public URL names localhost, at 127.0.0.1: the probe's token must still
// be issued.
func TestPostureLiveLoopbackAddress(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg, _, _, err := app.DevConfig(data, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := app.Start(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	if !strings.HasPrefix(rt.PublicURL, "https://localhost:") {
		t.Fatalf("public URL %q, want https://localhost:PORT", rt.PublicURL)
	}
	byAddress := strings.Replace(rt.PublicURL, "localhost", "127.0.0.1", 1)

	code, stdout, stderr := run(t, context.Background(), "posture", "--live", byAddress, "--data", data, "--fail-on", "low")
	if code != 0 {
		t.Errorf("live at %s: exit code %d\n%s%s", byAddress, code, stdout, stderr)
	}
}
