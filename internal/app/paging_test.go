package app_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pagelink"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// searchPage is the part of a searchset the paging tests read.
type searchPage struct {
	Total int `json:"total"`
	Link  []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Resource struct {
			ID string `json:"id"`
		} `json:"resource"`
	} `json:"entry"`
}

func (p searchPage) link(relation string) string {
	for _, l := range p.Link {
		if l.Relation == relation {
			return l.URL
		}
	}
	return ""
}

func decodePage(t *testing.T, body []byte) searchPage {
	t.Helper()
	var p searchPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a searchset: %v: %s", err, body)
	}
	return p
}

// TestSearchPagesEndToEnd submits five PAS requests to the built-in payer
// through the gateway, then searches their ClaimResponses two at a time
// and follows the next links to the end, over the partner's mutual TLS.
// Every link must be a page token on the gateway's base, and every page
// is recorded as an allowed search.
func TestSearchPagesEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true, edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Partners[0].Interactions = append(cfg.Partners[0].Interactions, "ClaimResponse.search")
	}})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	// Five prior authorizations: the shipped request under five Claim
	// identifiers.
	for i := range 5 {
		claim := strings.Replace(string(shippedBundle(t)), `"value":"111099"`, `"value":"111099-`+strconv.Itoa(i)+`"`, 1)
		resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, []byte(claim))
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("submit %d: status %d: %s", i, resp.StatusCode, body)
		}
	}

	seen := map[string]bool{}
	next := "/fhir/ClaimResponse?_count=2"
	pages := 0
	for next != "" {
		pages++
		if pages > 3 {
			t.Fatalf("more than 3 pages; ids so far %v", seen)
		}
		resp := h.send(h.ehr.HTTPClient(), "GET", next, header, nil)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: status %d: %s", pages, resp.StatusCode, body)
		}
		if strings.Contains(string(body), h.rt.PayerURL) {
			t.Errorf("page %d releases the payer's URL: %s", pages, body)
		}
		if strings.Contains(string(body), "_offset") {
			t.Errorf("page %d releases an upstream _offset link: %s", pages, body)
		}
		page := decodePage(t, body)
		if page.Total != 5 {
			t.Errorf("page %d: total %d, expected 5", pages, page.Total)
		}
		for _, e := range page.Entry {
			seen[e.Resource.ID] = true
		}
		for _, l := range page.Link {
			if !strings.HasPrefix(l.URL, h.rt.FHIRBase+"/_page?token=") {
				t.Errorf("page %d: link %s is not a page token on the gateway's base: %s", pages, l.Relation, l.URL)
			}
		}
		entries := h.entries(resp)
		last := entries[len(entries)-1]
		if last.Phase != record.PhaseResponse {
			t.Errorf("page %d recorded in phase %s, expected %s", pages, last.Phase, record.PhaseResponse)
		}
		if last.Interaction != "ClaimResponse.search" {
			t.Errorf("page %d recorded as %q, expected ClaimResponse.search", pages, last.Interaction)
		}
		if last.Status != http.StatusOK {
			t.Errorf("page %d recorded with status %d, expected 200", pages, last.Status)
		}
		next = strings.TrimPrefix(page.link("next"), h.rt.PublicURL)
	}
	if pages != 3 {
		t.Errorf("read %d pages, expected 3", pages)
	}
	if len(seen) != 5 {
		t.Errorf("read %d distinct ClaimResponses, expected 5", len(seen))
	}
}

// pagingUpstream is a FHIR server whose searches link their next page in
// HAPI FHIR's _getpages form at the base, with a self link on the
// search's path and a last link on another host.
type pagingUpstream struct {
	srv   *httptest.Server
	count atomic.Int64
	mu    sync.Mutex
	seen  []string // request URIs, in order
}

