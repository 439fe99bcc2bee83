package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pkiRun runs one gatehouse command and fails the test unless it exits
// with want.
func pkiRun(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := run(t, context.Background(), args...)
	if code != want {
		t.Fatalf("gatehouse %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

var serialLine = regexp.MustCompile(`(?m)^\s+serial\s+([0-9a-f]+)$`)

func issuedSerial(t *testing.T, stdout string) string {
	t.Helper()
	m := serialLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no serial line in:\n%s", stdout)
	}
	return m[1]
}

// TestPKIScript runs the runbook's sequence: create a CA with an offline
// root, issue a server, a partner and an admin certificate, revoke the
// partner, and check the result with OpenSSL.
func TestPKIScript(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is required on PATH for this test")
	}
	ca := filepath.Join(t.TempDir(), "ca")

	stdout, stderr := pkiRun(t, 0, "pki", "init", "--dir", ca, "--offline-root", "--key-type", "ecdsa-p384")
	if !strings.Contains(stderr, "offline-root/root-key.pem: move it to offline storage") {
		t.Errorf("init did not tell the user to move the root key offline:\n%s", stderr)
	}
	if !strings.Contains(stdout, "tls.client_ca_file") {
		t.Errorf("init output lacks the configuration hint:\n%s", stdout)
	}

	pkiRun(t, 0, "pki", "issue", "server", "--dir", ca, "--dns", "gateway.payer.test", "--ip", "127.0.0.1")
	stdout, _ = pkiRun(t, 0, "pki", "issue", "client", "--dir", ca, "--partner", "acme-ehr", "--npi", "8189991234", "--days", "90")
	partnerSerial := issuedSerial(t, stdout)
	stdout, _ = pkiRun(t, 0, "pki", "issue", "admin", "--dir", ca, "--name", "secops")
	adminSerial := issuedSerial(t, stdout)
	pkiRun(t, 0, "pki", "issue", "client", "--dir", ca, "--partner", "other-ehr")

	checkKeyModes(t, filepath.Join(ca, "certs"))
	checkSANs(t, openssl, filepath.Join(ca, "certs", "acme-ehr.pem"))

	stdout, _ = pkiRun(t, 0, "pki", "revoke", "--dir", ca, partnerSerial, "--reason", "keyCompromise")
	if !strings.Contains(stdout, "tls.crl_file refuse the certificate") {
		t.Errorf("revoking a partner certificate does not say that gateways refuse it:\n%s", stdout)
	}
	if !strings.Contains(stdout, "copy it over the tls.crl_file of every gateway") {
		t.Errorf("revoking a partner certificate does not say to copy the CRL to the gateways:\n%s", stdout)
	}

	// The admin listener reads tls.crl_file too.
	stdout, _ = pkiRun(t, 0, "pki", "revoke", "--dir", ca, adminSerial)
	if !strings.Contains(stdout, "tls.crl_file refuse the certificate") {
		t.Errorf("revoking an admin certificate does not say that gateways refuse it:\n%s", stdout)
	}

	// The runbook installs a copy of crl.pem on the gateway host, so a
	// re-signed CRL changes nothing there until the operator copies it.
	stdout, _ = pkiRun(t, 0, "pki", "crl", "--dir", ca)
	if !strings.Contains(stdout, "copy it over the tls.crl_file of every gateway") {
		t.Errorf("re-signing the CRL does not say to copy it to the gateways:\n%s", stdout)
	}

	stdout, _ = pkiRun(t, 0, "pki", "list", "--dir", ca)
	for _, want := range []string{"acme-ehr", "clientAuth", "serverAuth", "revoked", "(keyCompromise)", "gateway.payer.test", "secops"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("list output lacks %q:\n%s", want, stdout)
		}
	}
	checkListJSON(t, ca, partnerSerial)

	verify := func(cert string) (string, error) {
		out, err := exec.Command(openssl, "verify", "-crl_check",
			"-CAfile", filepath.Join(ca, "root.pem"), "-untrusted", filepath.Join(ca, "issuing.pem"),
			"-CRLfile", filepath.Join(ca, "crl.pem"), cert).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(filepath.Join(ca, "certs", "acme-ehr.pem")); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl verify -crl_check of the revoked certificate: %v\n%s", err, out)
	}
	if out, err := verify(filepath.Join(ca, "certs", "other-ehr.pem")); err != nil || !strings.Contains(out, ": OK") {
		t.Errorf("openssl verify -crl_check of a valid certificate: %v\n%s", err, out)
	}
}

