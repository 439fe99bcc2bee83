package ehrclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// The client adopts a published token endpoint only when it names a
// loopback host on the probed port, so a gateway cannot obtain an
// assertion made out to another server.
func TestAdoptLoopbackAudience(t *testing.T) {
	var published string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"token_endpoint": %q}`, published)
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()

	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, endpoint string
		adopted        bool
	}{
		{"localhost same port", "https://localhost:" + port + "/oauth/token", true},
		{"same URL", srv.URL + "/oauth/token", false},
		{"other host", "https://gatehouse.example:" + port + "/oauth/token", false},
		{"other port", "https://localhost:1/oauth/token", false},
		{"plain http", "http://localhost:" + port + "/oauth/token", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			published = tt.endpoint
			c, err := New(Options{PublicURL: srv.URL, ClientID: "p", AssertionKey: &jose.JSONWebKey{Key: key},
				Certificate: srv.TLS.Certificates[0], Roots: roots})
			if err != nil {
				t.Fatal(err)
			}
			adopted, err := c.AdoptLoopbackAudience(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if adopted != tt.adopted {
				t.Errorf("adopted %v, want %v", adopted, tt.adopted)
			}
			want := ""
			if tt.adopted {
				want = tt.endpoint
			}
			if c.audience != want {
				t.Errorf("audience %q, want %q", c.audience, want)
			}
		})
	}
}