func newPagingUpstream(t *testing.T) *pagingUpstream {
	u := &pagingUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.count.Add(1)
		u.mu.Lock()
		u.seen = append(u.seen, r.URL.RequestURI())
		u.mu.Unlock()
		base := "http://" + r.Host + "/fhir-engine"
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","link":[`+
			`{"relation":"self","url":"`+base+`/ClaimResponse?identifier=A1"},`+
			`{"relation":"next","url":"`+base+`?_getpages=abc&_getpagesoffset=2"},`+
			`{"relation":"last","url":"https://elsewhere.example/fhir?_getpages=abc"}],"entry":[]}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *pagingUpstream) last() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[len(u.seen)-1]
}

// pagingHarness is a gateway in front of a pagingUpstream, with the demo
// partner and a second partner, other-ehr, both allowed to search
// ClaimResponses.
func pagingHarness(t *testing.T) (*harness, *pagingUpstream) {
	up := newPagingUpstream(t)
	h := newHarness(t, harnessOptions{upstreamURL: up.srv.URL + "/fhir-engine", edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Strict.Mode = "off"
		cfg.Partners[0].Interactions = append(cfg.Partners[0].Interactions, "ClaimResponse.search")
		other := cfg.Partners[0]
		other.ID = "other-ehr"
		cfg.Partners = append(cfg.Partners, other)
	}})
	return h, up
}

// firstPageLinks runs the first search over client with tok and returns
// its page links by relation, as paths on the gateway.
func firstPageLinks(t *testing.T, h *harness, client *http.Client, tok string) map[string]string {
	t.Helper()
	resp := h.send(client, "GET", "/fhir/ClaimResponse?identifier=A1", http.Header{"Authorization": {"Bearer " + tok}}, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("search: status %d: %s", resp.StatusCode, body)
	}
	links := map[string]string{}
	for _, l := range decodePage(t, body).Link {
		links[l.Relation] = strings.TrimPrefix(l.URL, h.rt.PublicURL)
	}
	return links
}

// TestPageTokenFollowsUpstreamLink checks that a page request reaches the
// upstream with the upstream's own link, and that links to anywhere but
// the search on the upstream are dropped.
func TestPageTokenFollowsUpstreamLink(t *testing.T) {
	h, up := pagingHarness(t)
	tok := h.accessToken()
	links := firstPageLinks(t, h, h.ehr.HTTPClient(), tok)
	if _, ok := links["last"]; ok {
		t.Errorf("the link to another host was released: %v", links)
	}
	if links["self"] == "" {
		t.Errorf("self link missing: %v", links)
	}
	if links["next"] == "" {
		t.Fatalf("next link missing: %v", links)
	}
	// The gateway adds the partner's page size to a search without one.
	if got := up.last(); got != "/fhir-engine/ClaimResponse?identifier=A1&_count=100" {
		t.Errorf("search reached the upstream as %q", got)
	}

	resp := h.send(h.ehr.HTTPClient(), "GET", links["next"], http.Header{"Authorization": {"Bearer " + tok}}, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("next page: status %d: %s", resp.StatusCode, body)
	}
	if got := up.last(); got != "/fhir-engine?_getpages=abc&_getpagesoffset=2" {
		t.Errorf("next page reached the upstream as %q, expected its own link", got)
	}
	if strings.Contains(string(body), "_getpages") {
		t.Errorf("the next page releases an upstream link: %s", body)
	}
	entries := h.entries(resp)
	e := entries[len(entries)-1]
	if e.Interaction != "ClaimResponse.search" {
		t.Errorf("next page recorded as %q, expected ClaimResponse.search", e.Interaction)
	}
	if e.Decision != record.Allow {
		t.Errorf("next page recorded with decision %s, expected %s", e.Decision, record.Allow)
	}
}

// TestPageTokenAttacks sends page requests that must be rejected: each
// gets its status and OperationOutcome, is recorded as a refusal, and
// reaches no upstream.
func TestPageTokenAttacks(t *testing.T) {
	h, up := pagingHarness(t)
	tok := h.accessToken()
	next := firstPageLinks(t, h, h.ehr.HTTPClient(), tok)["next"]
	token := strings.TrimPrefix(next, "/fhir/_page?token=")

	otherCert := issuePartnerCert(t, h, "other-ehr")
	otherEHR := h.ehrWith(otherCert, "other-ehr")
	otherTok, err := otherEHR.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	otherNext := firstPageLinks(t, h, otherEHR.HTTPClient(), otherTok.AccessToken)["next"]

	expired, err := h.rt.PageSealer().Seal("inbound", app.DevPartner, pagelink.Page{Search: "ClaimResponse",
		Query: "identifier=A1", Link: "/?_getpages=abc", Expires: time.Now().Add(-time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	forged := []byte(token)
	forged[len(forged)/2] ^= 1

	// A client with Claim scopes only: the search's own scope is gone.
	narrow := h.partnerClient("system/Claim.rs")
	narrowTok, err := narrow.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		client *http.Client
		tok    string
		path   string
		status int
		code   string
		rule   string
	}{
		{"forged token", h.ehr.HTTPClient(), tok, "/fhir/_page?token=" + string(forged), 403, "security", "page.token-invalid"},
		{"expired token", h.ehr.HTTPClient(), tok, "/fhir/_page?token=" + expired, 410, "expired", "page.expired"},
		{"other partner's token", h.ehr.HTTPClient(), tok, otherNext, 403, "security", "page.token-invalid"},
		{"token with another parameter", h.ehr.HTTPClient(), tok, next + "&_count=100", 400, "invalid", "page.parameters"},
		{"parameter before the token", h.ehr.HTTPClient(), tok, "/fhir/_page?_count=100&token=" + token, 400, "invalid", "page.parameters"},
		{"token repeated", h.ehr.HTTPClient(), tok, next + "&token=" + token, 400, "invalid", "page.parameters"},
		{"scope no longer held", narrow.HTTPClient(), narrowTok.AccessToken, next, 403, "forbidden", ""},
		{"raw _getpages at the base", h.ehr.HTTPClient(), tok, "/fhir?_getpages=abc&_getpagesoffset=2", 400, "invalid", "request.noncanonical"},
		{"raw _getpages on the type", h.ehr.HTTPClient(), tok, "/fhir/ClaimResponse?_getpages=abc", 400, "invalid", "request.noncanonical"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := up.count.Load()
			resp := h.send(c.client, "GET", c.path, http.Header{"Authorization": {"Bearer " + c.tok}}, nil)
			body := readBody(t, resp)
			if resp.StatusCode != c.status {
				t.Errorf("status %d, expected %d: %s", resp.StatusCode, c.status, body)
			}
			if code := outcomeCode(t, body); code != c.code {
				t.Errorf("issue code %q, expected %q", code, c.code)
			}
			if n := up.count.Load() - before; n != 0 {
				t.Errorf("the upstream received %d requests", n)
			}
			entries := h.entries(resp)
			if len(entries) != 1 {
				t.Fatalf("record = %+v, expected one entry", entries)
			}
			if entries[0].Phase != record.PhaseRefusal {
				t.Errorf("recorded phase %s, expected %s", entries[0].Phase, record.PhaseRefusal)
			}
			if c.rule != "" && entries[0].Rule != c.rule {
				t.Errorf("rule %q, expected %q", entries[0].Rule, c.rule)
			}
		})
	}
}

// issuePartnerCert issues a client certificate of partner id from the
// development CA.
func issuePartnerCert(t *testing.T, h *harness, id string) tls.Certificate {
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
	return tc
}
