package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/demo"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrsim"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

func TestEhrFlagErrors(t *testing.T) {
	full := []string{"ehr", "--gateway", "https://localhost:8443", "--org", "8189991234", "--cert", "c.pem", "--key", "k.pem",
		"--ca", "ca.pem", "--server-cert", "s.pem", "--server-key", "sk.pem", "--payer-jwks", "p.json"}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no options", []string{"ehr"}, 2, "gatehouse: error: missing --gateway"},
		{"no payer keys", full[:len(full)-2], 2, "gatehouse: error: missing --payer-jwks"},
		{"plain http gateway", append(append([]string{}, full...), "--gateway", "http://localhost:8443"), 2, `gatehouse: error: invalid --gateway "http://localhost:8443"`},
		{"negative duration", append(append([]string{}, full...), "--for", "-1s"), 2, "gatehouse: error: invalid --for -1s"},
		{"bad duration", append(append([]string{}, full...), "--for", "soon"), 2, "gatehouse: error: invalid value"},
		{"unknown option", append(append([]string{}, full...), "--bogus"), 2, "gatehouse: error: unknown option --bogus"},
		{"missing files", full, 2, "gatehouse: error: --cert/--key:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("code %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

// TestEhrCommandReceivesHandshake runs gatehouse ehr, then a development
// gateway configured for it: the command subscribes once the gateway is
// up and prints the handshake it receives over mutual TLS.
func TestEhrCommandReceivesHandshake(t *testing.T) {
	dir := t.TempDir()
	jwksPort, fhirPort, gatewayPort := freePort(t), freePort(t), freePort(t)
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:"+gatewayPort, "")
	if err != nil {
		t.Fatal(err)
	}
	kit, err := ehrsim.PrepareDev(cfg, layout, filepath.Join(dir, "kit"))
	if err != nil {
		t.Fatal(err)
	}
	files := writeEHRFiles(t, layout, dir, kit)
	ep := ehrsim.Endpoints{
		JWKSURL: "https://127.0.0.1:" + jwksPort + "/jwks.json", FHIRBase: "https://127.0.0.1:" + fhirPort + "/fhir",
		TokenURL: "https://127.0.0.1:" + fhirPort + "/oauth2/token", Addrs: []string{"127.0.0.1:" + jwksPort, "127.0.0.1:" + fhirPort},
		PayerScopes: []string{"system/Task.cruds"},
	}
	if err := kit.Attach(cfg, ep); err != nil {
		t.Fatal(err)
	}

	// A shipped PAS request, submitted and then asked about with the
	// inquiry the simulator builds from it.
	bundle := "../demo/bundles/pas-2.0.1-HomecareAuthorizationBundleExample.json"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- MainContext(ctx, []string{"ehr", "--gateway", "https://localhost:" + gatewayPort,
			"--org", "http://hl7.org/fhir/sid/us-npi|" + devmode.PartnerNPI,
			"--cert", files["cert"], "--key", files["key"], "--ca", layout.CACertFile,
			"--server-cert", files["server-cert"], "--server-key", files["server-key"], "--payer-jwks", files["payer-jwks"],
			"--jwks-listen", "127.0.0.1:" + jwksPort, "--fhir-listen", "127.0.0.1:" + fhirPort, "--subscribe",
			"--submit", bundle, "--inquire", bundle, "--for", "60s"}, &stdout, &stderr)
	}()
	waitForOutput(t, &stdout, "ehr: egress.allow")

	seed, err := demo.ShippedBundles()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := app.Start(context.Background(), cfg, app.Options{NotificationPoll: 20 * time.Millisecond, PayerMembers: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	waitForOutput(t, &stdout, "notification: handshake")
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d; stderr %s", code, stderr.String())
	}

	out := stdout.String()
	for _, want := range []string{"ehr: JWKS URL      " + ep.JWKSURL, "ehr: payer scopes  system/Task.cruds  (partners[].outbound.scopes)", "subscribe: status 201", "strict true", ": accepted",
		"submit pas-2.0.1-HomecareAuthorizationBundleExample.json: status 200", "inquire pas-2.0.1-HomecareAuthorizationBundleExample.json: status 200"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// writeEHRFiles issues the simulator's certificates from the development
// CA and writes them, with the payer's public keys, for the flags.
func writeEHRFiles(t *testing.T, layout *devmode.Layout, dir string, kit *ehrsim.DevKit) map[string]string {
	t.Helper()
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	npi, _ := pki.NPIURI(devmode.PartnerNPI)
	client, err := ca.IssueClient(pki.ClientOptions{PartnerID: devmode.PartnerID, OrganizationURIs: []string{npi}})
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer(pki.ServerOptions{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for name, f := range map[string]string{"cert": "ehr.pem", "key": "ehr-key.pem", "server-cert": "server.pem", "server-key": "server-key.pem", "payer-jwks": "payer.jwks"} {
		files[name] = filepath.Join(dir, f)
	}
	if err := client.WriteFiles(files["cert"], files["key"]); err != nil {
		t.Fatal(err)
	}
	if err := server.WriteFiles(files["server-cert"], files["server-key"]); err != nil {
		t.Fatal(err)
	}
	keys, _ := json.Marshal(kit.Options.PayerKeys)
	if err := os.WriteFile(files["payer-jwks"], keys, 0o600); err != nil {
		t.Fatal(err)
	}
	return files
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func waitForOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q after 30s:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRetryTokenReportsRefusal checks that when the wait ends during an
// attempt, the error is the gateway's last response and not the deadline.
func TestRetryTokenReportsRefusal(t *testing.T) {
	refusal := errors.New(`token: 401 invalid_client: assertion kid does not match a registered key`)
	calls := 0
	err := retryToken(context.Background(), 50*time.Millisecond, time.Millisecond, func(ctx context.Context) error {
		calls++
		if calls == 1 {
			return refusal
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, refusal) {
		t.Errorf("retryToken = %v, want it to wrap %v", err, refusal)
	}
	if err != nil && !strings.HasPrefix(err.Error(), "no access token from the gateway: ") {
		t.Errorf("retryToken = %q, want the no access token prefix", err)
	}
}

func TestRetryTokenSucceeds(t *testing.T) {
	calls := 0
	err := retryToken(context.Background(), time.Minute, time.Millisecond, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("connection refused")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("retryToken = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestEhrKeyFileErrorsNameFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payer.jwks")
	if err := os.WriteFile(path, []byte(`{"not":"a key"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPublicKeys(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("loadPublicKeys error %v does not name %s", err, path)
	}
	if _, err := loadPrivateKey(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("loadPrivateKey error %v does not name %s", err, path)
	}
}

// After a kill-switch cut, the simulator's hint reports that the payer
// suspended the exchange, not a missing registration. An unknown client or
// an unreachable gateway keeps the registration hint.
func TestEHRTokenHintByError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"kill switch", &token.ResponseError{Status: 503, Code: token.CodeTemporarilyUnavailable}, "the payer has suspended this exchange"},
		{"invalid scope", &token.ResponseError{Status: 400, Code: token.CodeInvalidScope}, "partners[].scopes"},
		{"unknown key", &token.ResponseError{Status: 401, Code: token.CodeInvalidClient}, "start the gateway with this EHR's JWKS URL"},
		{"unreachable", errors.New("connection refused"), "start the gateway with this EHR's JWKS URL"},
	}
	for _, tt := range tests {
		if got := ehrTokenHint(tt.err, "https://gatehouse.payer.example:8443"); !strings.Contains(got, tt.want) {
			t.Errorf("%s: hint %q lacks %q", tt.name, got, tt.want)
		}
	}
}
