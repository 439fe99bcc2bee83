package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// stubReceipts returns err for every receipt request.
type stubReceipts struct{ err error }

func (s stubReceipts) PartnerReceipt(context.Context, int64, string) (*auditlog.Proof, error) {
	return nil, s.err
}

// logSizeText is a log size that the stubbed errors contain. A partner
// must never see it: the size of the log reveals how many exchanges all
// partners had.
const logSizeText = "987654"

// getReceipt sends the registered partner's request for the receipt of
// entry 7 to a gateway whose receipt source fails with err.
func getReceipt(t *testing.T, err error) (*httptest.ResponseRecorder, *memStore) {
	t.Helper()
	store := &memStore{}
	g, newErr := New(Options{
		Partners:       map[string]*Partner{"ehr-a": {ID: "ehr-a"}},
		PartnerOf:      func(c *x509.Certificate) (string, bool) { return "ehr-a", len(c.URIs) == 1 },
		Tokens:         stubVerifier{},
		Issuer:         stubIssuer{},
		Records:        store,
		Receipts:       stubReceipts{err: err},
		Upstream:       &url.URL{Scheme: "http", Host: "127.0.0.1:1"},
		UpstreamClient: &http.Client{},
		MaxBodyBytes:   1024,
	})
	if newErr != nil {
		t.Fatal(newErr)
	}

	r := httptest.NewRequest("GET", "https://gw/receipts/7", nil)
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{testLeaf}}}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w, store
}

// checkNoLogSize reports the log size in the response or its record.
func checkNoLogSize(t *testing.T, w *httptest.ResponseRecorder, store *memStore) {
	t.Helper()
	if strings.Contains(w.Body.String(), logSizeText) {
		t.Errorf("body %q contains the log size", w.Body)
	}
	for k, vs := range w.Header() {
		for _, v := range vs {
			if strings.Contains(v, logSizeText) {
				t.Errorf("header %s: %q contains the log size", k, v)
			}
		}
	}
	for _, e := range store.entries {
		if bytes.Contains(e.ResponseBody, []byte(logSizeText)) || strings.Contains(e.Reason, logSizeText) {
			t.Errorf("record %d contains the log size: reason %q, response %q", e.Seq, e.Reason, e.ResponseBody)
		}
	}
}

// TestReceiptLogUnavailable checks the 503 for a receipt whose lookup
// failed: a transient OperationOutcome with a fixed text, Retry-After, a
// recorded refusal, and nothing of the underlying error.
func TestReceiptLogUnavailable(t *testing.T) {
	w, store := getReceipt(t, fmt.Errorf("auditlog: read checkpoint of size %s: connection refused", logSizeText))

	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503: %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After %q, want 5", got)
	}
	if got := w.Header().Get("Content-Type"); got != outcome.ContentType {
		t.Errorf("Content-Type %q, want %q", got, outcome.ContentType)
	}
	var oo outcome.OperationOutcome
	if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil {
		t.Fatalf("body is not an OperationOutcome: %v: %s", err, w.Body)
	}
	if len(oo.Issue) != 1 {
		t.Fatalf("issues %+v, want 1", oo.Issue)
	}
	if got := oo.Issue[0].Code; got != outcome.CodeTransient {
		t.Errorf("OperationOutcome code %q, want transient", got)
	}
	const want = "receipt lookup failed because the audit log is unavailable: retry later"
	if got := oo.Issue[0].Diagnostics; got != want {
		t.Errorf("diagnostics %q, want %q", got, want)
	}
	if len(store.entries) != 1 {
		t.Fatalf("recorded %d entries, want 1 refusal", len(store.entries))
	}
	if e := store.entries[0]; e.Phase != record.PhaseRefusal || e.Rule != "receipt.unavailable" || e.Status != http.StatusServiceUnavailable {
		t.Errorf("record = phase %s rule %q status %d, want a receipt.unavailable refusal with 503", e.Phase, e.Rule, e.Status)
	}
	checkNoLogSize(t, w, store)
}

// TestReceiptNotCoveredYet checks the 202 for an entry that no checkpoint
// covers yet: a fixed text with Retry-After, and no checkpoint or log size
// from the error.
func TestReceiptNotCoveredYet(t *testing.T) {
	w, store := getReceipt(t, fmt.Errorf("%w: latest checkpoint size %s", auditlog.ErrNotCovered, logSizeText))

	if w.Code != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "10" {
		t.Errorf("Retry-After %q, want 10", got)
	}
	const want = "entry recorded, but no checkpoint covers it yet: retry after Retry-After seconds\n"
	if got := w.Body.String(); got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	if len(store.entries) != 1 || store.entries[0].Status != http.StatusAccepted || store.entries[0].Rule != "allow:receipt" {
		t.Errorf("entries %+v, want one allow:receipt record with status 202", store.entries)
	}
	checkNoLogSize(t, w, store)
}
