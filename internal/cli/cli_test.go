package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
)

func run(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = MainContext(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `gatehouse: error: unknown command "frobnicate"`},
		{[]string{"serve", "--bogus"}, 2, "gatehouse: error: unknown option --bogus"},
		{[]string{"demo", "extra"}, 2, `gatehouse: error: unexpected argument "extra"`},
		{[]string{"serve", "--config", "/nonexistent/gatehouse.yaml"}, 2, "gatehouse: error: configuration file /nonexistent/gatehouse.yaml not found"},
		{[]string{"token", "--data", "/nonexistent/data"}, 2, "is not a development data directory: the directory does not exist"},
		{[]string{"demo", "--bundles", "/nonexistent/dir"}, 2, "gatehouse: error: --bundles /nonexistent/dir is not a readable directory"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
			}
		})
	}
}

func TestServeBadConfigNamesKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:8443\npublic_url: https://gw.example\ntls:\n  certfile: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, context.Background(), "serve", "--config", path)
	if code != 1 || !strings.Contains(stderr, `tls.certfile (line 4): unknown key "certfile"`) || !strings.Contains(stderr, "gatehouse: hint:") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
}

// TestServeConfigHints checks the hint after a configuration that is not
// YAML, and after one that names a file that does not exist.
func TestServeConfigHints(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("listen: [\n"), 0o600)
	code, _, stderr := run(t, context.Background(), "serve", "--config", broken)
	if code != 1 || !strings.Contains(stderr, "gatehouse: hint: fix the YAML syntax at the line named above in "+broken) {
		t.Errorf("broken YAML: code %d stderr %q", code, stderr)
	}

	// payerConfigYAML names server.pem, which does not exist in dir.
	missing := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(missing, []byte(strings.Replace(payerConfigYAML, "127.0.0.1:8443", "127.0.0.1:0", 1)), 0o600)
	code, _, stderr = run(t, context.Background(), "serve", "--config", missing)
	if code != 2 {
		t.Errorf("missing file: exit code %d, want 2", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: tls.cert_file "+filepath.Join(dir, "server.pem")+": no such file\n") {
		t.Errorf("missing file: stderr %q does not name the missing file", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: fix each file named above, or correct its key in "+missing) {
		t.Errorf("missing file: stderr %q, want the hint", stderr)
	}
}

// TestDemoJSON runs the demo on a directory holding one real PAS request
// bundle, which the payer approves, and one file that is not a bundle. The
// second must be a failed row with its OperationOutcome, and the round trip
// must fail because no item is pended. The exit code must be 1.
func TestDemoJSON(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("../demo/bundles/pas-2.0.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a-referral.json"), good, 0o600)
	os.WriteFile(filepath.Join(dir, "b-patient.json"), []byte(`{"resourceType":"Patient","id":"p1"}`), 0o600)

	code, stdout, stderr := run(t, context.Background(), "demo", "--bundles", dir, "--json")
	if code != 1 {
		t.Errorf("exit code = %d, want 1 (failed rows); stderr %s", code, stderr)
	}
	var res struct {
		Exchanges, Succeeded, Failed int
		Rows                         []struct {
			File, Step, Error string
			Status            int
			OK                bool
			Record            int64
		}
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	// token, subscribe, handshake, submit a, inquire a, submit b, pended
	if res.Exchanges != 7 || res.Succeeded != 5 || res.Failed != 2 {
		t.Errorf("exchanges %d succeeded %d failed %d, want 7/5/2", res.Exchanges, res.Succeeded, res.Failed)
	}
	for _, row := range res.Rows {
		switch {
		case row.File == "b-patient.json":
			if row.OK || row.Status != 422 || !strings.Contains(row.Error, "processing") || row.Record == 0 {
				t.Errorf("failed row = %+v, want 422 with an OperationOutcome and a record", row)
			}
		case row.Step == "pended":
			if row.OK || !strings.Contains(row.Error, "pended item") {
				t.Errorf("pended row = %+v, want a failure for want of a pended item", row)
			}
		case !row.OK:
			t.Errorf("unexpected failed row %+v", row)
		}
	}
}

// TestServeTokenCurl starts development mode, obtains a token with the
// token command, and calls the gateway with curl, as the README shows.
func TestServeTokenCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required on PATH for this test")
	}
	data, serveOut, serveErr := serveDev(t, "127.0.0.1:0")
	if !strings.Contains(serveErr.String(), "development mode") {
		t.Errorf("no development-mode warning in %q", serveErr.String())
	}

	code, tok, stderr := run(t, context.Background(), "token", "--data", data)
	if code != 0 {
		t.Fatalf("token: exit %d: %s", code, stderr)
	}
	tok = strings.TrimSpace(tok)
	publicURL, err := readPublicURL(data)
	if err != nil {
		t.Fatal(err)
	}
	p := func(rel string) string { return filepath.Join(data, rel) }
	out, err := exec.Command(curl, "-sS", "--cacert", p("ca/ca.pem"),
		"--cert", p("partners/demo-ehr/client.pem"), "--key", p("partners/demo-ehr/client-key.pem"),
		"-H", "Authorization: Bearer "+tok, "-w", "\n%{http_code}", publicURL+"/fhir/metadata").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v: %s", err, out)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "200") || !strings.Contains(string(out), "CapabilityStatement") {
		t.Errorf("curl output: %s", out)
	}
	if !strings.Contains(serveOut.String(), "token --data") || !strings.Contains(serveOut.String(), "curl --cacert") {
		t.Errorf("serve did not print the try-it commands: %s", serveOut.String())
	}
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

