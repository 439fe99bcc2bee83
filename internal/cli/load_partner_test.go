package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// partnerLoadArgs returns a short load of the gateway as acme-ehr, with
// the files the runbook names, followed by extra.
func (g *configGateway) partnerLoadArgs(extra ...string) []string {
	args := []string{"load", "--target", g.publicURL, "--partner", "acme-ehr",
		"--cert", g.path("ca/certs/acme-ehr.pem"), "--key", g.path("ca/certs/acme-ehr-key.pem"),
		"--ca", g.path("ca/root.pem"), "--assertion-key", g.path("acme-ehr.jwk"),
		"--duration", "1s", "--rate", "10", "--concurrency", "2"}
	return append(args, extra...)
}

// TestLoadRegisteredPartner loads a gateway started with 'serve --config'
// as its registered partner, over mutual TLS on loopback, with requests
// built from the Synthea patients that 'payer load' stored as members.
func TestLoadRegisteredPartner(t *testing.T) {
	archive := corpustest.File(t, "synthea/synthea-r4-bundles-200.tgz")
	g := writeConfigGateway(t)
	if code, _, stderr := run(t, context.Background(), "payer", "load", "--config", g.path("gatehouse.yaml"), archive); code != 0 {
		t.Fatalf("payer load: exit code %d: %s", code, stderr)
	}
	g.serve(t)
	// No development data lies in the working directory, so only the
	// partner's files can authenticate the load.
	t.Chdir(t.TempDir())

	code, stdout, stderr := run(t, context.Background(), g.partnerLoadArgs("--synthea", archive, "--json")...)
	if code != 0 {
		t.Fatalf("exit code %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	s := parseLoadSummary(t, stdout)
	if s.Successes == 0 {
		t.Errorf("successes %d, want some", s.Successes)
	}
	if s.Rejected != 0 || s.Failures != 0 || s.Errors != 0 {
		t.Errorf("rejected %d, failures %d, errors %d; want 0", s.Rejected, s.Failures, s.Errors)
	}
	if strings.Contains(stderr, "started a development-mode gateway") {
		t.Errorf("load started a gateway of its own:\n%s", stderr)
	}

	// --scope requests the scopes named. A scope the partner is not
	// registered for gets no token, so no request is sent. The registered
	// scopes, passed as repeated options, load as before.
	code, stdout, stderr = run(t, context.Background(), g.partnerLoadArgs("--synthea", archive, "--json", "--scope", "system/Coverage.rs")...)
	if code != 1 {
		t.Errorf("unregistered scope: exit code %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("unregistered scope: stdout %q, want nothing", stdout)
	}
	if !strings.Contains(stderr, "invalid_scope") {
		t.Errorf("unregistered scope: no invalid_scope error:\n%s", stderr)
	}
	code, stdout, stderr = run(t, context.Background(), g.partnerLoadArgs("--synthea", archive, "--json", "--scope", "system/Claim.$submit", "--scope", "system/Claim.rs")...)
	if code != 0 {
		t.Fatalf("registered scopes: exit code %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if s := parseLoadSummary(t, stdout); s.Successes == 0 {
		t.Errorf("registered scopes: successes %d, want some", s.Successes)
	}

	// A CA that does not verify the gateway fails before any request, with
	// the hint that 'gatehouse token' gives for the same files.
	other := filepath.Join(t.TempDir(), "ca")
	if code, _, stderr := run(t, context.Background(), "pki", "init", "--dir", other); code != 0 {
		t.Fatalf("pki init: %s", stderr)
	}
	args := g.partnerLoadArgs()
	for i, a := range args {
		if a == "--ca" {
			args[i+1] = filepath.Join(other, "root.pem")
		}
	}
	code, stdout, stderr = run(t, context.Background(), args...)
	if code != 1 {
		t.Errorf("other CA: exit code %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("other CA: stdout %q, want nothing", stdout)
	}
	if !strings.Contains(stderr, "gatehouse: error: ") || !strings.Contains(stderr, "certificate signed by unknown authority") {
		t.Errorf("other CA: no error naming the unknown authority:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: --ca does not verify the gateway's certificate") {
		t.Errorf("other CA: no hint naming --ca:\n%s", stderr)
	}
}

// TestLoadPartnerOptionsUsage leaves out options a load as a registered
// partner needs, or combines them with development options. Each is a
// usage error found before any file, request or network is touched.
func TestLoadPartnerOptionsUsage(t *testing.T) {
	t.Chdir(t.TempDir())
	files := []string{"--cert", "c.pem", "--key", "k.pem", "--ca", "ca.pem", "--assertion-key", "a.jwk"}
	tests := []struct {
		name  string
		args  []string
		error string
		hint  string
	}{
		{"no target", append([]string{"load", "--partner", "acme-ehr"}, files...),
			"missing --target: a load as a registered partner needs the gateway's public_url", "pass --target https://HOST:PORT"},
		{"no partner", append([]string{"load", "--target", "https://localhost:1"}, files...),
			"missing --partner: a load as a registered partner needs its id", "pass --partner ID"},
		{"no assertion key", []string{"load", "--target", "https://localhost:1", "--partner", "acme-ehr", "--cert", "c.pem", "--key", "k.pem", "--ca", "ca.pem"},
			"missing --assertion-key: a load as a registered partner needs --target, --partner, --cert, --key, --ca and --assertion-key", "usage: gatehouse load"},
		{"with data", append([]string{"load", "--target", "https://localhost:1", "--partner", "acme-ehr", "--data", "d"}, files...),
			"--data cannot be combined with --cert", "drop --data"},
		{"partner without files", []string{"load", "--target", "https://localhost:1", "--partner", "acme-ehr"},
			`unknown partner "acme-ehr": development mode has only the partner demo-ehr`, "pass its files with --cert, --key, --ca and --assertion-key"},
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
			if !strings.Contains(stderr, "gatehouse: hint: ") || !strings.Contains(stderr, tt.hint) {
				t.Errorf("no hint with %q:\n%s", tt.hint, stderr)
			}
		})
	}
}

// TestLoadWriteBundles writes the requests built from Synthea patients as
// files, then sends every file through a gateway started with 'serve
// --config' whose payer stored the same patients with 'payer load': none
// may be rejected as an unknown member.
func TestLoadWriteBundles(t *testing.T) {
	archive := corpustest.File(t, "synthea/synthea-r4-bundles-200.tgz")
	g := writeConfigGateway(t)
	if code, _, stderr := run(t, context.Background(), "payer", "load", "--config", g.path("gatehouse.yaml"), archive); code != 0 {
		t.Fatalf("payer load: exit code %d: %s", code, stderr)
	}
	g.serve(t)
	t.Chdir(t.TempDir())

	dir := filepath.Join(t.TempDir(), "bundles")
	code, stdout, stderr := run(t, context.Background(), "load", "--synthea", archive, "--write-bundles", dir)
	if code != 0 {
		t.Fatalf("write: exit code %d\nstderr: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("write: stdout %q, want nothing", stdout)
	}
	if strings.Contains(stderr, "started a development-mode gateway") {
		t.Errorf("write: load started a gateway:\n%s", stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("gatehouse: load: wrote %d request bundles to %s; none was sent", len(entries), dir); !strings.Contains(stderr, want) {
		t.Errorf("write: stderr lacks %q:\n%s", want, stderr)
	}
	if len(entries) < 100 {
		t.Fatalf("write: %d files, want one per request of the 199 patients", len(entries))
	}
	first := entries[0]
	if info, err := first.Info(); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("write: %s mode %v (%v), want 0600", first.Name(), info.Mode(), err)
	}
	if !strings.HasPrefix(first.Name(), "0001-") || !strings.HasSuffix(first.Name(), ".json") || strings.Contains(first.Name(), "#") {
		t.Errorf("write: first file %q, want 0001-SOURCE.json", first.Name())
	}

	// Every written Bundle is a request the payer decides.
	code, stdout, stderr = run(t, context.Background(), g.partnerLoadArgs("--bundles", dir, "--json")...)
	if code != 0 {
		t.Fatalf("send: exit code %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	s := parseLoadSummary(t, stdout)
	if s.Requests.Distinct != len(entries) {
		t.Errorf("send: %d distinct requests, want the %d files", s.Requests.Distinct, len(entries))
	}
	if s.Successes == 0 || s.Rejected != 0 || s.Failures != 0 || s.Errors != 0 {
		t.Errorf("send: summary %+v, want successes only", s)
	}

	// A second write into the same directory overwrites nothing.
	code, _, stderr = run(t, context.Background(), "load", "--synthea", archive, "--write-bundles", dir)
	if code != 1 {
		t.Errorf("rewrite: exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: --write-bundles: "+filepath.Join(dir, first.Name())+" already exists") {
		t.Errorf("rewrite: no error naming the existing file:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: pass a new or empty directory to --write-bundles") {
		t.Errorf("rewrite: no hint:\n%s", stderr)
	}
}
