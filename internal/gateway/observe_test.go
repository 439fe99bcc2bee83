package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// entryObserver keeps the interaction of every exchange it observes.
type entryObserver struct {
	mu           sync.Mutex
	interactions []string
}

func (o *entryObserver) ObserveExchange(e *record.Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.interactions = append(o.interactions, e.Interaction)
}

func (o *entryObserver) ObserveCommit(time.Duration, error)   {}
func (o *entryObserver) ObserveShadow(string, string, string) {}

// TestObservedInteractionBounded sends operations that the partner's
// allowlist does not name. The client chose their names, so the metrics,
// the console and the alerts must see a fixed form. Otherwise a partner
// could add one metric series per name. The record keeps the name, and an
// allowlisted operation is observed under its own name.
func TestObservedInteractionBounded(t *testing.T) {
	tests := []struct {
		method, target     string
		observed, recorded string
	}{
		{"GET", "/fhir/$member-123-45-6789", "$*", "$member-123-45-6789"},
		{"GET", "/fhir/Patient/$x1", "Patient/$*", "Patient/$x1"},
		{"POST", "/fhir/Claim/1/$x2", "Claim/[id]/$*", "Claim/[id]/$x2"},
		{"POST", "/fhir/Claim/$submit", "Claim/$submit", "Claim/$submit"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			store := &memStore{}
			g := testGateway(t, stubVerifier{claims: &token.AccessClaims{ClientID: "ehr-a", TokenID: "t1"}}, store)
			observer := &entryObserver{}
			g.opts.Observer = observer
			r := httptest.NewRequest(tt.method, "https://gw"+tt.target, nil)
			r.Header.Set("Authorization", "Bearer abc.def.ghi")
			r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{testLeaf}}}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)

			if w.Code < http.StatusBadRequest {
				t.Fatalf("status = %d, want a refusal", w.Code)
			}
			if len(observer.interactions) != 1 {
				t.Fatalf("observed %d exchanges, want 1", len(observer.interactions))
			}
			if got := observer.interactions[0]; got != tt.observed {
				t.Errorf("observed interaction = %q, want %q", got, tt.observed)
			}
			if len(store.entries) != 1 {
				t.Fatalf("%d entries recorded, want 1", len(store.entries))
			}
			if got := store.entries[0].Interaction; got != tt.recorded {
				t.Errorf("recorded interaction = %q, want %q", got, tt.recorded)
			}
		})
	}
}
