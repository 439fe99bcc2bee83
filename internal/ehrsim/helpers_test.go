package ehrsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// fixture is a simulator plus the payer's credentials toward it, so a
// test can play the gateway's outbound path without starting a gateway.
type fixture struct {
	sim      *Sim
	ca       *pki.CA
	payerKey *jose.JSONWebKey
	payer    *http.Client // presents the payer's certificate
}

func newFixture(t *testing.T, drop func(string, int64) bool) *fixture {
	t.Helper()
	ca, err := pki.NewRoot(pki.RootOptions{CommonName: "ehrsim test CA"})
	if err != nil {
		t.Fatal(err)
	}
	payerKey, err := token.GenerateKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		PartnerID: "demo-ehr", OrganizationSystem: "http://hl7.org/fhir/sid/us-npi", OrganizationValue: "8189991234",
		ClientCertificate: issueClient(t, ca, "demo-ehr"), GatewayRoots: ca.CertPool(),
		ServerCertificate: issueServer(t, ca), PayerRoots: ca.CertPool(),
		PayerClientID: "dev-payer", PayerKeys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{payerKey.Public()}},
		Drop: drop,
	}
	sim, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close(context.Background()) })
	f := &fixture{sim: sim, ca: ca, payerKey: payerKey}
	f.payer = clientWith(t, ca, issueClient(t, ca, "dev-payer"))
	return f
}

func issueClient(t *testing.T, ca *pki.CA, id string) tls.Certificate {
	t.Helper()
	c, err := ca.IssueClient(pki.ClientOptions{PartnerID: id})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func issueServer(t *testing.T, ca *pki.CA) tls.Certificate {
	t.Helper()
	c, err := ca.IssueServer(pki.ServerOptions{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// clientWith returns an HTTP client trusting ca and presenting cert, or
// no certificate when cert is empty.
func clientWith(t *testing.T, ca *pki.CA, cert tls.Certificate) *http.Client {
	t.Helper()
	var certp *tls.Certificate
	if len(cert.Certificate) > 0 {
		certp = &cert
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(ca.CertPool(), certp)}, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// payerToken obtains an access token from the simulator's token endpoint
// as the payer.
func (f *fixture) payerToken(t *testing.T) string {
	t.Helper()
	resp, err := token.Fetch(context.Background(), f.payer, f.sim.TokenURL(), "dev-payer", f.payerKey, "system/Task.cruds")
	if err != nil {
		t.Fatal(err)
	}
	return resp.AccessToken
}

// post sends a notification body to the hook with client and bearer
// token tok (none when empty), and returns the status and body.
func (f *fixture) post(t *testing.T, client *http.Client, tok string, body []byte) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.sim.HookURL(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("X-Request-Id", "exchange-under-test")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// notification builds a notification Bundle of kind for Subscription id,
// with the counter and one notification-event per event number.
func notification(id, kind string, counter int64, events ...int64) []byte {
	params := []map[string]any{
		{"name": "subscription", "valueReference": map[string]any{"reference": "https://gateway.example/fhir/Subscription/" + id}},
		{"name": "topic", "valueCanonical": subscriptions.TopicPAS},
		{"name": "status", "valueCode": "active"},
		{"name": "type", "valueCode": kind},
		{"name": "events-since-subscription-start", "valueString": fmt.Sprint(counter)},
	}
	for _, n := range events {
		params = append(params, map[string]any{"name": "notification-event", "part": []map[string]any{
			{"name": "event-number", "valueString": fmt.Sprint(n)},
			{"name": "focus", "valueReference": map[string]any{"reference": "https://gateway.example/fhir/ClaimResponse/cr-" + fmt.Sprint(n)}},
		}})
	}
	const backport = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
	b := map[string]any{
		"resourceType": "Bundle", "id": "n-1", "type": "history", "timestamp": "2026-01-02T03:04:05Z",
		"meta": map[string]any{"profile": []string{backport + "backport-subscription-notification-r4"}},
		"entry": []map[string]any{{
			"fullUrl": "urn:uuid:5f0e4b0c-36a4-4a3e-9d8e-2d8f6b3c1a01",
			"resource": map[string]any{"resourceType": "Parameters", "id": "s-1",
				"meta": map[string]any{"profile": []string{backport + "backport-subscription-status-r4"}}, "parameter": params},
			"request":  map[string]any{"method": "GET", "url": "https://gateway.example/fhir/Subscription/" + id + "/$status"},
			"response": map[string]any{"status": "200"},
		}},
	}
	out, _ := json.Marshal(b)
	return out
}

// mustAccept posts body as the payer and fails unless the simulator
// responds 200.
func (f *fixture) mustAccept(t *testing.T, tok string, body []byte) {
	t.Helper()
	status, resp, err := f.post(t, f.payer, tok, body)
	if err != nil || status != http.StatusOK {
		t.Fatalf("notification: status %d, %v: %s", status, err, resp)
	}
}

func lastNotification(t *testing.T, s *Sim) Notification {
	t.Helper()
	n := s.Snapshot().Notifications
	if len(n) == 0 {
		t.Fatal("no notification recorded")
	}
	return n[len(n)-1]
}

func hasOutcome(body []byte, fragment string) bool {
	return bytes.Contains(body, []byte(`"resourceType":"OperationOutcome"`)) && strings.Contains(string(body), fragment)
}
