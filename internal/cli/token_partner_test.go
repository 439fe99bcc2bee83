package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// configGateway is a gateway started with 'serve --config' from files the
// CLI created, as the runbook creates them, with one registered partner.
type configGateway struct {
	dir       string // contains the configuration and every file it names
	publicURL string
}

// path returns the path of rel in the gateway's directory.
func (g *configGateway) path(rel string) string { return filepath.Join(g.dir, rel) }

// startConfigGateway writes a gateway's files with writeConfigGateway and
// runs 'serve --config' until t ends.
func startConfigGateway(t *testing.T) *configGateway {
	t.Helper()
	g := writeConfigGateway(t)
	g.serve(t)
	return g
}

// writeConfigGateway creates a CA, the gateway's and the partner
// acme-ehr's certificates, the partner's assertion key and the gateway's
// keys with the CLI, and writes a configuration, gatehouse.yaml, that
// names them.
func writeConfigGateway(t *testing.T) *configGateway {
	t.Helper()
	g := &configGateway{dir: t.TempDir()}
	steps := [][]string{
		{"pki", "init", "--dir", g.path("ca")},
		{"pki", "issue", "server", "--dir", g.path("ca"), "--dns", "localhost"},
		{"pki", "issue", "client", "--dir", g.path("ca"), "--partner", "acme-ehr", "--npi", "8189991234"},
		{"token", "keygen", "--name", "acme-ehr", "--out", g.dir},
		{"audit", "keygen", "--origin", "localhost/audit", "--out", g.dir},
	}
	for _, args := range steps {
		if code, _, stderr := run(t, context.Background(), args...); code != 0 {
			t.Fatalf("%s: exit code %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	out, err := exec.Command("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-out", g.path("token-signing-key.pem")).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl genpkey: %v: %s", err, out)
	}
	// Bodies are encrypted to this age recipient; no test decrypts them.
	writeTestFile(t, g.path("recipients.txt"), []byte("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n"))

	port, adminPort := freePort(t), freePort(t)
	g.publicURL = "https://localhost:" + port
	config := fmt.Sprintf(`listen: 127.0.0.1:%s
public_url: %s
payer_id:
  system: http://hl7.org/fhir/sid/us-npi
  value: "1234567893"
tls:
  cert_file: ca/certs/localhost.pem
  key_file: ca/certs/localhost-key.pem
  client_ca_file: ca/root.pem
network:
  allow_sources:
    - 127.0.0.1/32
token:
  signing_key_file: token-signing-key.pem
database:
  path: gatehouse.db
audit:
  origin: localhost/audit
  signing_key_file: checkpoint.key
  recipients_file: recipients.txt
  checkpoint_file: checkpoint.txt
admin:
  listen: 127.0.0.1:%s
partners:
  - id: acme-ehr
    organization:
      system: http://hl7.org/fhir/sid/us-npi
      value: "8189991234"
    jwks_file: acme-ehr.jwks.json
    scopes:
      - system/Claim.rs
      - system/Claim.$submit
    roles:
      claims: read
    interactions:
      - capabilities
      - Claim/$submit
`, port, g.publicURL, adminPort)
	writeTestFile(t, g.path("gatehouse.yaml"), []byte(config))
	return g
}

// serve runs 'serve --config' with the gateway's configuration until t
// ends.
func (g *configGateway) serve(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var serveOut, serveErr syncBuffer
	go func() {
		done <- MainContext(ctx, []string{"serve", "--config", g.path("gatehouse.yaml")}, &serveOut, &serveErr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit code %d: %s", code, serveErr.String())
		}
		if t.Failed() {
			t.Logf("serve: %s", serveErr.String())
		}
	})
	waitForOutput(t, &serveErr, "gateway listening")
}

// partnerTokenArgs returns the token command for acme-ehr with the files
// the runbook names, with replacements for some of its options.
func (g *configGateway) partnerTokenArgs(replace map[string]string) []string {
	options := []struct{ name, value string }{
		{"url", g.publicURL}, {"partner", "acme-ehr"},
		{"cert", g.path("ca/certs/acme-ehr.pem")}, {"key", g.path("ca/certs/acme-ehr-key.pem")},
		{"ca", g.path("ca/root.pem")}, {"assertion-key", g.path("acme-ehr.jwk")},
		{"scope", "system/Claim.rs system/Claim.$submit"},
	}
	args := []string{"token"}
	for _, o := range options {
		if v, ok := replace[o.name]; ok {
			o.value = v
		}
		args = append(args, "--"+o.name, o.value)
	}
	return args
}

