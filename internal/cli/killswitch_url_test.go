package cli

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// TestKillswitchAdminURLRejected passes --admin values that would reach the
// admin listener without the administrator certificate, send a password, or
// put a query before the route. Each is a usage error (exit 2) caught
// before any connection, and the error never prints the password.
func TestKillswitchAdminURLRejected(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewRoot(pki.RootOptions{CommonName: "admin CA"})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := ca.WriteFiles(caFile, filepath.Join(dir, "ca-key.pem")); err != nil {
		t.Fatal(err)
	}
	alice, err := ca.IssueAdmin(pki.AdminOptions{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "alice.pem"), filepath.Join(dir, "alice-key.pem")
	if err := alice.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}

	// A listener that counts connections replaces the admin listener, so
	// that the test detects whether the command connected.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var connections atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			c.Close()
		}
	}()
	addr := ln.Addr().String()

	for _, admin := range []string{
		"http://" + addr,
		addr,
		"https://operator:s3cret-pass@" + addr,
		"https://" + addr + "?debug=1",
		"https://" + addr + "#top",
		"https://",
	} {
		t.Run(admin, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), "killswitch", "status",
				"--admin", admin, "--cert", certFile, "--key", keyFile, "--ca", caFile)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "gatehouse: error: invalid --admin") {
				t.Errorf("stderr does not name --admin as invalid:\n%s", stderr)
			}
			if strings.Contains(stderr, "s3cret-pass") {
				t.Errorf("stderr prints the password:\n%s", stderr)
			}
			if n := connections.Load(); n != 0 {
				t.Errorf("%d connections to the admin address, want none", n)
			}
		})
	}
}

// TestKillswitchPublicURLHint points --admin at the inbound FHIR listener
// of a running development gateway. It responds to the admin path with a 404
// OperationOutcome, and the hint names admin.listen as the URL to use.
func TestKillswitchPublicURLHint(t *testing.T) {
	data, _, _ := serveDev(t, "127.0.0.1:0")
	ep, err := readEndpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := app.DevAdminFiles(data)

	code, _, stderr := run(t, context.Background(), "killswitch", "status",
		"--admin", ep.PublicURL, "--cert", certFile, "--key", keyFile, "--ca", filepath.Join(data, "ca", "ca.pem"))
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: the gateway rejected the request (HTTP 404): --admin names a FHIR listener, not the admin listener") {
		t.Errorf("the error does not say that --admin names a FHIR listener:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: set --admin to the URL of the admin listener (admin.listen in the configuration)") {
		t.Errorf("the hint does not name admin.listen:\n%s", stderr)
	}
}