// syncBuffer is a bytes.Buffer safe for one writer goroutine and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveDev starts 'gatehouse serve' in development mode in a new data
// directory, with the admin listener at adminListen ("" for none). It
// returns the directory once the gateway has written its endpoints, and the
// gateway's stdout and stderr. The gateway stops when t ends, and a
// non-zero exit code fails t.
func serveDev(t *testing.T, adminListen string) (data string, stdout, stderr *syncBuffer) {
	t.Helper()
	data = filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var serveOut, serveErr syncBuffer
	go func() {
		done <- MainContext(ctx, []string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--admin-listen", adminListen}, &serveOut, &serveErr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit code %d: %s", code, serveErr.String())
		}
	})
	waitForFile(t, filepath.Join(data, endpointFile))
	return data, &serveOut, &serveErr
}

// TestKillswitchCommand engages, lists and releases a cut on a running
// development gateway through the admin listener.
func TestKillswitchCommand(t *testing.T) {
	data, _, _ := serveDev(t, "127.0.0.1:0")

	code, out, stderr := run(t, context.Background(), "killswitch", "engage", "--data", data, "--mode", "full", "--partner", "demo-ehr", "--reason", "drill")
	if code != 0 || !strings.Contains(out, "engaged cut 1: mode full, scope partner:demo-ehr") {
		t.Fatalf("engage: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = run(t, context.Background(), "killswitch", "status", "--data", data)
	if code != 0 || !strings.Contains(out, "partner:demo-ehr") || !strings.Contains(out, "dev-admin") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	code, _, stderr = run(t, context.Background(), "killswitch", "engage", "--data", data, "--mode", "full")
	if code != 2 || !strings.Contains(stderr, "a reason is required") {
		t.Errorf("engage without reason: exit %d, %s", code, stderr)
	}
	code, out, stderr = run(t, context.Background(), "killswitch", "release", "1", "--data", data)
	if code != 0 || out != "released cut 1\n" {
		t.Errorf("release: exit %d\n%s%s", code, out, stderr)
	}
	code, _, stderr = run(t, context.Background(), "killswitch", "release", "1", "--data", data)
	if code != 1 {
		t.Errorf("release of a released cut: exit %d, want 1", code)
	}
	if !regexp.MustCompile(`(?m)^gatehouse: error: cut 1 is already released: dev-admin released it at \d{4}-\d\d-\d\dT[0-9:]+Z$`).MatchString(stderr) {
		t.Errorf("release of a released cut does not say who released cut 1 and when: %s", stderr)
	}
	if strings.Contains(stderr, "killswitch:") || strings.Contains(stderr, "409") {
		t.Errorf("release of a released cut shows the admin listener's internals: %s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: nothing to do: the cut no longer blocks traffic") {
		t.Errorf("release of a released cut: no hint that nothing is left to do: %s", stderr)
	}
	code, out, _ = run(t, context.Background(), "killswitch", "status", "--data", data)
	if code != 0 || !strings.Contains(out, "no cut engaged") {
		t.Errorf("status after release: exit %d\n%s", code, out)
	}

	// The engage entry records no FHIR path and no decision, and show
	// prints a dash for the path, not a blank between two spaces.
	code, out, stderr = run(t, context.Background(), "audit", "show", "--data", data, "--interaction", "killswitch.engage")
	if code != 0 {
		t.Errorf("audit show: exit %d\n%s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^#\d+ \S+ admin demo-ehr POST - -> 201 \(killswitch\.cut-1\)$`).MatchString(out) {
		t.Errorf("audit show of the engage entry does not print a dash for its path:\n%s", out)
	}
}

// TestKillswitchUnknownPartnerHint engages a cut on a mistyped partner id:
// the error lists the registered partners and a hint follows it.
func TestKillswitchUnknownPartnerHint(t *testing.T) {
	data, _, _ := serveDev(t, "127.0.0.1:0")

	code, _, stderr := run(t, context.Background(), "killswitch", "engage", "--data", data, "--mode", "full", "--partner", "demo-eh", "--reason", "drill")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, `gatehouse: error: the gateway rejected the request (HTTP 400): unknown partner id: "demo-eh"; registered partners: demo-ehr`) {
		t.Errorf("the error does not name the id and the registered partners:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: correct the value named above: --partner takes a partners[].id") {
		t.Errorf("no hint after the error:\n%s", stderr)
	}
}

// serveDevWithOtherCA starts a dev gateway and creates a second CA that the
// gateway does not trust. It returns the data directory, the parsed
// endpoint file of the gateway and the other CA's directory.
func serveDevWithOtherCA(t *testing.T) (data string, ep *endpoint, otherCA string) {
	t.Helper()
	data, _, _ = serveDev(t, "127.0.0.1:0")
	ep, err := readEndpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	otherCA = filepath.Join(t.TempDir(), "ca")
	if code, _, stderr := run(t, context.Background(), "pki", "init", "--dir", otherCA); code != 0 {
		t.Fatalf("pki init: exit %d\n%s", code, stderr)
	}
	return data, ep, otherCA
}

// TestKillswitchUntrustedListenerHint points --ca at another CA: the hint
// names the server certificate, not a missing listener.
func TestKillswitchUntrustedListenerHint(t *testing.T) {
	data, ep, otherCA := serveDevWithOtherCA(t)
	certFile, keyFile := app.DevAdminFiles(data)

	code, _, stderr := run(t, context.Background(), "killswitch", "status",
		"--admin", ep.AdminURL, "--cert", certFile, "--key", keyFile, "--ca", filepath.Join(otherCA, "root.pem"))
	if code != 1 {
		t.Errorf("status against an untrusted listener: exit %d, want 1", code)
	}
	if !strings.Contains(stderr, "gatehouse: hint: the admin listener presents the gateway's server certificate (tls.cert_file)") {
		t.Errorf("status against an untrusted listener: hint does not name the server certificate:\n%s", stderr)
	}
}

// TestKillswitchUntrustedAdminCertHint presents an admin certificate from
// a CA the admin listener does not trust: the hint names --cert and
// admin.client_ca_file, not a missing listener.
func TestKillswitchUntrustedAdminCertHint(t *testing.T) {
	data, ep, otherCA := serveDevWithOtherCA(t)
	if code, _, stderr := run(t, context.Background(), "pki", "issue", "admin", "--dir", otherCA, "--name", "mallory"); code != 0 {
		t.Fatalf("pki issue admin: exit %d\n%s", code, stderr)
	}
	layout, err := openDevData(data)
	if err != nil {
		t.Fatal(err)
	}

	code, _, stderr := run(t, context.Background(), "killswitch", "status",
		"--admin", ep.AdminURL, "--ca", layout.CACertFile,
		"--cert", filepath.Join(otherCA, "certs", "mallory.pem"), "--key", filepath.Join(otherCA, "certs", "mallory-key.pem"))
	if code != 1 {
		t.Errorf("status with an untrusted admin certificate: exit %d, want 1", code)
	}
	if !strings.Contains(stderr, "gatehouse: hint: the admin listener rejected the administrator certificate: --cert must be") {
		t.Errorf("status with an untrusted admin certificate: hint does not name --cert:\n%s", stderr)
	}
	if strings.Contains(stderr, "check that the gateway runs with an admin listener") {
		t.Errorf("status with an untrusted admin certificate: hint blames the listener address:\n%s", stderr)
	}
}

func TestFhirpathCommand(t *testing.T) {
	bundle := "../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json"
	tests := []struct {
		args []string
		code int
		out  string
		hint string // expected in the hint line of a failure
	}{
		{[]string{"fhirpath", "--input", bundle, "entry.resource.ofType(Claim).item.sequence"}, 0, "FHIR.positiveInt\t1\n", ""},
		{[]string{"fhirpath", "entry.resource.ofType(Claim).use", "--input", bundle, "--json"}, 0, `[{"type":"FHIR.code","value":"preauthorization"}]` + "\n", ""},
		{[]string{"fhirpath", "--json", "1.0 = 1"}, 0, `[{"type":"System.Boolean","value":true}]` + "\n", ""},
		{[]string{"fhirpath", "Patient.name.("}, 2, "", "the offset counts bytes"},
		{[]string{"fhirpath", `name.where(use = "official")`}, 2, "", "string literals take single quotes"},
		{[]string{"fhirpath"}, 2, "", "usage:"},
		{[]string{"fhirpath", "--input", "/nonexistent.json", "id"}, 2, "", "check the path"},
		{[]string{"fhirpath", "'a'.repeat($this + $this)"}, 1, "", "narrow the expression"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			code, out, stderr := run(t, context.Background(), tt.args...)
			if code != tt.code || out != tt.out {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q", code, out, stderr, tt.code, tt.out)
			}
			if tt.code != 0 && !strings.HasPrefix(stderr, "gatehouse: error: ") {
				t.Errorf("stderr = %q", stderr)
			}
			if tt.hint != "" && (!strings.Contains(stderr, "gatehouse: hint: ") || !strings.Contains(stderr, tt.hint)) {
				t.Errorf("stderr = %q, want a hint with %q", stderr, tt.hint)
			}
		})
	}
}

// TestFhirpathResourceTypeNote evaluates expressions that start with a
// resource type on a Bundle. Only a type the Bundle is not gets a note on
// stderr, and the result is unchanged.
func TestFhirpathResourceTypeNote(t *testing.T) {
	bundle := "../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json"
	tests := []struct {
		expr, out, stderr string
	}{
		{"Patient.name", "", "gatehouse: note: the expression starts with Patient, but the input is a Bundle, so the expression selects nothing from it\n"},
		{"Bundle.type", "FHIR.code\tcollection\n", ""},
		{"Resource.id", "FHIR.id\tReferralAuthorizationBundleExample\n", ""},
		{"entry.count()", "System.Integer\t10\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			code, out, stderr := run(t, context.Background(), "fhirpath", "--input", bundle, tt.expr)
			if code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if out != tt.out {
				t.Errorf("stdout = %q, want %q", out, tt.out)
			}
			if stderr != tt.stderr {
				t.Errorf("stderr = %q, want %q", stderr, tt.stderr)
			}
		})
	}
}

// TestFhirpathErrorCaret checks that a failing expression is printed with a
// caret under the offset the error names, counted in characters.
func TestFhirpathErrorCaret(t *testing.T) {
	tests := []struct {
		expr  string
		code  int
		caret string
	}{
		{"'a'.foo()", 2, "    'a'.foo()\n        ^\n"},
		{"name.given.count() >", 2, "    name.given.count() >\n                        ^\n"},
		{"1 + 'a'", 1, "    1 + 'a'\n      ^\n"},
		{"'é' + 1", 1, "    'é' + 1\n        ^\n"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), "fhirpath", tt.expr)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr, "\n"+tt.caret) {
				t.Errorf("stderr = %q, want the expression and caret %q", stderr, tt.caret)
			}
		})
	}
}

