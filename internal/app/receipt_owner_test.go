package app_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// TestReceiptOnlyForOwnExchanges checks that a partner cannot fetch the
// receipt of another partner's entry, and cannot tell such an entry from
// an index beyond the log: both get the same 404 OperationOutcome. The
// owner still gets its receipt.
func TestReceiptOnlyForOwnExchanges(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		other := cfg.Partners[0]
		other.ID = "other-ehr"
		cfg.Partners = append(cfg.Partners, other)
	}})
	header := http.Header{"Accept": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", header, nil)
	readBody(t, resp)
	index := resp.Header.Get("X-Gatehouse-Log-Index")
	if index == "" {
		t.Fatalf("no X-Gatehouse-Log-Index: status %d, header %v", resp.StatusCode, resp.Header)
	}

	// The owner's receipt becomes available once a checkpoint covers it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := h.send(h.ehr.HTTPClient(), "GET", "/receipts/"+index, nil, nil)
		body := readBody(t, r)
		if r.StatusCode == http.StatusOK {
			break
		}
		if r.StatusCode != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("owner's receipt: status %d: %s", r.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	other := otherPartnerClient(t, h, "other-ehr")
	before := h.upstream.count.Load()
	foreign := h.send(other, "GET", "/receipts/"+index, nil, nil)
	foreignBody := readBody(t, foreign)
	missing := h.send(other, "GET", "/receipts/999999999", nil, nil)
	missingBody := readBody(t, missing)

	if foreign.StatusCode != http.StatusNotFound {
		t.Fatalf("other partner's receipt: status %d, want 404: %s", foreign.StatusCode, foreignBody)
	}
	if got := outcomeCode(t, foreignBody); got != "not-found" {
		t.Errorf("OperationOutcome code = %q, want not-found", got)
	}
	if missing.StatusCode != foreign.StatusCode {
		t.Errorf("nonexistent index: status %d, other partner's entry: %d", missing.StatusCode, foreign.StatusCode)
	}
	if !bytes.Equal(missingBody, foreignBody) {
		t.Errorf("bodies differ:\nother partner's entry: %s\nnonexistent index:     %s", foreignBody, missingBody)
	}
	if a, b := foreign.Header.Get("Content-Type"), missing.Header.Get("Content-Type"); a != b {
		t.Errorf("Content-Type differs: %q and %q", a, b)
	}
	if n := h.upstream.count.Load() - before; n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
	entries := h.entries(foreign)
	if len(entries) != 1 {
		t.Fatalf("recorded %d entries, want 1 refusal", len(entries))
	}
	if e := entries[0]; e.Phase != record.PhaseRefusal || e.Rule != "receipt.other-party" || e.Partner != "other-ehr" {
		t.Errorf("record = phase %s rule %q partner %q, want a receipt.other-party refusal of other-ehr", e.Phase, e.Rule, e.Partner)
	}
	if e := h.entries(missing); len(e) != 1 || e[0].Rule != "receipt.not-found" {
		t.Errorf("nonexistent index: entries = %+v, want one receipt.not-found refusal", e)
	}
}

// TestReceiptInvalidIndex checks that an index other than a non-negative
// decimal integer in canonical form gets 400 and a recorded refusal.
func TestReceiptInvalidIndex(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, index := range []string{"-1", "01", "+1", "1.0", "x"} {
		t.Run(index, func(t *testing.T) {
			resp := h.send(h.ehr.HTTPClient(), "GET", "/receipts/"+index, nil, nil)
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400: %s", resp.StatusCode, body)
			}
			if got := outcomeCode(t, body); got != "invalid" {
				t.Errorf("OperationOutcome code = %q, want invalid", got)
			}
			if e := h.entries(resp); len(e) != 1 || e[0].Rule != "receipt.invalid-index" {
				t.Errorf("entries = %+v, want one receipt.invalid-index refusal", e)
			}
		})
	}
}

// otherPartnerClient returns a mutual-TLS client with a certificate of
// partner id, issued by the development CA.
func otherPartnerClient(t *testing.T, h *harness, id string) *http.Client {
	t.Helper()
	ca, err := pki.LoadCA(h.layout.CACertFile, h.layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueClient(pki.ClientOptions{PartnerID: id})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := cert.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := h.layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tc)}}
	t.Cleanup(client.CloseIdleConnections)
	return client
}