// TestTokenRegisteredPartner obtains a token for a registered partner of a
// gateway started with a configuration file, then uses it with curl over
// mutual TLS as the runbook does.
func TestTokenRegisteredPartner(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required on PATH for this test")
	}
	g := startConfigGateway(t)

	code, stdout, stderr := run(t, context.Background(), g.partnerTokenArgs(nil)...)
	if code != 0 {
		t.Fatalf("token: exit code %d: %s", code, stderr)
	}
	tok := strings.TrimSuffix(stdout, "\n")
	if tok == "" || strings.ContainsAny(tok, " \n") {
		t.Errorf("stdout is not one access token: %q", stdout)
	}
	if !strings.Contains(stderr, "scopes granted: system/Claim.rs system/Claim.$submit") {
		t.Errorf("stderr does not list the granted scopes: %q", stderr)
	}

	out, err := exec.Command(curl, "-sS", "--cacert", g.path("ca/root.pem"),
		"--cert", g.path("ca/certs/acme-ehr.pem"), "--key", g.path("ca/certs/acme-ehr-key.pem"),
		"-H", "Authorization: Bearer "+tok, "-w", "\n%{http_code}", g.publicURL+"/fhir/metadata").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v: %s", err, out)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "\n200") || !strings.Contains(string(out), "CapabilityStatement") {
		t.Errorf("curl with the token: %s", out)
	}
}

// TestTokenRegisteredPartnerWrongFiles passes a partner's files that the
// gateway does not accept, or that do not verify the gateway, and requires
// an error and a hint naming the option to check.
func TestTokenRegisteredPartnerWrongFiles(t *testing.T) {
	g := startConfigGateway(t)
	other := t.TempDir()
	for _, args := range [][]string{
		{"token", "keygen", "--name", "other", "--out", other},
		{"pki", "init", "--dir", filepath.Join(other, "ca")},
		{"pki", "issue", "client", "--dir", filepath.Join(other, "ca"), "--partner", "acme-ehr"},
	} {
		if code, _, stderr := run(t, context.Background(), args...); code != 0 {
			t.Fatalf("%s: %s", strings.Join(args, " "), stderr)
		}
	}

	tests := []struct {
		name    string
		replace map[string]string
		error   string
		hint    string
	}{
		{"assertion key not registered", map[string]string{"assertion-key": filepath.Join(other, "other.jwk")},
			"invalid_client", "--assertion-key a private key whose public key is in the partner's JWK set"},
		{"partner id not registered", map[string]string{"partner": "nobody"},
			"invalid_client", "--partner must be a partners[].id"},
		{"certificate from another CA", map[string]string{
			"cert": filepath.Join(other, "ca/certs/acme-ehr.pem"), "key": filepath.Join(other, "ca/certs/acme-ehr-key.pem")},
			"token request failed", "it rejects the client certificate of --cert"},
		{"CA that does not verify the gateway", map[string]string{"ca": filepath.Join(other, "ca/root.pem")},
			"certificate signed by unknown authority", "--ca does not verify the gateway's certificate"},
		// The host in capitals reaches the same gateway and passes its
		// certificate, as a replica's own address behind a load balancer
		// does, but the assertion then names another token URL.
		{"url that is not the public URL", map[string]string{"url": strings.Replace(g.publicURL, "localhost", "LOCALHOST", 1)},
			"assertion aud must be the token endpoint URL", "--url must be the gateway's public_url exactly as configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), g.partnerTokenArgs(tt.replace)...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, "gatehouse: error: ") || !strings.Contains(stderr, tt.error) {
				t.Errorf("no error with %q:\n%s", tt.error, stderr)
			}
			if !strings.Contains(stderr, "gatehouse: hint: ") || !strings.Contains(stderr, tt.hint) {
				t.Errorf("no hint with %q:\n%s", tt.hint, stderr)
			}
		})
	}
}

// TestTokenPartnerOptionsUsage leaves out options a registered partner's
// token needs, and combines them with --data.
func TestTokenPartnerOptionsUsage(t *testing.T) {
	dir := t.TempDir()
	full := []string{"token", "--url", "https://localhost:1", "--partner", "acme-ehr",
		"--cert", "c.pem", "--key", "k.pem", "--ca", "ca.pem", "--assertion-key", "a.jwk"}
	without := func(name string) []string {
		var args []string
		for i := 1; i < len(full); i += 2 {
			if full[i] != "--"+name {
				args = append(args, full[i], full[i+1])
			}
		}
		return append([]string{"token"}, args...)
	}
	tests := []struct {
		name  string
		args  []string
		error string
	}{
		{"no url", without("url"), "missing --url"},
		{"no partner", without("partner"), "missing --partner"},
		{"no key", without("key"), "missing --key"},
		{"no assertion key", without("assertion-key"), "missing --assertion-key"},
		{"with data", append(full, "--data", dir), "--data cannot be combined with --cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), tt.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr, "gatehouse: error: "+tt.error) {
				t.Errorf("no error %q:\n%s", tt.error, stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, devMarkerFile)); err == nil {
		t.Errorf("token created development data in %s", dir)
	}
}

// TestPartnerTokenHintHTTP2 covers the rejection that reaches the client
// as net/http's error for an HTTP/2 connection closed before its first
// request. Which error a rejected client sees depends on timing, so the
// gateway test above cannot be relied on to produce this one.
func TestPartnerTokenHintHTTP2(t *testing.T) {
	err := fmt.Errorf("token: request failed: Post \"https://gw/token\": %w", errors.New("http2: client conn could not be established"))
	if hint := partnerTokenHint(err, "--url", "https://gw"); !strings.Contains(hint, "it rejects the client certificate of --cert") {
		t.Errorf("hint = %q, want the client certificate named", hint)
	}
}
