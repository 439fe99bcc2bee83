package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// stubControl is a TokenControl that returns canned outcomes and records
// what reached it.
type stubControl struct {
	revocation    *token.Revocation
	introspection *token.Introspection
	err           *token.Error

	calls int
	body  string // form body of the last call
}

func (s *stubControl) read(r *http.Request) {
	s.calls++
	b, _ := io.ReadAll(r.Body)
	s.body = string(b)
}

func (s *stubControl) Revoke(_ context.Context, r *http.Request, _ token.RevocationScope) (*token.Revocation, *token.Error) {
	s.read(r)
	if s.err != nil {
		return nil, s.err
	}
	return s.revocation, nil
}

func (s *stubControl) WriteRevocation(w http.ResponseWriter, _ *token.Revocation, e *token.Error) {
	if e != nil {
		w.WriteHeader(e.Status)
		_, _ = io.WriteString(w, `{"error":"`+e.Code+`"}`)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *stubControl) Introspect(_ context.Context, r *http.Request) (*token.Introspection, *token.Error) {
	s.read(r)
	if s.err != nil {
		return nil, s.err
	}
	return s.introspection, nil
}

func (s *stubControl) WriteIntrospection(w http.ResponseWriter, in *token.Introspection, e *token.Error) {
	if e != nil {
		w.WriteHeader(e.Status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if in.Active {
		_, _ = io.WriteString(w, `{"active":true,"client_id":"`+in.ClientID+`"}`)
		return
	}
	_, _ = io.WriteString(w, `{"active":false}`)
}

var engineLeaf = &x509.Certificate{Raw: []byte("engine-der"), URIs: []*url.URL{{Scheme: "urn", Opaque: "gatehouse:engine:iris"}},
	ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}

const secretToken = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LWNsYWltcw.c2lnbmF0dXJl"

// controlGateway returns a gateway with control as its TokenControl, and
// its outbound handler, whose engine is any certificate with an engine
// URI.
func controlGateway(t *testing.T, control TokenControl, store record.Store) (*Gateway, http.Handler) {
	t.Helper()
	g := testGateway(t, stubVerifier{}, store)
	g.opts.TokenControl = control
	// New registers the inbound route only when TokenControl is set.
	g2, err := New(g.opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g2.Outbound(OutboundOptions{EngineOf: func(c *x509.Certificate) (string, bool) {
		if len(c.URIs) == 1 && strings.HasPrefix(c.URIs[0].Opaque, "gatehouse:engine:") {
			return strings.TrimPrefix(c.URIs[0].Opaque, "gatehouse:engine:"), true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	return g2, out
}

func controlPost(h http.Handler, path, body string, leaf *x509.Certificate) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "https://gw"+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if leaf != nil {
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func onlyEntry(t *testing.T, store *memStore) record.Entry {
	t.Helper()
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.entries) != 1 {
		t.Fatalf("store holds %d entries, want 1", len(store.entries))
	}
	return store.entries[0]
}

func TestPartnerRevokeRecorded(t *testing.T) {
	control := &stubControl{revocation: &token.Revocation{Revoked: true, TokenID: "t9", ClientID: "ehr-a"}}
	store := &memStore{}
	g, _ := controlGateway(t, control, store)

	rec := controlPost(g, RevokePath, "token="+secretToken+"&token_type_hint=access_token", testLeaf)
	if rec.Code != http.StatusOK || rec.Header().Get("X-Request-Id") == "" {
		t.Fatalf("status %d, X-Request-Id %q; want 200 with a request id", rec.Code, rec.Header().Get("X-Request-Id"))
	}
	if !strings.Contains(control.body, secretToken) {
		t.Error("the token service did not receive the request body")
	}

	e := onlyEntry(t, store)
	if e.Interaction != "revoke" || e.Rule != "revocation.revoked" || e.Decision != record.Allow || e.Direction != "inbound" {
		t.Errorf("entry = %s %s %s %s, want an allowed inbound revoke", e.Interaction, e.Rule, e.Decision, e.Direction)
	}
	if e.Partner != "ehr-a" || e.TokenID != "t9" || e.Status != http.StatusOK {
		t.Errorf("entry partner %q token %q status %d", e.Partner, e.TokenID, e.Status)
	}
	if strings.Contains(string(e.RequestBody), "c2VjcmV0") {
		t.Errorf("the record holds the token: %s", e.RequestBody)
	}
	if !strings.Contains(string(e.RequestBody), "token=sha256:") {
		t.Errorf("the record holds no fingerprint of the token: %s", e.RequestBody)
	}
}

func TestPartnerRevokeRefusals(t *testing.T) {
	tests := []struct {
		name    string
		control *stubControl
		path    string
		leaf    *x509.Certificate
		status  int
		rule    string
		called  bool
	}{
		{"no certificate", &stubControl{}, RevokePath, nil, 401, "identity.no-certificate", false},
		{"certificate without partner", &stubControl{}, RevokePath, &x509.Certificate{Raw: []byte("x"), ExtKeyUsage: testLeaf.ExtKeyUsage},
			401, "identity.no-partner-uri", false},
		{"introspection is engine only", &stubControl{}, IntrospectPath, testLeaf, 404, "route.unknown", false},
		{"token of another certificate", &stubControl{err: &token.Error{Code: token.CodeUnauthorizedClient, Status: 400,
			Description: "the token is bound to another client certificate"}}, RevokePath, testLeaf, 400, "revocation.unauthorized_client", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &memStore{}
			g, _ := controlGateway(t, tt.control, store)
			rec := controlPost(g, tt.path, "token="+secretToken, tt.leaf)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if called := tt.control.calls > 0; called != tt.called {
				t.Errorf("token service called = %v, want %v", called, tt.called)
			}
			e := onlyEntry(t, store)
			if e.Rule != tt.rule || e.Decision != record.Deny {
				t.Errorf("entry rule %q decision %q, want %q deny", e.Rule, e.Decision, tt.rule)
			}
			if strings.Contains(string(e.RequestBody), "c2VjcmV0") && tt.called {
				t.Error("the record holds the token")
			}
		})
	}
}

func TestEngineIntrospectionRecorded(t *testing.T) {
	control := &stubControl{introspection: &token.Introspection{Active: true, ClientID: "ehr-a", TokenID: "t7"}}
	store := &memStore{}
	_, out := controlGateway(t, control, store)

	rec := controlPost(out, IntrospectPath, "token="+secretToken, engineLeaf)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
		t.Fatalf("response %d %s, want an active introspection", rec.Code, rec.Body)
	}
	e := onlyEntry(t, store)
	if e.Interaction != "introspect" || e.Rule != "introspection.active" || e.Direction != "outbound" {
		t.Errorf("entry = %s %s %s, want an outbound introspection", e.Interaction, e.Rule, e.Direction)
	}
	if e.Partner != "ehr-a" || e.TokenID != "t7" || !strings.Contains(e.Source, "engine:iris") {
		t.Errorf("entry partner %q token %q source %q", e.Partner, e.TokenID, e.Source)
	}
	if strings.Contains(string(e.RequestBody), "c2VjcmV0") || strings.Contains(string(e.ResponseBody), "c2VjcmV0") {
		t.Error("the record holds the token")
	}
}

func TestEngineRevokeRecorded(t *testing.T) {
	control := &stubControl{revocation: &token.Revocation{Reason: "the token has expired"}}
	store := &memStore{}
	_, out := controlGateway(t, control, store)

	rec := controlPost(out, RevokePath, "token="+secretToken, engineLeaf)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	e := onlyEntry(t, store)
	if e.Rule != "revocation.ignored" || e.Reason != "the token has expired" || e.Decision != record.Allow {
		t.Errorf("entry rule %q reason %q decision %q", e.Rule, e.Reason, e.Decision)
	}
}

func TestEngineControlRequiresEngine(t *testing.T) {
	for _, path := range []string{RevokePath, IntrospectPath} {
		t.Run(path, func(t *testing.T) {
			control := &stubControl{}
			store := &memStore{}
			_, out := controlGateway(t, control, store)
			rec := controlPost(out, path, "token="+secretToken, testLeaf)
			// An OAuth endpoint reports a certificate it does not accept as
			// invalid_client, 401.
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"error":"invalid_client"`) {
				t.Errorf("partner certificate: status %d body %s, want 401 invalid_client", rec.Code, rec.Body)
			}
			if control.calls != 0 {
				t.Error("the token service was called")
			}
			if e := onlyEntry(t, store); e.Rule != "identity.not-engine" {
				t.Errorf("rule = %q, want identity.not-engine", e.Rule)
			}
		})
	}
}

func TestControlUnrecordedIsNotReleased(t *testing.T) {
	control := &stubControl{introspection: &token.Introspection{Active: true, ClientID: "ehr-a"}}
	_, out := controlGateway(t, control, &memStore{fail: true})
	rec := controlPost(out, IntrospectPath, "token="+secretToken, engineLeaf)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "active") {
		t.Errorf("response %d %s, want 503 without the introspection", rec.Code, rec.Body)
	}
}

func TestControlEndpointsOffWithoutTokenControl(t *testing.T) {
	store := &memStore{}
	g := testGateway(t, stubVerifier{}, store)
	if rec := controlPost(g, RevokePath, "token=x", testLeaf); rec.Code != http.StatusNotFound {
		t.Errorf("inbound revoke without TokenControl: status %d, want 404", rec.Code)
	}
	out, err := g.Outbound(OutboundOptions{EngineOf: func(*x509.Certificate) (string, bool) { return "iris", true }})
	if err != nil {
		t.Fatal(err)
	}
	if rec := controlPost(out, IntrospectPath, "token=x", engineLeaf); rec.Code != http.StatusNotFound {
		t.Errorf("outbound introspection without TokenControl: status %d, want 404", rec.Code)
	}
}
