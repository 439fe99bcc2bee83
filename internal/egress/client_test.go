package egress

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// startPartner starts an HTTPS server on 127.0.0.1 with a certificate for
// ehr.partner.test and other.test, and returns its port.
func startPartner(t *testing.T, p testPKI) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.Host) })
	mux.HandleFunc("/to-listed", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://ehr.partner.test:"+port+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/to-other", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://other.test:"+port+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://ehr.partner.test:"+port+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.cert}}, ReadHeaderTimeout: 5 * time.Second}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return port
}

func TestHTTPClientRedirects(t *testing.T) {
	p := newTestPKI(t, "ehr.partner.test", "other.test")
	port := startPartner(t, p)
	resolver := newStubResolver(map[string][]string{})
	for range 20 {
		resolver.then("ehr.partner.test", "127.0.0.1")
		resolver.then("other.test", "127.0.0.1")
	}
	base := "https://ehr.partner.test:" + port

	tests := []struct {
		name         string
		path         string
		maxRedirects int
		rule         string // empty: the request succeeds
	}{
		{"no redirect", "/ok", 0, ""},
		{"redirects off by default", "/to-listed", 0, RuleRedirect},
		{"redirect to listed host", "/to-listed", 2, ""},
		{"redirect to host not listed", "/to-other", 2, RuleHost},
		{"redirect to http", "/to-http", 2, RuleRedirect},
		{"redirect to metadata address", "/to-metadata", 2, RuleAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialer := &dialRecorder{real: true}
			var hook denials
			g, err := New(Options{Allow: []string{"ehr.partner.test", "127.0.0.1/32"}, Resolver: resolver, Dial: dialer.dial, OnDeny: hook.add})
			if err != nil {
				t.Fatal(err)
			}
			client := g.HTTPClient(ClientOptions{RootCAs: p.roots, MaxRedirects: tt.maxRedirects, Timeout: 10 * time.Second})
			resp, err := client.Get(base + tt.path)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("GET: %v", err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "ok ehr.partner.test:"+port {
					t.Errorf("response %d %q", resp.StatusCode, body)
				}
				return
			}
			var denied *DeniedError
			if !errors.As(err, &denied) || denied.Rule != tt.rule {
				t.Fatalf("GET error = %v, want *DeniedError with rule %s", err, tt.rule)
			}
			if len(hook.all()) != 1 {
				t.Errorf("OnDeny called %d times, want 1", len(hook.all()))
			}
			for _, addr := range dialer.calls() {
				if addr != "127.0.0.1:"+port {
					t.Errorf("dialled %s", addr)
				}
			}
		})
	}
}

func TestHTTPClientIgnoresEnvironmentProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	g, _ := New(Options{})
	tr := g.HTTPClient(ClientOptions{}).Transport.(*http.Transport)
	if tr.Proxy != nil {
		t.Error("Transport.Proxy is set; outbound requests could bypass the guard")
	}
	if tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", tr.TLSClientConfig.MinVersion)
	}
}

func TestHTTPClientDeniedBeforeConnect(t *testing.T) {
	dialer := &dialRecorder{}
	g, _ := New(Options{Allow: []string{"ehr.partner.test"}, Resolver: newStubResolver(nil), Dial: dialer.dial})
	_, err := g.HTTPClient(ClientOptions{}).Get("http://169.254.169.254/latest/meta-data/")
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Address != netip.MustParseAddr("169.254.169.254") {
		t.Fatalf("GET metadata error = %v, want a DeniedError for 169.254.169.254", err)
	}
	if calls := dialer.calls(); len(calls) != 0 {
		t.Errorf("dialer called with %v, want no call", calls)
	}
}
