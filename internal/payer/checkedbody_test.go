package payer

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// serveInProcess sends body to the handler as the gateway's in-process
// transport does, with ctx as the request's context.
func serveInProcess(t *testing.T, ts *testService, ctx context.Context, body []byte) reply {
	t.Helper()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/Claim/$submit", bytes.NewReader(body))
	req.Header.Set("Content-Type", fhirJSONType)
	rec := httptest.NewRecorder()
	ts.Handler().ServeHTTP(rec, req)
	return reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// A body nested deeper than fhirjson's limit is rejected by the payer's
// own JSON check unless the request carries a mark whose limits imply the
// payer's: a request from a client on the listener, or one marked under
// looser limits, is checked.
func TestReadBodyChecksUnmarkedBody(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		nested := []byte(`{"resourceType":"Bundle","x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`)
		looser := fhirjson.DefaultLimits
		looser.MaxDepth = 100
		cases := []struct {
			name string
			ctx  context.Context
		}{
			{"no mark", context.Background()},
			{"mark under looser limits", fhirjson.WithCheckedObject(context.Background(), nested, looser)},
			{"mark of other bytes", fhirjson.WithCheckedObject(context.Background(), []byte(`{}`), fhirjson.DefaultLimits)},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := serveInProcess(t, ts, tc.ctx, nested)
				if r.status != http.StatusBadRequest {
					t.Fatalf("status = %d, want 400", r.status)
				}
				oo := mustOutcome(t, r.body)
				if oo.Issue[0].Code != "structure" {
					t.Errorf("issue code = %q, want structure", oo.Issue[0].Code)
				}
				if !strings.Contains(oo.Issue[0].Diagnostics, "nesting deeper than 64") {
					t.Errorf("diagnostics = %q, want the nesting limit", oo.Issue[0].Diagnostics)
				}
			})
		}
	})
}

// A request marked under the gateway's limits is served from the marked
// bytes, without reading the request body again.
func TestReadBodyTakesMarkedBody(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		referral := demoBundle(t, referral221)
		gatewayLimits := fhirjson.Limits{MaxBytes: DefaultMaxBodyBytes, MaxDepth: 64, MaxStringLength: int(DefaultMaxBodyBytes)}
		ctx := fhirjson.WithCheckedObject(context.Background(), referral, gatewayLimits)

		// The request body is blank: only the marked bytes form a Bundle.
		r := serveInProcess(t, ts, ctx, bytes.Repeat([]byte(" "), len(referral)))
		if r.status != http.StatusOK {
			t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
		}
		mustResponse(t, r)
	})
}
