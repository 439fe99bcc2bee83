package admin

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
)

// adminRequest returns a request as it arrives after a handshake with an
// administrator certificate.
func adminRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{}}}}
	return r
}

// TestResponsesCarrySecurityHeaders checks routes outside the console,
// whose handlers set few headers of their own, and a refusal.
func TestResponsesCarrySecurityHeaders(t *testing.T) {
	isAdmin := true
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("up 1\n"))
	})
	pended := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"pended":[]}`))
	})
	h := Handler(Options{
		AdminOf: func(*x509.Certificate) (string, bool) { return "alice", isAdmin },
		Metrics: metrics,
	}, map[string]http.Handler{"GET /payer/pended": pended})

	check := func(t *testing.T, target string, wantStatus int) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, adminRequest(http.MethodGet, target))
		if w.Code != wantStatus {
			t.Fatalf("status %d, want %d", w.Code, wantStatus)
		}
		want := map[string]string{
			"Cache-Control":           "no-store",
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		}
		for name, value := range want {
			if got := w.Header().Get(name); got != value {
				t.Errorf("%s = %q, want %q", name, got, value)
			}
		}
	}
	t.Run("metrics", func(t *testing.T) { check(t, "/metrics", http.StatusOK) })
	t.Run("work queue", func(t *testing.T) { check(t, "/payer/pended", http.StatusOK) })
	t.Run("not found", func(t *testing.T) { check(t, "/nothing", http.StatusNotFound) })
	isAdmin = false
	t.Run("refused", func(t *testing.T) { check(t, "/payer/pended", http.StatusForbidden) })
}
