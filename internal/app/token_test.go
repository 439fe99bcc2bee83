package app_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// postAssertion sends a token request with the given assertion over the
// demo partner's connection.
func (h *harness) postAssertion(assertion string) *http.Response {
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
		"scope":                 {"system/Claim.rs"},
	}
	return h.send(h.ehr.HTTPClient(), "POST", "/oauth/token",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode()))
}

func (h *harness) assertion(clientID, aud string, key *jose.JSONWebKey, now time.Time) string {
	h.t.Helper()
	a, err := token.NewAssertion(clientID, aud, key, now)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// TestTokenEndpointRefusals checks that bad client authentication gets 401
// with an RFC 6749 error and a WWW-Authenticate header, and is recorded
// without the assertion text.
func TestTokenEndpointRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	key, err := h.layout.PartnerAssertionKey()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := token.GenerateKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	otherKey.KeyID = key.KeyID // same kid, different key: the signature must fail
	now := time.Now()
	replayed := h.assertion("demo-ehr", h.rt.TokenURL, key, now)
	if resp := h.postAssertion(replayed); resp.StatusCode != 200 {
		t.Fatalf("first use of the assertion: status %d: %s", resp.StatusCode, readBody(t, resp))
	}

	tests := []struct {
		name      string
		assertion string
	}{
		{"replayed jti", replayed},
		{"unknown client", h.assertion("other-ehr", h.rt.TokenURL, key, now)},
		{"expired assertion", h.assertion("demo-ehr", h.rt.TokenURL, key, now.Add(-10*time.Minute))},
		{"wrong audience", h.assertion("demo-ehr", h.rt.PublicURL+"/token", key, now)},
		{"signed by an unregistered key", h.assertion("demo-ehr", h.rt.TokenURL, otherKey, now)},
		{"not a JWS", "not-a-jwt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.postAssertion(tt.assertion)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 401 or 400: %s", resp.StatusCode, body)
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if !strings.Contains(string(body), `"error"`) || strings.Contains(string(body), "access_token") {
				t.Errorf("body is not an OAuth error: %s", body)
			}
			entries := h.entries(resp)
			if len(entries) != 1 || entries[0].Decision != record.Deny || entries[0].Phase != record.PhaseRefusal {
				t.Fatalf("entries = %+v, want one refusal", entries)
			}
			if strings.Contains(string(entries[0].RequestBody), tt.assertion) && len(tt.assertion) > 20 {
				t.Error("the record holds the client assertion text")
			}
		})
	}
}

// TestTokenRecordedWithoutSecrets checks that an issued token is recorded by
// id only.
func TestTokenRecordedWithoutSecrets(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	key, _ := h.layout.PartnerAssertionKey()
	a := h.assertion("demo-ehr", h.rt.TokenURL, key, time.Now())
	resp := h.postAssertion(a)
	body := readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	e := h.entries(resp)[0]
	if strings.Contains(string(e.RequestBody), a) {
		t.Error("record holds the assertion")
	}
	var issued struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &issued); err != nil || issued.AccessToken == "" {
		t.Fatalf("no access token in %s", body)
	}
	if strings.Contains(string(e.ResponseBody), issued.AccessToken) {
		t.Error("record holds the access token")
	}
	if e.TokenID == "" || e.Partner != "demo-ehr" {
		t.Errorf("record token id %q partner %q", e.TokenID, e.Partner)
	}
	// The token response locates its entry like a FHIR response does.
	if got := resp.Header.Get("X-Gatehouse-Record"); got != strconv.FormatInt(e.Seq, 10) {
		t.Errorf("X-Gatehouse-Record = %q, expected the entry's %d", got, e.Seq)
	}
	if resp.Header.Get("X-Gatehouse-Log-Index") == "" || resp.Header.Get("X-Gatehouse-Leaf-Hash") == "" {
		t.Errorf("token response lacks the receipt headers: %v", resp.Header)
	}
}