// TestTokenHintOutsideDevData checks that token suggests development mode
// only for a missing or empty directory, never for one holding other files.
func TestTokenHintOutsideDevData(t *testing.T) {
	deployment := t.TempDir()
	os.WriteFile(filepath.Join(deployment, "gatehouse.yaml"), []byte("listen: x\n"), 0o600)
	tests := []struct {
		name, dir, hint string
	}{
		{"missing directory", filepath.Join(t.TempDir(), "none"), "start the gateway once with 'gatehouse serve --data "},
		{"deployment directory", deployment, "without --cert, token uses development data; against a gateway with a configuration file, pass --url, --partner, --cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), "token", "--data", tt.dir)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, stderr)
			}
			if !strings.Contains(stderr, "gatehouse: hint: "+tt.hint) {
				t.Errorf("stderr = %q, want hint %q", stderr, tt.hint)
			}
		})
	}
}

// With --keep the demo's exchange record outlives it, and verifies.
func TestDemoKeep(t *testing.T) {
	keep := filepath.Join(t.TempDir(), "demo")
	code, stdout, stderr := run(t, context.Background(), "demo", "--keep", keep)
	data := filepath.Join(keep, "data")
	if code != 0 || !strings.Contains(stdout, "The exchange record is kept in "+data) {
		t.Fatalf("demo: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, context.Background(), "audit", "verify", "--data", data)
	if code != 0 || !strings.Contains(stdout, "intact") {
		t.Errorf("verify of the kept record: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	code, _, stderr = run(t, context.Background(), "demo", "--keep", keep)
	if code != 2 || !strings.Contains(stderr, "already exists") {
		t.Errorf("demo into an existing directory: code %d stderr %q, want a usage error", code, stderr)
	}
}
