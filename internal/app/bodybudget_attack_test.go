package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// heldUpstream is a payer engine that keeps every request open until the
// test releases it, so the bodies of those exchanges stay in the
// gateway's memory.
type heldUpstream struct {
	srv     *httptest.Server
	count   atomic.Int64
	arrived chan struct{}
	release chan struct{}
}

func newHeldUpstream(t *testing.T) *heldUpstream {
	u := &heldUpstream{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.count.Add(1)
		u.arrived <- struct{}{}
		<-u.release
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"ClaimResponse","status":"active"}}]}`))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// TestBodyBudgetRejectsExcess fills the gateway's buffered body budget
// with two PAS submissions that the upstream keeps open, on one HTTP/2
// connection as a client multiplexing streams would. A third submission,
// without a token, must get 503 with an OperationOutcome before any byte
// reaches the upstream, because the body is read before the partner is
// identified and rate-limited. Without the budget, every stream and
// connection could take max_body_bytes. Once the held exchanges end,
// their share returns to the budget.
func TestBodyBudgetRejectsExcess(t *testing.T) {
	up := newHeldUpstream(t)
	bundle := shippedBundle(t)
	perBody := int64(len(bundle)) + 1 // ReadHeld's buffer for a declared length
	h := newHarness(t, harnessOptions{upstreamURL: up.srv.URL + "/fhir-engine",
		edit: func(cfg *config.File, _ *devmode.Layout) {
			cfg.Limits.MaxBodyBytes = 1 << 20
			cfg.Limits.MaxBufferedBodyBytes = 2*perBody + perBody/2
		}})
	tok := h.accessToken()
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}
	client := h.ehr.HTTPClient()

	var held sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		held.Add(1)
		go func() {
			defer held.Done()
			resp := h.send(client, "POST", "/fhir/Claim/$submit", header, bundle)
			readBody(t, resp)
			statuses[i] = resp.StatusCode
		}()
	}
	<-up.arrived
	<-up.arrived

	resp := h.send(client, "POST", "/fhir/Claim/$submit", http.Header{"Content-Type": {"application/fhir+json"}}, bundle)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status past the budget = %d, want 503: %s", resp.StatusCode, body)
	}
	if code := outcomeCode(t, body); code != "transient" {
		t.Errorf("OperationOutcome code = %q, want transient", code)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" {
		t.Error("the 503 has no Retry-After")
	}
	if n := up.count.Load(); n != 2 {
		t.Errorf("upstream received %d requests, want only the 2 held ones", n)
	}
	if entries := h.entries(resp); len(entries) != 1 || entries[0].Rule != "payload.busy" {
		t.Errorf("entries = %+v, want one rejection with rule payload.busy", entries)
	}

	close(up.release)
	held.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("held submission %d: status = %d, want 200", i, s)
		}
	}
	after := h.send(client, "POST", "/fhir/Claim/$submit", header, bundle)
	if b := readBody(t, after); after.StatusCode != http.StatusOK {
		t.Errorf("after the held exchanges ended: status = %d, want 200: %.200s", after.StatusCode, b)
	}
	if n := up.count.Load(); n != 3 {
		t.Errorf("upstream received %d requests, want 3", n)
	}
}
