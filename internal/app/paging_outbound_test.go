package app_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// TestOutboundSearchPages sends the engine's Task search to the partner
// through the outbound listener. The partner's next link must reach the
// engine as a page token on the outbound listener, and following it must
// reach the partner at the partner's own link, recorded as the same
// search.
func TestOutboundSearchPages(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "Task.search")
	ehr.respond.Store(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fhirBase := "https://" + r.Host + "/fhir"
		_, _ = io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","link":[`+
			`{"relation":"self","url":"`+fhirBase+`/Task?status=requested"},`+
			`{"relation":"next","url":"`+fhirBase+`/Task?status=requested&page=2"},`+
			`{"relation":"last","url":"https://elsewhere.example/fhir/Task?page=9"}],"total":0}`)
	}))

	resp, err := engine.Get(base + "/Task?status=requested")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("search: status %d: %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), ehr.srv.URL) || strings.Contains(string(body), "page=") {
		t.Errorf("the search releases a partner link: %s", body)
	}
	page := decodePage(t, body)
	if page.link("last") != "" {
		t.Errorf("the link to another host was released: %s", page.link("last"))
	}
	// Outbound links are paths on the outbound listener, which the engine
	// resolves against the URL it called.
	next := page.link("next")
	if !strings.HasPrefix(next, "/partners/demo-ehr/fhir/_page?token=") {
		t.Fatalf("next link %q is not a page token on the partner's outbound base", next)
	}
	listener, _ := url.Parse(base)
	next = listener.Scheme + "://" + listener.Host + next

	before := ehr.calls.Load()
	resp, err = engine.Get(next)
	if err != nil {
		t.Fatal(err)
	}
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("next page: status %d: %s", resp.StatusCode, body)
	}
	if n := ehr.calls.Load() - before; n != 1 {
		t.Fatalf("the partner received %d requests for the next page, want 1", n)
	}
	if got, want := ehr.last.Load().URL.RequestURI(), "/fhir/Task?status=requested&page=2"; got != want {
		t.Errorf("next page reached the partner as %q, want its own link %q", got, want)
	}
	if got := ehr.lastAuth.Load(); got == nil || !strings.HasPrefix(got.(string), "Bearer ") {
		t.Errorf("next page reached the partner without the payer's token: %v", got)
	}
	entries := h.entries(resp)
	last := entries[len(entries)-1]
	if last.Direction != "outbound" {
		t.Errorf("next page recorded in direction %q, want outbound", last.Direction)
	}
	if last.Interaction != "Task.search" {
		t.Errorf("next page recorded as %q, want Task.search", last.Interaction)
	}
	if last.Decision != record.Allow || last.Phase != record.PhaseResponse {
		t.Errorf("next page recorded as %s/%s, want %s/%s", last.Decision, last.Phase, record.Allow, record.PhaseResponse)
	}

	// A token sealed for the outbound direction does not open inbound,
	// even at the demo partner's own inbound base. The payer's upstream is
	// the built-in service here, so the record shows that nothing was
	// forwarded: one refusal entry and no request entry.
	token := strings.TrimPrefix(next, base+"/_page?token=")
	resp = h.send(h.ehr.HTTPClient(), "GET", "/fhir/_page?token="+url.QueryEscape(token),
		http.Header{"Authorization": {"Bearer " + h.accessToken()}}, nil)
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("outbound token used inbound: status %d, want 403: %s", resp.StatusCode, body)
	}
	if code := outcomeCode(t, body); code != "security" {
		t.Errorf("outbound token used inbound: issue code %q, want security", code)
	}
	entries = h.entries(resp)
	if len(entries) != 1 || entries[0].Phase != record.PhaseRefusal {
		t.Fatalf("outbound token used inbound: record %+v, want one refusal entry", entries)
	}
	if entries[0].Rule != "page.token-invalid" {
		t.Errorf("outbound token used inbound: rule %q, want page.token-invalid", entries[0].Rule)
	}
}
