package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/token"
)

// claimingIssuer rejects every token request the way the token service
// rejects an assertion whose signature fails. The error carries the client
// id that the assertion claimed.
type claimingIssuer struct{ claimed string }

func (i claimingIssuer) Issue(context.Context, *http.Request) (*token.Result, *token.Error) {
	return nil, &token.Error{Code: token.CodeInvalidClient, Status: http.StatusUnauthorized, ClientID: i.claimed}
}

func (claimingIssuer) WriteResponse(w http.ResponseWriter, _ *token.Result, e *token.Error) {
	w.WriteHeader(e.Status)
}

// TestTokenRefusalKeepsCertificatePartner sends token requests over
// partner ehr-a's certificate with assertions that claim other clients.
// The metrics, the alerts and the console count exchanges by the entry's
// partner, so the entry must name the certificate's partner. Otherwise
// ehr-a could charge its denials to another partner, up to an alert that
// cuts that partner off, and add one metric series per invented id.
func TestTokenRefusalKeepsCertificatePartner(t *testing.T) {
	for _, claimed := range []string{"ehr-b", "<svg/onload=alert(1)>", ""} {
		t.Run(claimed, func(t *testing.T) {
			store := &memStore{}
			g := testGateway(t, stubVerifier{}, store)
			g.opts.Issuer = claimingIssuer{claimed: claimed}
			r := httptest.NewRequest(http.MethodPost, "https://gw"+TokenPath, strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{testLeaf}}}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)

			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", w.Code)
			}
			if len(store.entries) != 1 {
				t.Fatalf("%d entries recorded, want 1", len(store.entries))
			}
			if got := store.entries[0].Partner; got != "ehr-a" {
				t.Errorf("entry partner = %q, want the certificate's partner ehr-a", got)
			}
		})
	}
}