func checkKeyModes(t *testing.T, dir string) {
	t.Helper()
	keys, _ := filepath.Glob(filepath.Join(dir, "*-key.pem"))
	if len(keys) != 4 {
		t.Fatalf("found %d key files in %s, want 4", len(keys), dir)
	}
	for _, k := range keys {
		fi, err := os.Stat(k)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 600", k, fi.Mode().Perm())
		}
	}
}

func checkSANs(t *testing.T, openssl, cert string) {
	t.Helper()
	out, err := exec.Command(openssl, "x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage,keyUsage", "-in", cert).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	for _, want := range []string{"URI:urn:gatehouse:partner:acme-ehr", "URI:urn:oid:2.16.840.1.113883.4.6:8189991234", "TLS Web Client Authentication", "Digital Signature"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("client certificate lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "Server Authentication") {
		t.Errorf("client certificate also allows server authentication:\n%s", out)
	}
}

func checkListJSON(t *testing.T, ca, revokedSerial string) {
	t.Helper()
	stdout, _ := pkiRun(t, 0, "pki", "list", "--dir", ca, "--json")
	var records []struct {
		Serial, Kind     string
		RevocationReason string `json:"revocation_reason"`
	}
	if err := json.Unmarshal([]byte(stdout), &records); err != nil {
		t.Fatalf("list --json: %v\n%s", err, stdout)
	}
	if len(records) != 4 {
		t.Fatalf("list --json has %d records, want 4", len(records))
	}
	for _, r := range records {
		if (r.Serial == revokedSerial) != (r.RevocationReason == "keyCompromise") {
			t.Errorf("record %+v: revocation state wrong", r)
		}
	}
}

func TestPKIErrors(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca")
	pkiRun(t, 0, "pki", "init", "--dir", ca)
	pkiRun(t, 0, "pki", "issue", "client", "--dir", ca, "--partner", "acme-ehr")
	// A development-mode data directory, as its marker file makes it.
	devData := t.TempDir()
	if err := os.Mkdir(filepath.Join(devData, "ca"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(devData, "devmode.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		args      []string
		code      int
		err, hint string
	}{
		{"no subcommand", []string{"pki"}, 2, "", ""}, // prints the usage
		{"unknown subcommand", []string{"pki", "frob"}, 2, `unknown pki subcommand "frob"`, "gatehouse pki help"},
		{"init over a CA", []string{"pki", "init", "--dir", ca}, 1, "not empty", "never overwritten"},
		{"bad key type", []string{"pki", "init", "--dir", ca + "2", "--key-type", "dsa"}, 2, `unknown key type "dsa"`, ""},
		{"unknown role", []string{"pki", "init", "--dir", ca + "3", "--role", "auditor"}, 2, `invalid --role "auditor": use partner, admin or engine`, "usage:"},
		{"not a CA", []string{"pki", "list", "--dir", t.TempDir()}, 2, "not a CA directory", "gatehouse pki init --dir"},
		{"issue without kind", []string{"pki", "issue"}, 2, "missing pki issue subcommand", ""},
		{"unknown kind", []string{"pki", "issue", "robot"}, 2, `unknown pki issue subcommand "robot"`, "gatehouse pki issue help"},
		{"engine without name", []string{"pki", "issue", "engine", "--dir", ca}, 2, "an engine certificate needs --name", "usage:"},
		{"client without partner", []string{"pki", "issue", "client", "--dir", ca}, 2, "needs --partner", "usage:"},
		{"invalid partner id", []string{"pki", "issue", "client", "--dir", ca, "--partner", "Acme EHR"}, 2, `--partner: id "Acme EHR" contains 'A'`, "partners[].id"},
		{"bad NPI", []string{"pki", "issue", "client", "--dir", ca, "--partner", "x", "--npi", "1234567890"}, 2, "invalid check digit", ""},
		{"existing output", []string{"pki", "issue", "client", "--dir", ca, "--partner", "acme-ehr"}, 1, "already exists", "--out DIR"},
		{"server without names", []string{"pki", "issue", "server", "--dir", ca}, 2, "needs --dns or --ip", ""},
		{"server IP address as DNS name", []string{"pki", "issue", "server", "--dir", ca, "--dns", "localhost,127.0.0.1"}, 2, "--dns: 127.0.0.1 is an IP address", "--ip 127.0.0.1"},
		{"too long validity", []string{"pki", "issue", "admin", "--dir", ca, "--name", "ops", "--days", "400"}, 2, "--days 400 is out of range: use 1 to 398", "limited to 398 days"},
		{"revoke without serial", []string{"pki", "revoke", "--dir", ca}, 2, "missing argument", "usage:"},
		{"revoke unknown serial", []string{"pki", "revoke", "--dir", ca, "abcdef"}, 1, "no certificate with serial abcdef", "pki list"},
		{"revoke bad reason", []string{"pki", "revoke", "--dir", ca, "--reason", "certificateHold", "abcdef"}, 2, `invalid --reason "certificateHold"`, "use one of affiliationChanged, cACompromise"},
		{"missing CA for issue", []string{"pki", "issue", "admin", "--dir", filepath.Join(t.TempDir(), "none"), "--name", "ops"}, 2, "not a CA directory", "gatehouse pki init"},
		{"development-mode CA", []string{"pki", "issue", "client", "--dir", filepath.Join(devData, "ca"), "--partner", "x"}, 2, "not a CA directory", "development-mode data directory, which gatehouse pki does not manage"},
		{"development-mode CA with trailing slash", []string{"pki", "issue", "client", "--dir", filepath.Join(devData, "ca") + string(filepath.Separator), "--partner", "x"}, 2, "not a CA directory", "development-mode data directory, which gatehouse pki does not manage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr := pkiRun(t, tt.code, tt.args...)
			if tt.err == "" && !strings.Contains(stderr, "Usage:") {
				t.Errorf("stderr = %q, want the usage", stderr)
			}
			if tt.err != "" && !strings.Contains(stderr, "gatehouse: error: ") {
				t.Errorf("stderr = %q, want a gatehouse: error: line", stderr)
			}
			if !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.err)
			}
			if tt.hint != "" && !strings.Contains(stderr, "gatehouse: hint: ") {
				t.Errorf("stderr = %q, want a gatehouse: hint: line", stderr)
			}
			if !strings.Contains(stderr, tt.hint) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.hint)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(ca, ".lock")); !os.IsNotExist(err) {
		t.Error("a command left the lock file behind")
	}
}

// TestPKIInitRoleNames checks that pki init names both CA certificates
// after the role and points at the one setting that trusts the root.
func TestPKIInitRoleNames(t *testing.T) {
	tests := []struct {
		role, setting, root, issuing string
	}{
		{"partner", "tls.client_ca_file", "Example Health Plan Partner Root CA", "Example Health Plan Partner Issuing CA"},
		{"admin", "admin.client_ca_file", "Example Health Plan Administrators Root CA", "Example Health Plan Administrators Issuing CA"},
		{"engine", "outbound.client_ca_file", "Example Health Plan Engine Root CA", "Example Health Plan Engine Issuing CA"},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			stdout, _ := pkiRun(t, 0, "pki", "init", "--dir", dir, "--org", "Example Health Plan", "--role", tt.role)
			if !strings.Contains(stdout, "("+tt.setting+")") {
				t.Errorf("init stdout %q, want the root's setting %s", stdout, tt.setting)
			}
			if got := certCommonName(t, filepath.Join(dir, "root.pem")); got != tt.root {
				t.Errorf("root CN %q, want %q", got, tt.root)
			}
			if got := certCommonName(t, filepath.Join(dir, "issuing.pem")); got != tt.issuing {
				t.Errorf("issuing CA CN %q, want %q", got, tt.issuing)
			}
		})
	}
}

// certCommonName returns the subject CN of the first certificate in path.
func certCommonName(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s contains no PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.Subject.CommonName
}
