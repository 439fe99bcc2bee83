package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// Unit tests for each stage, with a certificate and token verifier stubbed
// at the interfaces; app's tests run the same stages over real TLS.

var testLeaf = &x509.Certificate{Raw: []byte("leaf-der"), URIs: []*url.URL{{Scheme: "urn", Opaque: "gatehouse:partner:ehr-a"}},
	ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}

type stubVerifier struct {
	claims *token.AccessClaims
	err    error
}

func (s stubVerifier) VerifyContext(context.Context, string, *x509.Certificate) (*token.AccessClaims, error) {
	return s.claims, s.err
}

type memStore struct {
	mu      sync.Mutex
	entries []record.Entry
	fail    bool
}

func (m *memStore) Append(_ context.Context, e *record.Entry) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return 0, record.ErrUnavailable
	}
	e.Seq = int64(len(m.entries) + 1)
	m.entries = append(m.entries, *e)
	return e.Seq, nil
}

type stubIssuer struct{}

func (stubIssuer) Issue(context.Context, *http.Request) (*token.Result, *token.Error) {
	return nil, &token.Error{Code: token.CodeInvalidClient, Status: 401}
}
func (stubIssuer) WriteResponse(w http.ResponseWriter, _ *token.Result, e *token.Error) {
	w.WriteHeader(e.Status)
}

