package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// Without _count the upstream's default page size applies, which may be
// larger than policy.max_count. The gateway forwards every type or system
// search without _count with _count=max_count, and records that
// parameter in the request-target, so that the request entry parses to
// the query the upstream received.
func TestDefaultCountAdded(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Policy.MaxCount = 25
		p := &cfg.Partners[0]
		p.Interactions = append(p.Interactions, "Claim.search", "Claim.read", "search-system")
		p.Grants = append(p.Grants, config.Grant{Feature: "system-search", Reason: "claim status dashboard"})
	}})
	auth := "Bearer " + h.accessToken()

	tests := []struct {
		name, method, path, form string
		wantQuery, wantTarget    string
	}{
		{"search with criteria", "GET", "/fhir/Claim?status=active",
			"", "status=active&_count=25", "/fhir/Claim?status=active&_count=25"},
		{"search without parameters", "GET", "/fhir/Claim",
			"", "_count=25", "/fhir/Claim?_count=25"},
		{"search with its own count", "GET", "/fhir/Claim?status=active&_count=10",
			"", "status=active&_count=10", "/fhir/Claim?status=active&_count=10"},
		{"search with zero count", "GET", "/fhir/Claim?_count=0",
			"", "_count=0", "/fhir/Claim?_count=0"},
		{"system search", "GET", "/fhir?_type=Claim&status=active",
			"", "status=active&_count=25&_type=Claim", "/fhir?_type=Claim&status=active&_count=25"},
		{"search by POST", "POST", "/fhir/Claim/_search",
			"status=active", "status=active&_count=25", "/fhir/Claim/_search?_count=25"},
		{"read", "GET", "/fhir/Claim/abc",
			"", "", "/fhir/Claim/abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := http.Header{"Authorization": {auth}}
			var body []byte
			if tc.form != "" {
				header.Set("Content-Type", "application/x-www-form-urlencoded")
				body = []byte(tc.form)
			}
			resp := h.sendForwarded(t, tc.method, tc.path, header, body)

			h.upstream.mu.Lock()
			forwarded := h.upstream.last.URL.RawQuery
			if tc.method == http.MethodPost {
				forwarded = string(h.upstream.body)
			}
			h.upstream.mu.Unlock()
			if forwarded != tc.wantQuery {
				t.Errorf("upstream query = %q, want %q", forwarded, tc.wantQuery)
			}

			target := h.recordedTarget(requestEntry(t, h.entries(resp)))
			if target != tc.wantTarget {
				t.Errorf("recorded target = %q, want %q", target, tc.wantTarget)
			}
			if got := reparsedQuery(t, target, tc.form); got != forwarded {
				t.Errorf("recorded request parses to %q, but the upstream received %q", got, forwarded)
			}
		})
	}
}

// A _count above policy.max_count is still rejected, not lowered.
func TestDefaultCountNotLowered(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Policy.MaxCount = 25
		cfg.Partners[0].Interactions = append(cfg.Partners[0].Interactions, "Claim.search")
	}})
	before := h.upstream.count.Load()
	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/Claim?_count=26", http.Header{"Authorization": {"Bearer " + h.accessToken()}}, nil)
	out := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, out)
	}
	if code := outcomeCode(t, out); code != "too-costly" {
		t.Errorf("OperationOutcome code = %q, want too-costly", code)
	}
	if n := h.upstream.count.Load() - before; n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
}

func requestEntry(t *testing.T, entries []record.Entry) record.Entry {
	t.Helper()
	for _, e := range entries {
		if e.Phase == record.PhaseRequest {
			return e
		}
	}
	t.Fatalf("no request entry among %d entries", len(entries))
	return record.Entry{}
}

// recordedTarget decrypts the request-target of entry e with the
// development audit identity, as the security team would: the record
// reader returns its path only.
func (h *harness) recordedTarget(e record.Entry) string {
	h.t.Helper()
	row, b := h.openRecord(e)
	target, _ := auditlog.ExportTarget(row, b)
	return target
}

// reparsedQuery parses the recorded request-target, with the form body of
// a POST _search, and returns the query in the canonical form the gateway
// forwards.
func reparsedQuery(t *testing.T, target, form string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	raw := u.RawQuery
	if form != "" {
		raw = strings.Trim(raw+"&"+form, "&")
	}
	if raw == "" {
		return ""
	}
	q, err := fhirreq.ParseQuery(raw)
	if err != nil {
		t.Fatalf("recorded query does not parse: %v", err)
	}
	return q.Encode()
}

// The engine's searches at a partner get the same default: a partner's
// default page size may exceed policy.max_count too.
func TestDefaultCountAddedOutbound(t *testing.T) {
	_, ehr, engine, base := startOutbound(t, func(cfg *config.File) { cfg.Policy.MaxCount = 30 }, "Task.search")
	resp, err := engine.Get(base + "/Task?status=requested")
	if err != nil {
		t.Fatal(err)
	}
	// The fake partner responds with a CapabilityStatement, which the
	// gateway does not release for a search. The forwarded request is what
	// this test checks.
	readBody(t, resp)
	if n := ehr.calls.Load(); n != 1 {
		t.Fatalf("the partner received %d requests, want 1", n)
	}
	r := ehr.last.Load()
	if r == nil {
		t.Fatal("the partner received no request")
	}
	if got, want := r.URL.RawQuery, "status=requested&_count=30"; got != want {
		t.Errorf("the partner received query %q, want %q", got, want)
	}
}
