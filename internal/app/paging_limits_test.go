package app_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/pagelink"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// TestPageTokenTooLong sends a search within the query cap whose
// canonical form (each raw "?" becomes "%3F") is too long to seal. The
// gateway must not release the page without its next link: the partner
// gets 400 page.token-too-long, and the record keeps the upstream's
// response before the refusal.
func TestPageTokenTooLong(t *testing.T) {
	h, up := pagingHarness(t)
	query := "identifier=" + strings.Repeat("?", fhirreq.MaxQueryBytes-len("identifier="))
	before := up.count.Load()
	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/ClaimResponse?"+query, http.Header{"Authorization": {"Bearer " + h.accessToken()}}, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
	}
	if code := outcomeCode(t, body); code != "too-long" {
		t.Errorf("issue code %q, want too-long", code)
	}
	if strings.Contains(string(body), "_getpages") {
		t.Errorf("the refusal releases an upstream link: %s", body)
	}
	if n := up.count.Load() - before; n != 1 {
		t.Errorf("the upstream received %d requests, want the one search", n)
	}

	entries := h.entries(resp)
	phases := make([]record.Phase, len(entries))
	for i, e := range entries {
		phases[i] = e.Phase
	}
	if len(entries) != 3 || phases[1] != record.PhaseResponse || phases[2] != record.PhaseRefusal {
		t.Fatalf("recorded phases %v, want request, response, refusal", phases)
	}
	if _, b := h.openRecord(entries[1]); !strings.Contains(string(b.Response), "_getpages") {
		t.Errorf("the response entry does not keep the upstream's links")
	}
	if got := entries[2].Rule; got != "page.token-too-long" {
		t.Errorf("refusal rule %q, want page.token-too-long", got)
	}
	if got := entries[2].Status; got != http.StatusBadRequest {
		t.Errorf("refusal recorded with status %d, want 400", got)
	}
}

// TestPageTokenLifetimeConfigured sets policy.page_token_lifetime to 2m
// and opens the released next link at fixed times: it must open just
// before two minutes and be expired at two minutes, where the default
// 30m would still accept it.
func TestPageTokenLifetimeConfigured(t *testing.T) {
	up := newPagingUpstream(t)
	h := newHarness(t, harnessOptions{upstreamURL: up.srv.URL + "/fhir-engine", edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Strict.Mode = "off"
		cfg.Policy.PageTokenLifetime = 2 * time.Minute
		cfg.Partners[0].Interactions = append(cfg.Partners[0].Interactions, "ClaimResponse.search")
	}})
	issued := time.Now()
	next := firstPageLinks(t, h, h.ehr.HTTPClient(), h.accessToken())["next"]
	token := strings.TrimPrefix(next, "/fhir/_page?token=")
	if token == next {
		t.Fatalf("next link %q is not a page token", next)
	}

	page, err := h.rt.PageSealer().Open("inbound", app.DevPartner, token, issued)
	if err != nil {
		t.Fatalf("open at issue: %v", err)
	}
	// The token's expiry is whole seconds after the gateway's clock read,
	// which lies between issued and now.
	expires := time.Unix(page.Expires, 0)
	if lo, hi := issued.Add(2*time.Minute-time.Second), time.Now().Add(2*time.Minute); expires.Before(lo) || expires.After(hi) {
		t.Errorf("token expires at %s, want two minutes after issue, between %s and %s", expires, lo, hi)
	}
	if _, err := h.rt.PageSealer().Open("inbound", app.DevPartner, token, expires); !errors.Is(err, pagelink.ErrExpired) {
		t.Errorf("open at expiry: error %v, want ErrExpired", err)
	}
}