func testGateway(t testing.TB, v TokenVerifier, store record.Store) *Gateway {
	t.Helper()
	allowed, _ := fhirreq.ParsePattern("Claim/$submit")
	g, err := New(Options{
		Partners:       map[string]*Partner{"ehr-a": {ID: "ehr-a", Allowed: allowed}},
		PartnerOf:      func(c *x509.Certificate) (string, bool) { return "ehr-a", len(c.URIs) == 1 },
		Tokens:         v,
		Issuer:         stubIssuer{},
		Records:        store,
		Upstream:       &url.URL{Scheme: "http", Host: "127.0.0.1:1"},
		UpstreamClient: &http.Client{},
		MaxBodyBytes:   1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewRequiresOptions(t *testing.T) {
	if _, err := New(Options{Tokens: stubVerifier{}, Records: &memStore{}}); err == nil {
		t.Error("New accepted options without PartnerOf, Issuer and Upstream")
	}
}

func newExchange(g *Gateway, method, target string, body []byte, leaf *x509.Certificate) *exchange {
	r := httptest.NewRequest(method, "https://gw"+target, bytes.NewReader(body))
	if leaf != nil {
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}
	}
	return g.begin(r)
}

func TestIdentifyStage(t *testing.T) {
	g := testGateway(t, stubVerifier{}, &memStore{})
	if ref := g.identify(newExchange(g, "GET", "/fhir/metadata", nil, nil)); ref == nil || ref.Status != 401 {
		t.Errorf("no certificate: %+v, want 401", ref)
	}
	noEKU := &x509.Certificate{Raw: []byte("x"), URIs: testLeaf.URIs}
	if ref := g.identify(newExchange(g, "GET", "/fhir/metadata", nil, noEKU)); ref == nil || ref.Rule != "identity.no-client-auth-usage" {
		t.Errorf("certificate without clientAuth usage: %+v", ref)
	}
	noURI := &x509.Certificate{Raw: []byte("x"), ExtKeyUsage: testLeaf.ExtKeyUsage}
	if ref := g.identify(newExchange(g, "GET", "/fhir/metadata", nil, noURI)); ref == nil || ref.Rule != "identity.no-partner-uri" {
		t.Errorf("certificate without partner URI: %+v", ref)
	}
	ex := newExchange(g, "GET", "/fhir/metadata", nil, testLeaf)
	if ref := g.identify(ex); ref != nil {
		t.Fatalf("registered partner refused: %+v", ref)
	}
	if ex.partner.ID != "ehr-a" || ex.entry.Partner != "ehr-a" || len(ex.entry.CertFingerprint) != 64 {
		t.Errorf("identity not recorded: %+v", ex.entry)
	}
}

func TestIdentifyRateLimit(t *testing.T) {
	g := testGateway(t, stubVerifier{}, &memStore{})
	g.opts.Partners["ehr-a"].Limiter = NewRateLimiter(1, 2)
	var last *Refusal
	for range 3 {
		last = g.identify(newExchange(g, "GET", "/fhir/metadata", nil, testLeaf))
	}
	if last == nil || last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Errorf("third request in a burst of 2: %+v, want 429 with Retry-After", last)
	}
}

func TestAuthenticateStage(t *testing.T) {
	good := &token.AccessClaims{ClientID: "ehr-a", TokenID: "t1"}
	tests := []struct {
		name   string
		header string
		v      stubVerifier
		status int
		rule   string
	}{
		{"valid", "Bearer abc.def.ghi", stubVerifier{claims: good}, 0, ""},
		{"missing", "", stubVerifier{claims: good}, 401, "token.missing"},
		{"malformed", "Bearer a b", stubVerifier{claims: good}, 400, "token.malformed"},
		{"expired", "Bearer abc", stubVerifier{err: token.ErrExpiredToken}, 401, "token.expired"},
		{"other certificate", "Bearer abc", stubVerifier{err: token.ErrCertificateMismatch}, 401, "token.certificate-mismatch"},
		{"forged", "Bearer abc", stubVerifier{err: errors.New("bad signature")}, 401, "token.invalid"},
		{"other client", "Bearer abc", stubVerifier{claims: &token.AccessClaims{ClientID: "ehr-b"}}, 401, "token.client-mismatch"},
		{"revoked", "Bearer abc", stubVerifier{err: token.ErrRevokedToken}, 401, "token.revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGateway(t, tt.v, &memStore{})
			ex := newExchange(g, "GET", "/fhir/metadata", nil, testLeaf)
			if tt.header != "" {
				ex.r.Header.Set("Authorization", tt.header)
			}
			if ref := g.identify(ex); ref != nil {
				t.Fatal(ref.Message)
			}
			ref := g.authenticate(ex)
			if tt.status == 0 {
				if ref != nil {
					t.Fatalf("refused: %+v", ref)
				}
				if ex.entry.TokenID != "t1" {
					t.Errorf("token id not recorded")
				}
				return
			}
			if ref == nil || ref.Status != tt.status || ref.Rule != tt.rule {
				t.Fatalf("refusal = %+v, want %d %s", ref, tt.status, tt.rule)
			}
			if !strings.HasPrefix(ref.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", ref.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestAuthenticateRevocationUnavailable(t *testing.T) {
	g := testGateway(t, stubVerifier{err: token.ErrRevocationUnavailable}, &memStore{})
	ex := newExchange(g, "GET", "/fhir/metadata", nil, testLeaf)
	ex.r.Header.Set("Authorization", "Bearer abc")
	if ref := g.identify(ex); ref != nil {
		t.Fatal(ref.Message)
	}
	ref := g.authenticate(ex)
	if ref == nil || ref.Status != http.StatusServiceUnavailable || ref.Rule != "token.revocation-unavailable" {
		t.Fatalf("refusal = %+v, want 503 token.revocation-unavailable", ref)
	}
	if ref.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

func TestAuthorizeStage(t *testing.T) {
	tests := []struct {
		method, target string
		status         int
	}{
		{"POST", "/fhir/Claim/$submit", 0},
		{"POST", "/fhir/Claim/$inquire", 403},
		{"GET", "/fhir/Claim/1", 403},
		{"POST", "/fhir/Claim/1/$submit", 403},
		{"GET", "/fhir/Nope", 404},
		{"PUT", "/fhir/Claim/$submit", 405},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			g := testGateway(t, stubVerifier{}, &memStore{})
			ex := newExchange(g, tt.method, tt.target, nil, testLeaf)
			g.identify(ex)
			ref := g.authorize(ex)
			switch {
			case tt.status == 0 && ref != nil:
				t.Fatalf("refused: %+v", ref)
			case tt.status == 0:
				if ex.entry.Rule != "allow:Claim/$submit" {
					t.Errorf("rule = %q", ex.entry.Rule)
				}
			case ref == nil || ref.Status != tt.status:
				t.Fatalf("refusal = %+v, want status %d", ref, tt.status)
			}
		})
	}
}

func TestPayloadStage(t *testing.T) {
	bundle := []byte(`{"resourceType":"Bundle","type":"collection"}`)
	tests := []struct {
		name, ctype string
		body        []byte
		status      int
	}{
		{"valid", "application/fhir+json", bundle, 0},
		{"json with charset", "application/json; charset=utf-8", bundle, 0},
		{"latin-1 charset", "application/fhir+json; charset=iso-8859-1", bundle, 415},
		{"xml", "application/fhir+xml", bundle, 415},
		{"no content type", "", bundle, 415},
		{"empty", "application/fhir+json", nil, 400},
		{"duplicate member", "application/fhir+json", []byte(`{"resourceType":"Bundle","resourceType":"Bundle"}`), 400},
		{"array", "application/fhir+json", []byte(`[1]`), 400},
		{"no resourceType", "application/fhir+json", []byte(`{"type":"collection"}`), 400},
		{"Patient to $submit", "application/fhir+json", []byte(`{"resourceType":"Patient"}`), 422},
		{"too large", "application/fhir+json", bytes.Repeat([]byte(" "), 1025), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGateway(t, stubVerifier{}, &memStore{})
			ex := newExchange(g, "POST", "/fhir/Claim/$submit", tt.body, testLeaf)
			if tt.ctype != "" {
				ex.r.Header.Set("Content-Type", tt.ctype)
			}
			if ref := g.receive(ex); ref != nil {
				t.Fatal(ref.Message)
			}
			g.identify(ex)
			if ref := g.authorize(ex); ref != nil {
				t.Fatal(ref.Message)
			}
			ref := g.checkPayload(ex)
			if tt.status == 0 && ref != nil {
				t.Fatalf("refused: %+v", ref)
			}
			if tt.status != 0 && (ref == nil || ref.Status != tt.status) {
				t.Fatalf("refusal = %+v, want %d", ref, tt.status)
			}
		})
	}
}

// TestRefuseRecordsBeforeResponding checks the single refusal path: the
// entry is committed with the exact body sent, and a failing store turns
// the refusal into 503.
func TestRefuseRecordsBeforeResponding(t *testing.T) {
	store := &memStore{}
	g := testGateway(t, stubVerifier{}, store)
	ex := newExchange(g, "POST", "/fhir/Claim/$submit", []byte(`{}`), testLeaf)
	g.receive(ex)
	w := httptest.NewRecorder()
	g.refuse(w, ex, &Refusal{Status: 403, Code: "forbidden", Rule: "policy.x", Message: "no"})
	if w.Code != 403 || len(store.entries) != 1 {
		t.Fatalf("status %d, %d entries", w.Code, len(store.entries))
	}
	e := store.entries[0]
	if e.Phase != record.PhaseRefusal || e.Rule != "policy.x" || !bytes.Equal(e.ResponseBody, w.Body.Bytes()) || string(e.RequestBody) != `{}` {
		t.Errorf("entry = %+v", e)
	}
	if w.Header().Get("X-Gatehouse-Record") != "1" {
		t.Errorf("X-Gatehouse-Record = %q", w.Header().Get("X-Gatehouse-Record"))
	}

	store.fail = true
	w = httptest.NewRecorder()
	g.refuse(w, newExchange(g, "GET", "/fhir/x", nil, testLeaf), &Refusal{Status: 403, Code: "forbidden", Rule: "policy.x", Message: "no"})
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("failing store: status %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
}

func TestRedactTarget(t *testing.T) {
	for _, target := range []string{
		"/fhir/Claim?patient=123&access_token=secret",
		"/fhir/Claim?access_token=secret;x=1",
		"/fhir/Claim?x=1;ACCESS_TOKEN=secret",
		"/fhir/Claim?access_token=secret%",
	} {
		u, _ := url.Parse(target)
		if got := redactTarget(u); strings.Contains(got, "secret") || !strings.HasPrefix(got, "/fhir/Claim?") {
			t.Errorf("redactTarget(%q) = %q", target, got)
		}
	}
	u, _ := url.Parse("/fhir/Claim?patient=123")
	if got := redactTarget(u); got != "/fhir/Claim?patient=123" {
		t.Errorf("redactTarget kept %q, want the query unchanged", got)
	}
}

// countingTransport counts the requests that reach the upstream.
type countingTransport struct{ calls *atomic.Int32 }

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return nil, r.Context().Err()
}

// TestCancelledRequestNotOutage sends a request whose client has gone
// (an HTTP/2 RST_STREAM cancels the request context) while the revocation
// lookup runs. The record must name the cancellation, not a revocation
// store outage, and nothing may reach the upstream.
func TestCancelledRequestNotOutage(t *testing.T) {
	var calls atomic.Int32
	store := &memStore{}
	g := testGateway(t, stubVerifier{err: token.ErrRevocationUnavailable}, store)
	g.opts.UpstreamClient = &http.Client{Transport: countingTransport{&calls}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "https://gw/fhir/metadata", nil).WithContext(ctx)
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{testLeaf}}}
	r.Header.Set("Authorization", "Bearer abc")
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)

	if w.Code != statusClientClosedRequest {
		t.Errorf("status = %d, want %d", w.Code, statusClientClosedRequest)
	}
	var oo struct {
		ResourceType string                  `json:"resourceType"`
		Issue        []struct{ Code string } `json:"issue"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("body is not an OperationOutcome: %s", w.Body.Bytes())
	}
	if oo.Issue[0].Code != "incomplete" {
		t.Errorf("issue code = %q, want incomplete", oo.Issue[0].Code)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	var rules []string
	for _, e := range store.entries {
		rules = append(rules, e.Rule)
	}
	if !slices.Contains(rules, "request.cancelled") || slices.Contains(rules, "token.revocation-unavailable") {
		t.Errorf("recorded rules = %q, want request.cancelled and no token.revocation-unavailable", rules)
	}
}