// TestTokenBoundToOtherCertificate presents a token obtained over one
// client certificate on a connection authenticated by another certificate
// of the same partner; the gateway must refuse it.
func TestTokenBoundToOtherCertificate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()

	ca, err := pki.LoadCA(h.layout.CACertFile, h.layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ca.IssueClient(pki.ClientOptions{PartnerID: "demo-ehr"})
	if err != nil {
		t.Fatal(err)
	}
	tlsCert, err := second.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := h.layout.CAPool()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tlsCert)}}
	defer client.CloseIdleConnections()

	before := h.upstream.count.Load()
	resp := h.send(client, "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401: %s", resp.StatusCode, body)
	}
	if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
	}
	if outcomeCode(t, body) != "login" {
		t.Error("want OperationOutcome code login")
	}
	if h.upstream.count.Load() != before {
		t.Error("the upstream received the request")
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "token.certificate-mismatch" {
		t.Errorf("entries = %+v", e)
	}
}

// TestListenerRequiresClientCertificate checks the TLS layer: no
// certificate, or one from another CA, gets no HTTP exchange at all.
func TestListenerRequiresClientCertificate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	roots, _ := h.layout.CAPool()

	foreign, err := pki.NewRoot(pki.RootOptions{CommonName: "Foreign CA"})
	if err != nil {
		t.Fatal(err)
	}
	foreignLeaf, err := foreign.IssueClient(pki.ClientOptions{PartnerID: "demo-ehr"})
	if err != nil {
		t.Fatal(err)
	}
	foreignCert, _ := foreignLeaf.TLSCertificate()

	devCA, err := pki.LoadCA(h.layout.CACertFile, h.layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Issued four minutes ago for one minute: inside the development CA's
	// own validity, which starts pki.Backdate before it was made.
	devCA.Now = func() time.Time { return time.Now().Add(-4 * time.Minute) }
	expiredLeaf, err := devCA.IssueClient(pki.ClientOptions{PartnerID: "demo-ehr", Validity: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	expiredCert, _ := expiredLeaf.TLSCertificate()
	devCA.Now = nil
	serverLeaf, err := devCA.IssueServer(pki.ServerOptions{DNSNames: []string{"demo-ehr.example"}})
	if err != nil {
		t.Fatal(err)
	}
	serverOnlyCert, _ := serverLeaf.TLSCertificate()

	cases := map[string]*tls.Config{
		"no certificate":  tlspolicy.Client(roots, nil),
		"foreign CA":      tlspolicy.Client(roots, &foreignCert),
		"expired":         tlspolicy.Client(roots, &expiredCert),
		"serverAuth only": tlspolicy.Client(roots, &serverOnlyCert),
		"TLS 1.1": func() *tls.Config {
			c := tlspolicy.Client(roots, nil)
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
			return c
		}(),
	}
	for name, conf := range cases {
		t.Run(name, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
			defer client.CloseIdleConnections()
			resp, err := client.Get(h.rt.FHIRBase + "/metadata")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request succeeded with status %d", resp.StatusCode)
			}
			var certErr *tls.CertificateVerificationError
			if errors.As(err, &certErr) {
				t.Fatalf("client-side verification failed instead of the server refusing: %v", err)
			}
		})
	}
	// The refusals leave a trace for the security team (rate-limited, so
	// at least one line).
	if logs := h.logs.String(); !strings.Contains(logs, "TLS handshake refused") || !strings.Contains(logs, "source=127.0.0.1") {
		t.Errorf("no WARN line for refused handshakes in:\n%s", logs)
	}
}

// TestTokenRefusalBeforeIssueRedacted checks that a token request refused by
// the gateway itself (here: a certificate of an unregistered partner) is
// recorded without its client assertion too.
func TestTokenRefusalBeforeIssueRedacted(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ca, err := pki.LoadCA(h.layout.CACertFile, h.layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.IssueClient(pki.ClientOptions{PartnerID: "other-ehr"})
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := other.TLSCertificate()
	roots, _ := h.layout.CAPool()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tc)}}
	defer client.CloseIdleConnections()

	key, _ := h.layout.PartnerAssertionKey()
	a := h.assertion("demo-ehr", h.rt.TokenURL, key, time.Now())
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {a},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "scope": {"system/Claim.rs"}}
	resp := h.send(client, "POST", "/oauth/token", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode()))
	readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	e := h.entries(resp)
	if len(e) != 1 {
		t.Fatalf("entries = %+v", e)
	}
	req, _ := h.bodies(e[0])
	if strings.Contains(string(req), a) || len(req) == 0 {
		t.Errorf("the record holds the assertion or no body: %q", req)
	}
}
